// Rate limits without a relay: GCRA arithmetic, the headers' reset text, which
// limit applies (key, user, group, default), and the memory and Redis stores
// answering the same for the same sequence of steps at the same clock values.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  gcra,
  resetText,
  effectiveLimits,
  MemoryLimitStore,
  RedisLimitStore,
  Limiter,
  PERIOD_MS,
  INFLIGHT_TTL_MS,
  type Limit,
  type LimitStore,
} from '../../src/gateway/limits.ts';
import type { KeyPrincipal } from '../../src/accounts/keyCache.ts';
import type { Group } from '../../src/gateway/groups.ts';
import type { Limits } from '../../src/accounts/apiKeys.ts';

const REDIS_URL = process.env.TALLY_TEST_REDIS_URL;
const T0 = 1_800_000_000_000;

const lim = (l: Partial<Limits> = {}): Limits => ({ rpm: null, tpm: null, concurrency: null, ...l });
const principal = (key: Partial<Limits> = {}, user: Partial<Limits> = {}) =>
  ({ key: { id: 'k1', limits: lim(key) }, user: { id: 'u1', limits: lim(user), group: 'g' }, walletId: 'user:u1' }) as unknown as KeyPrincipal;
const group = (l: Partial<Limits> = {}): Group => ({ name: 'g', multiplierPpm: 1_000_000n, models: null, limits: lim(l) });

describe('gcra', () => {
  test('a burst of N passes at once, the next is refused, then one more every 60/N s', () => {
    const N = 6; // one every 10 s
    let tat = 0;
    for (let i = 0; i < N; i++) {
      const r = gcra(tat, T0, N, 1);
      assert.equal(r.allowed, true, `request ${i + 1} of the burst`);
      assert.equal(r.gauge.remaining, N - 1 - i);
      assert.equal(r.gauge.resetMs, (i + 1) * 10_000);
      tat = r.tat;
    }
    const refused = gcra(tat, T0, N, 1);
    assert.equal(refused.allowed, false);
    assert.equal(refused.tat, tat, 'a refusal does not move the bucket');
    assert.equal(refused.retryAfterMs, 10_000);
    assert.equal(refused.gauge.remaining, 0);
    // 9.999 s later: still refused; at 10 s exactly one passes, and only one.
    assert.equal(gcra(tat, T0 + 9_999, N, 1).allowed, false);
    assert.equal(gcra(tat, T0 + 9_999, N, 1).retryAfterMs, 1);
    const one = gcra(tat, T0 + 10_000, N, 1);
    assert.equal(one.allowed, true);
    assert.equal(gcra(one.tat, T0 + 10_000, N, 1).allowed, false);
    // After a whole idle period the bucket is full again: a burst of N.
    let t2 = one.tat;
    const later = T0 + 10_000 + PERIOD_MS;
    for (let i = 0; i < N; i++) {
      const r = gcra(t2, later, N, 1);
      assert.equal(r.allowed, true);
      t2 = r.tat;
    }
    assert.equal(gcra(t2, later, N, 1).allowed, false);
  });

  test('a cost of n takes n cells; more than fits is refused with the wait until it fits', () => {
    const r = gcra(0, T0, 1000, 600);
    assert.equal(r.allowed, true);
    assert.equal(r.gauge.remaining, 400);
    const r2 = gcra(r.tat, T0, 1000, 401);
    assert.equal(r2.allowed, false);
    assert.equal(r2.retryAfterMs, 60, '1 token at 60 ms each');
    assert.equal(gcra(r.tat, T0, 1000, 400).allowed, true);
  });

  test('resetText speaks OpenAI durations', () => {
    assert.equal(resetText(0), '0ms');
    assert.equal(resetText(250), '250ms');
    assert.equal(resetText(999), '999ms');
    assert.equal(resetText(1000), '1s');
    assert.equal(resetText(1001), '2s');
    assert.equal(resetText(59_000), '59s');
    assert.equal(resetText(60_000), '1m0s');
    assert.equal(resetText(360_000), '6m0s');
    assert.equal(resetText(61_500), '1m2s');
  });
});

