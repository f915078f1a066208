import type { PaymentsContext } from '../payments/context.ts';
import { withTransaction } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { getUser } from '../accounts/users.ts';
import { listUsage } from '../gateway/usageLog.ts';
import { getOrder, reconcileOrder } from '../payments/index.ts';
import { compensateUser, checkCompensation } from '../payments/compensation.ts';
import { creditOrderByHand, prepareCreditByHand, askProviderAboutOrder, type CreditOutcome, type ProviderCheck } from '../payments/credit.ts';
import { refundOrder, authorizeRefund, type RefundReason, type Refund } from '../payments/refunds.ts';
import {
  refundDuplicatePayment,
  keepDuplicateAsCredit,
  authorizeDuplicateDecision,
  type DuplicateRefundResult,
  type KeepDuplicateResult,
} from '../payments/duplicates.ts';
import type { Order } from '../payments/orders.ts';
import type { TransferResult } from '../ledger/transfers.ts';
import { formatMoney } from '../ledger/money.ts';
import { recordAudit, type Actor } from '../audit/index.ts';
import { accessOf, assertNotSelf, decideMoneyAction, supportApprovalLimit } from './permissions.ts';
import { requestApproval, type Approval } from './approvals.ts';

/**
 * "Check with the provider now": polls the order's provider and applies the
 * answer through payments' exactly-once credit path (a second click, a
 * callback or the background worker can never credit twice). The poll is a
 * network call, so it cannot sit inside a database transaction; the audit row
 * (state before and after) is written by reconcileOrder in the transaction
 * that applies the outcome, or standalone when nothing changed.
 */
export async function checkOrderWithProvider({
  ctx,
  input,
}: {
  ctx: PaymentsContext;
  input: { orderId: string; actor: Actor; userId?: string; reason?: string };
}) {
  const order = await getOrder(ctx.db, input.orderId, input.userId ? { userId: input.userId } : {});
  if (!['created', 'pending', 'expired', 'failed'].includes(order.status)) {
    // Nothing was asked of the provider. Staff actions still leave their row; a user's repeated click does not.
    if (!input.userId)
      await recordAudit(ctx.db, {
        actor: input.actor,
        action: 'payment.check_with_provider',
        target: order.id,
        reason: input.reason ?? null,
        before: { status: order.status },
        after: { status: order.status },
        data: { result: 'nothing_to_check' },
        now: ctx.now(),
      });
    return { result: 'nothing_to_check', order_id: order.id, status: order.status };
  }
  const r = await reconcileOrder(ctx, order, {
    source: input.userId ? 'reconcile' : 'support',
    audit: { actor: input.actor, action: 'payment.check_with_provider', reason: input.reason ?? null },
  });
  const after = await getOrder(ctx.db, order.id);
  return { result: r.result, order_id: order.id, status: after.status, detail: r.detail ?? null };
}

export const REVEALABLE = ['email', 'client_ips'] as const;
export type RevealableField = (typeof REVEALABLE)[number];

/** An admin reveals one masked field of a user, with a stated reason; the reveal is audited in the same transaction as the read. */
export async function revealUserField({ ctx, input }: { ctx: PaymentsContext; input: { userId: string; field: string; reason: string; actor: Actor } }) {
  if (accessOf(input.actor, 'users.reveal') !== 'yes') throw new TallyError('forbidden', 'only an admin can reveal a masked field');
  assertNotSelf(input.actor, input.userId, 'reveal a masked field');
  const reason = input.reason?.trim();
  if (!reason || reason.length < 5) throw new TallyError('reason_required', 'say why the field is revealed (at least 5 characters)', { param: 'reason' });
  if (!REVEALABLE.includes(input.field as RevealableField))
    throw new TallyError('invalid_field', `field must be one of ${REVEALABLE.join(', ')}`, { param: 'field' });
  return withTransaction(ctx.db, async (tx) => {
    const user = await getUser(tx, input.userId);
    const value =
      input.field === 'email' ? user.email : [...new Set((await listUsage(tx, { userId: user.id, limit: 200 })).map((r) => r.client_ip).filter(Boolean))];
    await recordAudit(tx, { actor: input.actor, action: 'user.reveal', target: user.id, reason, data: { field: input.field }, now: ctx.now() });
    return { user_id: user.id, field: input.field, value };
  });
}

// The money actions staff take, as the routes and the CLI call them: each
// either runs now or, for a support caller above its limit (or a credit by
// hand the provider cannot confirm), becomes a request for an admin's approval
// (src/support/approvals.ts). Who may do what: src/support/permissions.ts.

export type Guarded<T> = { kind: 'done'; result: T } | { kind: 'approval_pending'; approval: Approval; replayed: boolean };

const limitOf = (ctx: PaymentsContext) => supportApprovalLimit(ctx.config.env);

