import type { AppContext } from '../context.ts';
import { withTransaction } from '../db/index.ts';
import { TallyError, invalid } from '../lib/errors.ts';
import { getUser } from '../accounts/users.ts';
import { listUsage } from '../gateway/usageLog.ts';
import { getOrder, reconcileOrder } from '../payments/index.ts';
import { recordAudit, isAdminActor, type Actor } from './audit.ts';

/**
 * "Check with the provider now": polls the order's provider and applies the
 * answer through payments' exactly-once credit path (a second click, a
 * callback or the background worker can never credit twice). The poll is a
 * network call, so it cannot sit inside a database transaction; the audit row
 * (state before and after) is written by reconcileOrder in the transaction
 * that applies the outcome, or standalone when nothing changed.
 */
export async function checkOrderWithProvider({ ctx, input }: { ctx: AppContext; input: { orderId: string; actor: Actor; userId?: string; reason?: string } }) {
  const order = await getOrder(ctx.db, input.orderId, input.userId ? { userId: input.userId } : {});
  if (!['created', 'pending', 'expired', 'failed'].includes(order.status)) {
    // Nothing was asked of the provider. Staff actions still leave their row; a user's repeated click does not.
    if (!input.userId) await recordAudit(ctx.db, { actor: input.actor, action: 'payment.check_with_provider', target: order.id, reason: input.reason ?? null, before: { status: order.status }, after: { status: order.status }, data: { result: 'nothing_to_check' }, now: ctx.now() });
    return { result: 'nothing_to_check', order_id: order.id, status: order.status };
  }
  const r = await reconcileOrder(ctx, order, { source: input.userId ? 'reconcile' : 'support', audit: { actor: input.actor, action: 'payment.check_with_provider', reason: input.reason ?? null } });
  const after = await getOrder(ctx.db, order.id);
  return { result: r.result, order_id: order.id, status: after.status, detail: r.detail ?? null };
}

export const REVEALABLE = ['email', 'client_ips'] as const;
export type RevealableField = (typeof REVEALABLE)[number];

/** An admin reveals one masked field of a user, with a stated reason; the reveal is audited in the same transaction as the read. */
export async function revealUserField({ ctx, input }: { ctx: AppContext; input: { userId: string; field: string; reason: string; actor: Actor } }) {
  if (!isAdminActor(input.actor)) throw new TallyError('forbidden', 'only an admin can reveal a masked field', { status: 403, retryable: false });
  const reason = input.reason?.trim();
  if (!reason || reason.length < 5) throw invalid('reason_required', 'say why the field is revealed (at least 5 characters)', 'reason');
  if (!REVEALABLE.includes(input.field as RevealableField)) throw invalid('invalid_field', `field must be one of ${REVEALABLE.join(', ')}`, 'field');
  return withTransaction(ctx.db, async (tx) => {
    const user = await getUser(tx, input.userId);
    const value = input.field === 'email'
      ? user.email
      : [...new Set((await listUsage(tx, { userId: user.id, limit: 200 })).map((r) => r.client_ip).filter(Boolean))];
    await recordAudit(tx, { actor: input.actor, action: 'user.reveal', target: user.id, reason, data: { field: input.field }, now: ctx.now() });
    return { user_id: user.id, field: input.field, value };
  });
}
