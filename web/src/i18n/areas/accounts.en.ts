// English messages of the console's accounts pages (kept apart so work on different areas does not collide); spread into ../en.ts.
export const accountsEn = {} as const;
