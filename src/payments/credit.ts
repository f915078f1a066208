import type { PaymentsContext } from './context.ts';
import { withTransaction, type DbOrTx, type Tx } from '../db/index.ts';
import { withIdempotentTransaction } from '../db/idempotent.ts';
import { newId } from '../lib/ids.ts';
import { TallyError } from '../lib/errors.ts';
import { recordAudit, actorLabel, approvalData, type Actor, type ApprovalRef } from '../audit/index.ts';
import { walletState } from '../audit/walletState.ts';
import { accessOf, decideMoneyAction } from '../support/permissions.ts';
import { SYSTEM_ACCOUNTS } from '../ledger/accounts.ts';
import { createTransfer } from '../ledger/transfers.ts';
import { formatMoney } from '../ledger/money.ts';
import { orderWalletId, findOrder, recordOrderEvent, transitionOrder, type EventSource, type Order } from './orders.ts';
import { CREDITED_STATES, PAYABLE, type OrderStatus } from './stateMachine.ts';

export type CreditOutcome = 'credited' | 'already_credited' | 'duplicate_payment' | 'flagged' | 'unknown_order' | 'trade_conflict';

export interface PaymentSuccess {
  orderId: string;
  provider: string;
  tradeId: string;
  amount: bigint;
  currency: string;
  source: EventSource;
  payload?: unknown;
  /** Why this path credits (e.g. a support action's reason). */
  note?: string | null;
  now: number;
  duplicateWindowMs?: number;
}

async function recordTrade(tx: Tx, p: PaymentSuccess, outcome: 'credited' | 'duplicate_payment' | 'flagged') {
  await tx
    .insertInto('payment_trades')
    .values({
      id: newId('trd'),
      provider: p.provider,
      trade_id: p.tradeId,
      order_id: p.orderId,
      amount: p.amount,
      currency: p.currency.toUpperCase(),
      outcome,
      decision: outcome === 'duplicate_payment' ? 'pending' : null,
      created_at: p.now,
    })
    .execute();
}

/**
 * The one path that turns a confirmed payment into balance, whichever way the
 * confirmation arrives (callback, return page, reconcile poll, support). In one
 * transaction: the conditional `→ paid` and `paid → credited` UPDATEs on the
 * order row and the ledger transfer system:payments_in → wallet keyed
 * `order:<id>`. Of any number of concurrent calls, on any number of instances,
 * exactly one wins the conditional UPDATE; the others read the result.
 */
export async function creditPaidOrder(db: DbOrTx, p: PaymentSuccess): Promise<{ outcome: CreditOutcome; order: Order | null }> {
  // A concurrent delivery of the same trade won the unique (provider, trade_id) insert: answer from its result.
  return withIdempotentTransaction(db, (tx) => creditInTx(tx, p));
}

