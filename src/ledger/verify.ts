import { sql } from 'kysely';
import type { DbOrTx } from '../db/index.ts';
import { toBig, formatMoney } from './money.ts';
import { availableOf } from './available.ts';

export interface VerifyCheck {
  name: string;
  ok: boolean;
  detail: string;
  violations?: string[];
}

export interface VerifyReport {
  ok: boolean;
  checks: VerifyCheck[];
  accounts: number;
  transfers: number;
  holds: number;
}

const MAX_LISTED = 20;

/** A named check from its violations (the first few are listed). Modules use it for their own checks of the books. */
export function check(name: string, violations: string[], okDetail: string): VerifyCheck {
  return violations.length === 0
    ? { name, ok: true, detail: okDetail }
    : { name, ok: false, detail: `${violations.length} violation(s)`, violations: violations.slice(0, MAX_LISTED) };
}

/**
 * Checks every ledger invariant from the stored records alone. Used by
 * `tally ledger verify`, after every step of the simulation and at the end of
 * every money test.
 */
export async function verifyLedger(db: DbOrTx, opts: { now?: number; graceMs?: number } = {}): Promise<VerifyReport> {
  const now = opts.now ?? Date.now();
  const checks: VerifyCheck[] = [];

  const accounts = await db.selectFrom('ledger_accounts').select(['id', 'type', 'balance', 'pending_debits', 'overdraft_limit']).execute();
  const total = accounts.reduce((s, a) => s + toBig(a.balance), 0n);
  checks.push(check('sum of all balances is zero', total === 0n ? [] : [`sum is ${formatMoney(total)}`], `${accounts.length} accounts sum to 0`));

  const flows = await db
    .selectFrom(
      db
        .selectFrom('ledger_transfers')
        .select(['credit_account_id as account_id', 'amount'])
        .unionAll(db.selectFrom('ledger_transfers').select(['debit_account_id as account_id', sql<bigint>`-amount`.as('amount')]))
        .as('f'),
    )
    .select(['account_id', sql<string>`sum(amount)`.as('net')])
    .groupBy('account_id')
    .execute();
  const net = new Map(flows.map((f) => [f.account_id, toBig(f.net)]));
  const balanceViolations = accounts
    .filter((a) => toBig(a.balance) !== (net.get(a.id) ?? 0n))
    .map((a) => `${a.id}: stored ${formatMoney(toBig(a.balance))}, transfers sum to ${formatMoney(net.get(a.id) ?? 0n)}`);
  checks.push(check('each balance equals the sum of its transfers', balanceViolations, 'all balances match their transfers'));

  const pending = await db
    .selectFrom('ledger_holds')
    .select(['debit_account_id', sql<string>`sum(amount)`.as('held')])
    .where('status', '=', 'pending')
    .groupBy('debit_account_id')
    .execute();
  const held = new Map(pending.map((p) => [p.debit_account_id, toBig(p.held)]));
  const pendingViolations = accounts
    .filter((a) => toBig(a.pending_debits) !== (held.get(a.id) ?? 0n))
    .map((a) => `${a.id}: pending ${formatMoney(toBig(a.pending_debits))}, pending holds sum to ${formatMoney(held.get(a.id) ?? 0n)}`);
  checks.push(check('each pending total equals its pending holds', pendingViolations, 'pending totals match'));

  const overdrawn = accounts
    .filter((a) => a.overdraft_limit !== null && availableOf(a) < -toBig(a.overdraft_limit))
    .map((a) => `${a.id}: available ${formatMoney(availableOf(a))}, limit -${formatMoney(toBig(a.overdraft_limit))}`);
  checks.push(check('no account below its overdraft limit', overdrawn, 'no account overdrawn'));

  const stale = await db
    .selectFrom('ledger_holds')
    .select(['id', 'expires_at'])
    .where('status', '=', 'pending')
    .where('expires_at', '<', now - (opts.graceMs ?? 0))
    .limit(MAX_LISTED)
    .execute();
  checks.push(
    check(
      'no pending hold past its timeout',
      stale.map((h) => `${h.id} expired at ${new Date(Number(h.expires_at)).toISOString()}`),
      'no stale holds',
    ),
  );

  const dupKeys = await db
    .selectFrom('ledger_transfers')
    .select(['idempotency_key', sql<string>`count(*)`.as('n')])
    .groupBy('idempotency_key')
    .having(sql`count(*)`, '>', 1)
    .limit(MAX_LISTED)
    .execute();
  checks.push(
    check(
      'idempotency keys are unique',
      dupKeys.map((d) => `${d.idempotency_key} used ${d.n} times`),
      'all keys unique',
    ),
  );

  const badPosts = await db
    .selectFrom('ledger_holds as h')
    .leftJoin('ledger_transfers as t', 't.hold_id', 'h.id')
    .select(['h.id', 'h.status', 'h.amount', 'h.posted_amount', 't.amount as transfer_amount', 't.id as transfer_id'])
    .where((eb) =>
      eb.or([
        eb.and([eb('h.status', '=', 'posted'), eb('h.posted_amount', '>', eb.ref('h.amount'))]),
        eb.and([eb('h.status', '=', 'posted'), eb('h.posted_amount', '>', 0), eb('t.id', 'is', null)]),
        eb.and([eb('t.id', 'is not', null), eb.or([eb('h.status', '!=', 'posted'), eb('t.amount', '!=', eb.ref('h.posted_amount'))])]),
      ]),
    )
    .limit(MAX_LISTED)
    .execute();
  checks.push(
    check(
      'posted holds match their transfers',
      badPosts.map((b) => `${b.id} (${b.status}): held ${b.amount}, posted ${b.posted_amount}, transfer ${b.transfer_id ?? 'none'} ${b.transfer_amount ?? ''}`),
      'every posted hold has one transfer of the posted amount',
    ),
  );

  const counts = async (t: 'ledger_transfers' | 'ledger_holds') =>
    Number((await db.selectFrom(t).select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow()).n);
  const report = {
    ok: checks.every((c) => c.ok),
    checks,
    accounts: accounts.length,
    transfers: await counts('ledger_transfers'),
    holds: await counts('ledger_holds'),
  };
  return report;
}
