import { isIPv4, isIPv6 } from 'node:net';

// Fixed-window rate limiting behind one interface: in memory for a single
// instance, Redis (INCR + PEXPIRE) when several instances share the limits.
export interface RateLimitResult {
  allowed: boolean;
  remaining: number;
  retryAfterMs: number;
}

export interface RateLimiter {
  hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult>;
  /** Takes one hit back (the window and its expiry stay): for an attempt that turned out not to count. */
  forgive(key: string): Promise<void>;
  reset(key: string): Promise<void>;
}

/**
 * The part of a client address a per-address limit counts. IPv4 (and
 * IPv4-mapped IPv6) is the whole address; IPv6 is its /64, because one
 * subscriber is usually handed a whole /64 and could otherwise give every
 * request an address, and a counter, of its own.
 */
export function addressKey(ip: string | null | undefined): string {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1];
  if (isIPv4(ip)) return ip;
  const bare = ip.split('%')[0];
  if (!isIPv6(bare)) return ip.slice(0, 64);
  const [head, tail = ''] = bare.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = bare.includes('::') ? (tail ? tail.split(':') : []) : [];
  // An embedded IPv4 tail (::1.2.3.4) only matters in the last 64 bits, which are dropped anyway.
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

export interface MemoryRateLimiterOptions {
  now?: () => number;
  /** Hard cap on live counters; 100,000 is about 20 MB. */
  maxEntries?: number;
}

export interface MemoryRateLimiterStats {
  entries: number;
  maxEntries: number;
  /** Counters dropped to make room while their window was still open. */
  evicted: number;
  /** Of those, counters that had reached their limit (only when nothing else was left to drop). */
  evictedAtLimit: number;
  /** The most counters any single call looked at: constant, whatever the number of entries. */
  maxExaminedPerCall: number;
}

interface Slot {
  key: string;
  count: number;
  resetAt: number;
  lane: Lane;
  queue: Queue;
  prev: Slot | null;
  next: Slot | null;
}

/** A doubly linked list of slots: O(1) push at the tail, removal anywhere, oldest at the head. */
class Queue {
  head: Slot | null = null;
  tail: Slot | null = null;

  push(s: Slot) {
    s.queue = this;
    s.prev = this.tail;
    s.next = null;
    if (this.tail) this.tail.next = s;
    else this.head = s;
    this.tail = s;
  }

  remove(s: Slot) {
    if (s.prev) s.prev.next = s.next;
    else this.head = s.next;
    if (s.next) s.next.prev = s.prev;
    else this.tail = s.prev;
    s.prev = s.next = null;
  }
}

/**
 * The counters of one window length. `open` is in creation order, which for
 * one window length is also expiry order, so expired counters are taken off
 * its head without looking at the rest. A counter that reaches its limit
 * moves to `atLimit`, which is evicted only when nothing else is left.
 */
class Lane {
  readonly open = new Queue();
  readonly atLimit = new Queue();
}

// Per call: how many expired counters are dropped in passing (more than the
// one a call can add, so the table drains as fast as it fills).
const TIDY_PER_CALL = 8;
const DEFAULT_MAX_ENTRIES = 100_000;

