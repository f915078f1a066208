import type { Logger } from 'pino';
import type { ReservationBook } from './reservations.ts';
import type { Committed, SettlementItem } from './settlementCommit.ts';
import { budgetSpentKey } from '../ledger/usagePost.ts';
import type { SettlementWriter } from './settlementWriter.ts';
import type { AlertHooks } from '../alerts/index.ts';

export type { SettlementItem, LogRow } from './settlementCommit.ts';

// Group commit of request settlements: every few milliseconds the queued
// requests are written in one transaction: the usage transfer (wallet ->
// usage revenue), any uncollected remainder, the key's spend, the budgets'
// spend, and the request log row, so a log row never exists without its ledger entry or the reverse.
// A crash loses at most the batch being assembled (a few ms of requests,
// which are then simply not charged); see README "Durability".
//
// The interval adapts to load: a commit has a fixed cost (on SQLite, writing
// every B-tree page the batch touched to the WAL, ~0.3 ms) plus a cost per
// request, so a busy server gathers larger batches. A batch is written 8x
// the recent commit time after its oldest request was queued, at least
// `intervalMs` (idle: 5 ms), which keeps commits under ~1/8 of the event
// loop without delaying settlement when there is little to settle.
//
// `maxIntervalMs` (20 ms) bounds what a crash can lose: every answered
// request is committed within it. The wait is therefore counted from the
// oldest queued request (not from the end of the previous commit: requests
// answered while a commit is in flight, which happens whenever the commit
// does not hold the event loop, as with the worker thread or PostgreSQL,
// would otherwise wait for that commit, a full interval, and their own
// commit), and it leaves room for the commit itself: the batch starts by
// `maxIntervalMs` minus the recent commit time.

export class SettlementQueue {
  private queue: SettlementItem[] = [];
  /** Items ever queued and ever taken into a batch: flush() waits until everything queued before it was taken and written. */
  private queuedTotal = 0;
  private takenTotal = 0;
  /** When each queued item was queued (performance.now()), parallel to `queue`. */
  private queuedAt: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private forcedRefresh = new Set<string>();
  private refreshWaiters: Array<() => void> = [];
  private closed = false;
  /** What a commit takes now (ms): a maximum over recent commits that decays, so one slow commit is not forgotten at once. */
  private commitMs = 0;
  stats = { batches: 0, items: 0, retries: 0, deadLettered: 0 };

  constructor(
    private readonly writer: SettlementWriter,
    private readonly book: ReservationBook,
    private readonly log: Logger,
    private readonly opts: {
      intervalMs?: number;
      maxIntervalMs?: number;
      maxBatch?: number;
      /** Told each wallet's new spendable after a commit or re-read (balance alerts); must not block. */
      alerts?: AlertHooks;
      /** Where a request that cannot be written after many tries goes, so one poisoned item never stops the queue. */
      deadLetter?: (item: SettlementItem, error: unknown) => void;
      /** Waits between retries (tests pass a faster one; the delays are the production back-off). */
      sleep?: (ms: number) => Promise<void>;
      /** After a commit, per budget period it charged: its spend now and what this batch added (alerts: noteBudgetSpend). */
      onBudgetSpend?: (ref: string, periodKey: string, spent: bigint, amount: bigint) => void;
      /** Told each queued request (metrics: counts and latencies); must not block. */
      onEnqueue?: (item: SettlementItem) => void;
      /** Told after each committed batch how long (ms) its oldest request waited (metrics: settlement lag). */
      onCommitted?: (lagMs: number) => void;
    } = {},
  ) {}

  /** Resolves when settlements can be written; a server waits for it before it answers requests (the worker thread takes a while to load). */
  ready(): Promise<void> {
    return this.writer.ready();
  }

  /** Requests queued and not yet taken into a commit. */
  get depth(): number {
    return this.queue.length;
  }

  enqueue(item: SettlementItem): void {
    this.opts.onEnqueue?.(item);
    this.queue.push(item);
    this.queuedTotal++;
    this.queuedAt.push(performance.now());
    this.schedule();
  }

  /** How long after its oldest request was queued a batch is written (see the top of this file). */
  private wait(): number {
    const min = this.opts.intervalMs ?? 5;
    const max = Math.max(min, this.opts.maxIntervalMs ?? 20);
    return Math.max(0, Math.min(Math.max(min, this.commitMs * 8), max - this.commitMs));
  }

  /** Asks the flusher to re-read a wallet (a top-up may have arrived) and waits for it. */
  refreshWallet(walletId: string): Promise<void> {
    this.forcedRefresh.add(walletId);
    return new Promise((resolve) => {
      this.refreshWaiters.push(resolve);
      this.schedule();
    });
  }

  /** Sets the timer for the next batch: due `wait()` after the oldest queued item, or now for a full batch or a wallet refresh. */
  private schedule(): void {
    if (this.flushing) return; // the running flush schedules the next one when it ends
    if (!this.queue.length && !this.forcedRefresh.size) return;
    const immediate = this.forcedRefresh.size > 0 || this.queue.length >= (this.opts.maxBatch ?? 256);
    if (this.timer && !immediate) return; // already due by the oldest item's deadline
    if (this.timer) clearTimeout(this.timer);
    const delay = immediate ? 0 : Math.max(0, this.queuedAt[0] + this.wait() - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, delay);
  }

