import { sql } from 'kysely';
import type { DbOrTx } from '../db/index.ts';
import { toBig } from './money.ts';

// The one definition of what an account can pay, used by every caller:
//
//   available = balance - pending_debits
//     what the account holds that no pending hold has claimed; what a user is
//     shown as "available" and what a refund may take back.
//   spendable = available + overdraft_limit
//     how much more may be debited before the account passes its limit: the
//     no-overdraft check of every debit and hold, and what reservations start
//     from. A null limit (system accounts) means no limit: the SQL check always
//     passes, and spendableOf reports the available amount (nothing reserves
//     against a system account).
//
// withinLimit is the same rule in SQL, for the conditional UPDATE that makes a
// debit and its check one atomic statement (never read-then-write).

/** The stored figures the rule reads (a ledger_accounts row, or the columns an UPDATE returned). */
export interface BalanceFigures {
  balance: unknown;
  pending_debits: unknown;
  overdraft_limit: unknown;
}

/** balance - pending holds. */
export function availableOf(r: { balance: unknown; pending_debits: unknown }): bigint {
  return toBig(r.balance) - toBig(r.pending_debits);
}

/** balance - pending holds + overdraft limit (null limit: nothing added). */
export function spendableOf(r: BalanceFigures): bigint {
  return availableOf(r) + (r.overdraft_limit === null || r.overdraft_limit === undefined ? 0n : toBig(r.overdraft_limit));
}

/** available in SQL, for a statement that must check it atomically. */
export const availableSql = sql<bigint>`(balance - pending_debits)`;

/** SQL for "debiting `amount` keeps the account within its overdraft limit": spendable >= amount, or no limit. */
export const withinLimit = (amount: bigint) => sql<boolean>`(overdraft_limit IS NULL OR ${availableSql} - ${amount} >= -overdraft_limit)`;

/** What each of these accounts can spend now (missing accounts are left out). */
export async function readSpendable(db: DbOrTx, accountIds: string[]): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  if (!accountIds.length) return out;
  const rows = await db.selectFrom('ledger_accounts').select(['id', 'balance', 'pending_debits', 'overdraft_limit']).where('id', 'in', accountIds).execute();
  for (const r of rows) out.set(r.id, spendableOf(r));
  return out;
}
