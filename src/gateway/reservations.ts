import type { DbOrTx } from '../db/index.ts';
import { toBig, formatMoney } from '../ledger/money.ts';
import { readSpendable } from '../ledger/available.ts';

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
// double counts a commit. API keys with a spend limit get the same treatment.

interface Entry {
  base: bigint;
  reserved: bigint;
  unsettled: bigint;
  loadedAt: number;
  lastUsedAt: number;
  /** For keys: the spend limit the entry was loaded with. */
  limit?: bigint;
}

export type LimitKind = 'wallet' | 'key';

export interface ReserveRefusal {
  limit: LimitKind;
  needed: bigint;
  usable: bigint;
  message: string;
}

export interface Reservation {
  walletId: string;
  keyId: string;
  amount: bigint;
  keyLimited: boolean;
  released: boolean;
}

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

export class ReservationBook {
  private wallets = new Map<string, Entry>();
  private keys = new Map<string, Entry>();
  private loads = new Map<string, Promise<Entry>>();

  constructor(
    private readonly db: DbOrTx,
    private readonly now: () => number = Date.now,
    private readonly staleMs = 5_000,
  ) {}

  private async entry(map: Map<string, Entry>, id: string, load: () => Promise<bigint>): Promise<Entry> {
    const e = map.get(id);
    if (e) return e;
    const key = `${map === this.wallets ? 'w' : 'k'}:${id}`;
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
  async check(walletId: string, key: { id: string; spendLimit: bigint | null }, least: bigint): Promise<ReserveRefusal | null> {
    const w = await this.entry(this.wallets, walletId, () => this.loadWallet(walletId));
    const wu = w.base - w.reserved - w.unsettled;
    if (wu < least) return refusal('wallet', least, wu, key.spendLimit, true);
    const limit = key.spendLimit;
    if (limit === null) return null;
    const k = await this.entry(this.keys, key.id, () => this.loadKeyRemaining(key.id, limit));
    k.limit = limit;
    const ku = k.base - k.reserved - k.unsettled;
    return ku < least ? refusal('key', least, ku, limit, true) : null;
  }

  /**
   * Reserves `amount` against the wallet (the principal's walletId: its
   * user's, or its team's for a team key) and, when the key has a spend limit,
   * the key. Synchronous after the entries are loaded, so two requests on
   * this instance can never both take the last cent.
   */
  async reserve(walletId: string, key: { id: string; spendLimit: bigint | null }, amount: bigint): Promise<Reservation | ReserveRefusal> {
    const w = await this.entry(this.wallets, walletId, () => this.loadWallet(walletId));
    const limit = key.spendLimit;
    const k = limit === null ? null : await this.entry(this.keys, key.id, () => this.loadKeyRemaining(key.id, limit));
    if (k) k.limit = limit!;
    const wu = w.base - w.reserved - w.unsettled;
    if (wu < amount) return refusal('wallet', amount, wu, limit, false);
    if (k) {
      const ku = k.base - k.reserved - k.unsettled;
      if (ku < amount) return refusal('key', amount, ku, limit, false);
      k.reserved += amount;
      k.lastUsedAt = this.now();
    }
    w.reserved += amount;
    w.lastUsedAt = this.now();
    return { walletId, keyId: key.id, amount, keyLimited: !!k, released: false };
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
   * dropped instead.
   */
  async refreshWallets(ids: string[]): Promise<void> {
    const now = this.now();
    const live: string[] = [];
    for (const id of ids) {
      const e = this.wallets.get(id);
      if (!e) continue;
      if (e.reserved === 0n && e.unsettled === 0n && now - e.lastUsedAt > 60_000) this.wallets.delete(id);
      else live.push(id);
    }
    for (const [id, spendable] of await readSpendable(this.db, live)) {
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
    if (!staleKeys.length) return;
    const rows = await this.db.selectFrom('api_keys').select(['id', 'spent']).where('id', 'in', staleKeys).execute();
    for (const r of rows) {
      const k = this.keys.get(r.id);
      if (!k || k.limit === undefined) continue;
      k.base = k.limit - toBig(r.spent);
      k.loadedAt = now;
    }
  }

  /** Forgets a key's figures (limit changed); the next request re-reads them. */
  forgetKey(keyId: string): void {
    const k = this.keys.get(keyId);
    if (k && k.reserved === 0n && k.unsettled === 0n) this.keys.delete(keyId);
  }
}
