import { withTransaction, isUniqueViolation, type DbOrTx } from '../db/index.ts';
import { invalid } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { SYSTEM_ACCOUNTS, walletAccountId } from '../ledger/accounts.ts';
import { createTransfer, findTransferByKey, type TransferResult } from '../ledger/transfers.ts';
import { formatMoney } from '../ledger/money.ts';
import { recordAudit, type Actor } from '../support/audit.ts';

/**
 * Support grants a goodwill credit: system:compensation → wallet, kind
 * `compensation`, with the reason and ticket on the transfer (the user's
 * statement shows them) and an audit row in the same transaction.
 */
export async function compensateUser(
  db: DbOrTx,
  input: { userId: string; amount: bigint; reason: string; ticket: string; actor: Actor; orderId?: string | null; idempotencyKey?: string; now?: number },
): Promise<TransferResult> {
  const reason = input.reason?.trim();
  const ticket = input.ticket?.trim();
  if (!reason) throw invalid('reason_required', 'a compensation needs a reason', 'reason');
  if (!ticket) throw invalid('ticket_required', 'a compensation needs the support ticket reference', 'ticket');
  if (reason.length > 500 || ticket.length > 100) throw invalid('too_long', 'reason ≤ 500 and ticket ≤ 100 characters', 'reason');
  if (input.amount <= 0n) throw invalid('invalid_amount', 'a compensation must be positive', 'amount');
  const key = input.idempotencyKey ?? `compensation:${newId('aud')}`;
  const run = () => withTransaction(db, async (tx) => {
    const before = await findTransferByKey(tx, key);
    const r = await createTransfer(tx, {
      debitAccountId: SYSTEM_ACCOUNTS.compensation, creditAccountId: walletAccountId(input.userId), amount: input.amount, kind: 'compensation',
      reference: input.orderId ?? ticket, idempotencyKey: key, metadata: { reason, ticket, order_id: input.orderId ?? null }, now: input.now,
    });
    if (!before) await recordAudit(tx, { actor: input.actor, action: 'balance.compensate', target: input.userId, reason, data: { amount: formatMoney(input.amount), ticket, order_id: input.orderId ?? null, transferId: r.transfer.id }, now: input.now });
    return r;
  });
  try {
    return await run();
  } catch (e) {
    if (!db.isTransaction && isUniqueViolation(e)) return run();
    throw e;
  }
}
