import { randomBytes } from 'node:crypto';
import type { AppContext } from '../context.ts';
import { payments } from './providers/index.ts';
import { creditPaidOrder, failOrder, expireOrder, type CreditOutcome } from './credit.ts';
import { findOrder, recordOrderEvent, listOrders, type Order } from './orders.ts';

// The reconcile worker asks providers about orders that have waited longer
// than a threshold for a callback, and applies what it learns through the
// same exactly-once path as a callback. Checks back off exponentially per
// order. With several instances only one polls an order at a time: a lease on
// the order row (conditional UPDATE, works on both databases, survives Redis
// being absent) plus, when Redis is configured, SET NX PX so instances skip
// each other's orders without touching the database.

const LEASE_MS = 60_000;
const MAX_BACKOFF_MS = 60 * 60_000;
const INSTANCE = `inst_${randomBytes(6).toString('hex')}`;

export const backoffMs = (attempts: number, baseMs: number) => Math.min(MAX_BACKOFF_MS, Math.max(baseMs, 5_000) * 2 ** Math.min(attempts, 10));

export interface ReconcileItem {
  orderId: string;
  result: CreditOutcome | 'failed' | 'expired' | 'still_unpaid' | 'provider_unknown' | 'locked' | 'refused';
  detail?: string;
}

async function acquire(ctx: AppContext, orderId: string, owner: string, now: number): Promise<boolean> {
  const redis = ctx.events.redis;
  if (redis) {
    const ok = await redis.set(`tally:payments:reconcile:${orderId}`, owner, 'PX', LEASE_MS, 'NX').catch(() => 'OK');
    if (ok !== 'OK') return false;
  }
  const r = await ctx.db
    .updateTable('payment_orders')
    .set({ lease_owner: owner, lease_until: now + LEASE_MS })
    .where('id', '=', orderId)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

async function release(ctx: AppContext, orderId: string, owner: string, attempts: number, nextCheckAt: number | null): Promise<void> {
  await ctx.db.updateTable('payment_orders').set({ lease_owner: null, lease_until: null, check_attempts: attempts, next_check_at: nextCheckAt }).where('id', '=', orderId).where('lease_owner', '=', owner).execute();
  const redis = ctx.events.redis;
  if (redis) {
    // Delete only our own lock (compare-and-delete).
    await redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`, 1, `tally:payments:reconcile:${orderId}`, owner).catch(() => undefined);
  }
}

/** Polls one order's provider now (support's "check again") and applies the answer. */
export async function reconcileOrder(ctx: AppContext, order: Order, opts: { owner?: string; source?: 'reconcile' | 'return_page' | 'support' } = {}): Promise<ReconcileItem> {
  const source = opts.source ?? 'reconcile';
  const pay = payments(ctx);
  const owner = opts.owner ?? `${INSTANCE}:${randomBytes(4).toString('hex')}`;
  const now = ctx.now();
  if (!(await acquire(ctx, order.id, owner, now))) return { orderId: order.id, result: 'locked' };
  let attempts = order.checkAttempts + 1;
  let next: number | null = now + backoffMs(attempts, pay.settings.reconcileAfterMs);
  try {
    const provider = pay.provider(order.provider);
    const q = await provider.queryOrder(order);
    const at = ctx.now();
    if (q.state === 'paid') {
      const r = await creditPaidOrder(ctx.db, { orderId: order.id, provider: order.provider, tradeId: q.tradeId, amount: q.amount, currency: q.currency, source, payload: q.payload, now: at, duplicateWindowMs: pay.settings.duplicateWindowMs });
      next = null;
      return { orderId: order.id, result: r.outcome };
    }
    if (q.state === 'failed') {
      const r = await failOrder(ctx.db, { orderId: order.id, reason: q.reason, source, payload: q.payload, now: at });
      next = null;
      return { orderId: order.id, result: r.ok ? 'failed' : 'refused' };
    }
    if (q.state === 'expired' || (q.state === 'unpaid' && at > order.expiresAt)) {
      const r = await expireOrder(ctx.db, { orderId: order.id, reason: q.state === 'expired' ? 'the provider reports the checkout expired unpaid' : 'no payment by the deadline (checked with the provider)', source, payload: q.payload, now: at });
      // Keep checking an expired order for a while: a late payment still has to be found.
      if (at - order.createdAt > pay.settings.stuckAfterMs) next = null;
      return { orderId: order.id, result: r.ok ? 'expired' : order.status === 'expired' ? 'still_unpaid' : 'refused' };
    }
    if (q.state === 'unknown') {
      await recordOrderEvent(ctx.db, { orderId: order.id, kind: 'note', source, reason: q.reason, now: at });
      return { orderId: order.id, result: 'provider_unknown', detail: q.reason };
    }
    return { orderId: order.id, result: 'still_unpaid' };
  } catch (e) {
    ctx.log.error({ err: e, orderId: order.id }, 'reconcile failed for an order');
    return { orderId: order.id, result: 'provider_unknown', detail: (e as Error).message };
  } finally {
    await release(ctx, order.id, owner, attempts, next);
  }
}

/** One pass: every order due for a check (waiting longer than the threshold, next check time reached). */
export async function reconcilePayments(ctx: AppContext, opts: { limit?: number; all?: boolean } = {}): Promise<{ checked: ReconcileItem[]; stuck: Order[] }> {
  const pay = payments(ctx);
  const now = ctx.now();
  let q = ctx.db
    .selectFrom('payment_orders')
    .select('id')
    .where('status', 'in', ['created', 'pending', 'expired'])
    .where('next_check_at', 'is not', null)
    .orderBy('next_check_at')
    .limit(opts.limit ?? 100);
  if (!opts.all) q = q.where('next_check_at', '<=', now).where('created_at', '<=', now - pay.settings.reconcileAfterMs);
  const due = await q.execute();
  const checked: ReconcileItem[] = [];
  for (const { id } of due) {
    const order = await findOrder(ctx.db, id);
    if (!order || !pay.providers.has(order.provider as never)) continue;
    checked.push(await reconcileOrder(ctx, order));
  }
  return { checked, stuck: await listStuckOrders(ctx) };
}

/** Orders waiting beyond the second threshold, or flagged: support's queue. */
export async function listStuckOrders(ctx: AppContext, limit = 100): Promise<Order[]> {
  return listOrders(ctx.db, { view: 'stuck', stuckBefore: ctx.now() - payments(ctx).settings.stuckAfterMs, limit });
}

/** The background worker; returns a stop function. */
export function startReconcileWorker(ctx: AppContext): () => void {
  const interval = payments(ctx).settings.reconcileIntervalMs;
  if (!interval) return () => undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    reconcilePayments(ctx)
      .then((r) => { if (r.checked.length) ctx.log.info({ checked: r.checked.length }, 'payments reconciled'); })
      .catch((e) => ctx.log.error({ err: e }, 'payments reconcile pass failed'))
      .finally(() => { running = false; });
  }, interval);
  timer.unref();
  return () => clearInterval(timer);
}