async function creditInTx(tx: Tx, p: PaymentSuccess): Promise<{ outcome: CreditOutcome; order: Order | null }> {
  const order = await findOrder(tx, p.orderId);
  if (!order || order.provider !== p.provider) return { outcome: 'unknown_order', order: null };
  if (!p.tradeId) return { outcome: 'unknown_order', order };
  const seen = await tx.selectFrom('payment_trades').selectAll().where('provider', '=', p.provider).where('trade_id', '=', p.tradeId).executeTakeFirst();
  if (seen) {
    if (seen.order_id !== order.id) return { outcome: 'trade_conflict', order };
    return { outcome: seen.outcome === 'credited' ? 'already_credited' : (seen.outcome as CreditOutcome), order };
  }
  const currency = p.currency.toUpperCase();
  // Amount and currency are checked before anything moves: a mismatch is never credited.
  if (p.amount !== order.amount || currency !== order.currency) {
    const reason = `the provider reported ${formatMoney(p.amount)} ${currency} but the order is for ${formatMoney(order.amount)} ${order.currency}; not credited, waiting for support`;
    const t = await transitionOrder(tx, {
      orderId: order.id,
      to: 'flagged',
      source: p.source,
      reason,
      payload: p.payload,
      now: p.now,
      only: PAYABLE,
      logRefusal: false,
    });
    if (!t.ok)
      await recordOrderEvent(tx, {
        orderId: order.id,
        kind: 'note',
        source: p.source,
        reason: `trade ${p.tradeId}: ${reason}`,
        payload: p.payload,
        now: p.now,
      });
    await recordTrade(tx, p, 'flagged');
    return { outcome: 'flagged', order: await findOrder(tx, order.id) };
  }
  const late = order.status === 'expired' || p.now > order.expiresAt;
  const why =
    [
      late ? `the payment arrived after the order expired (${new Date(order.expiresAt).toISOString()}); the money was taken, so it is credited` : null,
      order.status === 'failed' || order.status === 'canceled' ? `the order was ${order.status} but the provider confirms the money was taken` : null,
      p.note ?? null,
    ]
      .filter(Boolean)
      .join('; ') || `confirmed by ${p.provider} (${p.source})`;
  const paid = await transitionOrder(tx, {
    orderId: order.id,
    to: 'paid',
    source: p.source,
    reason: why,
    payload: p.payload,
    now: p.now,
    only: p.source === 'support' ? [...PAYABLE, 'flagged'] : PAYABLE,
    set: { paid_at: p.now, provider_trade_id: p.tradeId },
    logRefusal: false,
  });
  if (!paid.ok) {
    const current = (await findOrder(tx, order.id))!;
    if (CREDITED_STATES.includes(current.status)) {
      if (current.providerTradeId === p.tradeId) return { outcome: 'already_credited', order: current };
      // Another trade for an order already credited: the customer paid twice. Never credited; queued for a refund decision.
      await recordOrderEvent(tx, {
        orderId: order.id,
        kind: 'note',
        source: p.source,
        reason: `duplicate_payment: a second payment (trade ${p.tradeId}, ${formatMoney(p.amount)} ${currency}) for an order already credited by trade ${current.providerTradeId}; not credited, awaiting a refund decision`,
        payload: p.payload,
        now: p.now,
      });
      await recordTrade(tx, p, 'duplicate_payment');
      return { outcome: 'duplicate_payment', order: current };
    }
    if (current.status !== 'paid') {
      await recordOrderEvent(tx, {
        orderId: order.id,
        kind: 'refused',
        from: current.status,
        to: 'paid',
        source: p.source,
        reason: `a payment (trade ${p.tradeId}) arrived for an order that is ${current.status}; left for support`,
        payload: p.payload,
        now: p.now,
      });
      await recordTrade(tx, p, 'flagged');
      return { outcome: 'flagged', order: current };
    }
  }
  return { outcome: 'credited', order: await bookCredit(tx, order.id, p) };
}

/** paid → credited and the ledger credit, in the caller's transaction. */
async function bookCredit(tx: Tx, orderId: string, p: PaymentSuccess): Promise<Order> {
  const moved = await transitionOrder(tx, {
    orderId,
    to: 'credited',
    source: p.source,
    reason: `credited to the wallet`,
    now: p.now,
    only: ['paid'],
    set: { credited_at: p.now },
  });
  if (!moved.ok) throw new Error(`order ${orderId} left 'paid' inside its own transaction`);
  const order = (await findOrder(tx, orderId))!;
  const { transfer } = await createTransfer(tx, {
    debitAccountId: SYSTEM_ACCOUNTS.paymentsIn,
    creditAccountId: orderWalletId(order),
    amount: order.creditAmount,
    kind: 'payment',
    reference: order.id,
    idempotencyKey: `order:${order.id}`,
    metadata: {
      order_id: order.id,
      provider: order.provider,
      trade_id: p.tradeId,
      paid: `${formatMoney(order.amount)} ${order.currency}`,
      rate: order.exchangeRate,
    },
    now: p.now,
  });
  await tx.updateTable('payment_orders').set({ credit_transfer_id: transfer.id }).where('id', '=', orderId).execute();
  await recordTrade(tx, p, 'credited');
  if (p.duplicateWindowMs && p.duplicateWindowMs > 0) await markPossibleDuplicate(tx, order, p.now, p.duplicateWindowMs);
  return (await findOrder(tx, orderId))!;
}

/** Two paid orders by one user for the same amount within the window: likely a double top-up; support decides. */
async function markPossibleDuplicate(tx: Tx, order: Order, now: number, windowMs: number): Promise<void> {
  const other = await tx
    .selectFrom('payment_orders')
    .select('id')
    .where('user_id', '=', order.userId)
    .where('id', '!=', order.id)
    .where('amount', '=', order.amount)
    .where('currency', '=', order.currency)
    .where('status', 'in', CREDITED_STATES as OrderStatus[])
    .where('credited_at', '>=', now - windowMs)
    .orderBy('credited_at', 'desc')
    .executeTakeFirst();
  if (!other) return;
  await tx.updateTable('payment_orders').set({ possible_duplicate_of: other.id }).where('id', '=', order.id).execute();
  await recordOrderEvent(tx, {
    orderId: order.id,
    kind: 'note',
    source: 'system',
    reason: `possible duplicate of ${other.id}: same user and amount within ${Math.round(windowMs / 60000)} min`,
    now,
  });
}

