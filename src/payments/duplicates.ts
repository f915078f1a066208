import type { Selectable } from 'kysely';
import type { PaymentTradesTable } from '../db/schema.ts';
import type { PaymentsContext } from './context.ts';
import { withTransaction, type DbOrTx, type Tx } from '../db/index.ts';
import { withIdempotentTransaction } from '../db/idempotent.ts';
import { TallyError } from '../lib/errors.ts';
import { SYSTEM_ACCOUNTS } from '../ledger/accounts.ts';
import { createTransfer, findTransferByKey } from '../ledger/transfers.ts';
import { formatMoney, toBig } from '../ledger/money.ts';
import { recordAudit, actorLabel, approvalData, type Actor, type ApprovalRef } from '../audit/index.ts';
import { walletState } from '../audit/walletState.ts';
import { decideMoneyAction, approvalRequired } from '../support/permissions.ts';
import type { RefundResult } from './providers/types.ts';
import { isRefundOutcomeUnknown } from './errors.ts';
import { orderWalletId, findOrder, recordOrderEvent, type Order } from './orders.ts';
import { listRefunds, type Refund } from './refunds.ts';

// The decision on a duplicate payment: a second successful trade for an order
// that was already credited (credit.ts records it as outcome
// `duplicate_payment`, decision `pending`, and books nothing in the ledger:
// the money sits at the provider, not on the user's wallet).
//
// - Refund it: the provider returns that trade's money to the payer. Nothing
//   was credited for it, so the ledger does not move and the order keeps its
//   status; the refund is a `payment_refunds` row with origin `duplicate`
//   (credit taken back 0). The decision goes pending → refunding (a
//   conditional UPDATE: one caller at a time, on any number of instances) →
//   refunded, or back to pending when the provider refuses. A caller that
//   crashed mid-call leaves `refunding` with a pending refund row; after
//   REFUND_LEASE_MS the next caller takes it over and re-sends the same
//   refund id (Stripe deduplicates it by idempotency key).
// - Keep it as credit: pending → kept and the transfer
//   system:payments_in → wallet keyed `duplicate:<trade row id>`, one
//   transaction, so it credits once however often it is asked.
// Both write the order event and the audit row in the transaction that
// records the decision.

export const REFUND_LEASE_MS = 120_000;

export interface DuplicateTrade {
  id: string;
  provider: string;
  tradeId: string;
  orderId: string;
  amount: bigint;
  currency: string;
  decision: string | null;
  createdAt: number;
}

const rowToTrade = (t: Selectable<PaymentTradesTable>): DuplicateTrade => ({
  id: t.id,
  provider: t.provider,
  tradeId: t.trade_id,
  orderId: t.order_id,
  amount: toBig(t.amount),
  currency: t.currency,
  decision: t.decision ?? null,
  createdAt: Number(t.created_at),
});

/** A duplicate trade by our row id (`trd_…`) or by the provider's trade id (optionally narrowed by provider). */
export async function findDuplicateTrade(db: DbOrTx, ref: string, provider?: string): Promise<DuplicateTrade> {
  const r = String(ref ?? '').trim();
  if (!r || r.length > 200) throw new TallyError('trade_required', 'the trade (trd_… or the provider trade id) is required', { param: 'trade' });
  let q = db
    .selectFrom('payment_trades')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', r), eb('trade_id', '=', r)]));
  if (provider) q = q.where('provider', '=', provider);
  const rows = await q.execute();
  if (rows.length === 0) throw new TallyError('trade_not_found', `no payment trade ${r.slice(0, 64)}`);
  if (rows.length > 1)
    throw new TallyError('trade_ambiguous', `${rows.length} providers have a trade ${r.slice(0, 64)}; name the provider or use the trd_ id`, {
      param: 'trade',
    });
  const t = rowToTrade(rows[0]);
  if (rows[0].outcome !== 'duplicate_payment')
    throw new TallyError('not_a_duplicate', `trade ${t.tradeId} is ${rows[0].outcome}, not a duplicate payment; refund the order instead`);
  return t;
}

export interface DuplicateDecisionInput {
  trade: string;
  provider?: string;
  reason: string;
  actor: Actor;
  /** TALLY_SUPPORT_APPROVAL_ABOVE: what a support caller may decide alone (0 when not given: fail closed). */
  supportLimit?: bigint;
  /** Set when an admin approved a support request; the audit row names both. */
  approval?: ApprovalRef;
}

/**
 * Who may decide a duplicate payment: never on one's own account; support
 * alone up to its limit (the trade's value in the platform currency), above
 * it support/actions.ts asks for an approval.
 */
