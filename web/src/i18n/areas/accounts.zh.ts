// Chinese messages of the console's accounts pages: one for every key of accounts.en.ts; spread into ../zh.ts.
import type { accountsEn } from './accounts.en.ts';

export const accountsZh: Record<keyof typeof accountsEn, string> = {};