describe('effectiveLimits precedence', () => {
  test('nothing set and no default: null (nothing to do)', () => {
    assert.equal(effectiveLimits(principal(), group(), 0), null);
  });
  test('key, then user, then group (counted per user), then the default key RPM', () => {
    const all = effectiveLimits(principal({ rpm: 1 }, { rpm: 2 }), group({ rpm: 3 }), 4)!;
    assert.deepEqual(all.rpm, { limit: 1, scope: 'key:k1', from: 'key' });
    const user = effectiveLimits(principal({}, { rpm: 2 }), group({ rpm: 3 }), 4)!;
    assert.deepEqual(user.rpm, { limit: 2, scope: 'user:u1', from: 'user' });
    const grp = effectiveLimits(principal(), group({ rpm: 3 }), 4)!;
    assert.deepEqual(grp.rpm, { limit: 3, scope: 'user:u1', from: 'group' });
    const def = effectiveLimits(principal(), group(), 4)!;
    assert.deepEqual(def, { rpm: { limit: 4, scope: 'key:k1', from: 'default' }, tpm: null, concurrency: null });
  });
  test('each dimension is chosen on its own; the default applies to RPM only', () => {
    const l = effectiveLimits(principal({ tpm: 100 }, { concurrency: 2, rpm: 9 }), group({ tpm: 5, concurrency: 7, rpm: 3 }), 50)!;
    assert.deepEqual(l.rpm, { limit: 9, scope: 'user:u1', from: 'user' });
    assert.deepEqual(l.tpm, { limit: 100, scope: 'key:k1', from: 'key' });
    assert.deepEqual(l.concurrency, { limit: 2, scope: 'user:u1', from: 'user' });
    const onlyConc = effectiveLimits(principal({ concurrency: 1 }), group(), 0)!;
    assert.equal(onlyConc.rpm, null);
    assert.equal(onlyConc.tpm, null);
    assert.deepEqual(onlyConc.concurrency, { limit: 1, scope: 'key:k1', from: 'key' });
  });
});

