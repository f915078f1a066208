import type { Selectable } from 'kysely';
import type { PaymentRefundsTable } from '../db/schema.ts';
import type { PaymentsContext } from './context.ts';
import { withTransaction, type DbOrTx, type Tx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { likePrefix } from '../lib/sqlLike.ts';
import { TallyError } from '../lib/errors.ts';
import { SYSTEM_ACCOUNTS } from '../ledger/accounts.ts';
import { createTransfer, reverseTransfer } from '../ledger/transfers.ts';
import { formatMoney, toBig } from '../ledger/money.ts';
import { availableOf } from '../ledger/available.ts';
import { recordAudit, actorLabel, approvalData, type Actor, type ApprovalRef } from '../audit/index.ts';
import { walletState } from '../audit/walletState.ts';
import { accessOf, decideMoneyAction, approvalRequired } from '../support/permissions.ts';
import { isRefundOutcomeUnknown } from './errors.ts';
import type { RefundResult, RefundState } from './providers/types.ts';
import { orderWalletId, findOrder, getOrder, recordOrderEvent, type EventSource, type Order } from './orders.ts';
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

const rowToRefund = (r: Selectable<PaymentRefundsTable>): Refund => ({
  id: r.id,
  orderId: r.order_id,
  amount: toBig(r.amount),
  creditAmount: toBig(r.credit_amount),
  fromWallet: toBig(r.from_wallet),
  uncollected: toBig(r.uncollected),
  reason: r.reason,
  note: r.note,
  origin: r.origin,
  status: r.status,
  providerRefundId: r.provider_refund_id,
  forced: Number(r.forced) === 1,
  actor: r.actor,
  createdAt: Number(r.created_at),
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
  /** A refund id fixed by the caller (an approved request: `rfd_apr_<approval>`), so running it again books nothing twice. */
  refundId?: string;
  approval?: ApprovalRef;
}

/** Books a refund against a credited order in the caller's transaction. */
async function bookRefund(tx: Tx, input: BookInput): Promise<Refund> {
  const order = await findOrder(tx, input.orderId);
  if (!order) throw new TallyError('order_not_found', `order ${input.orderId} does not exist`);
  if (!CREDITED_STATES.includes(order.status) || order.status === 'refunded') {
    throw new TallyError('order_not_refundable', `order ${order.id} is ${order.status}; only a credited order with money left to refund can be refunded`);
  }
  const remaining = order.amount - order.refundedAmount;
  if (input.amount <= 0n || input.amount > remaining) {
    throw new TallyError(
      'invalid_refund_amount',
      `a refund of this order can be at most ${formatMoney(remaining)} ${order.currency} (paid ${formatMoney(order.amount)}, refunded ${formatMoney(order.refundedAmount)})`,
      { param: 'amount' },
    );
  }
  const refundedAfter = order.refundedAmount + input.amount;
  // Proportional credit, cumulative so that partial refunds add up exactly to the original credit.
  const creditAfter = refundedAfter === order.amount ? order.creditAmount : (order.creditAmount * refundedAfter) / order.amount;
  const creditBack = creditAfter - order.refundedCredit;
  const wallet = orderWalletId(order);
  const acc = await tx.selectFrom('ledger_accounts').select(['balance', 'pending_debits']).where('id', '=', wallet).executeTakeFirstOrThrow();
  const available = availableOf(acc);
  const fromWallet = available <= 0n ? 0n : available < creditBack ? available : creditBack;
  const shortfall = creditBack - fromWallet;
  if (shortfall > 0n && !input.force) {
    throw new TallyError(
      'refund_exceeds_balance',
      `refusing the refund: it takes back ${formatMoney(creditBack)} ${order.creditCurrency} of credit, but the wallet has only ${formatMoney(available < 0n ? 0n : available)} available — the user already spent ${formatMoney(shortfall)} of it. An admin can force it (force=true): the wallet gives what it has and ${formatMoney(shortfall)} is booked to system:uncollected.`,
      { details: { credit_back: formatMoney(creditBack), available: formatMoney(available), spent: formatMoney(shortfall) } },
    );
  }
  const moved = await tx
    .updateTable('payment_orders')
    .set({
      refunded_amount: refundedAfter,
      refunded_credit: creditAfter,
      status: input.origin === 'dispute' ? 'disputed' : refundedAfter === order.amount ? 'refunded' : 'partially_refunded',
      updated_at: input.now,
    })
    .where('id', '=', order.id)
    .where('refunded_amount', '=', order.refundedAmount)
    .where('status', '=', order.status)
    .executeTakeFirst();
  if (Number(moved.numUpdatedRows) !== 1) throw new TallyError('order_changed', 'the order changed while the refund was booked; try again');
  const id = input.refundId ?? newId('rfd');
  const walletBefore = input.actor.type !== 'system' ? await walletState(tx, orderWalletId(order)) : null;
  const meta = { order_id: order.id, refund_id: id, reason: input.reason, note: input.note ?? null, origin: input.origin };
  if (fromWallet > 0n) {
    await createTransfer(tx, {
      debitAccountId: wallet,
      creditAccountId: SYSTEM_ACCOUNTS.refundsOut,
      amount: fromWallet,
      kind: 'refund',
      reference: order.id,
      idempotencyKey: `refund:${id}`,
      metadata: meta,
      now: input.now,
    });
  }
  if (shortfall > 0n) {
    await createTransfer(tx, {
      debitAccountId: SYSTEM_ACCOUNTS.uncollected,
      creditAccountId: SYSTEM_ACCOUNTS.refundsOut,
      amount: shortfall,
      kind: 'uncollected',
      reference: order.id,
      idempotencyKey: `refund:${id}:uncollected`,
      metadata: { ...meta, why: 'refund_shortfall: the user had already spent this part of the credit' },
      now: input.now,
    });
  }
  const row = {
    id,
    order_id: order.id,
    amount: input.amount,
    credit_amount: creditBack,
    from_wallet: fromWallet,
    uncollected: shortfall,
    reason: input.reason,
    note: input.note ?? null,
    origin: input.origin,
    status: input.status,
    provider_refund_id: input.providerRefundId ?? null,
    forced: shortfall > 0n ? 1 : 0,
    actor: actorLabel(input.actor),
    created_at: input.now,
    updated_at: input.now,
  };
  await tx.insertInto('payment_refunds').values(row).execute();
  const after = (await findOrder(tx, order.id))!;
  await recordOrderEvent(tx, {
    orderId: order.id,
    kind: 'transition',
    from: order.status,
    to: after.status,
    source: input.source,
    reason: `${input.origin === 'dispute' ? 'dispute' : 'refund'} of ${formatMoney(input.amount)} ${order.currency} (${input.reason}${input.note ? `: ${input.note}` : ''}); credit taken back ${formatMoney(creditBack)}${shortfall > 0n ? `, of which ${formatMoney(shortfall)} booked to uncollected` : ''}`,
    now: input.now,
  });
  if (input.actor.type !== 'system') {
    await recordAudit(tx, {
      actor: input.actor,
      action: 'payment.refund',
      target: order.id,
      reason: input.note ?? input.reason,
      before: { status: order.status, refunded: formatMoney(order.refundedAmount), wallet: walletBefore },
      after: { status: after.status, refunded: formatMoney(after.refundedAmount), wallet: await walletState(tx, orderWalletId(order)) },
      data: {
        refund_id: id,
        user_id: order.userId,
        amount: formatMoney(input.amount),
        credit_back: formatMoney(creditBack),
        uncollected: formatMoney(shortfall),
        forced: shortfall > 0n,
        ...approvalData(input.approval),
      },
      now: input.now,
    });
  }
  return rowToRefund(row);
}

/**
 * Support refunds an order (full when amount is omitted) to the original
 * payment method. The ledger booking is committed before the provider is
 * asked, so a provider webhook racing in (charge.refunded) finds the refund
 * already counted; if the provider refuses, the booking is reversed.
 */
export interface RefundOrderInput {
  orderId: string;
  amount?: bigint;
  reason: RefundReason;
  note?: string;
  force?: boolean;
  actor: Actor;
  /** TALLY_SUPPORT_APPROVAL_ABOVE: what a support caller may refund alone (0 when not given: fail closed). */
  supportLimit?: bigint;
  /** Set when an admin approved a support request: the refund id derives from it and the audit row names both. */
  approval?: ApprovalRef;
}

/**
 * Who may refund, checked before anything moves: never an order of one's own
 * account; forcing (booking what the user already spent to uncollected) is
 * for admins; support alone up to its limit (the credit taken back, in the
 * platform currency), above it support/actions.ts asks for an approval.
 * Returns the order and the amount (order currency) to refund.
 */
export async function authorizeRefund(
  db: DbOrTx,
  input: Omit<RefundOrderInput, 'approval'>,
): Promise<{ order: Order; amount: bigint; value: bigint; decision: 'act' | 'approval' }> {
  if (!REFUND_REASONS.includes(input.reason)) throw new TallyError('invalid_reason', `reason must be one of ${REFUND_REASONS.join(', ')}`, { param: 'reason' });
  const order = await getOrder(db, input.orderId);
  if (input.force && accessOf(input.actor, 'orders.refund') !== 'yes')
    throw new TallyError('forbidden', 'only an admin can force a refund', { param: 'force' });
  if (!CREDITED_STATES.includes(order.status) || order.status === 'refunded') {
    throw new TallyError('order_not_refundable', `order ${order.id} is ${order.status}; only a credited order with money left to refund can be refunded`);
  }
  const amount = input.amount ?? order.amount - order.refundedAmount;
  if (amount <= 0n || amount > order.amount - order.refundedAmount) {
    throw new TallyError(
      'invalid_refund_amount',
      `a refund of this order can be at most ${formatMoney(order.amount - order.refundedAmount)} ${order.currency} (paid ${formatMoney(order.amount)}, refunded ${formatMoney(order.refundedAmount)})`,
      { param: 'amount' },
    );
  }
  const value = order.amount === 0n ? 0n : (order.creditAmount * amount) / order.amount;
  const decision = decideMoneyAction(input.actor, 'orders.refund', {
    targetUserId: order.userId,
    value,
    limit: input.supportLimit ?? 0n,
    what: 'refund an order',
  });
  return { order, amount, value, decision };
}

export async function refundOrder(ctx: PaymentsContext, input: RefundOrderInput): Promise<{ refund: Refund; order: Order }> {
  const { order, amount, value, decision } = await authorizeRefund(ctx.db, input);
  if (decision === 'approval') throw approvalRequired('orders.refund', value, input.supportLimit ?? 0n);
  const provider = ctx.payments.provider(order.provider);
  const now = ctx.now();
  if (input.approval) {
    // An approved request runs once: its refund id is fixed, so a second run finds it instead of refunding again.
    const done = (await listRefunds(ctx.db, order.id)).find((r) => r.id === approvalRefundId(input.approval!.approvalId));
    if (done) return { refund: done, order: (await findOrder(ctx.db, order.id))! };
  }
  const refund = await withTransaction(ctx.db, (tx) =>
    bookRefund(tx, {
      orderId: order.id,
      amount,
      reason: input.reason,
      note: input.note ?? null,
      origin: 'support',
      force: input.force === true,
      actor: input.actor,
      status: 'pending',
      source: 'support',
      now,
      refundId: input.approval ? approvalRefundId(input.approval.approvalId) : undefined,
      approval: input.approval,
    }),
  );
  try {
    const r = await provider.refund(order, { refundId: refund.id, amount, reason: input.reason });
    await recordRefundResult(ctx, refund, r, 'support');
  } catch (e) {
    if (isRefundOutcomeUnknown(e)) {
      // The provider may have refunded: the booking stays, and resumeInterruptedRefunds finishes it with the same refund id.
      await recordOrderEvent(ctx.db, {
        orderId: order.id,
        kind: 'note',
        source: 'support',
        reason: `refund ${refund.id}: ${(e as Error).message.slice(0, 300)}; it stays pending and is sent again with the same refund id within minutes (or handed to the operator where the provider cannot recognise a repeat)`,
        now: ctx.now(),
      });
    } else if (await undoRefund(ctx.db, refund, `the provider did not accept the refund: ${(e as Error).message.slice(0, 300)}`, ctx.now())) {
      // Undone unless a retry of the interrupted refund already recorded its outcome; then that outcome stands.
      throw e;
    }
  }
  return { refund: (await listRefunds(ctx.db, order.id)).find((r) => r.id === refund.id)!, order: (await findOrder(ctx.db, order.id))! };
}

export const approvalRefundId = (approvalId: string) => `rfd_${approvalId}`;

/**
 * Records what the provider answered, once: only a refund still pending with
 * no provider id changes (an interrupted refund sent again by
 * resumeInterruptedRefunds may have recorded it first). True if this call did.
 */
async function recordRefundResult(ctx: PaymentsContext, refund: Refund, r: RefundResult, source: EventSource, prefix = ''): Promise<boolean> {
  return withTransaction(ctx.db, async (tx) => {
    const now = ctx.now();
    const done = await tx
      .updateTable('payment_refunds')
      .set({
        status: r.status,
        provider_refund_id: r.providerRefundId,
        note: r.note ? [refund.note, r.note].filter(Boolean).join(' — ') : refund.note,
        updated_at: now,
      })
      .where('id', '=', refund.id)
      .where('status', '=', 'pending')
      .where('provider_refund_id', 'is', null)
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) !== 1) return false;
    if (r.status === 'manual')
      await recordOrderEvent(tx, {
        orderId: refund.orderId,
        kind: 'note',
        source,
        reason: `${prefix}refund ${refund.id} must be paid out by hand: ${r.note ?? ''}`,
        now,
      });
    else if (prefix)
      await recordOrderEvent(tx, {
        orderId: refund.orderId,
        kind: 'note',
        source,
        reason: `${prefix}refund ${refund.id}: ${r.status} at the provider (${r.providerRefundId ?? 'no provider id'})`,
        now,
      });
    return true;
  });
}

