// Pages whose APIs are built in parallel by other modules. A page is routed
// and listed in the navigation only when its API exists in src/app/routes.
export const FEATURES = {
  /** POST|GET /api/orders, GET /api/orders/:id (src/app/routes/orders.ts) */
  orders: true,
  /** GET /api/support/diagnose, POST|GET /api/tickets (src/app/routes/support.ts) */
  support: true,
};
