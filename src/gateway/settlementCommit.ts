import { sql } from 'kysely';
import { withTransaction, type DbOrTx, type Dialect, type Tx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { toBig } from '../ledger/money.ts';
import { SYSTEM_ACCOUNTS, withinLimit } from '../ledger/accounts.ts';
import type { RequestLogsTable } from '../db/schema.ts';
import { batchInserter } from '../db/batchInsert.ts';

// The write side of request settlement: one transaction per batch writes each
// request's usage transfer (wallet -> usage revenue), any uncollected
// remainder, the key's spend and the request log row. Used in process
// (PostgreSQL) or from a worker thread with its own connection (SQLite), see
// settlementWriter.ts.

export type LogRow = RequestLogsTable;

export interface SettlementItem {
  requestId: string;
  walletId: string | null;
  keyId: string | null;
  keyLimited: boolean;
  /** What the request cost; charged from the wallet as far as its limit allows, the rest booked as uncollected. */
  cost: bigint;
  log: LogRow;
}

export interface Committed {
  walletAvailable: Map<string, bigint>;
  keySpent: Map<string, bigint>;
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
const insertLogs = batchInserter(
  'request_logs',
  [
    'id',
    'user_id',
    'key_id',
    'key_display',
    'group_name',
    'endpoint',
    'model',
    'upstream_model',
    'channel_id',
    'attempts',
    'stream',
    'status',
    'error_code',
    'error_message',
    'prompt_tokens',
    'completion_tokens',
    'cached_tokens',
    'usage_source',
    'held',
    'cost',
    'charged_amount',
    'uncollected',
    'charged',
    'charge_reason',
    'transfer_id',
    'pricing',
    'latency_ms',
    'ttfb_ms',
    'client_ip',
    'created_at',
  ],
  100,
);

const availableOf = (r: { balance: unknown; pending_debits: unknown; overdraft_limit: unknown }) =>
  toBig(r.balance) - toBig(r.pending_debits) + (r.overdraft_limit === null ? 0n : toBig(r.overdraft_limit));

export async function commitSettlementBatch(tx: Tx, dialect: Dialect, batch: SettlementItem[]): Promise<Committed> {
  const now = Date.now();
  const transfers: any[] = [];
  const walletAvailable = new Map<string, bigint>();
  const keySpent = new Map<string, bigint>();
  let revenueTotal = 0n;
  let uncollectedTotal = 0n;
  const revenueLegs: Array<{ row: any; amount: bigint }> = [];
  const uncollectedLegs: Array<{ row: any; amount: bigint }> = [];
  const keyAdds = new Map<string, bigint>();

  // Debit each wallet once for all its requests in the batch when it can pay
  // them all (the common case); otherwise request by request, so each one is
  // charged as far as the wallet allows and the rest is booked uncollected.
  const byWallet = new Map<string, SettlementItem[]>();
  for (const item of batch) {
    if (item.cost <= 0n || !item.walletId) continue;
    const list = byWallet.get(item.walletId);
    if (list) list.push(item);
    else byWallet.set(item.walletId, [item]);
  }
  const charges: Array<{ item: SettlementItem; charged: bigint; balanceAfter: bigint }> = [];
  for (const [walletId, items] of byWallet) {
    const total = items.reduce((s, i) => s + i.cost, 0n);
    const all = await tx
      .updateTable('ledger_accounts')
      .set({ balance: sql`balance - ${total}` })
      .where('id', '=', walletId)
      .where(withinLimit(total))
      .returning(['balance', 'pending_debits', 'overdraft_limit'])
      .executeTakeFirst();
    if (all) {
      let running = toBig(all.balance) + total;
      for (const item of items) {
        running -= item.cost;
        charges.push({ item, charged: item.cost, balanceAfter: running });
      }
      walletAvailable.set(walletId, availableOf(all));
      continue;
    }
    for (const item of items) {
      let charged = item.cost;
      let row = await tx
        .updateTable('ledger_accounts')
        .set({ balance: sql`balance - ${item.cost}` })
        .where('id', '=', walletId)
        .where(withinLimit(item.cost))
        .returning(['balance', 'pending_debits', 'overdraft_limit'])
        .executeTakeFirst();
      if (!row) {
        let q = tx.selectFrom('ledger_accounts').select(['balance', 'pending_debits', 'overdraft_limit']).where('id', '=', walletId);
        if (dialect === 'postgres') q = q.forUpdate();
        const cur = await q.executeTakeFirst();
        const avail = cur ? availableOf(cur) : 0n;
        charged = avail <= 0n ? 0n : avail < item.cost ? avail : item.cost;
        row =
          charged > 0n
            ? await tx
                .updateTable('ledger_accounts')
                .set({ balance: sql`balance - ${charged}` })
                .where('id', '=', walletId)
                .returning(['balance', 'pending_debits', 'overdraft_limit'])
                .executeTakeFirst()
            : cur;
      }
      if (row) walletAvailable.set(walletId, availableOf(row));
      charges.push({ item, charged, balanceAfter: row ? toBig(row.balance) : 0n });
    }
  }

  for (const { item, charged, balanceAfter } of charges) {
    const log = item.log;
    const walletId = item.walletId!;
    const uncollected = item.cost - charged;
    if (charged > 0n) {
      const t = {
        id: newId('trf'),
        debit_account_id: walletId,
        credit_account_id: SYSTEM_ACCOUNTS.usageRevenue,
        amount: charged,
        kind: 'usage',
        reference: item.requestId,
        idempotency_key: `usage:${item.requestId}`,
        hold_id: null,
        reverses_transfer_id: null,
        debit_balance_after: balanceAfter,
        credit_balance_after: 0n,
        metadata: JSON.stringify({ model: log.model, key: log.key_display }),
        created_at: now,
      };
      transfers.push(t);
      revenueLegs.push({ row: t, amount: charged });
      revenueTotal += charged;
      log.transfer_id = t.id;
    }
    if (uncollected > 0n) {
      const t = {
        id: newId('trf'),
        debit_account_id: SYSTEM_ACCOUNTS.uncollected,
        credit_account_id: SYSTEM_ACCOUNTS.usageRevenue,
        amount: uncollected,
        kind: 'uncollected',
        reference: item.requestId,
        idempotency_key: `uncollected:${item.requestId}`,
        hold_id: null,
        reverses_transfer_id: null,
        debit_balance_after: 0n,
        credit_balance_after: 0n,
        metadata: JSON.stringify({ wallet: walletId }),
        created_at: now,
      };
      transfers.push(t);
      revenueLegs.push({ row: t, amount: uncollected });
      uncollectedLegs.push({ row: t, amount: uncollected });
      revenueTotal += uncollected;
      uncollectedTotal += uncollected;
    }
    log.charged_amount = charged;
    log.uncollected = uncollected;
    log.charged = charged > 0n ? 1 : 0;
    if (uncollected > 0n) log.charge_reason = `${log.charge_reason}; ${uncollected} micro-units above what the wallet could pay were booked as uncollected`;
    if (item.keyId) keyAdds.set(item.keyId, (keyAdds.get(item.keyId) ?? 0n) + charged);
  }

  if (revenueTotal > 0n) {
    const r = await tx
      .updateTable('ledger_accounts')
      .set({ balance: sql`balance + ${revenueTotal}` })
      .where('id', '=', SYSTEM_ACCOUNTS.usageRevenue)
      .returning('balance')
      .executeTakeFirstOrThrow();
    let running = toBig(r.balance) - revenueTotal;
    for (const leg of revenueLegs) {
      running += leg.amount;
      leg.row.credit_balance_after = running;
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
    for (const leg of uncollectedLegs) {
      running -= leg.amount;
      leg.row.debit_balance_after = running;
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
  await insertTransfers(tx, transfers);
  await insertLogs(tx, batch.map((b) => b.log) as unknown as Record<string, unknown>[]);
  return { walletAvailable, keySpent };
}

/** One request, skipped if an earlier (maybe committed) attempt already wrote it. */
export async function commitSettlementItemOnce(db: DbOrTx, dialect: Dialect, item: SettlementItem): Promise<Committed> {
  return withTransaction(db, async (tx) => {
    const exists = await tx.selectFrom('request_logs').select('id').where('id', '=', item.requestId).executeTakeFirst();
    if (exists) return { walletAvailable: new Map(), keySpent: new Map() };
    return commitSettlementBatch(tx, dialect, [item]);
  });
}