/** Reverses a refund's ledger booking after the provider refused it, and restores the order (unless the refund was recorded meanwhile). */
async function undoRefund(db: DbOrTx, refund: Refund, why: string, now: number, providerRefundId: string | null = null): Promise<boolean> {
  return reverseRefundBooking(db, refund, { fromStatus: 'pending', providerRefundId, toStatus: 'failed', why, now });
}

/**
 * Takes a booked refund back: the credit returns to the wallet (reversal
 * transfers of its `refund:` entries) and the order's refunded totals and
 * status are restored. Claimed first by a conditional update from
 * `fromStatus`, so it happens once, and never to a refund whose outcome was
 * recorded meanwhile (a retry, a webhook). True if this call did it.
 */
async function reverseRefundBooking(
  db: DbOrTx,
  refund: Refund,
  opts: { fromStatus: 'pending' | 'succeeded'; providerRefundId: string | null; toStatus: 'failed' | 'reversed'; why: string; now: number },
): Promise<boolean> {
  const { why, now } = opts;
  return withTransaction(db, async (tx) => {
    const claimed = await tx
      .updateTable('payment_refunds')
      .set({ status: opts.toStatus, note: why, updated_at: now })
      .where('id', '=', refund.id)
      .where('status', '=', opts.fromStatus)
      .where('provider_refund_id', opts.providerRefundId === null ? 'is' : '=', opts.providerRefundId)
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) return false;
    const order = (await findOrder(tx, refund.orderId))!;
    for (const key of [`refund:${refund.id}`, `refund:${refund.id}:uncollected`]) {
      const t = await tx.selectFrom('ledger_transfers').select('id').where('idempotency_key', '=', key).executeTakeFirst();
      if (t) await reverseTransfer(tx, { transferId: t.id, reason: why, now });
    }
    const refundedAfter = order.refundedAmount - refund.amount;
    const status = refundedAfter === 0n ? 'credited' : 'partially_refunded';
    await tx
      .updateTable('payment_orders')
      .set({ refunded_amount: refundedAfter, refunded_credit: order.refundedCredit - refund.creditAmount, status, updated_at: now })
      .where('id', '=', order.id)
      .execute();
    await recordOrderEvent(tx, {
      orderId: order.id,
      kind: 'transition',
      from: order.status,
      to: status,
      source: 'system',
      reason: `refund ${refund.id} reversed: ${why}`,
      now,
    });
    return true;
  });
}

