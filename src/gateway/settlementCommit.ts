import { withTransaction, type DbOrTx, type Dialect, type Tx } from '../db/index.ts';
import { formatMoney, toBig } from '../ledger/money.ts';
import { readSpendable } from '../ledger/available.ts';
import { postUsage, readBudgetSpent, type UsageCharge } from '../ledger/usagePost.ts';
import type { RequestLogsTable } from '../db/schema.ts';
import type { BudgetMark } from './budgets.ts';
import { batchInserter } from '../db/batchInsert.ts';

// The write side of request settlement: one transaction per batch posts the
// batch's usage to the ledger (src/ledger/usagePost.ts: wallet debits,
// uncollected remainders, key and budget spend) and writes the request log rows, the
// gateway's own table, so a log row never exists without its ledger entries
// or the reverse. Used in process (PostgreSQL) or from a worker thread with
// its own connection (SQLite), see settlementWriter.ts.

/**
 * A request log row as the relay fills it. The cache-write, reasoning and
 * tool-use prompt counts may be
 * absent (0): a dead letter written by a version before they existed is
 * replayed with them missing.
 */
export type LogRow = Omit<RequestLogsTable, CacheWriteCounts> & Partial<Pick<RequestLogsTable, CacheWriteCounts>>;
type CacheWriteCounts = 'cache_write_tokens' | 'cache_write_1h_tokens' | 'reasoning_tokens' | 'tool_use_prompt_tokens' | 'media_unit' | 'media_units';

export interface SettlementItem {
  requestId: string;
  walletId: string | null;
  keyId: string | null;
  keyLimited: boolean;
  /** The budgets (and periods) the request counts against: what the wallet paid is added to their spend. Absent in old dead letters. */
  budgets?: BudgetMark[];
  /** What the request cost; charged from the wallet as far as its limit allows, the rest booked as uncollected. */
  cost: bigint;
  log: LogRow;
}

export interface Committed {
  /** What each charged wallet can spend now (spendable, see src/ledger/available.ts). */
  walletAvailable: Map<string, bigint>;
  keySpent: Map<string, bigint>;
  /** Each charged budget period's spend after the post, by budgetSpentKey(ref, periodKey). */
  budgetSpent?: Map<string, bigint>;
}

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
    'cache_write_tokens',
    'cache_write_1h_tokens',
    'reasoning_tokens',
    'tool_use_prompt_tokens',
    'media_unit',
    'media_units',
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

const chargeOf = (item: SettlementItem): UsageCharge => ({
  requestId: item.requestId,
  walletId: item.walletId,
  keyId: item.keyId,
  budgets: item.budgets,
  cost: item.cost,
  metadata: { model: item.log.model, key: item.log.key_display },
});

export async function commitSettlementBatch(tx: Tx, dialect: Dialect, batch: SettlementItem[]): Promise<Committed> {
  const { postings, walletSpendable, keySpent, budgetSpent } = await postUsage(tx, dialect, batch.map(chargeOf));
  batch.forEach((item, i) => {
    const p = postings[i];
    const log = item.log;
    log.cache_write_tokens ??= 0;
    log.cache_write_1h_tokens ??= 0;
    log.reasoning_tokens ??= 0;
    log.tool_use_prompt_tokens ??= 0;
    log.media_unit ??= null;
    log.media_units ??= 0;
    if (!item.walletId || item.cost <= 0n) return; // nothing was posted: the row keeps what the relay wrote
    log.transfer_id = p.transferId;
    log.charged_amount = p.charged;
    log.uncollected = p.uncollected;
    log.charged = p.charged > 0n ? 1 : 0;
    if (p.uncollected > 0n) {
      const amount = `${formatMoney(p.uncollected, 6)}${p.currency ? ` ${p.currency}` : ''}`;
      log.charge_reason = `${log.charge_reason}; ${amount} above what the wallet could pay was booked as uncollected`;
    }
  });
  await insertLogs(tx, batch.map((b) => b.log) as unknown as Record<string, unknown>[]);
  return { walletAvailable: walletSpendable, keySpent, budgetSpent };
}

/**
 * One request, skipped if an earlier (maybe committed) attempt already wrote
 * it. A skipped request's cost is in the ledger already, so the wallet's,
 * key's and budgets' figures are read back: the reservation book must not go on counting
 * that money as free.
 */
export async function commitSettlementItemOnce(db: DbOrTx, dialect: Dialect, item: SettlementItem): Promise<Committed> {
  return withTransaction(db, async (tx) => {
    const exists = await tx.selectFrom('request_logs').select('id').where('id', '=', item.requestId).executeTakeFirst();
    if (!exists) return commitSettlementBatch(tx, dialect, [item]);
    const walletAvailable = item.walletId ? await readSpendable(tx, [item.walletId]) : new Map<string, bigint>();
    const keySpent = new Map<string, bigint>();
    if (item.keyId) {
      const k = await tx.selectFrom('api_keys').select('spent').where('id', '=', item.keyId).executeTakeFirst();
      if (k) keySpent.set(item.keyId, toBig(k.spent));
    }
    const budgetSpent = await readBudgetSpent(tx, item.budgets ?? []);
    return { walletAvailable, keySpent, budgetSpent };
  });
}
