import type { Migration } from 'kysely';
import * as m0001 from './0001_foundation.ts';

// Every migration, in order. A module that adds tables adds its file here.
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
};