  /** Writes everything queued so far (in as many batches as it takes); resolves when it is committed. */
  async flush(): Promise<void> {
    const target = this.queuedTotal;
    do {
      while (this.flushing) await this.flushing;
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      this.flushing = this.runOnce().finally(() => {
        this.flushing = null;
        this.schedule();
      });
      await this.flushing;
    } while (this.takenTotal < target);
  }

  private sleep(ms: number): Promise<void> {
    return this.opts.sleep ? this.opts.sleep(ms) : new Promise((r) => setTimeout(r, ms));
  }

  private async runOnce(): Promise<void> {
    const batch = this.queue.splice(0, this.opts.maxBatch ?? 256);
    this.takenTotal += batch.length;
    const oldest = this.queuedAt[0];
    this.queuedAt.splice(0, batch.length);
    if (batch.length) {
      await this.commitWithRetry(batch);
      this.opts.onCommitted?.(performance.now() - oldest);
    }
    const force = this.forcedRefresh;
    this.forcedRefresh = new Set();
    const waiters = this.refreshWaiters;
    this.refreshWaiters = [];
    try {
      const stale = this.book.staleWallets(force);
      if (stale.length) this.tellAlerts(await this.book.refreshWallets(stale));
    } catch (e) {
      this.log.error({ err: e }, 'wallet refresh failed');
    } finally {
      for (const w of waiters) w();
    }
  }

  private async commitWithRetry(batch: SettlementItem[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const t0 = performance.now();
        const done = await this.writer.commitBatch(batch);
        this.commitMs = Math.max(performance.now() - t0, this.commitMs * 0.9);
        this.afterCommit(batch, done);
        this.stats.batches++;
        this.stats.items += batch.length;
        return;
      } catch (e) {
        this.stats.retries++;
        if (attempt >= 2) break;
        this.log.warn({ err: e, attempt }, 'settlement batch failed; retrying');
        await this.sleep(20 * (attempt + 1));
      }
    }
    // One item at a time, each skipping what an earlier (maybe committed) attempt already wrote.
    for (const item of batch) {
      for (let attempt = 0; ; attempt++) {
        try {
          const done = await this.writer.commitItemOnce(item);
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
          await this.sleep(Math.min(5_000, 100 * 2 ** attempt));
        }
      }
    }
  }

  private deadLetter(item: SettlementItem, error: unknown): void {
    this.stats.deadLettered++;
    // Not in the ledger: the book stops counting it as unsettled (the wallet and key may use the money until a replay takes it).
    this.book.committed(item.walletId ?? '', item.cost, null);
    if (item.keyId && item.keyLimited) this.book.committedKey(item.keyId, item.cost, null);
    for (const b of item.budgets ?? []) this.book.committedBudget(b.ref, b.periodKey, item.cost, null);
    try {
      this.opts.deadLetter?.(item, error);
    } catch (e) {
      this.log.fatal(
        { err: e, item: JSON.stringify(item, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) },
        'could not dead-letter a settlement; the item is in this log line',
      );
    }
  }

  private afterCommit(batch: SettlementItem[], done: Committed): void {
    const walletCost = new Map<string, bigint>();
    const keyCost = new Map<string, bigint>();
    const budgetCost = new Map<string, { ref: string; periodKey: string; cost: bigint }>();
    for (const it of batch) {
      if (it.walletId) walletCost.set(it.walletId, (walletCost.get(it.walletId) ?? 0n) + it.cost);
      if (it.keyId && it.keyLimited) keyCost.set(it.keyId, (keyCost.get(it.keyId) ?? 0n) + it.cost);
      for (const b of it.budgets ?? []) {
        const k = budgetSpentKey(b.ref, b.periodKey);
        const e = budgetCost.get(k);
        if (e) e.cost += it.cost;
        else budgetCost.set(k, { ...b, cost: it.cost });
      }
    }
    for (const [w, c] of walletCost) this.book.committed(w, c, done.walletAvailable.get(w) ?? null);
    for (const [k, c] of keyCost) this.book.committedKey(k, c, done.keySpent.get(k) ?? null);
    for (const [k, b] of budgetCost) {
      const spent = done.budgetSpent?.get(k) ?? null;
      this.book.committedBudget(b.ref, b.periodKey, b.cost, spent);
      // The alerts hook gets the budget's amount (80% / 100% crossings), as far as this instance knows it.
      const amount = spent === null ? null : this.book.budgetAmount(b.ref, b.periodKey);
      if (spent !== null && amount !== null) this.opts.onBudgetSpend?.(b.ref, b.periodKey, spent, amount);
    }
    this.tellAlerts(done.walletAvailable);
  }

  private tellAlerts(spendable: Map<string, bigint>): void {
    if (!this.opts.alerts || !spendable.size) return;
    try {
      this.opts.alerts.walletFigures(spendable);
    } catch (e) {
      this.log.error({ err: e }, 'balance alert hook failed');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.queue.length) await this.flush();
    await this.writer.close();
  }
}
