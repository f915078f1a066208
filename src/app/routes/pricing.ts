import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context.ts';
import { SESSION_COOKIE, userForSession } from '../../accounts/sessions.ts';
import { publicPriceList, renderPricingPage } from '../../ops/publicPrices.ts';

// The public price list: JSON and server-rendered HTML (no JavaScript needed,
// like /help). With a console session the signed-in user's group prices are shown.
export function pricingRoutes(app: FastifyInstance, ctx: AppContext) {
  const listFor = async (req: FastifyRequest) => {
    const token = req.cookies?.[SESSION_COOKIE];
    const user = token ? await userForSession(ctx.db, token, ctx.now()) : null;
    return publicPriceList(ctx.catalog, { groupName: user?.group ?? null, currency: ctx.config.currency });
  };
  app.get('/api/pricing', async (req, reply) => {
    reply.header('cache-control', 'private, no-store');
    return listFor(req);
  });
  app.get('/pricing', async (req, reply) =>
    reply
      .header('cache-control', 'private, no-store')
      .type('text/html; charset=utf-8')
      .send(renderPricingPage(await listFor(req))),
  );
}