/** The provider reports a cumulative refunded total (Stripe charge.refunded); book whatever is not booked yet. */
export async function bookProviderRefund(
  db: DbOrTx,
  input: { order: Order; refundedTotal: bigint; currency: string; refundRef: string; now: number },
): Promise<Refund | null> {
  return withTransaction(db, async (tx) => {
    const order = (await findOrder(tx, input.order.id))!;
    if (input.currency.toUpperCase() !== order.currency) throw new TallyError('currency_mismatch', 'the provider refund is in another currency');
    const delta = input.refundedTotal - order.refundedAmount;
    if (delta <= 0n) return null; // already booked (ours, or an earlier delivery)
    return bookRefund(tx, {
      orderId: order.id,
      amount: delta,
      reason: 'other',
      note: `refunded at the provider (${input.refundRef})`,
      origin: 'provider',
      force: true,
      actor: { type: 'system' },
      providerRefundId: input.refundRef,
      status: 'succeeded',
      source: 'callback',
      now: input.now,
    });
  });
}

/**
 * A dispute ended. Won: the bank returned the money to the merchant, so the
 * credit taken back when the dispute opened is returned to the wallet (the
 * dispute's booking is reversed) and the order is credited again, once.
 * Lost: the money stays with the payer and the credit stays taken back; the
 * timeline says so.
 */
