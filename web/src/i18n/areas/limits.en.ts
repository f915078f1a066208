// English messages of the console's limits pages (kept apart so work on different areas does not collide); spread into ../en.ts.
export const limitsEn = {} as const;
