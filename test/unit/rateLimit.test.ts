import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryRateLimiter, RedisRateLimiter, addressKey, type RateLimiter } from '../../src/lib/rateLimit.ts';

// Both limiters behind one interface: counting, refusing past the limit,
// forgiving one hit (a redeem success must not use up an office's address),
// and windows that end.
const redisUrl = process.env.TALLY_TEST_REDIS_URL;
const redis = redisUrl ? new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 }) : null;
after(async () => {
  await redis?.quit();
});

const kinds: Array<[string, () => RateLimiter]> = [['memory', () => new MemoryRateLimiter()]];
if (redis) kinds.push(['redis', () => new RedisRateLimiter(redis, `tally:test:rl:${randomBytes(6).toString('hex')}:`)]);
else test('Redis limiter', { skip: 'TALLY_TEST_REDIS_URL is not set' }, () => {});

for (const [name, make] of kinds) {
  describe(`rate limiter (${name})`, () => {
    test('counts hits in a window and refuses past the limit, with how long to wait', async () => {
      const l = make();
      for (let i = 1; i <= 3; i++) assert.deepEqual((await l.hit('k', 3, 60_000)).allowed, true);
      const r = await l.hit('k', 3, 60_000);
      assert.equal(r.allowed, false);
      assert.ok(r.retryAfterMs > 0 && r.retryAfterMs <= 60_000);
    });

    test('forgive takes one hit back; it never goes below zero or creates a window', async () => {
      const l = make();
      await l.hit('f', 2, 60_000);
      await l.hit('f', 2, 60_000);
      await l.forgive('f');
      assert.equal((await l.hit('f', 2, 60_000)).allowed, true, 'one hit was taken back');
      assert.equal((await l.hit('f', 2, 60_000)).allowed, false);
      await l.forgive('never-hit');
      await l.forgive('never-hit');
      assert.equal((await l.hit('never-hit', 1, 60_000)).remaining, 0, 'forgiving an empty window does not bank credit');
    });

    test('a window ends', async () => {
      const l = make();
      assert.equal((await l.hit('w', 1, 50)).allowed, true);
      assert.equal((await l.hit('w', 1, 50)).allowed, false);
      await new Promise((r) => setTimeout(r, 80));
      assert.equal((await l.hit('w', 1, 50)).allowed, true);
    });
  });
}

// A flood of distinct keys (random e-mails, addresses) must neither grow the
// in-memory table without bound nor make each call walk it: the original swept
// every entry on each new window past 50,000 entries (a login flood fell from
// 9,152 to 450 requests a second). Work is asserted as counters examined per
// call, not as time; the benchmark figures are in the issue notes.
describe('in-memory rate limiter under a flood', () => {
  test('memory stays bounded under 1,000,000 distinct keys, and no call looks at more than a few counters', async () => {
    let clock = 1_000_000;
    const l = new MemoryRateLimiter({ now: () => (clock += 1) }); // the default cap; 15-minute windows outlive the run
    for (let i = 0; i < 1_000_000; i++) {
      const r = await l.hit(`login:u${i}@flood.test:10.0.0.1`, 10, 15 * 60_000);
      assert.equal(r.allowed, true);
      if (i % 100_000 === 99_999) assert.ok(l.size() <= 100_000, `size ${l.size()} after ${i + 1} keys`);
    }
    const s = l.stats();
    assert.equal(s.entries, s.maxEntries);
    assert.equal(s.evicted, 900_000);
    assert.ok(s.maxExaminedPerCall <= 10, `a call examined ${s.maxExaminedPerCall} counters`);
  });

  test('a counter that is refusing someone survives a flood of new keys; open ones make room', async () => {
    const l = new MemoryRateLimiter({ maxEntries: 1_000 });
    for (let i = 0; i < 6; i++) await l.hit('login-ip:198.51.100.7', 5, 60_000);
    assert.equal((await l.hit('login-ip:198.51.100.7', 5, 60_000)).allowed, false);
    await l.hit('typo:owner', 5, 60_000);
    for (let i = 0; i < 100_000; i++) await l.hit(`flood:${i}`, 5, 60_000);
    assert.equal(l.size(), 1_000);
    const after = await l.hit('login-ip:198.51.100.7', 5, 60_000);
    assert.equal(after.allowed, false, 'the flood did not reset the lock');
    assert.ok(after.retryAfterMs > 0);
    assert.equal(l.stats().evictedAtLimit, 0);
    assert.equal((await l.hit('typo:owner', 5, 60_000)).remaining, 4, 'an open counter was dropped: its owner starts a fresh window (lenient, never locked)');
  });

  test('when every counter is at its limit, the one closest to its end makes room', async () => {
    let clock = 0;
    const l = new MemoryRateLimiter({ now: () => clock, maxEntries: 2 });
    await l.hit('a', 1, 60_000);
    clock += 10;
    await l.hit('b', 1, 60_000);
    await l.hit('c', 1, 60_000);
    assert.equal(l.size(), 2);
    assert.equal((await l.hit('b', 1, 60_000)).allowed, false, 'b is still counted');
    assert.equal(l.stats().evictedAtLimit, 1, 'a, the oldest, was dropped');
  });

  test('ended windows are dropped a few at a time as calls pass, without a sweep', async () => {
    let clock = 0;
    const l = new MemoryRateLimiter({ now: () => clock });
    for (let i = 0; i < 1_000; i++) await l.hit(`k${i}`, 3, 1_000);
    for (let i = 0; i < 10; i++) await l.hit(`long${i}`, 3, 60_000);
    assert.equal(l.size(), 1_010);
    clock += 2_000;
    for (let i = 0; i < 200; i++) await l.hit('steady', 1_000, 60_000);
    assert.equal(l.size(), 11, 'the ended 1-second windows are gone; the minute ones stay');
    assert.ok(l.stats().maxExaminedPerCall <= 10);
  });

  test('per-address keys: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', () => {
    assert.equal(addressKey('203.0.113.9'), '203.0.113.9');
    assert.equal(addressKey('::ffff:203.0.113.9'), '203.0.113.9');
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:0db8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64', 'any host in the /64 counts as one address');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey(null), 'unknown');
  });
});

describe('Redis rate limiter keys', { skip: redis ? false : 'TALLY_TEST_REDIS_URL is not set' }, () => {
  test('every counter key expires with its window, also one found without an expiry', async () => {
    const prefix = `tally:test:rl:${randomBytes(6).toString('hex')}:`;
    const l = new RedisRateLimiter(redis!, prefix);
    await l.hit('ttl', 5, 60_000);
    const ttl = await redis!.pttl(`${prefix}ttl`);
    assert.ok(ttl > 0 && ttl <= 60_000, `pttl ${ttl}`);
    await redis!.set(`${prefix}stuck`, '9'); // as if rewritten from outside: no expiry
    const r = await l.hit('stuck', 5, 60_000);
    assert.equal(r.allowed, false);
    assert.ok(r.retryAfterMs > 0 && r.retryAfterMs <= 60_000, 'the refusal says when it ends');
    const stuck = await redis!.pttl(`${prefix}stuck`);
    assert.ok(stuck > 0 && stuck <= 60_000, `pttl ${stuck}: the lock no longer lasts for ever`);
    await redis!.del(`${prefix}ttl`, `${prefix}stuck`);
  });
});
