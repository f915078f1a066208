import { sql } from 'kysely';
import type { DbOrTx, Dialect, Tx } from '../db/index.ts';
import { batchInserter } from '../db/batchInsert.ts';
import { newId } from '../lib/ids.ts';
import { toBig } from './money.ts';
import { SYSTEM_ACCOUNTS } from './accounts.ts';
import { spendableOf, withinLimit } from './available.ts';

// The batched usage post: what a group of finished requests cost, booked in
// the caller's transaction (the gateway writes its request log rows in the
// same one, so a log row never exists without its ledger entries or the
// reverse). Per request:
//
//   usage        wallet -> usage revenue, as much of the cost as the wallet's
//                limit allows (key usage:<requestId>)
//   uncollected  uncollected -> usage revenue, the rest (key
//                uncollected:<requestId>); a wallet never goes past its limit
//   key spend    api_keys.spent grows by what the wallet paid
//   budgets      budget_spend grows by what the wallet paid, in each budget's
//                period the request was reserved in (src/gateway/budgets.ts)
//
// Exactly once per request id: both transfer keys are unique, so posting a
// request that was already posted fails the caller's transaction with a
// unique violation, and nothing of it is applied. A caller that replays (the
// settlement queue's per-item retry, dead letters) skips requests it already
// wrote: the gateway looks for its log row, written in the same transaction.
// A request with nothing to charge (cost 0 or no wallet) moves no money.
//
// Performance: each wallet is debited once for all its requests in the batch
// when it can pay them all (the common case), and usage revenue and
// uncollected are each updated once per batch; only a wallet that cannot pay
// the whole batch is charged request by request.

export interface UsageCharge {
  requestId: string;
  walletId: string | null;
  /** The API key whose `spent` grows by what the wallet paid; null for none. */
  keyId: string | null;
  /** The budgets (ref and period key) whose spend grows by what the wallet paid. */
  budgets?: Array<{ ref: string; periodKey: string }>;
  /** What the request cost, in micro-units. */
  cost: bigint;
  /** Stored on the usage transfer (model, key display). */
  metadata?: Record<string, unknown> | null;
}

export interface UsagePosting {
  /** Taken from the wallet. */
  charged: bigint;
  /** Booked to system:uncollected: the part of the cost above what the wallet could pay. */
  uncollected: bigint;
  /** The usage transfer (null when nothing was charged). */
  transferId: string | null;
  /** The wallet's currency, when the wallet was read (always when something is uncollected). */
  currency: string | null;
}

export interface UsagePostResult {
  /** One per charge, in the same order. */
  postings: UsagePosting[];
  /** What each charged wallet can spend after the post (available.ts: spendable). */
  walletSpendable: Map<string, bigint>;
  /** Each charged key's spend after the post. */
  keySpent: Map<string, bigint>;
  /** Each charged budget period's spend after the post, by budgetSpentKey(ref, periodKey). */
  budgetSpent: Map<string, bigint>;
}

/** The key of a budget period in UsagePostResult.budgetSpent. */
export const budgetSpentKey = (ref: string, periodKey: string) => `${ref}\u0000${periodKey}`;

/** What budget periods have spent (those with a row), by budgetSpentKey. */
export async function readBudgetSpent(db: DbOrTx, marks: Array<{ ref: string; periodKey: string }>): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const m of marks) {
    const r = await db.selectFrom('budget_spend').select('spent').where('budget_ref', '=', m.ref).where('period_key', '=', m.periodKey).executeTakeFirst();
    out.set(budgetSpentKey(m.ref, m.periodKey), r ? toBig(r.spent) : 0n);
  }
  return out;
}

/**
 * Adds to budget periods' spend (insert, or spent = spent + x), in the
 * caller's transaction, in one order (so two transactions never wait on each
 * other's rows); returns each one's spend after.
 */
export async function addBudgetSpend(tx: Tx, adds: Map<string, bigint>, now: number): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const k of [...adds.keys()].sort()) {
    const add = adds.get(k)!;
    const [ref, periodKey] = k.split('\u0000');
    const r = await tx
      .insertInto('budget_spend')
      .values({ budget_ref: ref, period_key: periodKey, spent: add, updated_at: now })
      .onConflict((oc) => oc.columns(['budget_ref', 'period_key']).doUpdateSet({ spent: sql`budget_spend.spent + ${add}`, updated_at: now }))
      .returning('spent')
      .executeTakeFirstOrThrow();
    out.set(k, toBig(r.spent));
  }
  return out;
}

