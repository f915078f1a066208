import type { Selectable } from 'kysely';
import type { SupportApprovalsTable } from '../db/schema.ts';
import type { PaymentsContext } from '../payments/context.ts';
import { withTransaction, isUniqueViolation, type DbOrTx } from '../db/index.ts';
import { TallyError, isTallyError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { formatMoney, parseMoney, toBig } from '../ledger/money.ts';
import { compensateUser } from '../payments/compensation.ts';
import { creditOrderByHand } from '../payments/credit.ts';
import { refundOrder, type RefundReason } from '../payments/refunds.ts';
import { refundDuplicatePayment, keepDuplicateAsCredit } from '../payments/duplicates.ts';
import { isRefundOutcomeUnknown } from '../payments/errors.ts';
import { recordAudit, actorLabel, type Actor, type ApprovalRef } from '../audit/index.ts';
import { accessOf, selfActionForbidden, type StaffAction } from './permissions.ts';

// The second person. A support money action above the support limit (or a
// credit by hand the provider cannot confirm) is not run: it becomes a pending
// request, audited. A different staff member with the admin role (or the
// operator's admin token / CLI) approves it, which runs the action once, or
// rejects it with a reason.
//
// Exactly once: approving claims the request with a conditional UPDATE
// pending → approved (one caller wins, on any number of instances), and the
// action runs under keys derived from the request id (compensation transfer
// `approval:<id>`, refund id `rfd_<id>`; credit by hand and duplicate
// decisions are exactly-once by their own state). A run interrupted by a crash
// leaves the request `approved`; approving it again after APPROVAL_LEASE_MS
// finishes it under the same keys, so it still moves money once.

export const APPROVABLE = ['users.compensate', 'orders.credit', 'orders.refund', 'trades.refund', 'trades.keep'] as const satisfies readonly StaffAction[];
export type ApprovableAction = (typeof APPROVABLE)[number];
export const APPROVAL_STATUSES = ['pending', 'approved', 'executed', 'failed', 'rejected', 'expired'] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

/** A request not decided within a week expires: the facts it was based on may have changed. */
export const APPROVAL_TTL_MS = 7 * 24 * 60 * 60_000;
/** An approved request whose run has not finished after this long is taken to be interrupted; approving it again finishes it. */
export const APPROVAL_LEASE_MS = 5 * 60_000;

export interface Approval {
  id: string;
  action: ApprovableAction;
  target: string;
  targetUserId: string;
  value: bigint;
  params: Record<string, any>;
  reason: string;
  status: ApprovalStatus;
  requestedBy: string;
  requestedByUserId: string | null;
  decidedBy: string | null;
  decisionReason: string | null;
  result: any;
  createdAt: number;
  expiresAt: number;
  decidedAt: number | null;
  updatedAt: number;
}

const parse = (s: string | null) => (s ? JSON.parse(s) : null);
const rowToApproval = (r: Selectable<SupportApprovalsTable>): Approval => ({
  id: r.id,
  action: r.action as ApprovableAction, // a text column; only requestApproval writes it, from the typed input
  target: r.target,
  targetUserId: r.target_user_id,
  value: toBig(r.value),
  params: parse(r.params) ?? {},
  reason: r.reason,
  status: r.status,
  requestedBy: r.requested_by,
  requestedByUserId: r.requested_by_user_id,
  decidedBy: r.decided_by,
  decisionReason: r.decision_reason,
  result: parse(r.result),
  createdAt: Number(r.created_at),
  expiresAt: Number(r.expires_at),
  decidedAt: r.decided_at === null ? null : Number(r.decided_at),
  updatedAt: Number(r.updated_at),
});

export async function findApproval(db: DbOrTx, id: string): Promise<Approval | null> {
  const r = await db.selectFrom('support_approvals').selectAll().where('id', '=', String(id).slice(0, 64)).executeTakeFirst();
  return r ? rowToApproval(r) : null;
}

export async function getApproval(db: DbOrTx, id: string): Promise<Approval> {
  const a = await findApproval(db, id);
  if (!a) throw new TallyError('approval_not_found', `no approval request ${String(id).slice(0, 64)}`);
  return a;
}

export async function listApprovals(db: DbOrTx, f: { status?: ApprovalStatus; userId?: string; limit?: number; before?: string } = {}): Promise<Approval[]> {
  let q = db
    .selectFrom('support_approvals')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(Math.min(Math.max(f.limit ?? 100, 1), 500));
  if (f.status) q = q.where('status', '=', f.status);
  if (f.userId) q = q.where('target_user_id', '=', f.userId);
  if (f.before) q = q.where('id', '<', f.before);
  return (await q.execute()).map(rowToApproval);
}

export interface ApprovalRequest {
  action: ApprovableAction;
  target: string;
  targetUserId: string;
  value: bigint;
  params: Record<string, unknown>;
  reason: string;
  actor: Actor;
  /** The requester's idempotency key: the same request sent twice makes one approval. */
  requestKey?: string | null;
}

/**
 * Records a pending request and its audit row in one transaction. Asking again
 * with the same key answers the first request while it is pending or done; a
 * rejected, failed or expired one frees its key, so it can be asked anew.
 */
export async function requestApproval(ctx: { db: DbOrTx; now(): number }, input: ApprovalRequest): Promise<{ approval: Approval; replayed: boolean }> {
  const requestKey = input.requestKey ? `${actorLabel(input.actor)}:${input.action}:${input.requestKey}`.slice(0, 300) : null;
  const existing = async () => {
    if (!requestKey) return null;
    const r = await ctx.db.selectFrom('support_approvals').selectAll().where('request_key', '=', requestKey).executeTakeFirst();
    return r ? rowToApproval(r) : null;
  };
  const before = await existing();
  if (before) return { approval: before, replayed: true };
  const id = newId('apr');
  const now = ctx.now();
  try {
    await withTransaction(ctx.db, async (tx) => {
      await tx
        .insertInto('support_approvals')
        .values({
          id,
          action: input.action,
          target: input.target,
          target_user_id: input.targetUserId,
          value: input.value,
          params: JSON.stringify(input.params),
          reason: input.reason,
          request_key: requestKey,
          status: 'pending',
          requested_by: actorLabel(input.actor),
          requested_by_user_id: input.actor.type === 'user' ? input.actor.userId : null,
          decided_by: null,
          decided_by_user_id: null,
          decision_reason: null,
          result: null,
          created_at: now,
          expires_at: now + APPROVAL_TTL_MS,
          decided_at: null,
          updated_at: now,
        })
        .execute();
      await recordAudit(tx, {
        actor: input.actor,
        action: 'approval.request',
        target: id,
        reason: input.reason,
        after: { status: 'pending' },
        data: { action: input.action, target: input.target, user_id: input.targetUserId, amount: formatMoney(input.value), params: input.params },
        now,
      });
    });
  } catch (e) {
    const again = isUniqueViolation(e) ? await existing() : null;
    if (again) return { approval: again, replayed: true };
    throw e;
  }
  return { approval: await getApproval(ctx.db, id), replayed: false };
}

function assertMayDecide(actor: Actor, a: Approval, verb: 'approve' | 'reject') {
  if (accessOf(actor, verb === 'approve' ? 'approvals.approve' : 'approvals.reject') !== 'yes') {
    throw new TallyError('forbidden', `only an admin can ${verb} a request`);
  }
  if (actor.type === 'user' && a.requestedByUserId === actor.userId) {
    throw new TallyError('self_approval_forbidden', `you asked for this yourself; another admin must ${verb} it`);
  }
  if (actor.type === 'user' && a.targetUserId === actor.userId) throw selfActionForbidden(`${verb} a request`);
}

function decisionReason(reason: string | undefined | null): string {
  const r = reason?.trim();
  if (!r) throw new TallyError('reason_required', 'say why you decide so (reason)', { param: 'reason' });
  if (r.length > 500) throw new TallyError('reason_too_long', 'the reason must be at most 500 characters', { param: 'reason' });
  return r;
}

export async function rejectApproval(
  ctx: { db: DbOrTx; now(): number },
  input: { id: string; reason: string; actor: Actor },
): Promise<{ approval: Approval; replayed: boolean }> {
  const reason = decisionReason(input.reason);
  const a = await getApproval(ctx.db, input.id);
  assertMayDecide(input.actor, a, 'reject');
  const done = await withTransaction(ctx.db, async (tx) => {
    const now = ctx.now();
    const moved = await tx
      .updateTable('support_approvals')
      .set({
        status: 'rejected',
        request_key: null,
        decided_by: actorLabel(input.actor),
        decided_by_user_id: input.actor.type === 'user' ? input.actor.userId : null,
        decision_reason: reason,
        decided_at: now,
        updated_at: now,
      })
      .where('id', '=', a.id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) return false;
    await recordAudit(tx, {
      actor: input.actor,
      action: 'approval.reject',
      target: a.id,
      reason,
      before: { status: 'pending' },
      after: { status: 'rejected' },
      data: { action: a.action, target: a.target, user_id: a.targetUserId, amount: formatMoney(a.value), requested_by: a.requestedBy },
      now,
    });
    return true;
  });
  const after = await getApproval(ctx.db, a.id);
  if (!done && after.status !== 'rejected')
    throw new TallyError('approval_already_decided', `request ${a.id} is ${after.status}; it can no longer be rejected`);
  return { approval: after, replayed: !done };
}

/**
 * Approves a pending request and runs its action once, as the approver (the
 * action's own audit row names the approval and the requester). Answers
 * `replayed: true` with the result when it already ran.
 */
export async function approveApproval(
  ctx: PaymentsContext,
  input: { id: string; reason: string; actor: Actor },
): Promise<{ approval: Approval; replayed: boolean }> {
  const reason = decisionReason(input.reason);
  const a = await getApproval(ctx.db, input.id);
  assertMayDecide(input.actor, a, 'approve');
  const now = ctx.now();
  const decidedBy = actorLabel(input.actor);
  const claimed = await withTransaction(ctx.db, async (tx) => {
    const moved = await tx
      .updateTable('support_approvals')
      .set({
        status: 'approved',
        decided_by: decidedBy,
        decided_by_user_id: input.actor.type === 'user' ? input.actor.userId : null,
        decision_reason: reason,
        decided_at: now,
        updated_at: now,
      })
      .where('id', '=', a.id)
      .where('status', '=', 'pending')
      .where('expires_at', '>=', now)
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) === 1) {
      await recordAudit(tx, {
        actor: input.actor,
        action: 'approval.approve',
        target: a.id,
        reason,
        before: { status: 'pending' },
        after: { status: 'approved' },
        data: { action: a.action, target: a.target, user_id: a.targetUserId, amount: formatMoney(a.value), requested_by: a.requestedBy },
        now,
      });
      return 'claimed' as const;
    }
    // Read after the UPDATE: it waited for a concurrent claim to commit, so this sees the outcome (PostgreSQL, read committed).
    const cur = rowToApproval(await tx.selectFrom('support_approvals').selectAll().where('id', '=', a.id).executeTakeFirstOrThrow());
    if (cur.status === 'pending') {
      await tx
        .updateTable('support_approvals')
        .set({ status: 'expired', request_key: null, updated_at: now })
        .where('id', '=', a.id)
        .where('status', '=', 'pending')
        .execute();
      return 'expired' as const;
    }
    // Approved before and its run never finished (a crash): take it over after the lease, and run it again under the same keys.
    if (cur.status === 'approved' && cur.updatedAt <= now - APPROVAL_LEASE_MS) {
      const took = await tx
        .updateTable('support_approvals')
        .set({ updated_at: now })
        .where('id', '=', a.id)
        .where('status', '=', 'approved')
        .where('updated_at', '=', cur.updatedAt)
        .executeTakeFirst();
      if (Number(took.numUpdatedRows) === 1) {
        await recordAudit(tx, {
          actor: input.actor,
          action: 'approval.resume',
          target: a.id,
          reason,
          before: { status: 'approved' },
          after: { status: 'approved' },
          data: { action: a.action, first_decided_by: cur.decidedBy },
          now,
        });
        return 'claimed' as const;
      }
    }
    return cur.status;
  });
  if (claimed === 'expired')
    throw new TallyError(
      'approval_expired',
      `request ${a.id} was not decided within ${APPROVAL_TTL_MS / 86_400_000} days; ask support to send it again if it is still right`,
    );
  if (claimed === 'executed') return { approval: await getApproval(ctx.db, a.id), replayed: true };
  if (claimed === 'approved') throw new TallyError('approval_in_progress', `request ${a.id} was approved and is running right now; look again in a moment`);
  if (claimed !== 'claimed') throw new TallyError('approval_already_decided', `request ${a.id} is ${claimed}; it can no longer be approved`);

  const ref: ApprovalRef = { approvalId: a.id, requestedBy: a.requestedBy };
  let result: Record<string, unknown>;
  try {
    result = await runApproved(ctx, a, input.actor, ref);
  } catch (e) {
    // A definite refusal (the order changed, the provider refused) ends the request; an unknown outcome leaves it approved, to be finished later.
    if (isTallyError(e) && e.status < 500 && !isRefundOutcomeUnknown(e)) {
      await finish(ctx, a, input.actor, 'failed', { error: { code: e.code, message: e.message } });
    }
    throw e;
  }
  await finish(ctx, a, input.actor, 'executed', result);
  return { approval: await getApproval(ctx.db, a.id), replayed: false };
}

