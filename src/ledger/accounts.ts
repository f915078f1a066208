import { type Selectable, sql } from 'kysely';
import type { DbOrTx } from '../db/index.ts';
import type { LedgerAccountsTable } from '../db/schema.ts';
import { toBig, formatMoney } from './money.ts';
import { availableOf, availableSql } from './available.ts';
import { TallyError } from '../lib/errors.ts';

// Every account lives in one table, user wallets and system accounts alike, so
// the sum of all balances is always zero. Balance = credits - debits: a wallet
// holding $10 has +10_000_000; `system:payments_in` goes negative as users pay.
export const SYSTEM_ACCOUNTS = {
  paymentsIn: 'system:payments_in', // money that came in from payment providers
  redeem: 'system:redeem', // value issued as redeem codes and claimed
  usageRevenue: 'system:usage_revenue', // what requests and tasks cost users
  refundsOut: 'system:refunds_out', // money returned to users' payment methods
  compensation: 'system:compensation', // goodwill credits granted by support
  uncollected: 'system:uncollected', // usage above a hold that no wallet paid
  manual: 'system:manual_adjustments', // operator credits (tally admin credit)
} as const;

export type SystemAccountId = (typeof SYSTEM_ACCOUNTS)[keyof typeof SYSTEM_ACCOUNTS];

export const walletAccountId = (userId: string) => `user:${userId}`;
/** A team's wallet: funded by top-ups, redeem codes and compensation to the team, spent by its team keys. */
export const teamWalletId = (teamId: string) => `team:${teamId}`;

export interface Account {
  id: string;
  type: 'wallet' | 'system';
  userId: string | null;
  name: string;
  currency: string;
  balance: bigint;
  pendingDebits: bigint;
  /** balance - pending holds (see available.ts for the rule). */
  available: bigint;
  overdraftLimit: bigint | null;
  createdAt: number;
}

export function rowToAccount(r: Selectable<LedgerAccountsTable>): Account {
  return {
    id: r.id,
    type: r.type,
    userId: r.user_id ?? null,
    name: r.name,
    currency: r.currency,
    balance: toBig(r.balance),
    pendingDebits: toBig(r.pending_debits),
    available: availableOf(r),
    overdraftLimit: r.overdraft_limit === null ? null : toBig(r.overdraft_limit),
    createdAt: Number(r.created_at),
  };
}

/** Creates the system accounts if they are missing; idempotent, safe to race. */
export async function ensureSystemAccounts(db: DbOrTx, currency = 'USD', now = Date.now()): Promise<void> {
  const rows = Object.entries(SYSTEM_ACCOUNTS).map(([name, id]) => ({
    id,
    type: 'system' as const,
    user_id: null,
    name,
    currency,
    balance: 0n,
    pending_debits: 0n,
    overdraft_limit: null,
    created_at: now,
  }));
  await db
    .insertInto('ledger_accounts')
    .values(rows)
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

/** Opens a user's wallet; called in the same transaction that creates the user. */
export async function openWallet(db: DbOrTx, input: { userId: string; currency?: string; overdraftLimit?: bigint; now?: number }): Promise<string> {
  const id = walletAccountId(input.userId);
  await db
    .insertInto('ledger_accounts')
    .values({
      id,
      type: 'wallet',
      user_id: input.userId,
      name: 'wallet',
      currency: input.currency ?? 'USD',
      balance: 0n,
      pending_debits: 0n,
      overdraft_limit: input.overdraftLimit ?? 0n,
      created_at: input.now ?? Date.now(),
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  return id;
}

/**
 * Opens a team's wallet (src/teams), in the transaction that creates the team.
 * A wallet like a user's (type 'wallet', overdraft limit 0) but owned by no
 * user: user_id stays null, and nothing in the books assumes a wallet has one.
 */
export async function openTeamWallet(db: DbOrTx, input: { teamId: string; currency?: string; now?: number }): Promise<string> {
  const id = teamWalletId(input.teamId);
  await db
    .insertInto('ledger_accounts')
    .values({
      id,
      type: 'wallet',
      user_id: null,
      name: 'team wallet',
      currency: input.currency ?? 'USD',
      balance: 0n,
      pending_debits: 0n,
      overdraft_limit: 0n,
      created_at: input.now ?? Date.now(),
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  return id;
}

export async function getAccount(db: DbOrTx, id: string): Promise<Account> {
  const r = await db.selectFrom('ledger_accounts').selectAll().where('id', '=', id).executeTakeFirst();
  if (!r) throw new TallyError('account_not_found', `ledger account ${id} does not exist`);
  return rowToAccount(r);
}

export async function findAccount(db: DbOrTx, id: string): Promise<Account | null> {
  const r = await db.selectFrom('ledger_accounts').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? rowToAccount(r) : null;
}

export async function listAccounts(db: DbOrTx, filter: { type?: 'wallet' | 'system' } = {}): Promise<Account[]> {
  let q = db.selectFrom('ledger_accounts').selectAll().orderBy('id');
  if (filter.type) q = q.where('type', '=', filter.type);
  return (await q.execute()).map(rowToAccount);
}

/** Sets a wallet's overdraft limit (how far below zero it may go; 0 by default). */
export async function setOverdraftLimit(db: DbOrTx, accountId: string, limit: bigint): Promise<void> {
  if (limit < 0n) throw new RangeError('overdraft limit must be >= 0');
  // Conditional: a limit the wallet already exceeds (it owes more) is refused, not applied.
  const r = await db
    .updateTable('ledger_accounts')
    .set({ overdraft_limit: limit })
    .where('id', '=', accountId)
    .where('type', '=', 'wallet')
    .where(sql<boolean>`${availableSql} >= ${-limit}`)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) {
    const acc = await findAccount(db, accountId);
    if (acc?.type !== 'wallet') throw new TallyError('account_not_found', `wallet ${accountId} does not exist`);
    throw new TallyError(
      'overdraft_in_use',
      `the wallet has ${formatMoney(acc.available)} available; a limit of ${formatMoney(limit)} would leave it overdrawn`,
    );
  }
}