export async function closeDispute(
  db: DbOrTx,
  input: { disputeId: string; status: string; now: number },
): Promise<'dispute_won' | 'dispute_lost' | 'nothing_to_do'> {
  const row = await db
    .selectFrom('payment_refunds')
    .selectAll()
    .where('provider_refund_id', '=', input.disputeId)
    .where('origin', '=', 'dispute')
    .executeTakeFirst();
  if (!row) return 'nothing_to_do';
  const refund = rowToRefund(row);
  if (input.status === 'won') {
    const why = `dispute ${input.disputeId} was won: the bank returned the payment, so the credit comes back`;
    return (await reverseRefundBooking(db, refund, { fromStatus: 'succeeded', providerRefundId: input.disputeId, toStatus: 'reversed', why, now: input.now }))
      ? 'dispute_won'
      : 'nothing_to_do';
  }
  if (input.status !== 'lost') return 'nothing_to_do';
  return withTransaction(db, async (tx) => {
    const seen = await tx
      .selectFrom('payment_order_events')
      .select('id')
      .where('order_id', '=', refund.orderId)
      .where(likePrefix('reason', `dispute ${input.disputeId} was lost`))
      .executeTakeFirst();
    if (seen) return 'nothing_to_do' as const;
    await recordOrderEvent(tx, {
      orderId: refund.orderId,
      kind: 'note',
      source: 'callback',
      reason: `dispute ${input.disputeId} was lost: the payment stays returned to the payer and the credit stays taken back`,
      now: input.now,
    });
    return 'dispute_lost' as const;
  });
}

