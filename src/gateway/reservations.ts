import type { DbOrTx } from '../db/index.ts';
import { toBig, formatMoney } from '../ledger/money.ts';
import { readSpendable } from '../ledger/available.ts';
import type { BudgetPeriod } from '../db/schema.ts';
import { budgetName, describeBudget, periodKey, periodResetAt, type BudgetMark, type BudgetSpec } from './budgets.ts';

// Reservations for in-flight requests, kept in process memory (DESIGN.md,
// "Performance notes"): a reservation is not money movement, so losing one in
// a crash only releases it. The money moves at settlement, which is durable
// and can never take a wallet below its limit (see settlement.ts).
//
// Per wallet the book knows: `base` = what the database said was available
// when last read (spendable: balance - pending holds + overdraft limit, see
// src/ledger/available.ts), `reserved` =
// in-flight upper bounds, `unsettled` = actual costs queued for the next
// group commit. Usable = base - reserved - unsettled. All `base` updates
// happen in the settlement flusher, serially with commits, so a read never
// double counts a commit. API keys with a spend limit get the same treatment,
// and so do budgets (budgets.ts), one entry per budget and period: base =
// the budget's amount - what budget_spend says the period spent. The period
// a request counts in is decided here, with the book's clock, and carried by
// the reservation to its settlement.

interface Entry {
  base: bigint;
  reserved: bigint;
  unsettled: bigint;
  loadedAt: number;
  lastUsedAt: number;
  /** For keys: the spend limit the entry was loaded with; for budgets: the budget's amount. */
  limit?: bigint;
}

interface BudgetEntry extends Entry {
  ref: string;
  periodKey: string;
  limit: bigint;
}

export type LimitKind = 'wallet' | 'key' | 'budget';

export interface ReserveRefusal {
  limit: LimitKind;
  needed: bigint;
  usable: bigint;
  message: string;
  /** A budget refusal: which budget, and when its period ends (null: a total budget never resets). */
  budget?: { ref: string; amount: bigint; period: BudgetPeriod; periodKey: string; resetsAt: string | null };
}

export interface Reservation {
  walletId: string;
  keyId: string;
  amount: bigint;
  keyLimited: boolean;
  /** The budgets (and their periods) this reservation counts against; its settlement adds the cost to them. */
  budgets: BudgetMark[];
  released: boolean;
}

const budgetId = (ref: string, pk: string) => `${ref}\u0000${pk}`;

function refusal(limit: LimitKind, needed: bigint, usable: bigint, keyLimit: bigint | null, atLeast: boolean): ReserveRefusal {
  const cost = atLeast
    ? `this request needs at least ${formatMoney(needed, 6)} (its prompt and the least output)`
    : `this request may cost up to ${formatMoney(needed, 6)}`;
  const left = formatMoney(usable > 0n ? usable : 0n, 6);
  const message =
    limit === 'wallet'
      ? `insufficient balance: ${cost}, the wallet has ${left} available; top up or lower max_tokens`
      : `this API key's spend limit is reached: ${cost}, ${left} of the key's limit ${formatMoney(keyLimit ?? 0n)} is left; raise the key's limit or use another key`;
  return { limit, needed, usable, message };
}

function budgetRefusal(b: BudgetSpec, pk: string, resetsAt: string | null, timeZone: string, needed: bigint, usable: bigint, atLeast: boolean): ReserveRefusal {
  const cost = atLeast
    ? `this request needs at least ${formatMoney(needed, 6)} (its prompt and the least output)`
    : `this request may cost up to ${formatMoney(needed, 6)}`;
  const left = formatMoney(usable > 0n ? usable : 0n, 6);
  const when =
    resetsAt === null
      ? 'a total budget does not reset: raise it or use another key'
      : `it resets at ${resetsAt} (the next ${b.period} in ${timeZone}); raise it or wait`;
  const message = `budget exceeded: ${budgetName(b.ref)} (${describeBudget(b.amount, b.period)}) is reached: ${cost}, ${left} of it is left in ${pk === 'total' ? 'total' : `the ${b.period} ${pk}`}; ${when}`;
  return { limit: 'budget', needed, usable, message, budget: { ref: b.ref, amount: b.amount, period: b.period, periodKey: pk, resetsAt } };
}

const NO_ENTRIES: Array<{ spec: BudgetSpec; e: BudgetEntry }> = [];
const NO_REFS: Array<{ ref: string; periodKey: string }> = [];

export class ReservationBook {
  private wallets = new Map<string, Entry>();
  private keys = new Map<string, Entry>();
  private budgets = new Map<string, BudgetEntry>();
  private loads = new Map<string, Promise<Entry>>();