const insertTransfers = batchInserter('ledger_transfers', [
  'id',
  'debit_account_id',
  'credit_account_id',
  'amount',
  'kind',
  'reference',
  'idempotency_key',
  'hold_id',
  'reverses_transfer_id',
  'debit_balance_after',
  'credit_balance_after',
  'metadata',
  'created_at',
]);

const usageKey = (requestId: string) => `usage:${requestId}`;
const uncollectedKey = (requestId: string) => `uncollected:${requestId}`;

interface TransferRow {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: bigint;
  kind: string;
  reference: string;
  idempotency_key: string;
  hold_id: null;
  reverses_transfer_id: null;
  debit_balance_after: bigint;
  credit_balance_after: bigint;
  metadata: string | null;
  created_at: number;
}

const FIGURES = ['balance', 'pending_debits', 'overdraft_limit', 'currency'] as const;

/** Takes what the wallet can pay of each request: all of them at once when it can, else one by one. */
async function debitWallet(
  tx: Tx,
  dialect: Dialect,
  walletId: string,
  charges: Array<{ index: number; cost: bigint }>,
): Promise<{ taken: Array<{ index: number; charged: bigint; balanceAfter: bigint }>; spendable: bigint | null; currency: string | null }> {
  const total = charges.reduce((s, c) => s + c.cost, 0n);
  const all = await tx
    .updateTable('ledger_accounts')
    .set({ balance: sql`balance - ${total}` })
    .where('id', '=', walletId)
    .where(withinLimit(total))
    .returning(FIGURES)
    .executeTakeFirst();
  if (all) {
    let running = toBig(all.balance) + total;
    const taken = charges.map((c) => {
      running -= c.cost;
      return { index: c.index, charged: c.cost, balanceAfter: running };
    });
    return { taken, spendable: spendableOf(all), currency: all.currency };
  }
  const taken: Array<{ index: number; charged: bigint; balanceAfter: bigint }> = [];
  let last: { balance: unknown; pending_debits: unknown; overdraft_limit: unknown; currency: string } | undefined;
  for (const c of charges) {
    let charged = c.cost;
    let row = await tx
      .updateTable('ledger_accounts')
      .set({ balance: sql`balance - ${c.cost}` })
      .where('id', '=', walletId)
      .where(withinLimit(c.cost))
      .returning(FIGURES)
      .executeTakeFirst();
    if (!row) {
      let q = tx.selectFrom('ledger_accounts').select(FIGURES).where('id', '=', walletId);
      if (dialect === 'postgres') q = q.forUpdate();
      const cur = await q.executeTakeFirst();
      const can = cur ? spendableOf(cur) : 0n;
      charged = can <= 0n ? 0n : can < c.cost ? can : c.cost;
      row =
        charged > 0n
          ? await tx
              .updateTable('ledger_accounts')
              .set({ balance: sql`balance - ${charged}` })
              .where('id', '=', walletId)
              .returning(FIGURES)
              .executeTakeFirst()
          : cur;
    }
    if (row) last = row;
    taken.push({ index: c.index, charged, balanceAfter: row ? toBig(row.balance) : 0n });
  }
  return { taken, spendable: last ? spendableOf(last) : null, currency: last?.currency ?? null };
}

