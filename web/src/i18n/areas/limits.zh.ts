// Chinese messages of the console's limits pages: one for every key of limits.en.ts; spread into ../zh.ts.
import type { limitsEn } from './limits.en.ts';

export const limitsZh: Record<keyof typeof limitsEn, string> = {};
