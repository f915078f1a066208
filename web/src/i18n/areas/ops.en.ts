// English messages of the console's ops pages (kept apart so work on different areas does not collide); spread into ../en.ts.
export const opsEn = {} as const;