/**
 * Fixed windows in memory with bounded size and constant work per call: no
 * call ever walks the table. When the cap is reached the counter closest to
 * expiry among those still under their limit is dropped (that caller gets a
 * fresh window: lenient, never a lock-out); a counter that is refusing
 * someone is dropped only when every counter is refusing, so a flood of new
 * keys cannot cheaply reset an attacker's lock (it would take about
 * `maxEntries × limit` requests from as many distinct clients).
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly slots = new Map<string, Slot>();
  private readonly lanes = new Map<number, Lane>();
  private readonly now: () => number;
  private readonly maxEntries: number;
  private evicted = 0;
  private evictedAtLimit = 0;
  private examined = 0;
  private maxExamined = 0;

  constructor(opts: (() => number) | MemoryRateLimiterOptions = {}) {
    const o = typeof opts === 'function' ? { now: opts } : opts;
    this.now = o.now ?? Date.now;
    this.maxEntries = Math.max(1, o.maxEntries ?? DEFAULT_MAX_ENTRIES);
  }

  async hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    const now = this.now();
    this.examined = 0;
    this.tidy(now);
    let s = this.slots.get(key);
    if (s && s.resetAt <= now) {
      this.drop(s);
      s = undefined;
    }
    if (!s) {
      if (this.slots.size >= this.maxEntries) this.evictOne(now);
      const lane = this.lane(windowMs);
      s = { key, count: 0, resetAt: now + windowMs, lane, queue: lane.open, prev: null, next: null };
      lane.open.push(s);
      this.slots.set(key, s);
    }
    s.count++;
    if (s.count >= limit && s.queue === s.lane.open) {
      s.lane.open.remove(s);
      s.lane.atLimit.push(s);
    }
    this.maxExamined = Math.max(this.maxExamined, this.examined);
    const allowed = s.count <= limit;
    return { allowed, remaining: Math.max(0, limit - s.count), retryAfterMs: allowed ? 0 : s.resetAt - now };
  }

  async forgive(key: string): Promise<void> {
    const s = this.slots.get(key);
    if (s && s.count > 0 && s.resetAt > this.now()) s.count--;
  }

  async reset(key: string): Promise<void> {
    const s = this.slots.get(key);
    if (s) this.drop(s);
  }

  /** Live counters held (for tests and diagnostics). */
  size(): number {
    return this.slots.size;
  }

  stats(): MemoryRateLimiterStats {
    return {
      entries: this.slots.size,
      maxEntries: this.maxEntries,
      evicted: this.evicted,
      evictedAtLimit: this.evictedAtLimit,
      maxExaminedPerCall: this.maxExamined,
    };
  }

  private lane(windowMs: number): Lane {
    let lane = this.lanes.get(windowMs);
    if (!lane) this.lanes.set(windowMs, (lane = new Lane()));
    return lane;
  }

  private drop(s: Slot) {
    s.queue.remove(s);
    this.slots.delete(s.key);
  }

  /** Drops up to TIDY_PER_CALL expired counters from queue heads. The lanes are the few window lengths in use. */
  private tidy(now: number) {
    let budget = TIDY_PER_CALL;
    for (const lane of this.lanes.values()) {
      budget = this.tidyQueue(lane.open, now, budget);
      budget = this.tidyQueue(lane.atLimit, now, budget);
    }
  }

  private tidyQueue(q: Queue, now: number, budget: number): number {
    while (budget > 0 && q.head && q.head.resetAt <= now) {
      this.examined++;
      this.drop(q.head);
      budget--;
    }
    return budget;
  }

  private evictOne(now: number) {
    // An ended window first (wherever it is), then the open counter closest to its end, then one at its limit.
    const open = this.soonest('open');
    const atLimit = this.soonest('atLimit');
    const victim = atLimit && atLimit.resetAt <= now ? atLimit : (open ?? atLimit);
    if (!victim) return;
    if (victim.resetAt > now) {
      this.evicted++;
      if (victim.queue === victim.lane.atLimit) this.evictedAtLimit++;
    }
    this.drop(victim);
  }

  /** Of the heads of one kind of queue (the oldest counter of each window length), the one that would end first. */
  private soonest(kind: 'open' | 'atLimit'): Slot | null {
    let best: Slot | null = null;
    for (const lane of this.lanes.values()) {
      const h = lane[kind].head;
      this.examined++;
      if (h && (!best || h.resetAt < best.resetAt)) best = h;
    }
    return best;
  }
}

interface RedisLike {
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  del(key: string): Promise<unknown>;
}

// Every counter key expires with its window. The expiry is set on the first
// hit, and again by any hit that finds the key without one (a key can lose its
// TTL only if something outside Tally rewrites it, but then it must not stay
// for ever and hold a lock).
const HIT = `local c = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if c == 1 or ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {c, ttl}`;

// DECR keeps the key's expiry; a window that already ended is left alone.
const FORGIVE = `local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c > 0 then redis.call('DECR', KEYS[1]) end
return c`;

export class RedisRateLimiter implements RateLimiter {
  constructor(
    private readonly redis: RedisLike,
    private readonly prefix = 'tally:rl:',
  ) {}

  async hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    const [count, ttl] = (await this.redis.eval(HIT, 1, this.prefix + key, windowMs)) as [number, number];
    return { allowed: count <= limit, remaining: Math.max(0, limit - count), retryAfterMs: count <= limit ? 0 : Math.max(ttl, 0) };
  }

  async forgive(key: string): Promise<void> {
    await this.redis.eval(FORGIVE, 1, this.prefix + key);
  }

  async reset(key: string): Promise<void> {
    await this.redis.del(this.prefix + key);
  }
}