export async function authorizeDuplicateDecision(db: DbOrTx, input: DuplicateDecisionInput, decision: 'refund' | 'keep') {
  const reason = input.reason?.trim();
  if (!reason)
    throw new TallyError('reason_required', `say why the duplicate payment is ${decision === 'refund' ? 'refunded' : 'kept as credit'}`, { param: 'reason' });
  if (reason.length > 500) throw new TallyError('too_long', 'reason ≤ 500 characters', { param: 'reason' });
  const trade = await findDuplicateTrade(db, input.trade, input.provider);
  const order = (await findOrder(db, trade.orderId))!;
  const value = creditFor(order, trade);
  const action = decision === 'refund' ? ('trades.refund' as const) : ('trades.keep' as const);
  const verdict = decideMoneyAction(input.actor, action, {
    targetUserId: order.userId,
    value,
    limit: input.supportLimit ?? 0n,
    what: decision === 'refund' ? 'refund a duplicate payment' : 'keep a duplicate payment as credit',
  });
  return { reason, trade, order, value, action, verdict };
}

// The duplicate passed the amount check, so it is the order's amount: the order's credit at its snapshotted rate.
const creditFor = (order: Order, trade: DuplicateTrade) =>
  trade.amount === order.amount && trade.currency === order.currency ? order.creditAmount : (order.creditAmount * trade.amount) / order.amount;

const refundPrefix = (t: DuplicateTrade) => `rfd_dup_${t.id}_`;

async function refundsOfTrade(db: DbOrTx, t: DuplicateTrade): Promise<Refund[]> {
  return (await listRefunds(db, t.orderId))
    .filter((r) => r.id.startsWith(refundPrefix(t)))
    .sort((a, b) => a.id.length - b.id.length || a.id.localeCompare(b.id));
}

export interface DuplicateRefundResult {
  trade: DuplicateTrade;
  refund: Refund;
  order: Order;
  /** True when an earlier call already refunded this trade: nothing was sent, nothing was written. */
  replayed: boolean;
}

/**
 * Refunds a duplicate payment to the payer through its provider, without
 * touching the wallet. Exactly once: see the comment at the top.
 */
