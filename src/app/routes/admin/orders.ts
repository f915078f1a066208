import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../../context.ts';
import { requireStaff } from '../../auth.ts';
import { parseInput } from '../../../lib/validate.ts';
import { TallyError } from '../../../lib/errors.ts';
import { parsePositiveMoney, formatMoney } from '../../../ledger/money.ts';
import { resolveUser } from '../../../accounts/users.ts';
import {
  getOrder,
  listOrders,
  listOrderEvents,
  listRefunds,
  failOrderBySupport,
  reconcileOrder,
  reconcilePayments,
  ORDER_STATUSES,
  REFUND_REASONS,
  type Order,
  type RefundReason,
  type DuplicateRefundResult,
  type KeepDuplicateResult,
} from '../../../payments/index.ts';
import { compensate, creditOrder, refund, decideDuplicate } from '../../../support/actions.ts';
import { answerGuarded } from './approvals.ts';
import { orderView, refundView } from '../../../payments/present.ts';
import type { ResumedRefund } from '../../../payments/refunds.ts';

const ListQuery = z.object({
  status: z.enum(ORDER_STATUSES as [string, ...string[]]).optional(),
  view: z.enum(['stuck', 'flagged', 'duplicate', 'possible_duplicate']).optional(),
  user: z.string().max(320).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  before: z.string().max(64).optional(),
});
const RefundBody = z.object({
  amount: z.string().max(40).optional(),
  reason: z.enum(REFUND_REASONS),
  note: z.string().max(500).optional(),
  force: z.boolean().optional(),
});
const ReasonBody = z.object({ reason: z.string().min(1).max(500) });
const OptionalReasonBody = z.object({ reason: z.string().max(500).optional() }).optional();
const DuplicateBody = z.object({ reason: z.string().min(1).max(500), provider: z.string().max(20).optional() });
const CreditBody = z.object({ provider_reference: z.string().min(1).max(200), reason: z.string().min(1).max(500), force: z.boolean().optional() });
const CompensateBody = z.object({
  amount: z.string().max(40),
  reason: z.string().min(1).max(500),
  ticket: z.string().min(1).max(100),
  order_id: z.string().max(64).optional(),
  idempotency_key: z.string().min(1).max(200).optional(),
});

async function orderDetail(ctx: AppContext, o: Order) {
  const trades = await ctx.db.selectFrom('payment_trades').selectAll().where('order_id', '=', o.id).orderBy('id').execute();
  return {
    ...orderView(o, ctx.now()),
    user_id: o.userId,
    provider_ref: o.providerRef,
    provider_trade_id: o.providerTradeId,
    credit_transfer_id: o.creditTransferId,
    check_attempts: o.checkAttempts,
    timeline: (await listOrderEvents(ctx.db, o.id)).map((e) => ({ ...e, at: new Date(e.createdAt).toISOString() })),
    trades: trades.map((t) => ({
      id: t.id,
      trade_id: t.trade_id,
      amount: formatMoney(BigInt(t.amount)),
      currency: t.currency,
      outcome: t.outcome,
      decision: t.decision,
      at: new Date(Number(t.created_at)).toISOString(),
    })),
    refunds: (await listRefunds(ctx.db, o.id)).map(refundView),
  };
}