  constructor(
    private readonly db: DbOrTx,
    /** The clock: staleness, and which budget period a request counts in. */
    private readonly now: () => number = Date.now,
    private readonly staleMs = 5_000,
    /** Where budget periods begin and end (TALLY_TIMEZONE). */
    readonly timeZone = 'UTC',
  ) {}

  private async entry(map: Map<string, Entry>, id: string, load: () => Promise<bigint>): Promise<Entry> {
    const e = map.get(id);
    if (e) return e;
    const key = `${map === this.wallets ? 'w' : map === this.keys ? 'k' : 'b'}:${id}`;
    let p = this.loads.get(key);
    if (!p) {
      p = load().then(
        (base) => {
          const fresh: Entry = { base, reserved: 0n, unsettled: 0n, loadedAt: this.now(), lastUsedAt: this.now() };
          map.set(id, fresh);
          this.loads.delete(key);
          return fresh;
        },
        (err) => {
          this.loads.delete(key);
          throw err;
        },
      );
      this.loads.set(key, p);
    }
    return p;
  }

  private loadWallet = async (walletId: string): Promise<bigint> => (await readSpendable(this.db, [walletId])).get(walletId) ?? 0n;

  /** The entries of these budgets in the current period, loaded as amount - spent; an amount changed since is applied to the entry. */
  private async budgetEntries(specs: BudgetSpec[]): Promise<Array<{ spec: BudgetSpec; e: BudgetEntry }>> {
    if (!specs.length) return [];
    const now = this.now();
    const out: Array<{ spec: BudgetSpec; e: BudgetEntry }> = [];
    for (const spec of specs) {
      const pk = periodKey(spec.period, now, this.timeZone);
      const id = budgetId(spec.ref, pk);
      const e = (await this.entry(this.budgets as Map<string, Entry>, id, async () => {
        const r = await this.db.selectFrom('budget_spend').select('spent').where('budget_ref', '=', spec.ref).where('period_key', '=', pk).executeTakeFirst();
        return spec.amount - toBig(r?.spent ?? 0n);
      })) as BudgetEntry;
      if (e.ref === undefined) {
        e.ref = spec.ref;
        e.periodKey = pk;
        e.limit = spec.amount;
      } else if (e.limit !== spec.amount) {
        e.base += spec.amount - e.limit;
        e.limit = spec.amount;
      }
      out.push({ spec, e });
    }
    return out;
  }

  /** The most binding budget refusal for `needed` (the one with the least left), or `worst` if that binds more. */
  private budgetCheck(bs: Array<{ spec: BudgetSpec; e: BudgetEntry }>, needed: bigint, worst: ReserveRefusal | null, atLeast: boolean): ReserveRefusal | null {
    for (const { spec, e } of bs) {
      const bu = e.base - e.reserved - e.unsettled;
      if (bu < needed && (!worst || bu < worst.usable)) {
        worst = budgetRefusal(spec, e.periodKey, periodResetAt(spec.period, this.now(), this.timeZone), this.timeZone, needed, bu, atLeast);
      }
    }
    return worst;
  }

  private loadKeyRemaining = async (keyId: string, limit: bigint): Promise<bigint> => {
    const r = await this.db.selectFrom('api_keys').select('spent').where('id', '=', keyId).executeTakeFirst();
    return limit - toBig(r?.spent ?? 0n);
  };

  /** Usable amount of a wallet right now (for capping max_tokens). */
  async usable(walletId: string, key: { id: string; spendLimit: bigint | null }): Promise<{ amount: bigint; limit: LimitKind }> {
    const w = await this.entry(this.wallets, walletId, () => this.loadWallet(walletId));
    const wu = w.base - w.reserved - w.unsettled;
    if (key.spendLimit === null) return { amount: wu, limit: 'wallet' };
    const limit = key.spendLimit;
    const k = await this.entry(this.keys, key.id, () => this.loadKeyRemaining(key.id, limit));
    const ku = k.base - k.reserved - k.unsettled;
    return ku < wu ? { amount: ku, limit: 'key' } : { amount: wu, limit: 'wallet' };
  }

  /** Whether `least` could be reserved now (nothing is reserved): the refusal, or null. */
  async check(walletId: string, key: { id: string; spendLimit: bigint | null }, least: bigint, budgets: BudgetSpec[] = []): Promise<ReserveRefusal | null> {
    const w = await this.entry(this.wallets, walletId, () => this.loadWallet(walletId));
    const wu = w.base - w.reserved - w.unsettled;
    if (wu < least) return refusal('wallet', least, wu, key.spendLimit, true);
    const limit = key.spendLimit;
    let worst: ReserveRefusal | null = null;
    if (limit !== null) {
      const k = await this.entry(this.keys, key.id, () => this.loadKeyRemaining(key.id, limit));
      k.limit = limit;
      const ku = k.base - k.reserved - k.unsettled;
      if (ku < least) worst = refusal('key', least, ku, limit, true);
    }
    return this.budgetCheck(await this.budgetEntries(budgets), least, worst, true);
  }

