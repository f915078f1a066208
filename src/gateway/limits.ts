import type { Redis } from 'ioredis';
import type { KeyPrincipal } from '../accounts/keyCache.ts';
import type { Group } from './groups.ts';
import { TallyError } from '../lib/errors.ts';

// Rate limits: requests per minute (RPM), tokens per minute (TPM) and requests
// in flight (concurrency), each set on a key, a user or a group. The most
// specific one set wins (key, then user, then group; TALLY_KEY_RPM is the
// default RPM of a key with none); none set: unlimited, and the request pays
// nothing here (no Redis round trip, no allocation). A key's limit counts
// that key; a user's or a group's counts the user, across all their keys.
//
// RPM and TPM are GCRA (the generic cell rate algorithm, as Stripe and
// redis-cell do): a bucket of `limit` per 60 s, refilled continuously, kept as
// one number per scope (the theoretical arrival time). A burst of `limit`
// passes at once, then one every 60 s / limit. TPM is taken on the request's
// token bound when it is admitted and corrected to the tokens it actually
// used when it settles. Concurrency is the set of requests in flight, each
// with an expiry (10 minutes: a crashed instance's requests leave by
// themselves). In memory on one instance (exact), in Redis with several (one
// Lua script per step, atomic, so exact across instances too).

export const PERIOD_MS = 60_000;
/** How long an in-flight request counts at most (a request is never longer; a crashed instance's are dropped after it). */
export const INFLIGHT_TTL_MS = 10 * 60_000;

export interface Limit {
  limit: number;
  /** What is counted: `key:<id>` or `user:<id>`. */
  scope: string;
  /** Where the limit was set (for messages): key, user, group or default. */
  from: 'key' | 'user' | 'group' | 'default';
}

export interface EffectiveLimits {
  rpm: Limit | null;
  tpm: Limit | null;
  concurrency: Limit | null;
}

function pick(p: KeyPrincipal, group: Group, field: 'rpm' | 'tpm' | 'concurrency', fallbackKey: number): Limit | null {
  const k = p.key.limits[field];
  if (k !== null && k !== undefined) return { limit: k, scope: `key:${p.key.id}`, from: 'key' };
  const u = p.user.limits[field];
  if (u !== null && u !== undefined) return { limit: u, scope: `user:${p.user.id}`, from: 'user' };
  const g = group.limits[field];
  if (g !== null && g !== undefined) return { limit: g, scope: `user:${p.user.id}`, from: 'group' };
  return fallbackKey > 0 ? { limit: fallbackKey, scope: `key:${p.key.id}`, from: 'default' } : null;
}

/** The limits that apply to this key's requests, or null when none does (the common case: nothing more to do). */
export function effectiveLimits(p: KeyPrincipal, group: Group, defaultKeyRpm: number): EffectiveLimits | null {
  const rpm = pick(p, group, 'rpm', defaultKeyRpm);
  const tpm = pick(p, group, 'tpm', 0);
  const concurrency = pick(p, group, 'concurrency', 0);
  return rpm || tpm || concurrency ? { rpm, tpm, concurrency } : null;
}

/** One dimension's state after a step: for the x-ratelimit-* headers. */
export interface Gauge {
  limit: number;
  remaining: number;
  /** Milliseconds until the bucket is full again. */
  resetMs: number;
}

export interface StepResult {
  ok: boolean;
  /** Which limit refused it, and when to retry (ms). */
  refused?: { which: 'rpm' | 'tpm' | 'concurrency'; retryAfterMs: number };
  requests?: Gauge;
  tokens?: Gauge;
}

/** What a request took, to give back or correct when it ends. */
export interface LimitTicket {
  limits: EffectiveLimits;
  requestId: string;
  /** Tokens taken at admission (0: none). */
  tokens: number;
  inFlight: boolean;
  requests?: Gauge;
  tokensGauge?: Gauge;
}

export interface LimitStore {
  /** RPM (one request) and concurrency (this request in flight), checked together: either both are taken or neither. */
  admit(rpm: Limit | null, concurrency: Limit | null, requestId: string, now: number): Promise<StepResult>;
  /** TPM: `tokens` taken if they fit. */
  takeTokens(tpm: Limit, tokens: number, now: number): Promise<StepResult>;
  /** Corrects a TPM bucket by `delta` tokens (negative: gives back what the estimate took too much). */
  adjustTokens(tpm: Limit, delta: number, now: number): Promise<void>;
  /** The request is no longer in flight. */
  release(concurrency: Limit, requestId: string): Promise<void>;
}

