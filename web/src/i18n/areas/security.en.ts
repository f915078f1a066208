// English messages of the console's security pages (kept apart so work on different areas does not collide); spread into ../en.ts.
export const securityEn = {} as const;
