import type { DbOrTx } from '../db/index.ts';
import { withIdempotentTransaction } from '../db/idempotent.ts';
import { TallyError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { SYSTEM_ACCOUNTS, walletAccountId } from '../ledger/accounts.ts';
import { createTransfer, findTransferByKey, type TransferResult } from '../ledger/transfers.ts';
import { formatMoney } from '../ledger/money.ts';
import { recordAudit, type Actor } from '../audit/index.ts';
import { walletState } from '../audit/walletState.ts';
import { decideMoneyAction } from '../support/permissions.ts';

/**
 * An operator's manual credit (or debit, with a negative amount): a ledger
 * transfer against `system:manual_adjustments` and its audit row, in one
 * transaction. The reason is required; it is what the user's statement shows.
 * Admins and the operator only (support compensates instead), and never on
 * the caller's own wallet. Test fixtures fund wallets as `system`.
 */
export async function adjustBalanceManually(
  db: DbOrTx,
  input: { userId: string; amount: bigint; reason: string; actor: Actor; idempotencyKey?: string; kind?: 'manual_credit' | 'demo_credit' },
): Promise<TransferResult> {
  const reason = input.reason?.trim();
  if (!reason) throw new TallyError('reason_required', 'say why: a manual balance change needs --reason', { param: 'reason' });
  if (reason.length > 500) throw new TallyError('reason_too_long', 'the reason must be at most 500 characters', { param: 'reason' });
  if (input.amount === 0n) throw new TallyError('invalid_amount', 'amount must not be zero', { param: 'amount' });
  decideMoneyAction(input.actor, 'users.credit', {
    targetUserId: input.userId,
    value: input.amount < 0n ? -input.amount : input.amount,
    limit: 0n,
    what: 'credit or debit a balance',
  });
  const wallet = walletAccountId(input.userId);
  const credit = input.amount > 0n;
  const key = input.idempotencyKey ?? `manual:${newId('aud')}`;
  // A concurrent retry with the same key won the insert: answer with its result.
  return withIdempotentTransaction(db, async (tx) => {
    const before = await findTransferByKey(tx, key);
    const snapshot = before ? null : await walletState(tx, input.userId);
    const result = await createTransfer(tx, {
      debitAccountId: credit ? SYSTEM_ACCOUNTS.manual : wallet,
      creditAccountId: credit ? wallet : SYSTEM_ACCOUNTS.manual,
      amount: credit ? input.amount : -input.amount,
      kind: input.kind ?? (credit ? 'manual_credit' : 'manual_debit'),
      reference: null,
      idempotencyKey: key,
      metadata: { reason },
    });
    if (!before) {
      await recordAudit(tx, {
        actor: input.actor,
        action: credit ? 'balance.credit' : 'balance.debit',
        target: input.userId,
        reason,
        before: snapshot,
        after: await walletState(tx, input.userId),
        data: { amount: formatMoney(input.amount), transferId: result.transfer.id },
      });
    }
    return result;
  });
}