// ---- GCRA ----

/** GCRA with cost `n`: the new arrival time if allowed, and the gauge either way. */
export function gcra(tat: number, now: number, limit: number, n: number): { allowed: boolean; tat: number; gauge: Gauge; retryAfterMs: number } {
  const t = PERIOD_MS / limit; // emission interval
  const base = Math.max(tat, now);
  const next = base + n * t;
  const allowed = next - now <= PERIOD_MS;
  const newTat = allowed ? next : base;
  const used = newTat - now;
  return {
    allowed,
    tat: newTat,
    gauge: { limit, remaining: Math.max(0, Math.floor((PERIOD_MS - used) / t)), resetMs: Math.max(0, Math.ceil(used)) },
    retryAfterMs: allowed ? 0 : Math.ceil(next - now - PERIOD_MS),
  };
}

/**
 * Where a GCRA bucket is kept: per scope and per limit. The bucket's state is
 * a time (when it is empty again) that only means something at the limit it
 * was taken at: kept across a change, a raised limit would still refuse for
 * up to a minute (a user at 1 rpm raised to 5 waits 48 s), and a user's limit
 * and their group's (both counted on `user:<id>`) would mix. A changed limit
 * starts a fresh bucket; the old one expires.
 */
function bucketKey(kind: 'rpm' | 'tpm', l: Limit): string {
  return `${kind}:${l.scope}:${l.limit}`;
}

// ---- in memory ----

/** One instance's limits, exact. Bounded: idle buckets (full again) and expired in-flight sets are dropped as they are met. */
export class MemoryLimitStore implements LimitStore {
  private tats = new Map<string, number>();
  private inflight = new Map<string, Map<string, number>>();

  async admit(rpm: Limit | null, concurrency: Limit | null, requestId: string, now: number): Promise<StepResult> {
    let set: Map<string, number> | undefined;
    if (concurrency) {
      set = this.inflight.get(concurrency.scope);
      if (set) for (const [id, until] of set) if (until <= now) set.delete(id);
      const n = set?.size ?? 0;
      if (n >= concurrency.limit) return { ok: false, refused: { which: 'concurrency', retryAfterMs: 1000 } };
    }
    let requests: Gauge | undefined;
    if (rpm) {
      const key = bucketKey('rpm', rpm);
      const r = gcra(this.tats.get(key) ?? 0, now, rpm.limit, 1);
      requests = r.gauge;
      if (!r.allowed) return { ok: false, refused: { which: 'rpm', retryAfterMs: r.retryAfterMs }, requests };
      this.setTat(key, r.tat, now);
    }
    if (concurrency) {
      if (!set) this.inflight.set(concurrency.scope, (set = new Map()));
      set.set(requestId, now + INFLIGHT_TTL_MS);
    }
    return { ok: true, requests };
  }

  async takeTokens(tpm: Limit, tokens: number, now: number): Promise<StepResult> {
    const key = bucketKey('tpm', tpm);
    // A request larger than the whole bucket could never pass: it is measured against an empty bucket instead of refused forever.
    const r = gcra(this.tats.get(key) ?? 0, now, tpm.limit, Math.min(tokens, tpm.limit));
    if (!r.allowed) return { ok: false, refused: { which: 'tpm', retryAfterMs: r.retryAfterMs }, tokens: r.gauge };
    const t = PERIOD_MS / tpm.limit;
    const tat = r.tat + (tokens - Math.min(tokens, tpm.limit)) * t;
    this.setTat(key, tat, now);
    // The gauge counts the whole take (as the Redis store does): a take larger than the bucket resets after more than 60 s.
    const used = tat - now;
    return { ok: true, tokens: { limit: tpm.limit, remaining: Math.max(0, Math.floor((PERIOD_MS - used) / t)), resetMs: Math.max(0, Math.ceil(used)) } };
  }

  async adjustTokens(tpm: Limit, delta: number, now: number): Promise<void> {
    const key = bucketKey('tpm', tpm);
    const tat = this.tats.get(key);
    if (tat === undefined) return;
    this.setTat(key, Math.max(now, tat + delta * (PERIOD_MS / tpm.limit)), now);
  }

  async release(concurrency: Limit, requestId: string): Promise<void> {
    const set = this.inflight.get(concurrency.scope);
    if (!set) return;
    set.delete(requestId);
    if (set.size === 0) this.inflight.delete(concurrency.scope);
  }