/** A chargeback: the provider already took the money back, so the credit comes back as well (forced). */
export async function bookDispute(db: DbOrTx, input: { order: Order; amount: bigint; disputeId: string; reason: string; now: number }): Promise<Refund | null> {
  return withTransaction(db, async (tx) => {
    const seen = await tx
      .selectFrom('payment_refunds')
      .select('id')
      .where('order_id', '=', input.order.id)
      .where('provider_refund_id', '=', input.disputeId)
      .executeTakeFirst();
    if (seen) return null;
    const order = (await findOrder(tx, input.order.id))!;
    const remaining = order.amount - order.refundedAmount;
    const amount = input.amount > remaining ? remaining : input.amount;
    if (amount <= 0n) return null;
    return bookRefund(tx, {
      orderId: order.id,
      amount,
      reason: 'fraudulent',
      note: `dispute ${input.disputeId} opened (${input.reason})`,
      origin: 'dispute',
      force: true,
      actor: { type: 'system' },
      providerRefundId: input.disputeId,
      status: 'succeeded',
      source: 'callback',
      now: input.now,
    });
  });
}

/**
 * Pending refunds not touched for `olderThanMs` (support refunds the provider
 * never answered, or refunds it accepted as pending), each claimed before it
 * is yielded by moving its updated_at: another pass or instance then leaves
 * it alone until it is due again.
 */
