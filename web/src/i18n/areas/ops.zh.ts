// Chinese messages of the console's ops pages: one for every key of ops.en.ts; spread into ../zh.ts.
import type { opsEn } from './ops.en.ts';

export const opsZh: Record<keyof typeof opsEn, string> = {};