  private setTat(key: string, tat: number, now: number): void {
    this.tats.set(key, tat);
    if (this.tats.size > 100_000) for (const [k, v] of this.tats) if (v <= now) this.tats.delete(k); // full buckets carry no state
  }
}

// ---- Redis ----

// KEYS: rpm tat key (or ''), inflight zset key (or ''); ARGV: now, rpm limit, concurrency limit, request id, period, ttl.
// Returns {ok(1/0), which(0 none,1 rpm,2 conc), retryAfterMs, remaining, resetMs}.
const ADMIT = `
local now = tonumber(ARGV[1])
local period = tonumber(ARGV[5])
if KEYS[2] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {0, 2, 1000, -1, 0} end
end
local remaining, reset = -1, 0
if KEYS[1] ~= '' then
  local limit = tonumber(ARGV[2])
  local t = period / limit
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  local base = math.max(tat, now)
  local nxt = base + t
  if nxt - now > period then
    local used = base - now
    return {0, 1, math.ceil(nxt - now - period), math.max(0, math.floor((period - used) / t)), math.ceil(used)}
  end
  redis.call('SET', KEYS[1], tostring(nxt), 'PX', math.ceil(nxt - now) + 1000)
  remaining = math.max(0, math.floor((period - (nxt - now)) / t))
  reset = math.ceil(nxt - now)
end
if KEYS[2] ~= '' then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[4])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[6]))
end
return {1, 0, 0, remaining, reset}
`;

// KEYS: tpm tat key; ARGV: now, limit, tokens, period, mode ('take' | 'adjust'). take: {ok, retryAfterMs, remaining, resetMs}.
const TOKENS = `
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local period = tonumber(ARGV[4])
local t = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[5] == 'adjust' then
  if tat == 0 then return {1, 0, 0, 0} end
  local nt = math.max(now, tat + n * t)
  redis.call('SET', KEYS[1], tostring(nt), 'PX', math.ceil(nt - now) + 1000)
  return {1, 0, 0, 0}
end
local fit = math.min(n, limit)
local base = math.max(tat, now)
local nxt = base + fit * t
if nxt - now > period then
  local used = base - now
  return {0, math.ceil(nxt - now - period), math.max(0, math.floor((period - used) / t)), math.ceil(used)}
end
local nt = nxt + (n - fit) * t
redis.call('SET', KEYS[1], tostring(nt), 'PX', math.ceil(nt - now) + 1000)
return {1, 0, math.max(0, math.floor((period - (nt - now)) / t)), math.ceil(nt - now)}
`;

/** Limits shared by every instance through Redis: one round trip per step, atomic (Lua). */
export class RedisLimitStore implements LimitStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'tally:limit:',
  ) {}

  async admit(rpm: Limit | null, concurrency: Limit | null, requestId: string, now: number): Promise<StepResult> {
    const r = (await this.redis.eval(
      ADMIT,
      2,
      rpm ? this.prefix + bucketKey('rpm', rpm) : '',
      concurrency ? `${this.prefix}inflight:${concurrency.scope}` : '',
      now,
      rpm?.limit ?? 0,
      concurrency?.limit ?? 0,
      requestId,
      PERIOD_MS,
      INFLIGHT_TTL_MS,
    )) as number[];
    const requests = rpm && r[3] >= 0 ? { limit: rpm.limit, remaining: r[3], resetMs: r[4] } : undefined;
    if (r[0] === 1) return { ok: true, requests };
    return { ok: false, refused: { which: r[1] === 2 ? 'concurrency' : 'rpm', retryAfterMs: r[2] }, requests };
  }

  async takeTokens(tpm: Limit, tokens: number, now: number): Promise<StepResult> {
    const r = (await this.redis.eval(TOKENS, 1, this.prefix + bucketKey('tpm', tpm), now, tpm.limit, tokens, PERIOD_MS, 'take')) as number[];
    const gauge = { limit: tpm.limit, remaining: r[2], resetMs: r[3] };
    return r[0] === 1 ? { ok: true, tokens: gauge } : { ok: false, refused: { which: 'tpm', retryAfterMs: r[1] }, tokens: gauge };
  }

  async adjustTokens(tpm: Limit, delta: number, now: number): Promise<void> {
    await this.redis.eval(TOKENS, 1, this.prefix + bucketKey('tpm', tpm), now, tpm.limit, delta, PERIOD_MS, 'adjust');
  }

  async release(concurrency: Limit, requestId: string): Promise<void> {
    await this.redis.zrem(`${this.prefix}inflight:${concurrency.scope}`, requestId);
  }
}