export function adminOrderRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/api/admin/orders', async (req) => {
    await requireStaff(ctx, req, 'orders.list');
    const q = parseInput(ListQuery, req.query);
    const userId = q.user ? (await resolveUser(ctx.db, q.user)).id : undefined;
    const orders = await listOrders(ctx.db, {
      status: q.status as Order['status'] | undefined,
      view: q.view,
      userId,
      limit: q.limit,
      before: q.before,
      stuckBefore: ctx.now() - ctx.payments.settings.stuckAfterMs,
    });
    return { data: orders.map((o) => ({ ...orderView(o, ctx.now()), user_id: o.userId })) };
  });

  app.get<{ Params: { id: string } }>('/api/admin/orders/:id', async (req) => {
    await requireStaff(ctx, req, 'orders.get');
    return orderDetail(ctx, await getOrder(ctx.db, req.params.id));
  });

  app.post<{ Params: { id: string } }>('/api/admin/orders/:id/refund', async (req, reply) => {
    const actor = await requireStaff(ctx, req, 'orders.refund');
    const body = parseInput(RefundBody, req.body);
    // Forcing (a loss booked to uncollected) is for admins; support above its limit gets a request for approval (support/actions.ts).
    const r = await refund({
      ctx,
      input: {
        orderId: req.params.id,
        amount: body.amount === undefined ? undefined : parsePositiveMoney(body.amount),
        reason: body.reason as RefundReason,
        note: body.note,
        force: body.force,
        actor,
      },
    });
    return answerGuarded(ctx, reply, r, (x) => ({ refund: refundView(x.refund), order: orderView(x.order, ctx.now()) }));
  });

  app.post<{ Params: { id: string } }>('/api/admin/orders/:id/fail', async (req) => {
    const actor = await requireStaff(ctx, req, 'orders.fail');
    const body = parseInput(ReasonBody, req.body);
    const o = await getOrder(ctx.db, req.params.id);
    // The transition and its audit row commit together (failOrderBySupport).
    const r = await failOrderBySupport(ctx, { orderId: o.id, reason: body.reason, actor });
    if (!r.ok) throw new TallyError('illegal_transition', `order ${o.id} is ${r.current}; it cannot be marked failed`);
    return orderView(r.order, ctx.now());
  });

  // The provider is asked first (payments/credit.ts): what it said is on the answer and the audit row.
  app.post<{ Params: { id: string } }>('/api/admin/orders/:id/credit', async (req, reply) => {
    const actor = await requireStaff(ctx, req, 'orders.credit');
    const body = parseInput(CreditBody, req.body);
    const r = await creditOrder({
      ctx,
      input: { orderId: req.params.id, providerReference: body.provider_reference, reason: body.reason, force: body.force, actor },
    });
    return answerGuarded(ctx, reply, r, (x) => ({ outcome: x.outcome, provider_check: x.providerCheck, order: orderView(x.order, ctx.now()) }));
  });

  app.post<{ Params: { id: string } }>('/api/admin/orders/:id/reconcile', async (req) => {
    const actor = await requireStaff(ctx, req, 'orders.reconcile');
    const body = parseInput(OptionalReasonBody, req.body ?? undefined);
    const o = await getOrder(ctx.db, req.params.id);
    // One audit row, written in the transaction that applies the provider's answer (standalone when nothing changed).
    const r = await reconcileOrder(ctx, o, { source: 'support', audit: { actor, reason: body?.reason ?? null } });
    return { result: r.result, detail: r.detail ?? null, order: orderView(await getOrder(ctx.db, o.id), ctx.now()) };
  });

  app.post('/api/admin/payments/reconcile', async (req) => {
    const actor = await requireStaff(ctx, req, 'payments.reconcile');
    const r = await reconcilePayments(ctx, { actor });
    return { checked: r.checked, refunds: r.refunds.map(resumedView), stuck: r.stuck.map((o) => ({ ...orderView(o, ctx.now()), user_id: o.userId })) };
  });

  // A duplicate payment (a second trade on a credited order, never credited): refund it to the payer through its
  // provider (the wallet does not move), or keep it as credit. :trade is the trd_ id or the provider's trade id.
  app.post<{ Params: { trade: string } }>('/api/admin/payments/trades/:trade/refund', async (req, reply) => {
    const actor = await requireStaff(ctx, req, 'trades.refund');
    const body = parseInput(DuplicateBody, req.body);
    const r = await decideDuplicate({ ctx, input: { trade: req.params.trade, provider: body.provider, reason: body.reason, decision: 'refund', actor } });
    return answerGuarded(ctx, reply, r, (x) => {
      const d = x as DuplicateRefundResult;
      return {
        replayed: d.replayed,
        trade: { id: d.trade.id, trade_id: d.trade.tradeId, provider: d.trade.provider, decision: d.trade.decision },
        refund: refundView(d.refund),
        order: orderView(d.order, ctx.now()),
      };
    });
  });

  app.post<{ Params: { trade: string } }>('/api/admin/payments/trades/:trade/keep', async (req, reply) => {
    const actor = await requireStaff(ctx, req, 'trades.keep');
    const body = parseInput(DuplicateBody, req.body);
    const r = await decideDuplicate({ ctx, input: { trade: req.params.trade, provider: body.provider, reason: body.reason, decision: 'keep', actor } });
    return answerGuarded(ctx, reply, r, (x) => {
      const k = x as KeepDuplicateResult;
      return {
        replayed: k.replayed,
        trade: { id: k.trade.id, trade_id: k.trade.tradeId, provider: k.trade.provider, decision: k.trade.decision },
        transfer_id: k.transferId,
        credit: formatMoney(k.credit),
      };
    });
  });

  app.post<{ Params: { id: string } }>('/api/admin/users/:id/compensate', async (req, reply) => {
    const actor = await requireStaff(ctx, req, 'users.compensate');
    const body = parseInput(CompensateBody, req.body);
    const user = await resolveUser(ctx.db, req.params.id);
    const amount = parsePositiveMoney(body.amount);
    const r = await compensate({
      ctx,
      input: { userId: user.id, amount, reason: body.reason, ticket: body.ticket, orderId: body.order_id ?? null, actor, idempotencyKey: body.idempotency_key },
    });
    return answerGuarded(ctx, reply, r, (x) => ({ transfer_id: x.transfer.id, replayed: x.replayed, amount: formatMoney(amount), kind: x.transfer.kind }));
  });
}

const resumedView = (r: ResumedRefund) => ({ refund_id: r.refundId, order_id: r.orderId, outcome: r.outcome, detail: r.detail ?? null });
