// Chinese messages of the console's sessions pages: one for every key of sessions.en.ts; spread into ../zh.ts.
import type { sessionsEn } from './sessions.en.ts';

export const sessionsZh: Record<keyof typeof sessionsEn, string> = {};