// ---- the relay's side ----

/** OpenAI's duration format for x-ratelimit-reset-*: "1s", "6m0s", "250ms". */
export function resetText(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.ceil(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`;
}

const WHAT = { rpm: 'requests per minute', tpm: 'tokens per minute', concurrency: 'requests at a time' } as const;
const WHOSE = { key: 'this API key', user: 'this account', group: "this account's group", default: 'this API key' } as const;

function refusal(limits: EffectiveLimits, r: StepResult): TallyError {
  const which = r.refused!.which;
  const l = limits[which]!;
  const secs = Math.max(1, Math.ceil(r.refused!.retryAfterMs / 1000));
  return new TallyError('rate_limited', `${WHOSE[l.from]} is limited to ${l.limit} ${WHAT[which]}; retry in ${secs} s`, {
    details: { retry_after: String(secs), limit: which, scope: l.from },
  });
}

export interface ResponseHeaders {
  setHeader(name: string, value: string): unknown;
  headersSent?: boolean;
}

function writeHeaders(res: ResponseHeaders, t: LimitTicket): void {
  if (res.headersSent) return;
  const r = t.requests;
  if (r) {
    res.setHeader('x-ratelimit-limit-requests', String(r.limit));
    res.setHeader('x-ratelimit-remaining-requests', String(r.remaining));
    res.setHeader('x-ratelimit-reset-requests', resetText(r.resetMs));
  }
  const k = t.tokensGauge;
  if (k) {
    res.setHeader('x-ratelimit-limit-tokens', String(k.limit));
    res.setHeader('x-ratelimit-remaining-tokens', String(k.remaining));
    res.setHeader('x-ratelimit-reset-tokens', resetText(k.resetMs));
  }
}

/**
 * The relay's limiter: admit (RPM + concurrency) after the key is known,
 * tokens (TPM) once the request's bound is known, finish when it ends (in
 * flight released, tokens corrected). Each step sets the x-ratelimit-*
 * headers on the response; a refusal is a 429 `rate_limited` with
 * retry-after, in the caller's protocol (the relay writes it).
 */
export class Limiter {
  constructor(
    private readonly store: LimitStore,
    private readonly defaultKeyRpm: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Null when no limit applies (then nothing else is done for the request). */
  async admit(p: KeyPrincipal, group: Group, requestId: string, res: ResponseHeaders): Promise<LimitTicket | null> {
    const limits = effectiveLimits(p, group, this.defaultKeyRpm);
    if (!limits) return null;
    const ticket: LimitTicket = { limits, requestId, tokens: 0, inFlight: false };
    if (limits.rpm || limits.concurrency) {
      const r = await this.store.admit(limits.rpm, limits.concurrency, requestId, this.now());
      ticket.requests = r.requests;
      writeHeaders(res, ticket);
      if (!r.ok) throw refusal(limits, r);
      ticket.inFlight = limits.concurrency !== null;
    }
    return ticket;
  }

  /** Takes the request's token bound from its TPM bucket (429 if it does not fit; the caller then ends the ticket). */
  async tokens(t: LimitTicket | null, tokens: number, res: ResponseHeaders): Promise<void> {
    if (!t?.limits.tpm || tokens <= 0) return;
    const r = await this.store.takeTokens(t.limits.tpm, tokens, this.now());
    t.tokensGauge = r.tokens;
    writeHeaders(res, t);
    if (!r.ok) throw refusal(t.limits, r);
    t.tokens = tokens;
  }

  /** The request ended: its in-flight slot goes, and its TPM take is corrected to `usedTokens` (what it really used). */
  finish(t: LimitTicket | null, usedTokens: number): void {
    if (!t) return;
    const now = this.now();
    const work: Promise<void>[] = [];
    if (t.inFlight && t.limits.concurrency) {
      t.inFlight = false;
      work.push(this.store.release(t.limits.concurrency, t.requestId));
    }
    if (t.tokens > 0 && t.limits.tpm && usedTokens !== t.tokens) {
      work.push(this.store.adjustTokens(t.limits.tpm, usedTokens - t.tokens, now));
      t.tokens = 0;
    }
    for (const w of work) w.catch(() => {}); // a lost release expires by itself (INFLIGHT_TTL_MS); a lost correction only errs on the safe side
  }
}
