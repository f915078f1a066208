import type { DbOrTx } from '../db/index.ts';
import { getAccount, walletAccountId } from '../ledger/accounts.ts';
import { formatMoney } from '../ledger/money.ts';

/** The before/after snapshot of a wallet for a money action's audit row (read inside the action's transaction). */
export async function walletState(db: DbOrTx, userId: string): Promise<{ balance: string; available: string }> {
  const a = await getAccount(db, walletAccountId(userId));
  return { balance: formatMoney(a.balance), available: formatMoney(a.available) };
}