export async function refundDuplicatePayment(ctx: PaymentsContext, input: DuplicateDecisionInput): Promise<DuplicateRefundResult> {
  const { reason, trade, order, value, action, verdict } = await authorizeDuplicateDecision(ctx.db, input, 'refund');
  if (verdict === 'approval') throw approvalRequired(action, value, input.supportLimit ?? 0n);
  const provider = ctx.payments.provider(trade.provider);

  // 1. Claim the decision (or take over a stale claim), and write the pending refund row.
  const claim = await withTransaction(ctx.db, async (tx) => {
    const now = ctx.now();
    const cur = rowToTrade(await tx.selectFrom('payment_trades').selectAll().where('id', '=', trade.id).executeTakeFirstOrThrow());
    if (cur.decision === 'refunded') {
      const done = (await refundsOfTrade(tx, cur)).filter((r) => r.status === 'succeeded' || r.status === 'manual' || r.status === 'pending').pop();
      return { kind: 'replay' as const, refund: done! };
    }
    if (cur.decision === 'kept')
      throw new TallyError('duplicate_already_decided', `the duplicate payment ${cur.tradeId} was kept as credit; it cannot be refunded now`);
    if (cur.decision === 'refunding') {
      const last = (await refundsOfTrade(tx, cur)).pop();
      const row = last ? await tx.selectFrom('payment_refunds').select(['updated_at', 'status']).where('id', '=', last.id).executeTakeFirst() : null;
      if (!last || !row || row.status !== 'pending' || Number(row.updated_at) >= now - REFUND_LEASE_MS) {
        throw new TallyError(
          'refund_in_progress',
          `a refund of the duplicate payment ${cur.tradeId} is being sent to ${cur.provider} right now; try again in a minute`,
        );
      }
      // The caller that claimed it went away mid-call: take over, same refund id (the provider deduplicates it).
      const took = await tx
        .updateTable('payment_refunds')
        .set({ updated_at: now, actor: actorLabel(input.actor) })
        .where('id', '=', last.id)
        .where('updated_at', '=', row.updated_at)
        .executeTakeFirst();
      if (Number(took.numUpdatedRows) !== 1)
        throw new TallyError('refund_in_progress', `a refund of the duplicate payment ${cur.tradeId} is being sent right now; try again in a minute`);
      return { kind: 'send' as const, refundId: last.id, takeover: true };
    }
    const moved = await tx
      .updateTable('payment_trades')
      .set({ decision: 'refunding' })
      .where('id', '=', trade.id)
      .where('decision', '=', 'pending')
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) throw new TallyError('refund_in_progress', `the duplicate payment ${cur.tradeId} changed meanwhile; try again`);
    const attempt = (await refundsOfTrade(tx, cur)).length + 1;
    const refundId = `${refundPrefix(cur)}${attempt}`;
    await tx
      .insertInto('payment_refunds')
      .values({
        id: refundId,
        order_id: cur.orderId,
        amount: cur.amount,
        credit_amount: 0n,
        from_wallet: 0n,
        uncollected: 0n,
        reason: 'duplicate',
        note: `duplicate payment ${cur.tradeId}: ${reason}`,
        origin: 'duplicate',
        status: 'pending',
        provider_refund_id: null,
        forced: 0,
        actor: actorLabel(input.actor),
        created_at: now,
        updated_at: now,
      })
      .execute();
    return { kind: 'send' as const, refundId, takeover: false };
  });
  if (claim.kind === 'replay')
    return { trade: { ...trade, decision: 'refunded' }, refund: claim.refund, order: (await findOrder(ctx.db, order.id))!, replayed: true };

  // 2. Ask the provider (a network call: outside any transaction). A takeover is only sent again to a
  //    provider that recognises the same refund id; otherwise the earlier call may have refunded already.
  let result: RefundResult;
  try {
    result =
      claim.takeover && !provider.refundsIdempotent
        ? {
            providerRefundId: null,
            status: 'manual',
            note: `an earlier attempt stopped before ${provider.name} answered and ${provider.name} cannot tell a repeated refund from a new one; check its dashboard for this payment and return the money by hand if it is not refunded there`,
          }
        : await provider.refund(order, { refundId: claim.refundId, amount: trade.amount, reason: 'duplicate', tradeId: trade.tradeId });
  } catch (e) {
    if (isRefundOutcomeUnknown(e)) {
      // The provider may have refunded: keep the claim and the pending refund; calling again after the lease sends the same refund id.
      await recordOrderEvent(ctx.db, {
        orderId: order.id,
        kind: 'note',
        source: 'support',
        reason: `refund ${claim.refundId} of duplicate payment ${trade.tradeId}: ${(e as Error).message.slice(0, 300)}; it stays in progress — asking again after ${REFUND_LEASE_MS / 60_000} minutes sends the same refund id`,
        now: ctx.now(),
      });
      throw e;
    }
    const why = `the provider did not accept the refund of duplicate payment ${trade.tradeId}: ${(e as Error).message.slice(0, 300)}`;
    await withTransaction(ctx.db, async (tx) => {
      const now = ctx.now();
      await tx
        .updateTable('payment_refunds')
        .set({ status: 'failed', note: why, updated_at: now })
        .where('id', '=', claim.refundId)
        .where('status', '=', 'pending')
        .execute();
      await tx.updateTable('payment_trades').set({ decision: 'pending' }).where('id', '=', trade.id).where('decision', '=', 'refunding').execute();
      await recordOrderEvent(tx, { orderId: order.id, kind: 'note', source: 'support', reason: `${why}; the duplicate payment still awaits a decision`, now });
    });
    throw e;
  }

  // 3. Record the outcome: decision, refund row, order event and audit row in one transaction.
  const refund = await withTransaction(ctx.db, async (tx) => {
    const now = ctx.now();
    const done = await tx
      .updateTable('payment_trades')
      .set({ decision: 'refunded' })
      .where('id', '=', trade.id)
      .where('decision', '=', 'refunding')
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) !== 1) {
      // A takeover finished it first (same refund id at the provider): nothing more to record.
      return (await refundsOfTrade(tx, trade)).find((r) => r.id === claim.refundId)!;
    }
    const note = result.note ? `duplicate payment ${trade.tradeId}: ${reason} — ${result.note}` : `duplicate payment ${trade.tradeId}: ${reason}`;
    await tx
      .updateTable('payment_refunds')
      .set({ status: result.status, provider_refund_id: result.providerRefundId, note, updated_at: now })
      .where('id', '=', claim.refundId)
      .execute();
    const money = `${formatMoney(trade.amount)} ${trade.currency}`;
    await recordOrderEvent(tx, {
      orderId: order.id,
      kind: 'note',
      source: 'support',
      now,
      reason:
        result.status === 'manual'
          ? `duplicate payment ${trade.tradeId} (${money}): refund ${claim.refundId} recorded as manual — ${result.note ?? 'return the money by hand'}; the wallet is unchanged (it was never credited)`
          : `duplicate payment ${trade.tradeId} (${money}) refunded to the payer through ${trade.provider} (refund ${claim.refundId}, ${result.providerRefundId ?? 'no provider id'}, ${result.status}); the wallet is unchanged (it was never credited)`,
    });
    await recordAudit(tx, {
      actor: input.actor,
      action: 'payment.refund_duplicate',
      target: order.id,
      reason,
      before: { trade: trade.tradeId, decision: 'pending' },
      after: { trade: trade.tradeId, decision: 'refunded', refund_status: result.status },
      data: {
        trade_row: trade.id,
        refund_id: claim.refundId,
        amount: formatMoney(trade.amount),
        currency: trade.currency,
        provider: trade.provider,
        provider_refund_id: result.providerRefundId,
        user_id: order.userId,
        ...approvalData(input.approval),
      },
      now,
    });
    return (await refundsOfTrade(tx, trade)).find((r) => r.id === claim.refundId)!;
  });
  return { trade: { ...trade, decision: 'refunded' }, refund, order: (await findOrder(ctx.db, order.id))!, replayed: false };
}