/** A definitive failure from the provider; only an order not yet paid can fail. */
export async function failOrder(
  db: DbOrTx,
  input: { orderId: string; reason: string; source: EventSource; payload?: unknown; now: number; allowFlagged?: boolean },
) {
  return withTransaction(db, (tx) =>
    transitionOrder(tx, {
      orderId: input.orderId,
      to: 'failed',
      source: input.source,
      reason: input.reason,
      payload: input.payload,
      now: input.now,
      only: input.allowFlagged ? ['created', 'pending', 'flagged'] : ['created', 'pending'],
    }),
  );
}

export async function expireOrder(db: DbOrTx, input: { orderId: string; reason: string; source: EventSource; payload?: unknown; now: number }) {
  return withTransaction(db, (tx) =>
    transitionOrder(tx, {
      orderId: input.orderId,
      to: 'expired',
      source: input.source,
      reason: input.reason,
      payload: input.payload,
      now: input.now,
      only: ['created', 'pending'],
    }),
  );
}

/**
 * The user gives up on an unpaid order. Only `created` or `pending` can be
 * canceled; a payment the provider still confirms later is credited anyway
 * (`canceled` stays payable, and the reconcile pass keeps asking about it).
 */
export async function cancelOrder(db: DbOrTx, input: { orderId: string; source: EventSource; now: number }) {
  return withTransaction(db, (tx) =>
    transitionOrder(tx, {
      orderId: input.orderId,
      to: 'canceled',
      source: input.source,
      reason: 'canceled by the user before paying',
      now: input.now,
      only: ['created', 'pending'],
    }),
  );
}

/** What the provider said when asked before a credit by hand; recorded on the audit row as `provider_check`. */
export type ProviderCheck =
  | { check: 'confirmed'; tradeId: string; amount: bigint; currency: string; detail: string }
  | { check: 'not_paid'; detail: string }
  | { check: 'unavailable'; detail: string };

/** Asks the order's provider whether it was paid (outside any transaction: a network call). Never throws. */
export async function askProviderAboutOrder(ctx: PaymentsContext, order: Order): Promise<ProviderCheck> {
  const provider = ctx.payments.providers.get(order.provider as never);
  if (!provider) return { check: 'unavailable', detail: `the order's provider (${order.provider}) is not configured on this instance` };
  try {
    const q = await provider.queryOrder(order);
    if (q.state === 'paid')
      return {
        check: 'confirmed',
        tradeId: q.tradeId,
        amount: q.amount,
        currency: q.currency,
        detail: `${order.provider} reports trade ${q.tradeId} paid (${formatMoney(q.amount)} ${q.currency})`,
      };
    if (q.state === 'unknown') return { check: 'unavailable', detail: q.reason.slice(0, 300) };
    return { check: 'not_paid', detail: `${order.provider} reports the order ${q.state}${q.state === 'failed' ? ` (${q.reason.slice(0, 200)})` : ''}` };
  } catch (e) {
    return { check: 'unavailable', detail: `${order.provider} could not be asked: ${(e as Error).message.slice(0, 300)}` };
  }
}

export interface CreditByHandInput {
  orderId: string;
  providerReference: string;
  reason: string;
  actor: Actor;
  /** An admin credits although the provider says the order is not paid (the reason says why). */
  force?: boolean;
  /** The provider's answer when the caller already asked (support/actions.ts); otherwise it is asked here. */
  providerCheck?: ProviderCheck;
  approval?: ApprovalRef;
}

/** The checks before anything is asked: a reason, a reference, an order not on the caller's own account. */
export async function prepareCreditByHand(
  db: DbOrTx,
  input: Pick<CreditByHandInput, 'orderId' | 'providerReference' | 'reason' | 'actor'>,
): Promise<{ order: Order; reason: string; ref: string }> {
  const reason = input.reason?.trim();
  if (!reason) throw new TallyError('reason_required', 'say why the order is credited by hand', { param: 'reason' });
  const ref = input.providerReference?.trim();
  if (!ref)
    throw new TallyError('provider_reference_required', 'the provider reference (trade id) of the payment is required', { param: 'provider_reference' });
  const order = await findOrder(db, input.orderId);
  if (!order) throw new TallyError('order_not_found', `order ${input.orderId.slice(0, 64)} does not exist`);
  decideMoneyAction(input.actor, 'orders.credit', { targetUserId: order.userId, value: order.creditAmount, limit: 0n, what: 'credit an order by hand' });
  return { order, reason, ref };
}

