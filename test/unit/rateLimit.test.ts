import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryRateLimiter, RedisRateLimiter, type RateLimiter } from '../../src/lib/rateLimit.ts';

// Both limiters behind one interface: counting, refusing past the limit,
// forgiving one hit (a redeem success must not use up an office's address),
// and windows that end.
const redisUrl = process.env.TALLY_TEST_REDIS_URL;
const redis = redisUrl ? new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 }) : null;
after(async () => { await redis?.quit(); });

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