/** Posts the usage of a batch of requests in the caller's transaction (see the top of this file). */
export async function postUsage(tx: Tx, dialect: Dialect, charges: UsageCharge[], now = Date.now()): Promise<UsagePostResult> {
  const postings: UsagePosting[] = charges.map(() => ({ charged: 0n, uncollected: 0n, transferId: null, currency: null }));
  const walletSpendable = new Map<string, bigint>();
  const keySpent = new Map<string, bigint>();

  const byWallet = new Map<string, Array<{ index: number; cost: bigint }>>();
  charges.forEach((c, index) => {
    if (c.cost <= 0n || !c.walletId) return;
    const list = byWallet.get(c.walletId);
    if (list) list.push({ index, cost: c.cost });
    else byWallet.set(c.walletId, [{ index, cost: c.cost }]);
  });

  const transfers: TransferRow[] = [];
  const revenueLegs: TransferRow[] = [];
  const uncollectedLegs: TransferRow[] = [];
  let revenueTotal = 0n;
  let uncollectedTotal = 0n;
  const keyAdds = new Map<string, bigint>();
  const leg = (debit: string, credit: string, amount: bigint, kind: string, c: UsageCharge, key: string, metadata: unknown): TransferRow => ({
    id: newId('trf'),
    debit_account_id: debit,
    credit_account_id: credit,
    amount,
    kind,
    reference: c.requestId,
    idempotency_key: key,
    hold_id: null,
    reverses_transfer_id: null,
    debit_balance_after: 0n,
    credit_balance_after: 0n,
    metadata: metadata ? JSON.stringify(metadata) : null,
    created_at: now,
  });

  for (const [walletId, list] of byWallet) {
    const { taken, spendable, currency } = await debitWallet(tx, dialect, walletId, list);
    if (spendable !== null) walletSpendable.set(walletId, spendable);
    for (const { index, charged, balanceAfter } of taken) {
      const c = charges[index];
      const p = postings[index];
      p.charged = charged;
      p.uncollected = c.cost - charged;
      p.currency = currency;
      if (charged > 0n) {
        const t = leg(walletId, SYSTEM_ACCOUNTS.usageRevenue, charged, 'usage', c, usageKey(c.requestId), c.metadata);
        t.debit_balance_after = balanceAfter;
        transfers.push(t);
        revenueLegs.push(t);
        revenueTotal += charged;
        p.transferId = t.id;
      }
      if (p.uncollected > 0n) {
        const t = leg(SYSTEM_ACCOUNTS.uncollected, SYSTEM_ACCOUNTS.usageRevenue, p.uncollected, 'uncollected', c, uncollectedKey(c.requestId), {
          wallet: walletId,
        });
        transfers.push(t);
        revenueLegs.push(t);
        uncollectedLegs.push(t);
        revenueTotal += p.uncollected;
        uncollectedTotal += p.uncollected;
      }
    }
  }
  const budgetAdds = new Map<string, bigint>();
  charges.forEach((c, i) => {
    if (c.keyId) keyAdds.set(c.keyId, (keyAdds.get(c.keyId) ?? 0n) + postings[i].charged);
    if (postings[i].charged > 0n)
      for (const b of c.budgets ?? []) {
        const k = budgetSpentKey(b.ref, b.periodKey);
        budgetAdds.set(k, (budgetAdds.get(k) ?? 0n) + postings[i].charged);
      }
  });

  if (revenueTotal > 0n) {
    const r = await tx
      .updateTable('ledger_accounts')
      .set({ balance: sql`balance + ${revenueTotal}` })
      .where('id', '=', SYSTEM_ACCOUNTS.usageRevenue)
      .returning('balance')
      .executeTakeFirstOrThrow();
    let running = toBig(r.balance) - revenueTotal;
    for (const t of revenueLegs) {
      running += t.amount;
      t.credit_balance_after = running;
    }
  }
  if (uncollectedTotal > 0n) {
    const r = await tx
      .updateTable('ledger_accounts')
      .set({ balance: sql`balance - ${uncollectedTotal}` })
      .where('id', '=', SYSTEM_ACCOUNTS.uncollected)
      .returning('balance')
      .executeTakeFirstOrThrow();
    let running = toBig(r.balance) + uncollectedTotal;
    for (const t of uncollectedLegs) {
      running -= t.amount;
      t.debit_balance_after = running;
    }
  }
  for (const [keyId, add] of keyAdds) {
    const r = await tx
      .updateTable('api_keys')
      .set({ spent: sql`spent + ${add}`, last_used_at: now })
      .where('id', '=', keyId)
      .returning('spent')
      .executeTakeFirst();
    if (r) keySpent.set(keyId, toBig(r.spent));
  }
  const budgetSpent = await addBudgetSpend(tx, budgetAdds, now);
  await insertTransfers(tx, transfers as unknown as Record<string, unknown>[]);
  return { postings, walletSpendable, keySpent, budgetSpent };
}