/**
 * Staff credit an order by hand, through the same exactly-once path as
 * callbacks (a callback arriving later, or before, cannot credit again). The
 * provider is asked first:
 * - it confirms the payment: credited with the provider's own trade id and
 *   amount (a typed reference that differs is only noted), by support or admin;
 * - it says "not paid": refused (409 provider_says_not_paid) unless an admin
 *   forces it with a reason (`provider_check: "not_paid_forced"`);
 * - it cannot be asked (down, no query API, not configured here): admins and
 *   the operator only (`provider_check: "unavailable"`); support gets 409
 *   provider_unavailable (support/actions.ts turns that into a request for an
 *   admin's approval).
 * The audit row (order status before and after, the check and its detail) is
 * written in the crediting transaction.
 */
export async function creditOrderByHand(
  ctx: PaymentsContext,
  input: CreditByHandInput,
): Promise<{ outcome: CreditOutcome; order: Order; providerCheck: ProviderCheck['check'] | 'not_paid_forced' }> {
  const { order, reason, ref } = await prepareCreditByHand(ctx.db, input);
  const admin = accessOf(input.actor, 'orders.credit') === 'yes';
  const answer = input.providerCheck ?? (await askProviderAboutOrder(ctx, order));
  if (answer.check === 'not_paid' && !(admin && input.force)) {
    throw new TallyError(
      'provider_says_not_paid',
      `${answer.detail}; not credited. If the customer's receipt proves otherwise, an admin can force it (force: true) with a reason.`,
      { details: { provider_check: 'not_paid' } },
    );
  }
  if (answer.check === 'unavailable' && !admin) {
    throw new TallyError(
      'provider_unavailable',
      `the provider could not confirm the payment (${answer.detail}); only an admin can credit it without that confirmation — request an approval`,
      { details: { provider_check: 'unavailable' } },
    );
  }
  const providerCheck = answer.check === 'not_paid' ? ('not_paid_forced' as const) : answer.check;
  // Confirmed: the provider's trade id and amount, so the later callback for the same trade is recognised and a mismatch is flagged.
  const paid = answer.check === 'confirmed' ? answer : { tradeId: ref, amount: order.amount, currency: order.currency };
  return withIdempotentTransaction(ctx.db, async (tx) => {
    const now = ctx.now();
    const before = (await findOrder(tx, order.id))!;
    const walletBefore = await walletState(tx, orderWalletId(order));
    const r = await creditPaidOrder(tx, {
      orderId: order.id,
      provider: order.provider,
      tradeId: paid.tradeId,
      amount: paid.amount,
      currency: paid.currency,
      source: 'support',
      note: `credited by hand (provider check: ${providerCheck}): ${reason}`,
      now,
    });
    const after = r.order ?? before;
    await recordAudit(tx, {
      actor: input.actor,
      action: 'payment.credit_order',
      target: order.id,
      reason,
      before: { status: before.status, wallet: walletBefore },
      after: { status: after.status, wallet: await walletState(tx, orderWalletId(order)) },
      data: {
        provider_reference: ref,
        trade_id: paid.tradeId,
        provider_check: providerCheck,
        provider_detail: answer.detail,
        outcome: r.outcome,
        user_id: order.userId,
        amount: formatMoney(order.creditAmount),
        ...approvalData(input.approval),
      },
      now,
    });
    return { outcome: r.outcome, order: after, providerCheck };
  });
}

/**
 * Support marks an order failed (only one not paid yet, or flagged): the
 * transition, its order event and the audit row in one transaction. A refused
 * transition changes nothing, so it writes no audit row either; it is
 * recorded on the order's timeline and answered with the current state.
 */
export async function failOrderBySupport(
  ctx: { db: DbOrTx; now(): number },
  input: { orderId: string; reason: string; actor: Actor },
): Promise<{ ok: true; order: Order } | { ok: false; current: OrderStatus | null }> {
  const reason = input.reason?.trim();
  if (!reason) throw new TallyError('reason_required', 'say why the order is marked failed', { param: 'reason' });
  const order = await findOrder(ctx.db, input.orderId);
  if (!order) throw new TallyError('order_not_found', `order ${input.orderId.slice(0, 64)} does not exist`);
  const r = await withTransaction(ctx.db, async (tx) => {
    const now = ctx.now();
    const t = await transitionOrder(tx, {
      orderId: order.id,
      to: 'failed',
      source: 'support',
      reason: `${reason} (by ${actorLabel(input.actor)})`,
      now,
      only: ['created', 'pending', 'flagged'],
    });
    if (!t.ok) return t;
    await recordAudit(tx, {
      actor: input.actor,
      action: 'payment.fail',
      target: order.id,
      reason,
      before: { status: t.from },
      after: { status: 'failed' },
      now,
    });
    return { ok: true as const, order: (await findOrder(tx, order.id))! };
  });
  return r;
}
