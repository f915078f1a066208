import { sql } from 'kysely';
import type { Logger } from 'pino';
import { withTransaction, type DbOrTx, type Dialect, type Tx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { toBig } from '../ledger/money.ts';
import { SYSTEM_ACCOUNTS } from '../ledger/accounts.ts';
import { withinLimit } from '../ledger/accounts.ts';
import type { ReservationBook } from './reservations.ts';
import type { RequestLogsTable } from '../db/schema.ts';
import { batchInserter } from '../db/batchInsert.ts';

// Group commit of request settlements: every few milliseconds the queued
// requests are written in one transaction: the usage transfer (wallet ->
// usage revenue), any uncollected remainder, the key's spend, and the request
// log row, so a log row never exists without its ledger entry or the reverse.
// A crash loses at most the batch being assembled (a few ms of requests,
// which are then simply not charged); see README "Durability".

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

interface Committed {
  walletAvailable: Map<string, bigint>;
  keySpent: Map<string, bigint>;
}

const insertTransfers = batchInserter('ledger_transfers', [
  'id', 'debit_account_id', 'credit_account_id', 'amount', 'kind', 'reference', 'idempotency_key', 'hold_id', 'reverses_transfer_id',
  'debit_balance_after', 'credit_balance_after', 'metadata', 'created_at',
]);
const insertLogs = batchInserter('request_logs', [
  'id', 'user_id', 'key_id', 'key_display', 'group_name', 'endpoint', 'model', 'upstream_model', 'channel_id', 'attempts', 'stream', 'status',
  'error_code', 'error_message', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'usage_source', 'held', 'cost', 'charged_amount',
  'uncollected', 'charged', 'charge_reason', 'transfer_id', 'pricing', 'latency_ms', 'ttfb_ms', 'client_ip', 'created_at',
], 100);

const availableOf = (r: { balance: unknown; pending_debits: unknown; overdraft_limit: unknown }) =>
  toBig(r.balance) - toBig(r.pending_debits) + (r.overdraft_limit === null ? 0n : toBig(r.overdraft_limit));

export class SettlementQueue {
  private queue: SettlementItem[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private forcedRefresh = new Set<string>();
  private refreshWaiters: Array<() => void> = [];
  private closed = false;
  stats = { batches: 0, items: 0, retries: 0, deadLettered: 0 };

  constructor(
    private readonly db: DbOrTx,
    private readonly dialect: Dialect,
    private readonly book: ReservationBook,
    private readonly log: Logger,
    private readonly opts: {
      intervalMs?: number;
      maxBatch?: number;
      /** Where a request that cannot be written after many tries goes, so one poisoned item never stops the queue. */
      deadLetter?: (item: SettlementItem, error: unknown) => void;
    } = {},
  ) {}

  enqueue(item: SettlementItem): void {
    this.queue.push(item);
    if (this.queue.length >= (this.opts.maxBatch ?? 256)) this.kick(0);
    else this.kick(this.opts.intervalMs ?? 5);
  }

  /** Asks the flusher to re-read a wallet (a top-up may have arrived) and waits for it. */
  refreshWallet(walletId: string): Promise<void> {
    this.forcedRefresh.add(walletId);
    return new Promise((resolve) => {
      this.refreshWaiters.push(resolve);
      this.kick(0);
    });
  }

  private kick(delay: number): void {
    if (this.flushing) return; // the running flush re-checks the queue when it ends
    if (this.timer && delay > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, delay);
  }

  /** Writes everything queued so far; resolves when it is committed. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.flushing = this.runOnce().finally(() => {
      this.flushing = null;
      if (this.queue.length || this.forcedRefresh.size) this.kick(this.queue.length >= (this.opts.maxBatch ?? 256) ? 0 : this.opts.intervalMs ?? 5);
    });
    await this.flushing;
  }

  private async runOnce(): Promise<void> {
    const batch = this.queue.splice(0, this.opts.maxBatch ?? 256);
    if (batch.length) await this.commitWithRetry(batch);
    const force = this.forcedRefresh;
    this.forcedRefresh = new Set();
    const waiters = this.refreshWaiters;
    this.refreshWaiters = [];
    try {
      const stale = this.book.staleWallets(force);
      if (stale.length) await this.book.refreshWallets(stale);
    } catch (e) {
      this.log.error({ err: e }, 'wallet refresh failed');
    } finally {
      for (const w of waiters) w();
    }
  }

  private async commitWithRetry(batch: SettlementItem[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const done = await withTransaction(this.db, (tx) => this.commitBatch(tx, batch));
        this.afterCommit(batch, done);
        this.stats.batches++;
        this.stats.items += batch.length;
        return;
      } catch (e) {
        this.stats.retries++;
        if (attempt >= 2) break;
        this.log.warn({ err: e, attempt }, 'settlement batch failed; retrying');
        await new Promise((r) => setTimeout(r, 20 * (attempt + 1)));
      }
    }
    // One item at a time, each skipping what an earlier (maybe committed) attempt already wrote.
    for (const item of batch) {
      for (let attempt = 0; ; attempt++) {
        try {
          const done = await withTransaction(this.db, async (tx) => {
            const exists = await tx.selectFrom('request_logs').select('id').where('id', '=', item.requestId).executeTakeFirst();
            if (exists) return { walletAvailable: new Map(), keySpent: new Map() } as Committed;
            return this.commitBatch(tx, [item]);
          });
          this.afterCommit([item], done);
          break;
        } catch (e) {
          this.log.error({ err: e, requestId: item.requestId, attempt }, 'settlement of a request failed; retrying');
          // After ~30 s of failing (or a few tries while shutting down) the item is written
          // to the dead-letter file for `tally ledger settle-dead-letters`, never dropped silently.
          if (attempt >= (this.closed ? 3 : 10)) {
            this.deadLetter(item, e);
            break;
          }
          await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
        }
      }
    }
  }

  private deadLetter(item: SettlementItem, error: unknown): void {
    this.stats.deadLettered++;
    this.book.committed(item.walletId ?? '', item.cost, null);
    try {
      this.opts.deadLetter?.(item, error);
    } catch (e) {
      this.log.fatal({ err: e, item: JSON.stringify(item, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) }, 'could not dead-letter a settlement; the item is in this log line');
    }
  }

  private afterCommit(batch: SettlementItem[], done: Committed): void {
    const walletCost = new Map<string, bigint>();
    const keyCost = new Map<string, bigint>();
    for (const it of batch) {
      if (it.walletId) walletCost.set(it.walletId, (walletCost.get(it.walletId) ?? 0n) + it.cost);
      if (it.keyId && it.keyLimited) keyCost.set(it.keyId, (keyCost.get(it.keyId) ?? 0n) + it.cost);
    }
    for (const [w, c] of walletCost) this.book.committed(w, c, done.walletAvailable.get(w) ?? null);
    for (const [k, c] of keyCost) this.book.committedKey(k, c, done.keySpent.get(k) ?? null);
  }

  private async commitBatch(tx: Tx, batch: SettlementItem[]): Promise<Committed> {
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
          if (this.dialect === 'postgres') q = q.forUpdate();
          const cur = await q.executeTakeFirst();
          const avail = cur ? availableOf(cur) : 0n;
          charged = avail <= 0n ? 0n : avail < item.cost ? avail : item.cost;
          row = charged > 0n
            ? await tx.updateTable('ledger_accounts').set({ balance: sql`balance - ${charged}` }).where('id', '=', walletId).returning(['balance', 'pending_debits', 'overdraft_limit']).executeTakeFirst()
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
          id: newId('trf'), debit_account_id: walletId, credit_account_id: SYSTEM_ACCOUNTS.usageRevenue, amount: charged, kind: 'usage',
          reference: item.requestId, idempotency_key: `usage:${item.requestId}`, hold_id: null, reverses_transfer_id: null,
          debit_balance_after: balanceAfter, credit_balance_after: 0n, metadata: JSON.stringify({ model: log.model, key: log.key_display }), created_at: now,
        };
        transfers.push(t);
        revenueLegs.push({ row: t, amount: charged });
        revenueTotal += charged;
        log.transfer_id = t.id;
      }
      if (uncollected > 0n) {
        const t = {
          id: newId('trf'), debit_account_id: SYSTEM_ACCOUNTS.uncollected, credit_account_id: SYSTEM_ACCOUNTS.usageRevenue, amount: uncollected, kind: 'uncollected',
          reference: item.requestId, idempotency_key: `uncollected:${item.requestId}`, hold_id: null, reverses_transfer_id: null,
          debit_balance_after: 0n, credit_balance_after: 0n, metadata: JSON.stringify({ wallet: walletId }), created_at: now,
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
      const r = await tx.updateTable('ledger_accounts').set({ balance: sql`balance + ${revenueTotal}` }).where('id', '=', SYSTEM_ACCOUNTS.usageRevenue).returning('balance').executeTakeFirstOrThrow();
      let running = toBig(r.balance) - revenueTotal;
      for (const leg of revenueLegs) {
        running += leg.amount;
        leg.row.credit_balance_after = running;
      }
    }
    if (uncollectedTotal > 0n) {
      const r = await tx.updateTable('ledger_accounts').set({ balance: sql`balance - ${uncollectedTotal}` }).where('id', '=', SYSTEM_ACCOUNTS.uncollected).returning('balance').executeTakeFirstOrThrow();
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

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.queue.length) await this.flush();
  }
}
