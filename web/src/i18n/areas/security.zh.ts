// Chinese messages of the console's security pages: one for every key of security.en.ts; spread into ../zh.ts.
import type { securityEn } from './security.en.ts';

export const securityZh: Record<keyof typeof securityEn, string> = {};
