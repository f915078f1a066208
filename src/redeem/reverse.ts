import type { DbOrTx } from '../db/index.ts';
import { withIdempotentTransaction } from '../db/idempotent.ts';
import { TallyError } from '../lib/errors.ts';
import { reverseTransfer, type Transfer } from '../ledger/transfers.ts';
import { formatMoney } from '../ledger/money.ts';
import { recordAudit, type Actor } from '../audit/index.ts';
import { rowToRedemption, type Redemption } from './redeem.ts';

/**
 * Takes back a redemption (a code that was sold by mistake, a fraud case) with
 * a reversal transfer wallet → `system:redeem`, the redemption marked
 * reversed and an audit row, in one transaction. The code stays used. A
 * reversal of a reversed redemption returns the first one.
 */
export async function reverseRedemption(
  db: DbOrTx,
  input: { redemptionId: string; reason: string; actor: Actor; now?: number },
): Promise<{ redemption: Redemption; reversal: Transfer; replayed: boolean }> {
  const reason = input.reason?.trim();
  if (!reason) throw new TallyError('reason_required', 'say why: reversing a redemption needs a reason', { param: 'reason' });
  if (reason.length > 500) throw new TallyError('reason_too_long', 'the reason must be at most 500 characters', { param: 'reason' });
  const now = input.now ?? Date.now();
  return withIdempotentTransaction(db, async (tx) => {
    const row = await tx
      .selectFrom('redeem_redemptions as r')
      .innerJoin('redeem_codes as c', 'c.id', 'r.code_id')
      .selectAll('r')
      .select('c.display')
      .where('r.id', '=', input.redemptionId)
      .executeTakeFirst();
    if (!row) throw new TallyError('redemption_not_found', `no redemption with id ${input.redemptionId}`);
    const { transfer, replayed } = await reverseTransfer(tx, {
      transferId: row.transfer_id,
      reason,
      idempotencyKey: `redeem-reversal:${row.id}`,
      now,
    }).catch((e) => {
      // Reversed before with another reason: the first reversal stands.
      if (e?.code === 'idempotency_key_reused' && row.status === 'reversed')
        throw new TallyError('already_reversed', `redemption ${row.id} was already reversed at ${new Date(Number(row.reversed_at)).toISOString()}`);
      throw e;
    });
    if (!replayed) {
      await tx
        .updateTable('redeem_redemptions')
        .set({ status: 'reversed', reversed_at: now, reversal_transfer_id: transfer.id, reversal_reason: reason })
        .where('id', '=', row.id)
        .execute();
      await recordAudit(tx, {
        actor: input.actor,
        action: 'redeem.redemption.reverse',
        target: row.user_id,
        reason,
        data: { redemptionId: row.id, code: row.display, amount: formatMoney(transfer.amount), transferId: row.transfer_id, reversalTransferId: transfer.id },
        now,
      });
    }
    const after = await tx.selectFrom('redeem_redemptions').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow();
    return { redemption: rowToRedemption(after, row.display), reversal: transfer, replayed };
  });
}
