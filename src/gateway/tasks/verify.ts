import type { DbOrTx } from '../../db/index.ts';
import { check, type VerifyCheck } from '../../ledger/verify.ts';
import { formatMoney, toBig } from '../../ledger/money.ts';
import { walletAccountId } from '../../ledger/accounts.ts';
import { LIVE } from './store.ts';

// The tasks' part of `tally ledger verify`: each task agrees with its hold
// and its charge. A running task's hold is pending for exactly what the task
// says it holds; a completed one's hold is posted for what it charged, by one
// `task` transfer from the task owner's wallet; a failed, cancelled or expired
// one's hold is released (voided, or expired by the sweeper) with nothing
// charged; and no `task` transfer exists without its task. Paged by id.

const PAGE = 2_000;

export async function verifyTasks(db: DbOrTx): Promise<VerifyCheck[]> {
  const violations: string[] = [];
  let checked = 0;
  for (let after = ''; ; ) {
    const rows = await db
      .selectFrom('tasks as k')
      .leftJoin('ledger_holds as h', 'h.id', 'k.hold_id')
      .leftJoin('ledger_transfers as t', 't.id', 'k.transfer_id')
      .select([
        'k.id',
        'k.user_id',
        'k.wallet_account_id',
        'k.status',
        'k.held',
        'k.charged',
        'k.hold_id',
        'k.transfer_id',
        'h.status as hold_status',
        'h.amount as hold_amount',
        'h.posted_amount',
        'h.reference as hold_reference',
        't.amount as transfer_amount',
        't.kind as transfer_kind',
        't.debit_account_id',
      ])
      .where('k.id', '>', after)
      .orderBy('k.id')
      .limit(PAGE)
      .execute();
    if (!rows.length) break;
    after = rows[rows.length - 1].id;
    checked += rows.length;
    for (const r of rows) {
      const held = toBig(r.held);
      const charged = toBig(r.charged);
      const live = (LIVE as string[]).includes(r.status);
      if (charged > held) violations.push(`${r.id}: charged ${formatMoney(charged)} > held ${formatMoney(held)}`);
      if (held === 0n) {
        if (charged !== 0n || r.transfer_id) violations.push(`${r.id}: held nothing, yet charged ${formatMoney(charged)}`);
        continue;
      }
      if (r.hold_status === null) {
        violations.push(`${r.id}: its hold ${r.hold_id} does not exist`);
        continue;
      }
      if (toBig(r.hold_amount) !== held || r.hold_reference !== r.id)
        violations.push(`${r.id}: hold ${r.hold_id} is not this task's hold of ${formatMoney(held)}`);
      if (live) {
        if (r.hold_status !== 'pending' && r.hold_status !== 'expired') violations.push(`${r.id}: running, but its hold is ${r.hold_status}`);
        if (charged !== 0n || r.transfer_id) violations.push(`${r.id}: running, yet charged ${formatMoney(charged)}`);
      } else if (r.status === 'completed' && charged > 0n) {
        if (r.hold_status !== 'posted' || toBig(r.posted_amount ?? 0) !== charged)
          violations.push(
            `${r.id}: completed and charged ${formatMoney(charged)}, but its hold is ${r.hold_status} for ${formatMoney(toBig(r.posted_amount ?? 0))}`,
          );
        if (
          !r.transfer_id ||
          r.transfer_amount === null ||
          toBig(r.transfer_amount) !== charged ||
          r.transfer_kind !== 'task' ||
          r.debit_account_id !== (r.wallet_account_id ?? walletAccountId(r.user_id))
        )
          violations.push(`${r.id}: charged ${formatMoney(charged)}, but its transfer ${r.transfer_id ?? '(none)'} does not say so`);
      } else {
        if (charged !== 0n || r.transfer_id) violations.push(`${r.id}: ${r.status}, yet charged ${formatMoney(charged)}`);
        if (r.hold_status === 'pending' || (r.hold_status === 'posted' && toBig(r.posted_amount ?? 0) !== 0n))
          violations.push(`${r.id}: ${r.status}, but its hold is still ${r.hold_status}`);
      }
    }
  }
  const checks = [check('each task agrees with its hold and its charge', violations, `${checked} task(s) agree with the ledger`)];
  // Task transfers whose task does not point at them (a charge no task accounts for).
  const orphans = await db
    .selectFrom('ledger_transfers as t')
    .leftJoin('tasks as k', 'k.transfer_id', 't.id')
    .select(['t.id', 't.reference'])
    .where('t.kind', '=', 'task')
    .where('k.id', 'is', null)
    .limit(100)
    .execute();
  checks.push(
    check(
      'each task transfer belongs to its task',
      orphans.map((o) => `transfer ${o.id} (reference ${o.reference ?? '-'}) is a task charge no task records`),
      'every task transfer is recorded by its task',
    ),
  );
  return checks;
}
