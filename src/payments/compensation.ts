import type { DbOrTx } from '../db/index.ts';
import { withIdempotentTransaction } from '../db/idempotent.ts';
import { TallyError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { SYSTEM_ACCOUNTS, teamWalletId, walletAccountId } from '../ledger/accounts.ts';
import { createTransfer, findTransferByKey, type TransferResult } from '../ledger/transfers.ts';
import { formatMoney } from '../ledger/money.ts';
import { recordAudit, approvalData, type Actor, type ApprovalRef } from '../audit/index.ts';
import { walletState } from '../audit/walletState.ts';
import { decideMoneyAction, approvalRequired } from '../support/permissions.ts';

export interface CompensationInput {
  /** The user compensated; for a team, its owner (who may not be the caller). */
  userId: string;
  /** Compensates a team: its wallet is credited, the audit row names the team (staff action `teams.compensate`). */
  teamId?: string | null;
  amount: bigint;
  reason: string;
  ticket: string;
  actor: Actor;
  orderId?: string | null;
  idempotencyKey?: string;
  now?: number;
  /** TALLY_SUPPORT_APPROVAL_ABOVE: what a support caller may grant alone (0 when not given: fail closed). */
  supportLimit?: bigint;
  /** Set when an admin approved a support request; the audit row names both. */
  approval?: ApprovalRef;
}

/** Input checks shared by a direct compensation and a request for approval. */
export function checkCompensation(input: { amount: bigint; reason: string; ticket: string }): { reason: string; ticket: string } {
  const reason = input.reason?.trim();
  const ticket = input.ticket?.trim();
  if (!reason) throw new TallyError('reason_required', 'a compensation needs a reason', { param: 'reason' });
  if (!ticket) throw new TallyError('ticket_required', 'a compensation needs the support ticket reference', { param: 'ticket' });
  if (reason.length > 500 || ticket.length > 100) throw new TallyError('too_long', 'reason ≤ 500 and ticket ≤ 100 characters', { param: 'reason' });
  if (input.amount <= 0n) throw new TallyError('invalid_amount', 'a compensation must be positive', { param: 'amount' });
  return { reason, ticket };
}

/**
 * Support grants a goodwill credit: system:compensation → wallet, kind
 * `compensation`, with the reason and ticket on the transfer (the user's
 * statement shows them) and an audit row (wallet before and after) in the
 * same transaction. Nobody compensates their own account; support alone only
 * up to its limit (above it, support/actions.ts turns the call into a request
 * for approval).
 */
export async function compensateUser(db: DbOrTx, input: CompensationInput): Promise<TransferResult> {
  const { reason, ticket } = checkCompensation(input);
  if (
    decideMoneyAction(input.actor, input.teamId ? 'teams.compensate' : 'users.compensate', {
      targetUserId: input.userId,
      value: input.amount,
      limit: input.supportLimit ?? 0n,
      what: 'compensate',
    }) === 'approval'
  ) {
    throw approvalRequired('users.compensate', input.amount, input.supportLimit ?? 0n);
  }
  const key = input.idempotencyKey ?? `compensation:${newId('aud')}`;
  return withIdempotentTransaction(db, async (tx) => {
    const before = await findTransferByKey(tx, key);
    const walletId = input.teamId ? teamWalletId(input.teamId) : walletAccountId(input.userId);
    const wallet = before ? null : await walletState(tx, walletId);
    const r = await createTransfer(tx, {
      debitAccountId: SYSTEM_ACCOUNTS.compensation,
      creditAccountId: walletId,
      amount: input.amount,
      kind: 'compensation',
      reference: input.orderId ?? ticket,
      idempotencyKey: key,
      metadata: { reason, ticket, order_id: input.orderId ?? null, ...(input.approval ? { approval_id: input.approval.approvalId } : {}) },
      now: input.now,
    });
    if (!before) {
      await recordAudit(tx, {
        actor: input.actor,
        action: 'balance.compensate',
        target: input.teamId ? `team:${input.teamId}` : input.userId,
        reason,
        before: wallet,
        after: await walletState(tx, walletId),
        data: { amount: formatMoney(input.amount), ticket, order_id: input.orderId ?? null, transferId: r.transfer.id, ...approvalData(input.approval) },
        now: input.now,
      });
    }
    return r;
  });
}
