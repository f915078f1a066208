// Chinese messages of the console's dashboard pages: one for every key of dashboard.en.ts; spread into ../zh.ts.
import type { dashboardEn } from './dashboard.en.ts';

export const dashboardZh: Record<keyof typeof dashboardEn, string> = {};