  /**
   * Reserves `amount` against the wallet (the principal's walletId: its
   * user's, or its team's for a team key) and, when the key has a spend
   * limit, the key, and each budget in its current period. Synchronous after
   * the entries are loaded, so two requests on this instance can never both
   * take the last cent. Refused: the wallet's refusal first (a top-up helps),
   * else the most binding of the key's limit and the budgets (the one with the
   * least left, which is what `cap` lowers max_tokens to).
   */
  async reserve(
    walletId: string,
    key: { id: string; spendLimit: bigint | null },
    amount: bigint,
    budgets: BudgetSpec[] = [],
  ): Promise<Reservation | ReserveRefusal> {
    const w = await this.entry(this.wallets, walletId, () => this.loadWallet(walletId));
    const limit = key.spendLimit;
    const k = limit === null ? null : await this.entry(this.keys, key.id, () => this.loadKeyRemaining(key.id, limit));
    if (k) k.limit = limit!;
    // No budget (the common case): no await, no allocation.
    const bs = budgets.length ? await this.budgetEntries(budgets) : NO_ENTRIES;
    // From here to the return nothing awaits: the checks and the reservation are one step.
    const wu = w.base - w.reserved - w.unsettled;
    if (wu < amount) return refusal('wallet', amount, wu, limit, false);
    let worst: ReserveRefusal | null = null;
    if (k) {
      const ku = k.base - k.reserved - k.unsettled;
      if (ku < amount) worst = refusal('key', amount, ku, limit, false);
    }
    worst = this.budgetCheck(bs, amount, worst, false);
    if (worst) return worst;
    const now = this.now();
    if (k) {
      k.reserved += amount;
      k.lastUsedAt = now;
    }
    for (const { e } of bs) {
      e.reserved += amount;
      e.lastUsedAt = now;
    }
    w.reserved += amount;
    w.lastUsedAt = now;
    return {
      walletId,
      keyId: key.id,
      amount,
      keyLimited: !!k,
      budgets: bs.length ? bs.map(({ e }) => ({ ref: e.ref, periodKey: e.periodKey })) : NO_REFS,
      released: false,
    };
  }

  /** Releases a reservation; `cost` (<= amount or more) moves into `unsettled` until the commit lands. */
  release(r: Reservation, cost: bigint): void {
    if (r.released) return;
    r.released = true;
    const w = this.wallets.get(r.walletId);
    if (w) {
      w.reserved -= r.amount;
      w.unsettled += cost;
    }
    if (r.keyLimited) {
      const k = this.keys.get(r.keyId);
      if (k) {
        k.reserved -= r.amount;
        k.unsettled += cost;
      }
    }
    for (const m of r.budgets) {
      const b = this.budgets.get(budgetId(m.ref, m.periodKey));
      if (b) {
        b.reserved -= r.amount;
        b.unsettled += cost;
      }
    }
  }

  /**
   * A reservation that became a durable ledger hold (a task: tasks/store.ts
   * openTask), after the wallet was re-read with the hold in it: the wallet's
   * base already counts it, so the in-memory reservation goes; the key's spend
   * grew by it in the same transaction, so the key's base drops by it (a
   * re-read that already saw it only makes the key look lower until the next).
   */
  heldDurably(r: Reservation): void {
    if (r.released) return;
    r.released = true;
    const w = this.wallets.get(r.walletId);
    if (w) w.reserved -= r.amount;
    if (r.keyLimited) {
      const k = this.keys.get(r.keyId);
      if (k) {
        k.reserved -= r.amount;
        k.base -= r.amount;
      }
    }
    // The same for the budgets: openTask added the hold to their period's spend.
    for (const m of r.budgets) {
      const b = this.budgets.get(budgetId(m.ref, m.periodKey));
      if (b) {
        b.reserved -= r.amount;
        b.base -= r.amount;
      }
    }
  }

  /** Called by the flusher after a commit: the costs are now in the database, and these are the new figures. */
  committed(walletId: string, cost: bigint, availableNow: bigint | null): void {
    const w = this.wallets.get(walletId);
    if (!w) return;
    w.unsettled -= cost;
    if (availableNow !== null) {
      w.base = availableNow;
      w.loadedAt = this.now();
    }
  }

  committedKey(keyId: string, cost: bigint, spentNow: bigint | null): void {
    const k = this.keys.get(keyId);
    if (!k) return;
    k.unsettled -= cost;
    if (spentNow !== null && k.limit !== undefined) {
      k.base = k.limit - spentNow;
      k.loadedAt = this.now();
    }
  }