/** The same sequence of steps on a store; returns every answer, for comparing stores. */
async function script(s: LimitStore, tag: string): Promise<unknown[]> {
  const rpm: Limit = { limit: 3, scope: `key:${tag}`, from: 'key' };
  const conc: Limit = { limit: 2, scope: `key:${tag}`, from: 'key' };
  const tpm: Limit = { limit: 1000, scope: `user:${tag}`, from: 'user' };
  const out: unknown[] = [];
  const t = (ms: number) => T0 + ms;
  // RPM alone: burst of 3, refusal, refill.
  for (let i = 0; i < 4; i++) out.push(await s.admit(rpm, null, `r${i}`, t(0)));
  out.push(await s.admit(rpm, null, 'r4', t(19_999)));
  out.push(await s.admit(rpm, null, 'r5', t(20_000)));
  // Concurrency alone: 2 in flight, a third refused, a release lets one in; expired ones leave by themselves.
  const cScope: Limit = { ...conc, scope: `key:${tag}-c` };
  out.push(await s.admit(null, cScope, 'c1', t(0)));
  out.push(await s.admit(null, cScope, 'c2', t(1)));
  out.push(await s.admit(null, cScope, 'c3', t(2)));
  await s.release(cScope, 'c1');
  out.push(await s.admit(null, cScope, 'c3', t(3)));
  out.push(await s.admit(null, cScope, 'c4', t(4)));
  out.push(await s.admit(null, cScope, 'c4', t(2 + INFLIGHT_TTL_MS))); // c2 expired (taken at 1)
  // Both together: a concurrency refusal takes no RPM cell; an RPM refusal takes no slot.
  const both = { rpm: { ...rpm, scope: `key:${tag}-b` }, conc: { ...conc, limit: 1, scope: `key:${tag}-b` } };
  out.push(await s.admit(both.rpm, both.conc, 'b1', t(0)));
  out.push(await s.admit(both.rpm, both.conc, 'b2', t(0)));
  await s.release(both.conc, 'b1');
  out.push(await s.admit(both.rpm, both.conc, 'b2', t(0)));
  await s.release(both.conc, 'b2');
  out.push(await s.admit(both.rpm, both.conc, 'b3', t(0)));
  await s.release(both.conc, 'b3');
  out.push(await s.admit(both.rpm, both.conc, 'b4', t(0)));
  out.push(await s.admit(null, both.conc, 'b5', t(0))); // b4's refusal took no slot
  // TPM: take, refuse, a request bigger than the bucket, adjustments.
  out.push(await s.takeTokens(tpm, 600, t(0)));
  out.push(await s.takeTokens(tpm, 500, t(0)));
  await s.adjustTokens(tpm, -550, t(0)); // used 50 of the 600
  out.push(await s.takeTokens(tpm, 900, t(0)));
  out.push(await s.takeTokens(tpm, 100, t(0))); // 50 left
  await s.adjustTokens(tpm, -5000, t(0)); // never below now: a full bucket, not more
  out.push(await s.takeTokens(tpm, 1000, t(0)));
  out.push(await s.takeTokens(tpm, 1, t(0)));
  const big: Limit = { ...tpm, scope: `user:${tag}-big` };
  out.push(await s.takeTokens(big, 3000, t(0))); // larger than the bucket: measured against an empty one
  out.push(await s.takeTokens(big, 1, t(0))); // and it owes the excess: 2000 tokens more = 120 s before the bucket is merely full
  out.push(await s.takeTokens(big, 1, t(120_059)));
  out.push(await s.takeTokens(big, 1, t(120_060)));
  const none: Limit = { ...tpm, scope: `user:${tag}-none` };
  await s.adjustTokens(none, 500, t(0)); // no bucket yet: nothing to correct
  out.push(await s.takeTokens(none, 1000, t(0)));
  // A limit raised (or lowered) takes effect at once: a fresh bucket, not the old one's debt.
  const one: Limit = { limit: 1, scope: `user:${tag}-raise`, from: 'user' };
  out.push(await s.admit(one, null, 'z1', t(0)));
  out.push(await s.admit(one, null, 'z2', t(0)));
  out.push(await s.admit({ ...one, limit: 5, from: 'group' }, null, 'z3', t(0)));
  return out;
}

describe('MemoryLimitStore', () => {
  test('RPM, concurrency and TPM steps', async () => {
    const out = (await script(new MemoryLimitStore(), 'm')) as any[];
    const ok = out.map((r) => r.ok);
    assert.deepEqual(ok, [
      // rpm: 3 pass, 1 refused, refused at 19.999 s, passes at 20 s
      true,
      true,
      true,
      false,
      false,
      true,
      // concurrency: c1 c2 in, c3 out, c3 in after release, c4 out, c4 in after c2 expired
      true,
      true,
      false,
      true,
      false,
      true,
      // both: b1 in, b2 out (concurrency), b2 in, b3 in, b4 out (rpm: 3 used), b5 in (concurrency only)
      true,
      false,
      true,
      true,
      false,
      true,
      // tpm: 600 in, 500 out, 900 in after 550 given back, 100 out, 1000 in after a refund to empty, 1 out
      true,
      false,
      true,
      false,
      true,
      false,
      // bigger than the bucket: in, then owes; 1 out, 1 out at 120.059 s, 1 in at 120.060 s
      true,
      false,
      false,
      true,
      // adjust without a bucket does nothing
      true,
      // limit 1: in, out; raised to 5: in
      true,
      false,
      true,
    ]); // prettier-ignore
    assert.deepEqual(out[3].refused, { which: 'rpm', retryAfterMs: 20_000 });
    assert.deepEqual(out[3].requests, { limit: 3, remaining: 0, resetMs: 60_000 });
    assert.deepEqual(out[2].requests, { limit: 3, remaining: 0, resetMs: 60_000 });
    assert.deepEqual(out[0].requests, { limit: 3, remaining: 2, resetMs: 20_000 });
    assert.equal(out[8].refused.which, 'concurrency');
    assert.equal(out[13].refused.which, 'concurrency');
    assert.equal(out[16].refused.which, 'rpm');
    assert.equal(out[16].ok, false);
    assert.equal(out[17].ok, true);
    assert.deepEqual(out[18].tokens, { limit: 1000, remaining: 400, resetMs: 36_000 });
    assert.deepEqual(out[19].refused, { which: 'tpm', retryAfterMs: 6_000 }); // 100 tokens short at 60 ms each
    assert.deepEqual(out[21].refused, { which: 'tpm', retryAfterMs: 3_000 }); // 50 short
    assert.deepEqual(out[26].refused, { which: 'tpm', retryAfterMs: 1 });
    assert.deepEqual(out[24].tokens, { limit: 1000, remaining: 0, resetMs: 180_000 }); // the whole 3000 counted
    assert.equal(out[8].requests, undefined, 'a concurrency refusal reports no requests gauge');
  });
});

