import type { DbOrTx } from '../db/index.ts';
import { getAccount, walletAccountId } from '../ledger/accounts.ts';
import { formatMoney } from '../ledger/money.ts';

/**
 * The before/after snapshot of a wallet for a money action's audit row (read inside the action's transaction).
 * `owner`: a user id (their wallet), or a ledger account id such as `team:<id>` (a team's wallet).
 */
export async function walletState(db: DbOrTx, owner: string): Promise<{ balance: string; available: string }> {
  const a = await getAccount(db, owner.includes(':') ? owner : walletAccountId(owner));
  return { balance: formatMoney(a.balance), available: formatMoney(a.available) };
}