export async function compensate({
  ctx,
  input,
}: {
  ctx: PaymentsContext;
  input: { userId: string; amount: bigint; reason: string; ticket: string; orderId?: string | null; idempotencyKey?: string; actor: Actor };
}): Promise<Guarded<TransferResult>> {
  const { reason, ticket } = checkCompensation(input);
  const limit = limitOf(ctx);
  if (decideMoneyAction(input.actor, 'users.compensate', { targetUserId: input.userId, value: input.amount, limit, what: 'compensate' }) === 'approval') {
    const r = await requestApproval(ctx, {
      action: 'users.compensate',
      target: input.userId,
      targetUserId: input.userId,
      value: input.amount,
      reason,
      actor: input.actor,
      requestKey: input.idempotencyKey,
      params: { amount: formatMoney(input.amount), ticket, order_id: input.orderId ?? null },
    });
    return { kind: 'approval_pending', ...r };
  }
  return { kind: 'done', result: await compensateUser(ctx.db, { ...input, supportLimit: limit, now: ctx.now() }) };
}

export async function creditOrder({
  ctx,
  input,
}: {
  ctx: PaymentsContext;
  input: { orderId: string; providerReference: string; reason: string; force?: boolean; actor: Actor };
}): Promise<Guarded<{ outcome: CreditOutcome; order: Order; providerCheck: ProviderCheck['check'] | 'not_paid_forced' }>> {
  const { order, reason, ref } = await prepareCreditByHand(ctx.db, input);
  if (accessOf(input.actor, 'orders.credit') === 'yes') return { kind: 'done', result: await creditOrderByHand(ctx, input) };
  // Support: the provider's word decides. Confirmed: credit now. Cannot be asked: an admin approves. Not paid: refused.
  const answer = await askProviderAboutOrder(ctx, order);
  if (answer.check === 'unavailable') {
    const r = await requestApproval(ctx, {
      action: 'orders.credit',
      target: order.id,
      targetUserId: order.userId,
      value: order.creditAmount,
      reason,
      actor: input.actor,
      requestKey: `${order.id}:${ref}`,
      params: {
        provider_reference: ref,
        provider_check: 'unavailable',
        provider_detail: answer.detail,
        amount: `${formatMoney(order.amount)} ${order.currency}`,
      },
    });
    return { kind: 'approval_pending', ...r };
  }
  return { kind: 'done', result: await creditOrderByHand(ctx, { ...input, force: false, providerCheck: answer }) };
}

export async function refund({
  ctx,
  input,
}: {
  ctx: PaymentsContext;
  input: { orderId: string; amount?: bigint; reason: RefundReason; note?: string; force?: boolean; actor: Actor };
}): Promise<Guarded<{ refund: Refund; order: Order }>> {
  const limit = limitOf(ctx);
  const { order, amount, value, decision } = await authorizeRefund(ctx.db, { ...input, supportLimit: limit });
  if (decision === 'approval') {
    const note = input.note?.trim() || `refund (${input.reason})`;
    const r = await requestApproval(ctx, {
      action: 'orders.refund',
      target: order.id,
      targetUserId: order.userId,
      value,
      reason: note,
      actor: input.actor,
      // The same refund asked twice while the order is unchanged (a double click) is one request.
      requestKey: `${order.id}:${formatMoney(amount)}:${formatMoney(order.refundedAmount)}`,
      params: { amount: formatMoney(amount), currency: order.currency, reason: input.reason },
    });
    return { kind: 'approval_pending', ...r };
  }
  return { kind: 'done', result: await refundOrder(ctx, { ...input, supportLimit: limit }) };
}

export async function decideDuplicate({
  ctx,
  input,
}: {
  ctx: PaymentsContext;
  input: { trade: string; provider?: string; reason: string; decision: 'refund' | 'keep'; actor: Actor };
}): Promise<Guarded<DuplicateRefundResult | KeepDuplicateResult>> {
  const limit = limitOf(ctx);
  const { reason, trade, order, value, action, verdict } = await authorizeDuplicateDecision(ctx.db, { ...input, supportLimit: limit }, input.decision);
  if (verdict === 'approval') {
    const r = await requestApproval(ctx, {
      action,
      target: trade.id,
      targetUserId: order.userId,
      value,
      reason,
      actor: input.actor,
      requestKey: `${trade.id}:${input.decision}`,
      params: { trade_id: trade.tradeId, provider: trade.provider, order_id: order.id, amount: `${formatMoney(trade.amount)} ${trade.currency}` },
    });
    return { kind: 'approval_pending', ...r };
  }
  const args = { trade: trade.id, reason, actor: input.actor, supportLimit: limit };
  return { kind: 'done', result: input.decision === 'refund' ? await refundDuplicatePayment(ctx, args) : await keepDuplicateAsCredit(ctx, args) };
}
