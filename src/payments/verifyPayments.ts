import type { DbOrTx } from '../db/index.ts';
import { likePrefix } from '../lib/sqlLike.ts';
import { check, type VerifyCheck } from '../ledger/verify.ts';
import { toBig, formatMoney } from '../ledger/money.ts';
import { orderWalletId } from './orders.ts';
import { CREDITED_STATES } from './stateMachine.ts';

// Payments' part of `tally ledger verify`: every credited order has exactly
// its credit on the ledger, every refund's booking matches its state (in
// place while it stands, reversed once it failed or was reversed), and each
// order's refunded totals are the sum of its standing refunds.

const STANDING = ['pending', 'succeeded', 'manual'];

export async function verifyPayments(db: DbOrTx): Promise<VerifyCheck[]> {
  const checks: VerifyCheck[] = [];

  const orders = await db
    .selectFrom('payment_orders')
    .select(['id', 'user_id', 'team_id', 'status', 'amount', 'credit_amount', 'refunded_amount', 'refunded_credit'])
    .execute();
  const credits = await db
    .selectFrom('ledger_transfers')
    .select(['id', 'idempotency_key', 'amount', 'credit_account_id'])
    .where(likePrefix('idempotency_key', 'order:'))
    .execute();
  const creditOf = new Map(credits.map((c) => [c.idempotency_key.slice('order:'.length), c]));
  const creditViolations: string[] = [];
  for (const o of orders) {
    const t = creditOf.get(o.id);
    const credited = CREDITED_STATES.includes(o.status as never);
    if (credited && !t) creditViolations.push(`${o.id} is ${o.status} but has no credit transfer`);
    else if (!credited && t) creditViolations.push(`${o.id} is ${o.status} but was credited (${t.id})`);
    else if (t && (toBig(t.amount) !== toBig(o.credit_amount) || t.credit_account_id !== orderWalletId({ userId: o.user_id, teamId: o.team_id }))) {
      creditViolations.push(
        `${o.id}: credit ${formatMoney(toBig(o.credit_amount))} to ${orderWalletId({ userId: o.user_id, teamId: o.team_id })}, but ${t.id} is ${formatMoney(toBig(t.amount))} to ${t.credit_account_id}`,
      );
    }
  }
  checks.push(check('each credited order has its one credit transfer', creditViolations, `${orders.length} order(s), ${credits.length} credit(s)`));

  const refunds = await db
    .selectFrom('payment_refunds')
    .select(['id', 'order_id', 'status', 'origin', 'amount', 'credit_amount', 'from_wallet', 'uncollected'])
    .where('origin', '<>', 'duplicate')
    .execute();
  const bookings = await db
    .selectFrom('ledger_transfers as t')
    .leftJoin('ledger_transfers as r', 'r.reverses_transfer_id', 't.id')
    .select(['t.id', 't.idempotency_key', 't.amount', 'r.id as reversal_id'])
    .where(likePrefix('t.idempotency_key', 'refund:'))
    .execute();
  const bookingOf = new Map(bookings.map((b) => [b.idempotency_key, b]));
  const refundViolations: string[] = [];
  const standingByOrder = new Map<string, { amount: bigint; credit: bigint }>();
  for (const r of refunds) {
    const standing = STANDING.includes(r.status);
    if (standing) {
      const s = standingByOrder.get(r.order_id) ?? { amount: 0n, credit: 0n };
      standingByOrder.set(r.order_id, { amount: s.amount + toBig(r.amount), credit: s.credit + toBig(r.credit_amount) });
    }
    for (const [key, expected] of [
      [`refund:${r.id}`, toBig(r.from_wallet)],
      [`refund:${r.id}:uncollected`, toBig(r.uncollected)],
    ] as const) {
      const b = bookingOf.get(key);
      if (expected === 0n) {
        if (b) refundViolations.push(`${r.id}: nothing to book under ${key}, yet ${b.id} exists`);
        continue;
      }
      if (!b) refundViolations.push(`${r.id} (${r.status}): ${formatMoney(expected)} should be booked under ${key}; nothing is`);
      else if (toBig(b.amount) !== expected)
        refundViolations.push(`${r.id}: ${key} is ${formatMoney(toBig(b.amount))}, the refund says ${formatMoney(expected)}`);
      else if (standing && b.reversal_id) refundViolations.push(`${r.id} is ${r.status} but its booking ${b.id} was reversed (${b.reversal_id})`);
      else if (!standing && !b.reversal_id) refundViolations.push(`${r.id} is ${r.status} but its booking ${b.id} still stands`);
    }
  }
  checks.push(check('each refund is booked as its status says', refundViolations, `${refunds.length} refund(s) match their bookings`));

  const totalViolations: string[] = [];
  for (const o of orders) {
    const s = standingByOrder.get(o.id) ?? { amount: 0n, credit: 0n };
    if (toBig(o.refunded_amount) !== s.amount || toBig(o.refunded_credit) !== s.credit) {
      totalViolations.push(
        `${o.id}: refunded ${formatMoney(toBig(o.refunded_amount))} / credit ${formatMoney(toBig(o.refunded_credit))}, its standing refunds sum to ${formatMoney(s.amount)} / ${formatMoney(s.credit)}`,
      );
    }
  }
  checks.push(check("each order's refunded totals equal its standing refunds", totalViolations, `${orders.length} order(s)`));
  return checks;
}