  /** After a commit: what the settled requests added to a budget's period, and its spend now (null: unknown, or not written). */
  committedBudget(ref: string, pk: string, cost: bigint, spentNow: bigint | null): void {
    const b = this.budgets.get(budgetId(ref, pk));
    if (!b) return;
    b.unsettled -= cost;
    if (spentNow !== null) {
      b.base = b.limit - spentNow;
      b.loadedAt = this.now();
    }
  }

  /**
   * A task ended (tasks/store.ts finishTask): its key's and budgets' spend went
   * from held down to charged in the database, so their figures are re-read at
   * the wallet's next refresh instead of waiting to go stale (until then they
   * only look lower than they are).
   */
  rereadSoon(keyId: string, budgets: BudgetMark[]): void {
    const k = this.keys.get(keyId);
    if (k) k.loadedAt = Number.NEGATIVE_INFINITY;
    for (const m of budgets) {
      const b = this.budgets.get(budgetId(m.ref, m.periodKey));
      if (b) b.loadedAt = Number.NEGATIVE_INFINITY;
    }
  }

  /** Wallets whose figures are old enough to re-read (top-ups, credits by another process). */
  staleWallets(force: Set<string> = new Set()): string[] {
    const now = this.now();
    const out: string[] = [];
    for (const [id, e] of this.wallets) {
      if (force.has(id) || now - e.loadedAt > this.staleMs) out.push(id);
    }
    return out;
  }

  /**
   * Re-reads wallets, and the keys not re-read for `staleMs` (another process,
   * such as `tally ledger settle-dead-letters` or a second instance, may have
   * charged them); must run in the flusher, between commits. Idle entries are
   * dropped instead. Returns the wallets' spendable as read (balance alerts).
   */
  async refreshWallets(ids: string[]): Promise<Map<string, bigint>> {
    const now = this.now();
    const live: string[] = [];
    for (const id of ids) {
      const e = this.wallets.get(id);
      if (!e) continue;
      if (e.reserved === 0n && e.unsettled === 0n && now - e.lastUsedAt > 60_000) this.wallets.delete(id);
      else live.push(id);
    }
    const read = await readSpendable(this.db, live);
    for (const [id, spendable] of read) {
      const e = this.wallets.get(id);
      if (!e) continue;
      e.base = spendable;
      e.loadedAt = now;
    }
    const staleKeys: string[] = [];
    for (const [id, k] of this.keys) {
      if (k.reserved === 0n && k.unsettled === 0n && now - k.lastUsedAt > 60_000) this.keys.delete(id);
      else if (k.limit !== undefined && now - k.loadedAt > this.staleMs) staleKeys.push(id);
    }
    if (staleKeys.length) {
      const rows = await this.db.selectFrom('api_keys').select(['id', 'spent']).where('id', 'in', staleKeys).execute();
      for (const r of rows) {
        const k = this.keys.get(r.id);
        if (!k || k.limit === undefined) continue;
        k.base = k.limit - toBig(r.spent);
        k.loadedAt = now;
      }
    }
    // Budgets: idle ones (and so every past period) are dropped, stale ones re-read (another instance spends them too).
    const staleBudgets: BudgetEntry[] = [];
    for (const [id, b] of this.budgets) {
      if (b.reserved === 0n && b.unsettled === 0n && now - b.lastUsedAt > 60_000) this.budgets.delete(id);
      else if (now - b.loadedAt > this.staleMs) staleBudgets.push(b);
    }
    if (!staleBudgets.length) return read;
    const spent = await this.db
      .selectFrom('budget_spend')
      .select(['budget_ref', 'period_key', 'spent'])
      .where('budget_ref', 'in', [...new Set(staleBudgets.map((b) => b.ref))])
      .execute();
    const byId = new Map(spent.map((r) => [budgetId(r.budget_ref, r.period_key), toBig(r.spent)]));
    for (const b of staleBudgets) {
      b.base = b.limit - (byId.get(budgetId(b.ref, b.periodKey)) ?? 0n);
      b.loadedAt = now;
    }
    return read;
  }

  /** Forgets a key's figures (limit changed); the next request re-reads them. */
  forgetKey(keyId: string): void {
    const k = this.keys.get(keyId);
    if (k && k.reserved === 0n && k.unsettled === 0n) this.keys.delete(keyId);
  }

  /** A budget's amount as this instance knows it (null: no entry for that period here). */
  budgetAmount(ref: string, periodKey: string): bigint | null {
    return this.budgets.get(budgetId(ref, periodKey))?.limit ?? null;
  }

  /** Forgets a budget's figures (its amount or period changed); the next request re-reads them. One in use keeps its entry and takes the new amount then. */
  forgetBudget(ref: string): void {
    for (const [id, b] of this.budgets) if (b.ref === ref && b.reserved === 0n && b.unsettled === 0n) this.budgets.delete(id);
  }
}
