import type { AppContext } from '../context.ts';
import { withTransaction, type DbOrTx, type Tx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { invalid, conflict, TallyError } from '../lib/errors.ts';
import { SYSTEM_ACCOUNTS, walletAccountId } from '../ledger/accounts.ts';
import { createTransfer, reverseTransfer } from '../ledger/transfers.ts';
import { formatMoney, toBig } from '../ledger/money.ts';
import { recordAudit, actorLabel, type Actor } from '../support/audit.ts';
import { payments } from './providers/index.ts';
import { findOrder, getOrder, recordOrderEvent, type EventSource, type Order } from './orders.ts';
import { CREDITED_STATES } from './stateMachine.ts';

// Refunds take back the proportional credit from the wallet. If the user has
// already spent it, the refund is refused with an explanation, unless an admin
// forces it (or the provider already returned the money: a provider-initiated
// refund or a dispute cannot be refused). Then the wallet gives what it has
// and the rest is booked explicitly from `system:uncollected` (money the user
// owes, visible to the operator), never as a silently negative wallet.

export const REFUND_REASONS = ['duplicate', 'requested_by_customer', 'fraudulent', 'other'] as const;
export type RefundReason = (typeof REFUND_REASONS)[number];

export interface Refund {
  id: string;
  orderId: string;
  amount: bigint;
  creditAmount: bigint;
  fromWallet: bigint;
  uncollected: bigint;
  reason: string;
  note: string | null;
  origin: string;
  status: string;
  providerRefundId: string | null;
  forced: boolean;
  actor: string;
  createdAt: number;
}

const rowToRefund = (r: any): Refund => ({
  id: r.id, orderId: r.order_id, amount: toBig(r.amount), creditAmount: toBig(r.credit_amount), fromWallet: toBig(r.from_wallet), uncollected: toBig(r.uncollected),
  reason: r.reason, note: r.note, origin: r.origin, status: r.status, providerRefundId: r.provider_refund_id, forced: Number(r.forced) === 1, actor: r.actor, createdAt: Number(r.created_at),
});

export async function listRefunds(db: DbOrTx, orderId: string): Promise<Refund[]> {
  return (await db.selectFrom('payment_refunds').selectAll().where('order_id', '=', orderId).orderBy('id').execute()).map(rowToRefund);
}

interface BookInput {
  orderId: string;
  amount: bigint; // order currency
  reason: string;
  note?: string | null;
  origin: 'support' | 'provider' | 'dispute';
  force: boolean;
  actor: Actor;
  providerRefundId?: string | null;
  status: 'pending' | 'succeeded' | 'manual';
  source: EventSource;
  now: number;
}

/** Books a refund against a credited order in the caller's transaction. */
async function bookRefund(tx: Tx, input: BookInput): Promise<Refund> {
  const order = await findOrder(tx, input.orderId);
  if (!order) throw invalid('order_not_found', `order ${input.orderId} does not exist`);
  if (!CREDITED_STATES.includes(order.status) || order.status === 'refunded') {
    throw conflict('order_not_refundable', `order ${order.id} is ${order.status}; only a credited order with money left to refund can be refunded`);
  }
  const remaining = order.amount - order.refundedAmount;
  if (input.amount <= 0n || input.amount > remaining) {
    throw invalid('invalid_refund_amount', `a refund of this order can be at most ${formatMoney(remaining)} ${order.currency} (paid ${formatMoney(order.amount)}, refunded ${formatMoney(order.refundedAmount)})`, 'amount');
  }
  const refundedAfter = order.refundedAmount + input.amount;
  // Proportional credit, cumulative so that partial refunds add up exactly to the original credit.
  const creditAfter = refundedAfter === order.amount ? order.creditAmount : (order.creditAmount * refundedAfter) / order.amount;
  const creditBack = creditAfter - order.refundedCredit;
  const wallet = walletAccountId(order.userId);
  const acc = await tx.selectFrom('ledger_accounts').select(['balance', 'pending_debits']).where('id', '=', wallet).executeTakeFirstOrThrow();
  const available = toBig(acc.balance) - toBig(acc.pending_debits);
  const fromWallet = available <= 0n ? 0n : available < creditBack ? available : creditBack;
  const shortfall = creditBack - fromWallet;
  if (shortfall > 0n && !input.force) {
    throw new TallyError(
      'refund_exceeds_balance',
      `refusing the refund: it takes back ${formatMoney(creditBack)} ${order.creditCurrency} of credit, but the wallet has only ${formatMoney(available < 0n ? 0n : available)} available — the user already spent ${formatMoney(shortfall)} of it. An admin can force it (force=true): the wallet gives what it has and ${formatMoney(shortfall)} is booked to system:uncollected.`,
      { status: 409, retryable: false, details: { credit_back: formatMoney(creditBack), available: formatMoney(available), spent: formatMoney(shortfall) } },
    );
  }
  const moved = await tx
    .updateTable('payment_orders')
    .set({ refunded_amount: refundedAfter, refunded_credit: creditAfter, status: input.origin === 'dispute' ? 'disputed' : refundedAfter === order.amount ? 'refunded' : 'partially_refunded', updated_at: input.now })
    .where('id', '=', order.id).where('refunded_amount', '=', order.refundedAmount).where('status', '=', order.status)
    .executeTakeFirst();
  if (Number(moved.numUpdatedRows) !== 1) throw new TallyError('order_changed', 'the order changed while the refund was booked; try again', { status: 409, retryable: true });
  const id = newId('rfd');
  const meta = { order_id: order.id, refund_id: id, reason: input.reason, note: input.note ?? null, origin: input.origin };
  if (fromWallet > 0n) {
    await createTransfer(tx, { debitAccountId: wallet, creditAccountId: SYSTEM_ACCOUNTS.refundsOut, amount: fromWallet, kind: 'refund', reference: order.id, idempotencyKey: `refund:${id}`, metadata: meta, now: input.now });
  }
  if (shortfall > 0n) {
    await createTransfer(tx, { debitAccountId: SYSTEM_ACCOUNTS.uncollected, creditAccountId: SYSTEM_ACCOUNTS.refundsOut, amount: shortfall, kind: 'uncollected', reference: order.id, idempotencyKey: `refund:${id}:uncollected`, metadata: { ...meta, why: 'refund_shortfall: the user had already spent this part of the credit' }, now: input.now });
  }
  const row = {
    id, order_id: order.id, amount: input.amount, credit_amount: creditBack, from_wallet: fromWallet, uncollected: shortfall, reason: input.reason, note: input.note ?? null,
    origin: input.origin, status: input.status, provider_refund_id: input.providerRefundId ?? null, forced: shortfall > 0n ? 1 : 0, actor: actorLabel(input.actor), created_at: input.now, updated_at: input.now,
  };
  await tx.insertInto('payment_refunds').values(row).execute();
  const after = (await findOrder(tx, order.id))!;
  await recordOrderEvent(tx, {
    orderId: order.id, kind: 'transition', from: order.status, to: after.status, source: input.source,
    reason: `${input.origin === 'dispute' ? 'dispute' : 'refund'} of ${formatMoney(input.amount)} ${order.currency} (${input.reason}${input.note ? `: ${input.note}` : ''}); credit taken back ${formatMoney(creditBack)}${shortfall > 0n ? `, of which ${formatMoney(shortfall)} booked to uncollected` : ''}`,
    now: input.now,
  });
  if (input.actor.type !== 'system') {
    await recordAudit(tx, { actor: input.actor, action: 'payment.refund', target: order.id, reason: input.note ?? input.reason, data: { refund_id: id, amount: formatMoney(input.amount), credit_back: formatMoney(creditBack), uncollected: formatMoney(shortfall), forced: shortfall > 0n }, now: input.now });
  }
  return rowToRefund(row);
}

/**
 * Support refunds an order (full when amount is omitted) to the original
 * payment method. The ledger booking is committed before the provider is
 * asked, so a provider webhook racing in (charge.refunded) finds the refund
 * already counted; if the provider refuses, the booking is reversed.
 */
export async function refundOrder(
  ctx: AppContext,
  input: { orderId: string; amount?: bigint; reason: RefundReason; note?: string; force?: boolean; actor: Actor },
): Promise<{ refund: Refund; order: Order }> {
  if (!REFUND_REASONS.includes(input.reason)) throw invalid('invalid_reason', `reason must be one of ${REFUND_REASONS.join(', ')}`, 'reason');
  const order = await getOrder(ctx.db, input.orderId);
  const provider = payments(ctx).provider(order.provider);
  const amount = input.amount ?? order.amount - order.refundedAmount;
  const now = ctx.now();
  const refund = await withTransaction(ctx.db, (tx) =>
    bookRefund(tx, { orderId: order.id, amount, reason: input.reason, note: input.note ?? null, origin: 'support', force: input.force === true, actor: input.actor, status: 'pending', source: 'support', now }),
  );
  try {
    const r = await provider.refund(order, { refundId: refund.id, amount, reason: input.reason });
    await ctx.db.updateTable('payment_refunds').set({ status: r.status, provider_refund_id: r.providerRefundId, note: r.note ? [refund.note, r.note].filter(Boolean).join(' — ') : refund.note, updated_at: ctx.now() }).where('id', '=', refund.id).execute();
    if (r.status === 'manual') await recordOrderEvent(ctx.db, { orderId: order.id, kind: 'note', source: 'support', reason: `refund ${refund.id} must be paid out by hand: ${r.note ?? ''}`, now: ctx.now() });
  } catch (e) {
    await undoRefund(ctx.db, refund, `the provider did not accept the refund: ${(e as Error).message.slice(0, 300)}`, ctx.now());
    throw e;
  }
  return { refund: (await listRefunds(ctx.db, order.id)).find((r) => r.id === refund.id)!, order: (await findOrder(ctx.db, order.id))! };
}

/** Reverses a refund's ledger booking after the provider refused it, and restores the order. */
async function undoRefund(db: DbOrTx, refund: Refund, why: string, now: number): Promise<void> {
  await withTransaction(db, async (tx) => {
    const order = (await findOrder(tx, refund.orderId))!;
    for (const key of [`refund:${refund.id}`, `refund:${refund.id}:uncollected`]) {
      const t = await tx.selectFrom('ledger_transfers').select('id').where('idempotency_key', '=', key).executeTakeFirst();
      if (t) await reverseTransfer(tx, { transferId: t.id, reason: why, now });
    }
    const refundedAfter = order.refundedAmount - refund.amount;
    const status = refundedAfter === 0n ? 'credited' : 'partially_refunded';
    await tx.updateTable('payment_orders').set({ refunded_amount: refundedAfter, refunded_credit: order.refundedCredit - refund.creditAmount, status, updated_at: now }).where('id', '=', order.id).execute();
    await tx.updateTable('payment_refunds').set({ status: 'failed', note: why, updated_at: now }).where('id', '=', refund.id).execute();
    await recordOrderEvent(tx, { orderId: order.id, kind: 'transition', from: order.status, to: status, source: 'system', reason: `refund ${refund.id} reversed: ${why}`, now });
  });
}

/** The provider reports a cumulative refunded total (Stripe charge.refunded); book whatever is not booked yet. */
export async function bookProviderRefund(db: DbOrTx, input: { order: Order; refundedTotal: bigint; currency: string; refundRef: string; now: number }): Promise<Refund | null> {
  return withTransaction(db, async (tx) => {
    const order = (await findOrder(tx, input.order.id))!;
    if (input.currency.toUpperCase() !== order.currency) throw invalid('currency_mismatch', 'the provider refund is in another currency');
    const delta = input.refundedTotal - order.refundedAmount;
    if (delta <= 0n) return null; // already booked (ours, or an earlier delivery)
    return bookRefund(tx, { orderId: order.id, amount: delta, reason: 'other', note: `refunded at the provider (${input.refundRef})`, origin: 'provider', force: true, actor: { type: 'system' }, providerRefundId: input.refundRef, status: 'succeeded', source: 'callback', now: input.now });
  });
}

/** A chargeback: the provider already took the money back, so the credit comes back as well (forced). */
export async function bookDispute(db: DbOrTx, input: { order: Order; amount: bigint; disputeId: string; reason: string; now: number }): Promise<Refund | null> {
  return withTransaction(db, async (tx) => {
    const seen = await tx.selectFrom('payment_refunds').select('id').where('order_id', '=', input.order.id).where('provider_refund_id', '=', input.disputeId).executeTakeFirst();
    if (seen) return null;
    const order = (await findOrder(tx, input.order.id))!;
    const remaining = order.amount - order.refundedAmount;
    const amount = input.amount > remaining ? remaining : input.amount;
    if (amount <= 0n) return null;
    return bookRefund(tx, { orderId: order.id, amount, reason: 'fraudulent', note: `dispute ${input.disputeId} opened (${input.reason})`, origin: 'dispute', force: true, actor: { type: 'system' }, providerRefundId: input.disputeId, status: 'succeeded', source: 'callback', now: input.now });
  });
}
