// English messages of the console's dashboard pages (kept apart so work on different areas does not collide); spread into ../en.ts.
export const dashboardEn = {} as const;