describe('RedisLimitStore answers as MemoryLimitStore does', { skip: REDIS_URL ? false : 'needs TALLY_TEST_REDIS_URL' }, () => {
  const redis = REDIS_URL ? new Redis(REDIS_URL, { lazyConnect: true }) : null;
  const prefix = `tally:test:lt:${randomBytes(6).toString('hex')}:`;
  after(async () => {
    if (!redis) return;
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  test('the same sequence, the same answers (and its keys expire)', async () => {
    const plain = (v: unknown) => JSON.parse(JSON.stringify(v));
    const mem = plain(await script(new MemoryLimitStore(), 'x'));
    const red = plain(await script(new RedisLimitStore(redis!, prefix), 'x'));
    assert.deepEqual(red, mem);
    const keys = await redis!.keys(`${prefix}*`);
    assert.ok(keys.length > 0, 'it wrote under its prefix');
    for (const k of keys) assert.ok((await redis!.pttl(k)) > 0, `${k} has an expiry`);
  });

  test('Limiter over Redis: admit, tokens, finish releases the slot and corrects the tokens', async () => {
    let now = T0;
    const limiter = new Limiter(new RedisLimitStore(redis!, prefix), 0, () => now);
    const p = principal({ concurrency: 1, tpm: 1000, rpm: 100 });
    const headers: Record<string, string> = {};
    const res = { setHeader: (k: string, v: string) => (headers[k] = v) };
    const t1 = await limiter.admit(p, group(), 'q1', res);
    assert.ok(t1);
    assert.equal(headers['x-ratelimit-limit-requests'], '100');
    assert.equal(headers['x-ratelimit-remaining-requests'], '99');
    assert.equal(headers['x-ratelimit-reset-requests'], '600ms');
    await limiter.tokens(t1, 900, res);
    assert.equal(headers['x-ratelimit-limit-tokens'], '1000');
    assert.equal(headers['x-ratelimit-remaining-tokens'], '100');
    await assert.rejects(limiter.admit(p, group(), 'q2', res), (e: any) => e.code === 'rate_limited' && e.details.limit === 'concurrency');
    limiter.finish(t1, 100);
    await new Promise((r) => setTimeout(r, 50)); // finish does not wait for the store
    const t2 = await limiter.admit(p, group(), 'q2', res);
    await limiter.tokens(t2, 900, res); // fits: 800 came back
    // 200 more: 12 s short (200 tokens at 60 ms each).
    await assert.rejects(limiter.tokens(t2, 200, res), (e: any) => e.code === 'rate_limited' && e.details.limit === 'tpm' && e.details.retry_after === '12');
    now += 12_000;
    await limiter.tokens(t2, 200, res);
  });
});
