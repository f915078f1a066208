// English messages of the console's sessions pages (kept apart so work on different areas does not collide); spread into ../en.ts.
export const sessionsEn = {} as const;