async function* claimDueRefunds(ctx: PaymentsContext, opts: { providerAnswered: boolean; olderThanMs: number; limit?: number }) {
  let q = ctx.db
    .selectFrom('payment_refunds')
    .selectAll()
    .where('status', '=', 'pending')
    .where('updated_at', '<=', ctx.now() - opts.olderThanMs)
    .orderBy('updated_at')
    .limit(opts.limit ?? 50);
  q = opts.providerAnswered ? q.where('provider_refund_id', 'is not', null) : q.where('provider_refund_id', 'is', null).where('origin', '=', 'support');
  for (const row of await q.execute()) {
    const claimed = await ctx.db
      .updateTable('payment_refunds')
      .set({ updated_at: ctx.now() })
      .where('id', '=', row.id)
      .where('status', '=', 'pending')
      .where('updated_at', '=', row.updated_at)
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) === 1) yield row;
  }
}

/** A support refund still pending with no provider answer after this long was interrupted (provider calls time out within ~1 minute). */
export const REFUND_RESUME_AFTER_MS = 5 * 60_000;
/** After this long without an answer, an interrupted refund is handed to the operator instead of being sent again. */
export const REFUND_GIVE_UP_AFTER_MS = 24 * 60 * 60_000;

export interface ResumedRefund {
  refundId: string;
  orderId: string;
  outcome: 'succeeded' | 'pending' | 'manual' | 'retry_later' | 'handed_to_operator' | 'failed_at_provider' | 'still_pending' | 'check_failed';
  detail?: string;
}

/**
 * Support refunds are booked in the ledger before the provider is asked (so a
 * racing provider webhook finds them counted). If Tally stops between the two,
 * the refund stays `pending` with no provider id: the credit was taken back
 * but the money not yet returned. This finds such refunds and finishes them:
 * sent again with the same refund id to a provider that deduplicates it
 * (Stripe: the idempotency key), so a refund the provider did receive is not
 * paid twice; for a provider that cannot deduplicate (EPay) the refund is
 * handed to the operator as manual, with what to check. A provider that still
 * does not answer is tried again on a later pass; after a day the refund is
 * handed to the operator. Each refund is claimed by a conditional update, so
 * with several instances one sends it. Runs in every reconcile pass.
 */
export async function resumeInterruptedRefunds(ctx: PaymentsContext, opts: { olderThanMs?: number; limit?: number } = {}): Promise<ResumedRefund[]> {
  const pay = ctx.payments;
  const now = ctx.now();
  const out: ResumedRefund[] = [];
  for await (const row of claimDueRefunds(ctx, { providerAnswered: false, olderThanMs: opts.olderThanMs ?? REFUND_RESUME_AFTER_MS, limit: opts.limit })) {
    const refund = rowToRefund(row);
    const order = await findOrder(ctx.db, refund.orderId);
    const provider = order ? pay.providers.get(order.provider as never) : undefined;
    const prefix = 'interrupted: Tally stopped before the provider answered; ';
    if (!order || !provider?.refundsIdempotent || now - refund.createdAt >= REFUND_GIVE_UP_AFTER_MS) {
      const why =
        !order || !provider
          ? `the order's provider (${order?.provider ?? 'unknown'}) is not configured on this instance`
          : !provider.refundsIdempotent
            ? `${provider.name} cannot tell a repeated refund from a new one, so it is not sent again`
            : 'the provider has not answered for a day';
      const manual: RefundResult = {
        providerRefundId: null,
        status: 'manual',
        note: `${why}; check the provider's dashboard for refund ${refund.id} and return the money by hand if it is not there`,
      };
      if (await recordRefundResult(ctx, refund, manual, 'system', prefix))
        out.push({ refundId: refund.id, orderId: refund.orderId, outcome: 'handed_to_operator', detail: why });
      continue;
    }
    try {
      const r = await provider.refund(order, { refundId: refund.id, amount: refund.amount, reason: refund.reason });
      if (await recordRefundResult(ctx, refund, r, 'system', `${prefix}sent again with the same refund id; `))
        out.push({ refundId: refund.id, orderId: refund.orderId, outcome: r.status });
    } catch (e) {
      // The outcome is unknown (no answer, or an error after the provider may have acted): keep the booking and try again later.
      out.push({ refundId: refund.id, orderId: refund.orderId, outcome: 'retry_later', detail: (e as Error).message.slice(0, 300) });
      ctx.log.warn({ refundId: refund.id, err: e }, 'an interrupted refund could not be completed yet; it is retried on a later pass');
    }
  }
  return out;
}