export interface KeepDuplicateResult {
  trade: DuplicateTrade;
  transferId: string;
  credit: bigint;
  replayed: boolean;
}

/**
 * The payer prefers to keep the duplicate payment as balance: credit it to the
 * wallet at the order's snapshotted rate, once (conditional decision UPDATE +
 * idempotency key `duplicate:<trade row id>` in one transaction), audited.
 */
export async function keepDuplicateAsCredit(ctx: { db: DbOrTx; now(): number }, input: DuplicateDecisionInput): Promise<KeepDuplicateResult> {
  const { reason, trade, value, action, verdict } = await authorizeDuplicateDecision(ctx.db, input, 'keep');
  if (verdict === 'approval') throw approvalRequired(action, value, input.supportLimit ?? 0n);
  const key = `duplicate:${trade.id}`;
  return withIdempotentTransaction(ctx.db, async (tx: Tx) => {
    const now = ctx.now();
    const order = (await findOrder(tx, trade.orderId))!;
    const credit = creditFor(order, trade);
    const walletBefore = await walletState(tx, orderWalletId(order));
    const moved = await tx
      .updateTable('payment_trades')
      .set({ decision: 'kept' })
      .where('id', '=', trade.id)
      .where('decision', '=', 'pending')
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) {
      const cur = await tx.selectFrom('payment_trades').select('decision').where('id', '=', trade.id).executeTakeFirstOrThrow();
      const t = cur.decision === 'kept' ? await findTransferByKey(tx, key) : null;
      if (t) return { trade: { ...trade, decision: 'kept' }, transferId: t.id, credit, replayed: true };
      throw new TallyError('duplicate_already_decided', `the duplicate payment ${trade.tradeId} is ${cur.decision}; it cannot be kept as credit`);
    }
    const { transfer } = await createTransfer(tx, {
      debitAccountId: SYSTEM_ACCOUNTS.paymentsIn,
      creditAccountId: orderWalletId(order),
      amount: credit,
      kind: 'payment',
      reference: order.id,
      idempotencyKey: key,
      metadata: {
        order_id: order.id,
        provider: trade.provider,
        trade_id: trade.tradeId,
        duplicate_kept: true,
        paid: `${formatMoney(trade.amount)} ${trade.currency}`,
        rate: order.exchangeRate,
        reason,
      },
      now,
    });
    await recordOrderEvent(tx, {
      orderId: order.id,
      kind: 'note',
      source: 'support',
      now,
      reason: `duplicate payment ${trade.tradeId} (${formatMoney(trade.amount)} ${trade.currency}) kept as credit: ${formatMoney(credit)} ${order.creditCurrency} to the wallet (${reason})`,
    });
    await recordAudit(tx, {
      actor: input.actor,
      action: 'payment.keep_duplicate',
      target: order.id,
      reason,
      before: { trade: trade.tradeId, decision: 'pending', wallet: walletBefore },
      after: { trade: trade.tradeId, decision: 'kept', wallet: await walletState(tx, orderWalletId(order)) },
      data: { trade_row: trade.id, credit: formatMoney(credit), transfer_id: transfer.id, user_id: order.userId, ...approvalData(input.approval) },
      now,
    });
    return { trade: { ...trade, decision: 'kept' }, transferId: transfer.id, credit, replayed: false };
  });
}
