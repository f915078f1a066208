import { randomBytes } from 'node:crypto';
import type { PaymentsContext } from './context.ts';
import { creditPaidOrder, failOrder, expireOrder, type CreditOutcome } from './credit.ts';
import { findOrder, recordOrderEvent, listOrders, type Order } from './orders.ts';
import type { DbOrTx } from '../db/index.ts';
import { withIdempotentTransaction } from '../db/idempotent.ts';
import { recordAudit, type Actor } from '../audit/index.ts';
import { resumeInterruptedRefunds, checkPendingProviderRefunds, type ResumedRefund } from './refunds.ts';

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
  result: CreditOutcome | 'failed' | 'expired' | 'still_unpaid' | 'provider_unknown' | 'locked' | 'refused' | 'not_due';
  detail?: string;
  /** With `not_due`: when the provider may be asked next (null: no check is scheduled any more). */
  nextCheckAt?: number | null;
}

/**
 * Whether a check asked for by a user may reach the provider now: the order
 * was never checked, or its backoff has run out. Otherwise the answer comes
 * from the stored state, so repeated clicks or reloads of the return page
 * cannot turn into provider requests (EPay's order query even carries the
 * merchant key in its URL).
 */
export const checkIsDue = (o: Pick<Order, 'checkAttempts' | 'nextCheckAt'>, now: number) =>
  o.checkAttempts === 0 || (o.nextCheckAt !== null && o.nextCheckAt <= now);