/** A refund the provider accepted as `pending` is checked again after this long (Stripe also reports the change by webhook). */
export const PENDING_REFUND_CHECK_AFTER_MS = 10 * 60_000;

export type ProviderRefundOutcome = 'refund_confirmed' | 'refund_failed' | 'nothing_to_do';

/**
 * A refund the provider accepted as `pending` finished: `succeeded` marks it
 * so; `failed` or `canceled` means the money did not go back, so the credit
 * taken back when it was booked is returned to the wallet (the booking is
 * reversed) and the order restored. Exactly once: both are conditional on the
 * refund still being pending with that provider id, so a webhook and a
 * reconcile check arriving together act once.
 */
export async function applyProviderRefundStatus(
  ctx: PaymentsContext,
  input: { providerRefundId: string; status: RefundState; reason: string | null; source: EventSource },
): Promise<ProviderRefundOutcome> {
  if (input.status === 'pending') return 'nothing_to_do';
  const row = await ctx.db
    .selectFrom('payment_refunds')
    .selectAll()
    .where('provider_refund_id', '=', input.providerRefundId)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  if (!row) return 'nothing_to_do';
  const refund = rowToRefund(row);
  const now = ctx.now();
  if (input.status === 'succeeded') {
    return withTransaction(ctx.db, async (tx) => {
      const done = await tx
        .updateTable('payment_refunds')
        .set({ status: 'succeeded', updated_at: now })
        .where('id', '=', refund.id)
        .where('status', '=', 'pending')
        .where('provider_refund_id', '=', input.providerRefundId)
        .executeTakeFirst();
      if (Number(done.numUpdatedRows) !== 1) return 'nothing_to_do' as const;
      await recordOrderEvent(tx, {
        orderId: refund.orderId,
        kind: 'note',
        source: input.source,
        reason: `refund ${refund.id} (${input.providerRefundId}) completed at the provider`,
        now,
      });
      return 'refund_confirmed' as const;
    });
  }
  const why = `the provider reports refund ${input.providerRefundId} ${input.status}${input.reason ? ` (${input.reason})` : ''}: the money was not returned, so the credit goes back to the wallet`;
  return (await undoRefund(ctx.db, refund, why, now, input.providerRefundId)) ? 'refund_failed' : 'nothing_to_do';
}

/** Asks the provider about refunds it accepted as pending a while ago (in case its webhook never came). Runs in every reconcile pass. */
export async function checkPendingProviderRefunds(
  ctx: PaymentsContext,
  opts: { olderThanMs?: number; limit?: number } = {},
): Promise<Array<{ refundId: string; orderId: string; outcome: ProviderRefundOutcome | 'still_pending' | 'check_failed' }>> {
  const pay = ctx.payments;
  const out: Array<{ refundId: string; orderId: string; outcome: ProviderRefundOutcome | 'still_pending' | 'check_failed' }> = [];
  for await (const row of claimDueRefunds(ctx, { providerAnswered: true, olderThanMs: opts.olderThanMs ?? PENDING_REFUND_CHECK_AFTER_MS, limit: opts.limit })) {
    const order = await findOrder(ctx.db, row.order_id);
    const provider = order ? pay.providers.get(order.provider as never) : undefined;
    if (!provider?.queryRefund) continue;
    try {
      const s = await provider.queryRefund(row.provider_refund_id!);
      const outcome =
        s.status === 'pending'
          ? 'still_pending'
          : await applyProviderRefundStatus(ctx, { providerRefundId: row.provider_refund_id!, status: s.status, reason: s.reason, source: 'reconcile' });
      out.push({ refundId: row.id, orderId: row.order_id, outcome });
    } catch (e) {
      ctx.log.warn({ refundId: row.id, err: e }, 'could not check a pending refund with its provider; it is checked again later');
      out.push({ refundId: row.id, orderId: row.order_id, outcome: 'check_failed' });
    }
  }
  return out;
}
