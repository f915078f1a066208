import { sql } from 'kysely';
import type { DbOrTx } from '../db/index.ts';
import { likePrefix } from '../lib/sqlLike.ts';
import { check, type VerifyCheck } from '../ledger/verify.ts';
import { toBig, formatMoney } from '../ledger/money.ts';
import { teamWalletId, walletAccountId } from '../ledger/accounts.ts';

// The relay's part of `tally ledger verify`: every request log row agrees with
// the ledger, and every usage entry the relay wrote has its log row. Lookups
// go by primary key (the log row's transfer id; the request id inside the
// transfer's idempotency key), so this reads each row once.

const PAGE = 5_000;

/** The wallet a request's key spends: its team's for a team key, else its user's. */
const walletOf = (r: { team_id: string | null; user_id: string | null }) => (r.team_id ? teamWalletId(r.team_id) : walletAccountId(r.user_id ?? ''));

export async function verifyUsage(db: DbOrTx): Promise<VerifyCheck[]> {
  const checks: VerifyCheck[] = [];

  const logViolations: string[] = [];
  let checked = 0;
  for (let after = ''; ; ) {
    // Pages by primary key, so a large log is read in bounded memory.
    const rows = await db
      .selectFrom('request_logs as l')
      .leftJoin('ledger_transfers as t', 't.id', 'l.transfer_id')
      .leftJoin('api_keys as k', 'k.id', 'l.key_id')
      .select([
        'k.team_id',
        'l.id',
        'l.user_id',
        'l.cost',
        'l.charged',
        'l.charged_amount',
        'l.uncollected',
        'l.transfer_id',
        't.amount',
        't.debit_account_id',
        't.kind',
      ])
      .where('l.id', '>', after)
      .where((eb) => eb.or([eb('l.charged', '=', 1), eb('l.transfer_id', 'is not', null), eb('l.charged_amount', '<>', 0n), eb('l.cost', '<>', 0n)]))
      .orderBy('l.id')
      .limit(PAGE)
      .execute();
    if (!rows.length) break;
    after = rows[rows.length - 1].id;
    checked += rows.length;
    for (const r of rows) {
      const cost = toBig(r.cost);
      const charged = toBig(r.charged_amount);
      const uncollected = toBig(r.uncollected);
      if (cost !== charged + uncollected)
        logViolations.push(`${r.id}: cost ${formatMoney(cost)} ≠ charged ${formatMoney(charged)} + uncollected ${formatMoney(uncollected)}`);
      if ((Number(r.charged) === 1) !== charged > 0n) logViolations.push(`${r.id}: charged=${r.charged} but charged_amount ${formatMoney(charged)}`);
      if (charged === 0n) {
        if (r.transfer_id) logViolations.push(`${r.id}: not charged, yet linked to transfer ${r.transfer_id}`);
        continue;
      }
      if (!r.transfer_id || r.amount === null)
        logViolations.push(`${r.id}: charged ${formatMoney(charged)} but its usage transfer ${r.transfer_id ?? '(none)'} does not exist`);
      else if (toBig(r.amount) !== charged || r.kind !== 'usage' || r.debit_account_id !== walletOf(r)) {
        logViolations.push(
          `${r.id}: charged ${formatMoney(charged)} from ${walletOf(r)}, but transfer ${r.transfer_id} is ${r.kind} ${formatMoney(toBig(r.amount))} from ${r.debit_account_id}`,
        );
      }
    }
  }
  checks.push(check('each charged request has its usage transfer', logViolations, `${checked} charged or costed request(s) agree with the ledger`));

  // Entries the relay wrote (keyed usage:req_… / uncollected:req_…) without the log row they settle.
  const orphanViolations: string[] = [];
  let entries = 0;
  for (let after = ''; ; ) {
    const orphans = await db
      .selectFrom('ledger_transfers as t')
      .leftJoin('request_logs as l', (j) => j.on(sql<boolean>`l.id = substr(t.idempotency_key, case when t.kind = 'usage' then 7 else 13 end)`))
      .select(['t.id', 't.kind', 't.amount', 't.idempotency_key', 'l.id as log_id', 'l.uncollected'])
      .where('t.id', '>', after)
      .where((eb) => eb.or([likePrefix('t.idempotency_key', 'usage:req'), likePrefix('t.idempotency_key', 'uncollected:req')]))
      .orderBy('t.id')
      .limit(PAGE)
      .execute();
    if (!orphans.length) break;
    after = orphans[orphans.length - 1].id;
    for (const o of orphans) {
      if (!o.idempotency_key.startsWith('usage:req_') && !o.idempotency_key.startsWith('uncollected:req_')) continue;
      entries++;
      if (!o.log_id) orphanViolations.push(`${o.id} (${o.idempotency_key}): no request log row`);
      else if (o.kind === 'uncollected' && toBig(o.amount) !== toBig(o.uncollected ?? 0))
        orphanViolations.push(`${o.id}: uncollected ${formatMoney(toBig(o.amount))}, the log row says ${formatMoney(toBig(o.uncollected ?? 0))}`);
    }
  }
  checks.push(check('each usage entry has its request log row', orphanViolations, `${entries} usage entr(ies) have their log rows`));
  return checks;
}