async function finish(ctx: { db: DbOrTx; now(): number }, a: Approval, actor: Actor, status: 'executed' | 'failed', result: Record<string, unknown>) {
  await withTransaction(ctx.db, async (tx) => {
    const now = ctx.now();
    const moved = await tx
      .updateTable('support_approvals')
      .set({ status, result: JSON.stringify(result), updated_at: now, ...(status === 'failed' ? { request_key: null } : {}) })
      .where('id', '=', a.id)
      .where('status', '=', 'approved')
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) === 1 && status === 'failed') {
      await recordAudit(tx, {
        actor,
        action: 'approval.fail',
        target: a.id,
        reason: String((result.error as any)?.message ?? '').slice(0, 500),
        before: { status: 'approved' },
        after: { status: 'failed' },
        data: { action: a.action, ...result },
        now,
      });
    }
  });
}

/** The action itself, as the approver, through the same verbs as a direct call. */
async function runApproved(ctx: PaymentsContext, a: Approval, actor: Actor, approval: ApprovalRef): Promise<Record<string, unknown>> {
  const p = a.params;
  switch (a.action) {
    case 'users.compensate': {
      const amount = parseMoney(p.amount);
      const r = await compensateUser(ctx.db, {
        userId: a.targetUserId,
        amount,
        reason: a.reason,
        ticket: p.ticket,
        orderId: p.order_id ?? null,
        actor,
        idempotencyKey: `approval:${a.id}`,
        approval,
        now: ctx.now(),
      });
      return { transfer_id: r.transfer.id, amount: formatMoney(amount), replayed: r.replayed };
    }
    case 'orders.credit': {
      const r = await creditOrderByHand(ctx, { orderId: a.target, providerReference: p.provider_reference, reason: a.reason, actor, approval });
      return { outcome: r.outcome, order_status: r.order.status, provider_check: r.providerCheck };
    }
    case 'orders.refund': {
      const r = await refundOrder(ctx, {
        orderId: a.target,
        amount: p.amount === null || p.amount === undefined ? undefined : parseMoney(p.amount),
        reason: p.reason as RefundReason,
        note: a.reason,
        actor,
        approval,
      });
      return { refund_id: r.refund.id, refund_status: r.refund.status, amount: formatMoney(r.refund.amount), order_status: r.order.status };
    }
    case 'trades.refund': {
      const r = await refundDuplicatePayment(ctx, { trade: a.target, reason: a.reason, actor, approval });
      return { refund_id: r.refund.id, refund_status: r.refund.status, replayed: r.replayed };
    }
    case 'trades.keep': {
      const r = await keepDuplicateAsCredit(ctx, { trade: a.target, reason: a.reason, actor, approval });
      return { transfer_id: r.transferId, credit: formatMoney(r.credit), replayed: r.replayed };
    }
  }
}

export const approvalView = (a: Approval, currency: string) => ({
  id: a.id,
  action: a.action,
  target: a.target,
  user_id: a.targetUserId,
  amount: formatMoney(a.value),
  currency,
  params: a.params,
  reason: a.reason,
  status: a.status,
  requested_by: a.requestedBy,
  decided_by: a.decidedBy,
  decision_reason: a.decisionReason,
  result: a.result,
  created_at: new Date(a.createdAt).toISOString(),
  expires_at: new Date(a.expiresAt).toISOString(),
  decided_at: a.decidedAt === null ? null : new Date(a.decidedAt).toISOString(),
});
