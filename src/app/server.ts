import { createServer } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyBaseLogger } from 'fastify';
import { createRelayFastPath } from './relayFastPath.ts';
import { installJsonBodyParser } from './jsonBody.ts';
import cookie from '@fastify/cookie';
import type { AppContext } from '../context.ts';
import { newId } from '../lib/ids.ts';
import { normalizeError, accountApiError } from './errors.ts';
import { installOriginCheck } from './csrf.ts';
import { healthRoutes } from './routes/health.ts';
import { authRoutes } from './routes/auth.ts';
import { meRoutes } from './routes/me.ts';
import { keyRoutes } from './routes/keys.ts';
import { adminUserRoutes } from './routes/admin/users.ts';
import { openaiRoutes } from './routes/openai.ts';
import { geminiRoutes } from './routes/gemini.ts';
import { demoUpstreamRoutes } from './routes/demoUpstream.ts';
import { usageRoutes } from './routes/usage.ts';
import { adminGatewayRoutes } from './routes/admin/gateway.ts';
import { redeemRoutes } from './routes/redeem.ts';
import { adminRedeemRoutes } from './routes/admin/redeem.ts';
import { orderRoutes } from './routes/orders.ts';
import { paymentCallbackRoutes } from './routes/paymentCallbacks.ts';
import { sandboxPayRoutes } from './routes/sandboxPay.ts';
import { adminOrderRoutes } from './routes/admin/orders.ts';
import { supportRoutes } from './routes/support.ts';
import { adminSupportRoutes } from './routes/admin/support.ts';
import { helpRoutes } from './routes/help.ts';
import { consoleRoutes } from './routes/console.ts';
import { videoRoutes } from './routes/videos.ts';
import { taskRoutes } from './routes/tasks.ts';
import { exportRoutes } from './routes/exports.ts';
import { alertRoutes } from './routes/alerts.ts';
import { teamRoutes } from './routes/teams.ts';
import { adminTeamRoutes } from './routes/admin/teams.ts';
import { teamStatementRoutes } from './routes/teamStatement.ts';
import { adminDashboardRoutes } from './routes/admin/dashboard.ts';
import { pricingRoutes } from './routes/pricing.ts';
import { signupRoutes } from './routes/signup.ts';
import { twoFactorRoutes } from './routes/twoFactor.ts';
import { oidcRoutes } from './routes/oidc.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { adminUserAdminRoutes } from './routes/admin/userAdmin.ts';
import { opsRoutes } from './routes/ops.ts';

export type RouteModule = (app: FastifyInstance, ctx: AppContext) => void;

// Route modules in registration order. A module adds its file here.
export const ROUTES: RouteModule[] = [
  healthRoutes,
  authRoutes,
  meRoutes,
  keyRoutes,
  adminUserRoutes,
  openaiRoutes,
  geminiRoutes,
  videoRoutes,
  taskRoutes,
  exportRoutes,
  alertRoutes,
  demoUpstreamRoutes,
  usageRoutes,
  adminGatewayRoutes,
  redeemRoutes,
  adminRedeemRoutes,
  orderRoutes,
  paymentCallbackRoutes,
  sandboxPayRoutes,
  adminOrderRoutes,
  consoleRoutes,
  supportRoutes,
  adminSupportRoutes,
  helpRoutes,
  teamRoutes,
  adminTeamRoutes,
  teamStatementRoutes,
  adminDashboardRoutes,
  pricingRoutes,
  signupRoutes,
  twoFactorRoutes,
  oidcRoutes,
  // Issue 17 C: one's own sessions; staff account administration
  sessionRoutes,
  adminUserAdminRoutes,
  opsRoutes,
];

/**
 * The HTTP edge. Every response carries x-request-id; every error leaves in
 * the caller's protocol shape (route modules for /v1 install their own error
 * shape via `errorShape` on the request).
 */
export async function buildServer(ctx: AppContext, extraRoutes: RouteModule[] = []): Promise<FastifyInstance> {
  const relayFastPath = createRelayFastPath(ctx);
  const app = Fastify({
    serverFactory: (handler) => {
      const server = createServer((req, res) => {
        if (!relayFastPath(req, res)) handler(req, res);
      });
      server.keepAliveTimeout = 72_000;
      return server;
    },
    loggerInstance: ctx.log as unknown as FastifyBaseLogger,
    // Per-request lines are the request log's job (one row per request), not stdout's.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: ctx.config.maxBodyBytes,
    // X-Forwarded-For is believed only from configured proxies; otherwise anyone could pick their own IP.
    trustProxy: ctx.config.trustProxy === false ? false : ctx.config.trustProxy,
    genReqId: () => newId('req'),
    requestIdHeader: false,
  });
  await app.register(cookie);
  installJsonBodyParser(app);
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  // Cross-site request forgery: origin and content-type checks for every state-changing route (csrf.ts).
  installOriginCheck(app, ctx.config);
  app.setErrorHandler((e, req, reply) => {
    const err = normalizeError(e);
    if (err.status >= 500) req.log.error({ err: e, reqId: req.id }, 'request failed');
    const shape = (req as { errorShape?: (e: typeof err) => unknown }).errorShape;
    if (!err.retryable) reply.header('x-should-retry', 'false');
    if (err.status === 429) reply.header('retry-after', String(err.details?.retry_after ?? 1));
    reply.code(err.status).send(shape ? shape(err) : accountApiError(err, req.id));
  });
  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .send(accountApiError(normalizeError(Object.assign(new Error(`no route ${req.method} ${req.url.split('?')[0]}`), { statusCode: 404 })), req.id));
  });
  for (const r of [...ROUTES, ...extraRoutes]) r(app, ctx);
  return app;
}