async function acquire(ctx: PaymentsContext, orderId: string, owner: string, now: number, opts: { onlyIfDue?: boolean } = {}): Promise<boolean> {
  const redis = ctx.redis;
  const lockKey = `tally:payments:reconcile:${orderId}`;
  if (redis) {
    const ok = await redis.set(lockKey, owner, 'PX', LEASE_MS, 'NX').catch(() => 'OK');
    if (ok !== 'OK') return false;
  }
  let q = ctx.db
    .updateTable('payment_orders')
    .set({ lease_owner: owner, lease_until: now + LEASE_MS })
    .where('id', '=', orderId)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]));
  // The backoff is part of the same conditional UPDATE: of concurrent user checks read before
  // another one finished, none passes once that one has moved next_check_at forward.
  if (opts.onlyIfDue) q = q.where((eb) => eb.or([eb('check_attempts', '=', 0), eb.and([eb('next_check_at', 'is not', null), eb('next_check_at', '<=', now)])]));
  const r = await q.executeTakeFirst();
  if (Number(r.numUpdatedRows) === 1) return true;
  // Not ours after all: free the Redis lock so other instances need not wait out its expiry.
  if (redis)
    await redis
      .eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`, 1, lockKey, owner)
      .catch(() => undefined);
  return false;
}

async function release(ctx: PaymentsContext, orderId: string, owner: string, attempts: number, nextCheckAt: number | null): Promise<void> {
  await ctx.db
    .updateTable('payment_orders')
    .set({ lease_owner: null, lease_until: null, check_attempts: attempts, next_check_at: nextCheckAt })
    .where('id', '=', orderId)
    .where('lease_owner', '=', owner)
    .execute();
  const redis = ctx.redis;
  if (redis) {
    // Delete only our own lock (compare-and-delete).
    await redis
      .eval(
        `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`,
        1,
        `tally:payments:reconcile:${orderId}`,
        owner,
      )
      .catch(() => undefined);
  }
}

/** Who asked for a reconcile by hand: the audit row written with its outcome. */
export interface ReconcileAudit {
  actor: Actor;
  /** Default `payment.reconcile`. */
  action?: string;
  reason?: string | null;
}

/**
 * Polls one order's provider now (support's "check again") and applies the answer.
 *
 * A check asked for by a user (the return page, or "check with the provider"
 * from a signed-in user who is not staff) honours the order's backoff: when
 * it is not due (checkIsDue) nothing is asked of the provider and the result
 * is `not_due` with the next check time. Staff and the reconcile worker are
 * not held back.
 *
 * With `opts.audit` (a person asked for it), exactly one audit row is written.
 * The provider poll is a network call and cannot sit inside a database
 * transaction, so the row goes into the transaction that applies the outcome
 * (credit, fail, expire, or the order note of an unknown answer): an outcome
 * is never committed without its audit row. When nothing changes (still
 * unpaid, another instance holds the order, the poll errored) there is no
 * transaction to join, and a standalone row records the attempt and its answer.
 */
export async function reconcileOrder(
  ctx: PaymentsContext,
  order: Order,
  opts: { owner?: string; source?: 'reconcile' | 'return_page' | 'support'; audit?: ReconcileAudit; honourBackoff?: boolean } = {},
): Promise<ReconcileItem> {
  const source = opts.source ?? 'reconcile';
  const actor = opts.audit?.actor;
  const honourBackoff = opts.honourBackoff ?? (actor?.type === 'user' && actor.role === 'user');
  const pay = ctx.payments;
  const owner = opts.owner ?? `${INSTANCE}:${randomBytes(4).toString('hex')}`;
  const now = ctx.now();
  let audited = false;
  const auditRow = async (db: DbOrTx, item: ReconcileItem) => {
    if (!opts.audit) return;
    const after = await findOrder(db, order.id);
    await recordAudit(db, {
      actor: opts.audit.actor,
      action: opts.audit.action ?? 'payment.reconcile',
      target: order.id,
      reason: opts.audit.reason ?? null,
      before: { status: order.status },
      after: { status: after?.status ?? order.status },
      data: { result: item.result, detail: item.detail ?? null, source },
      now: ctx.now(),
    });
    audited = true;
  };
  /** Applies an outcome; with an audit, in one transaction with its audit row (retried whole after a lost unique race). */
  const apply = async <T>(fn: (db: DbOrTx) => Promise<T>, item: (r: T) => ReconcileItem): Promise<ReconcileItem> => {
    if (!opts.audit) return item(await fn(ctx.db));
    return withIdempotentTransaction(ctx.db, async (tx) => {
      const it = item(await fn(tx));
      await auditRow(tx, it);
      return it;
    });
  };
  const finish = async (item: ReconcileItem): Promise<ReconcileItem> => {
    if (opts.audit && !audited) await auditRow(ctx.db, item); // nothing changed: a standalone row
    return item;
  };
  if (honourBackoff && !checkIsDue(order, now)) return notDue(order);
  if (!(await acquire(ctx, order.id, owner, now, { onlyIfDue: honourBackoff }))) {
    if (honourBackoff) {
      // Another check just ran (and moved the backoff) or is running: answer from the stored state, with no audit row.
      const fresh = (await findOrder(ctx.db, order.id)) ?? order;
      return checkIsDue(fresh, ctx.now())
        ? { orderId: order.id, result: 'locked', detail: 'another check of this order is running; look again in a moment' }
        : notDue(fresh);
    }
    return finish({ orderId: order.id, result: 'locked' });
  }
  const attempts = order.checkAttempts + 1;
  let next: number | null = now + backoffMs(attempts, pay.settings.reconcileAfterMs);
  let item: ReconcileItem;
  try {
    const provider = pay.provider(order.provider);
    const q = await provider.queryOrder(order);
    const at = ctx.now();
    if (q.state === 'paid') {
      item = await apply(
        (db) =>
          creditPaidOrder(db, {
            orderId: order.id,
            provider: order.provider,
            tradeId: q.tradeId,
            amount: q.amount,
            currency: q.currency,
            source,
            payload: q.payload,
            now: at,
            duplicateWindowMs: pay.settings.duplicateWindowMs,
          }),
        (r) => ({ orderId: order.id, result: r.outcome }),
      );
      next = null;
    } else if (q.state === 'failed') {
      item = await apply(
        (db) => failOrder(db, { orderId: order.id, reason: q.reason, source, payload: q.payload, now: at }),
        (r) => ({ orderId: order.id, result: r.ok ? 'failed' : 'refused' }),
      );
      next = null;
    } else if (order.status === 'canceled' && (q.state === 'expired' || q.state === 'unpaid')) {
      // Canceled by the user: only a payment that went through anyway matters; look for one until the order is old.
      item = { orderId: order.id, result: 'still_unpaid' };
      if (at - order.createdAt > pay.settings.stuckAfterMs || q.state === 'expired') next = null;
    } else if (q.state === 'expired' || (q.state === 'unpaid' && at > order.expiresAt)) {
      item = await apply(
        (db) =>
          expireOrder(db, {
            orderId: order.id,
            reason: q.state === 'expired' ? 'the provider reports the checkout expired unpaid' : 'no payment by the deadline (checked with the provider)',
            source,
            payload: q.payload,
            now: at,
          }),
        (r) => ({ orderId: order.id, result: r.ok ? 'expired' : order.status === 'expired' ? 'still_unpaid' : 'refused' }),
      );
      // Keep checking an expired order for a while: a late payment still has to be found.
      if (at - order.createdAt > pay.settings.stuckAfterMs) next = null;
    } else if (q.state === 'unknown') {
      item = await apply(
        (db) => recordOrderEvent(db, { orderId: order.id, kind: 'note', source, reason: q.reason, now: at }),
        () => ({ orderId: order.id, result: 'provider_unknown', detail: q.reason }),
      );
    } else {
      item = { orderId: order.id, result: 'still_unpaid' };
    }
  } catch (e) {
    ctx.log.error({ err: e, orderId: order.id }, 'reconcile failed for an order');
    item = { orderId: order.id, result: 'provider_unknown', detail: (e as Error).message };
  } finally {
    await release(ctx, order.id, owner, attempts, next);
  }
  return finish(item);
}

/**
 * A user's check inside the backoff. No audit row either: nothing was asked of
 * anyone, and a row per click would let clicks grow a table.
 */
function notDue(o: Order): ReconcileItem {
  const detail =
    o.nextCheckAt === null
      ? 'the provider was already asked about this order and no further check is scheduled; support can check it by hand'
      : `the provider was asked about this order recently; the next check is at ${new Date(o.nextCheckAt).toISOString()}`;
  return { orderId: o.id, result: 'not_due', detail, nextCheckAt: o.nextCheckAt };
}

/** One pass: every order due for a check (waiting longer than the threshold, next check time reached). */
export async function reconcilePayments(
  ctx: PaymentsContext,
  opts: { limit?: number; all?: boolean; actor?: Actor } = {},
): Promise<{ checked: ReconcileItem[]; refunds: ResumedRefund[]; stuck: Order[] }> {
  const pay = ctx.payments;
  const now = ctx.now();
  let q = ctx.db
    .selectFrom('payment_orders')
    .select('id')
    .where('status', 'in', ['created', 'pending', 'expired', 'canceled'])
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
  // Support refunds interrupted between the ledger booking and the provider's answer.
  const refunds: ResumedRefund[] = await resumeInterruptedRefunds(ctx, opts.all ? { olderThanMs: 0 } : {});
  // Refunds the provider accepted as pending: finished or failed since?
  for (const c of await checkPendingProviderRefunds(ctx, opts.all ? { olderThanMs: 0 } : {})) {
    refunds.push({
      refundId: c.refundId,
      orderId: c.orderId,
      outcome:
        c.outcome === 'refund_confirmed'
          ? 'succeeded'
          : c.outcome === 'refund_failed'
            ? 'failed_at_provider'
            : c.outcome === 'nothing_to_do'
              ? 'pending'
              : c.outcome,
    });
  }
  if (opts.actor) {
    // A pass asked for by a person (admin API, CLI): one summary row. Each order's outcome is applied in its own
    // exactly-once transaction, as the worker does; the row lists them.
    const counts: Record<string, number> = {};
    for (const c of checked) counts[c.result] = (counts[c.result] ?? 0) + 1;
    await recordAudit(ctx.db, {
      actor: opts.actor,
      action: 'payment.reconcile_all',
      target: null,
      data: { all: opts.all === true, counts, orders: checked.slice(0, 100), refunds },
      now: ctx.now(),
    });
  }
  return { checked, refunds, stuck: await listStuckOrders(ctx) };
}

/** Orders waiting beyond the second threshold, or flagged: support's queue. */
export async function listStuckOrders(ctx: PaymentsContext, limit = 100): Promise<Order[]> {
  return listOrders(ctx.db, { view: 'stuck', stuckBefore: ctx.now() - ctx.payments.settings.stuckAfterMs, limit });
}

export interface ReconcileWorker {
  /** Stops the timer and waits for a pass in flight, so the database is not closed under it. */
  stop(): Promise<void>;
}

/**
 * The background reconcile pass every TALLY_PAYMENT_RECONCILE_INTERVAL_MS (0: none).
 * Started and stopped with the server's other background workers (src/app/start.ts).
 */
export function startReconcileWorker(ctx: PaymentsContext): ReconcileWorker {
  const interval = ctx.payments.settings.reconcileIntervalMs;
  if (!interval) return { stop: async () => undefined };
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = reconcilePayments(ctx)
      .then((r) => {
        if (r.checked.length || r.refunds.length) ctx.log.info({ checked: r.checked.length, refunds: r.refunds }, 'payments reconciled');
      })
      .catch((e) => ctx.log.error({ err: e }, 'payments reconcile pass failed'))
      .finally(() => {
        running = null;
      });
  }, interval);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
