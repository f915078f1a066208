import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { requireUser } from '../auth.ts';
import { accountDeps } from '../accountDeps.ts';
import { requireVerified } from '../../accounts/verification.ts';
import { parseInput } from '../../lib/validate.ts';
import { orderView, nextCheckAt } from '../../payments/present.ts';
import {
  createOrder,
  getOrder,
  listOrders,
  explainOrder,
  reconcileOrder,
  cancelOrder,
  ORDER_STATUSES,
  type Order,
  type ReconcileItem,
} from '../../payments/index.ts';
import { TallyError, isTallyError } from '../../lib/errors.ts';
import { requireTeamRole } from '../../teams/index.ts';

const CreateBody = z.object({
  // A number is let through so parseMoney can say why it is refused ("10.00" as a string).
  amount: z.union([z.string().max(40), z.number()]),
  currency: z.string().max(3).optional(),
  provider: z.string().max(20).optional(),
  method: z.string().max(20).optional(),
  /** Funds a team's wallet: the caller must be its owner or an admin. */
  team: z.string().min(1).max(64).optional(),
});
const ListQuery = z.object({
  status: z.enum(ORDER_STATUSES as [string, ...string[]]).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
  before: z.string().max(64).optional(),
});

/** The base URL providers and browsers should use to reach this instance. */
export const publicBaseUrl = (ctx: AppContext, req: FastifyRequest) => (ctx.config.publicUrl ?? `${req.protocol}://${req.host}`).replace(/\/$/, '');

export function orderRoutes(app: FastifyInstance, ctx: AppContext) {
  // The providers enabled on this instance, for the top-up page's choice.
  app.get('/api/payments/providers', async (req) => {
    await requireUser(ctx, req);
    return { data: [...ctx.payments.providers.keys()].map((name) => ({ name })) };
  });

  app.post('/api/orders', async (req, reply) => {
    const user = await requireUser(ctx, req);
    requireVerified(accountDeps(ctx), user); // an unproved address may look, not spend or hand out keys
    const body = parseInput(CreateBody, req.body);
    const team = body.team ? (await requireTeamRole(ctx.db, body.team, user.id, ['owner', 'admin'])).team : null;
    const order = await createOrder(ctx, {
      userId: user.id,
      teamId: team?.id ?? null,
      amount: body.amount,
      currency: body.currency,
      provider: body.provider,
      method: body.method,
      baseUrl: publicBaseUrl(ctx, req),
    });
    reply.code(201);
    return orderView(order, ctx.now());
  });

  app.get('/api/orders', async (req) => {
    const user = await requireUser(ctx, req);
    const q = parseInput(ListQuery, req.query);
    const orders = await listOrders(ctx.db, { userId: user.id, status: q.status as Order['status'] | undefined, limit: q.limit, before: q.before });
    return { data: orders.map((o) => orderView(o, ctx.now())), next_before: orders.length === (q.limit ?? 50) ? orders[orders.length - 1].id : null };
  });

  app.get<{ Params: { id: string } }>('/api/orders/:id', async (req) => {
    const user = await requireUser(ctx, req);
    return orderView(await getOrder(ctx.db, req.params.id, { userId: user.id }), ctx.now());
  });

  // The user gives up on an unpaid order (a late payment is still credited).
  app.post<{ Params: { id: string } }>('/api/orders/:id/cancel', async (req) => {
    const user = await requireUser(ctx, req);
    const order = await getOrder(ctx.db, req.params.id, { userId: user.id });
    const r = await cancelOrder(ctx.db, { orderId: order.id, source: 'user', now: ctx.now() });
    if (!r.ok) {
      throw new TallyError(
        'order_not_cancelable',
        `the order is ${r.current}; only an order that is not paid yet can be canceled${r.current === 'credited' ? ' (it was paid and credited: ask support for a refund instead)' : ''}`,
      );
    }
    return orderView(await getOrder(ctx.db, order.id), ctx.now());
  });

  // Where the provider sends the browser after paying. For the order's owner it
  // asks the provider (the "return page" path to the same exactly-once credit),
  // so a user who paid sees the credit even if the callback is late, but only
  // as often as the order's backoff allows (reconcileOrder, honourBackoff): a
  // reload, or thirty, within it answer from the stored state and say when the
  // next check is. Without the owner's session nothing is asked of anyone.
  // A browser is sent on to the order's console page, which asks to sign in
  // first when needed; an API client gets JSON.
  app.get<{ Params: { id: string } }>('/api/orders/:id/return', async (req, reply) => {
    const browser = wantsHtml(req.headers.accept);
    const consolePage = `/console/orders/${encodeURIComponent(req.params.id)}`;
    const user = await requireUser(ctx, req).catch((e) => {
      if (browser && isTallyError(e) && e.status === 401) return null;
      throw e;
    });
    if (!user) return reply.redirect(consolePage, 303);
    let order = await getOrder(ctx.db, req.params.id, { userId: user.id });
    let check: ReconcileItem | null = null;
    if (['created', 'pending', 'expired'].includes(order.status)) {
      check = await reconcileOrder(ctx, order, { source: 'return_page', honourBackoff: true });
      order = await getOrder(ctx.db, order.id);
    }
    if (browser) return reply.redirect(consolePage, 303);
    return {
      id: order.id,
      status: order.status,
      explanation: explainOrder(order, ctx.now()),
      checked_with_provider: check !== null && check.result !== 'not_due' && check.result !== 'locked',
      next_check_at: nextCheckAt(order),
    };
  });
}

const wantsHtml = (accept: string | undefined) => Boolean(accept?.includes('text/html'));
