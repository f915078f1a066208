import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { login, expectError, expectJson, assertLedgerOk } from './http.ts';

// Login limits per 15 minutes: 10 attempts per email+IP, 50 per IP, 30 per email from anywhere. Each test
// gets its own server so the per-IP budget of one does not leak into another.
async function withTally(dialect: 'sqlite' | 'postgres', fn: (t: TestTally) => Promise<void>, env: Record<string, string> = {}) {
  const t = await startTestTally(dialect, {}, env);
  try {
    await fn(t);
    await assertLedgerOk(t.ctx.db);
  } finally {
    await t.close();
  }
}

async function failTimes(t: TestTally, email: string, n: number, headers: (i: number) => Record<string, string> = () => ({})) {
  for (let i = 0; i < n; i++) await expectError(await login(t, email, `wrong guess ${i}`, headers(i)), 401, 'invalid_credentials');
}

for (const dialect of testDialects()) {
  describe(`password guessing on ${dialect}`, () => {
    test('after 10 wrong passwords the 11th attempt is a 429 with retry-after, even with the right password', async () => {
      await withTally(dialect, async (t) => {
        const u = await seedUser(t);
        await failTimes(t, u.email, 10);
        const res = await login(t, u.email, 'wrong guess 11');
        const retryAfter = Number(res.headers.get('retry-after'));
        const e = await expectError(res, 429, 'rate_limited');
        assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 15 * 60, `retry-after: ${retryAfter}`);
        assert.match(e.message, new RegExp(`try again in ${retryAfter} s`));
        // The right password does not get through the lock either, so guessing cannot continue.
        const right = await login(t, u.email, u.password);
        assert.equal(right.status, 429);
        assert.equal(right.headers.get('set-cookie'), null);
      });
    });

    test('the lock counts the email case-insensitively: changing case does not buy more guesses', async () => {
      await withTally(dialect, async (t) => {
        const u = await seedUser(t, { email: `case${Date.now()}@test.io` });
        for (let i = 0; i < 10; i++) {
          const variant = i % 2 ? u.email.toUpperCase() : ` ${u.email}`;
          await expectError(await login(t, variant, `wrong ${i}`), 401, 'invalid_credentials');
        }
        await expectError(await login(t, u.email.toUpperCase(), 'wrong again'), 429, 'rate_limited');
      });
    });

    test('one locked account does not lock out another user signing in from the same address', async () => {
      await withTally(dialect, async (t) => {
        const victim = await seedUser(t);
        const other = await seedUser(t);
        await failTimes(t, victim.email, 10);
        await expectError(await login(t, victim.email, 'x'), 429, 'rate_limited');
        await expectJson(await login(t, other.email, other.password));
      });
    });

    test('a successful sign-in clears the failures: a user who mistyped 9 times is not locked out later', async () => {
      await withTally(dialect, async (t) => {
        const u = await seedUser(t);
        await failTimes(t, u.email, 9);
        await expectJson(await login(t, u.email, u.password));
        await failTimes(t, u.email, 9);
        await expectJson(await login(t, u.email, u.password));
      });
    });

    test('guessing across many accounts from one address is capped at 50 attempts', async () => {
      await withTally(dialect, async (t) => {
        for (let i = 0; i < 50; i++) await expectError(await login(t, `spray${i}@test.io`, 'Summer2024!'), 401, 'invalid_credentials');
        const res = await login(t, 'spray-last@test.io', 'Summer2024!');
        await expectError(res, 429, 'rate_limited');
        assert.ok(Number(res.headers.get('retry-after')) > 60, `retry-after ${res.headers.get('retry-after')}: the wait is the lock's, not a generic second`);
      });
    });

    // A client that talks to Tally directly must not be able to pick its own
    // address with X-Forwarded-For; otherwise every guess comes "from" a new IP
    // and the per-account lock never engages (and the same address feeds the
    // API-key IP allowlist).
    test('inventing X-Forwarded-For headers does not escape the sign-in lock', async () => {
      await withTally(dialect, async (t) => {
        const u = await seedUser(t);
        await failTimes(t, u.email, 10, (i) => ({ 'x-forwarded-for': `198.51.100.${i + 1}` }));
        await expectError(await login(t, u.email, 'guess 11', { 'x-forwarded-for': '198.51.100.200' }), 429, 'rate_limited');
      });
    });

    test('behind a trusted proxy, one client locked out of an account does not lock out the owner at another address', async () => {
      await withTally(dialect, async (t) => {
        const u = await seedUser(t);
        await failTimes(t, u.email, 10, () => ({ 'x-forwarded-for': '198.51.100.66' }));
        await expectError(await login(t, u.email, 'guess 11', { 'x-forwarded-for': '198.51.100.66' }), 429, 'rate_limited');
        await expectJson(await login(t, u.email, u.password, { 'x-forwarded-for': '203.0.113.10' }));
      }, { TALLY_TRUST_PROXY: '127.0.0.1' });
    });

    test('a guesser spread over many addresses still meets a lock on the account after 30 attempts', async () => {
      await withTally(dialect, async (t) => {
        const u = await seedUser(t);
        await failTimes(t, u.email, 30, (i) => ({ 'x-forwarded-for': `198.51.100.${i + 1}` }));
        const res = await login(t, u.email, 'guess 31', { 'x-forwarded-for': '198.51.100.99' });
        await expectError(res, 429, 'rate_limited');
        assert.ok(Number(res.headers.get('retry-after')) > 60, `retry-after ${res.headers.get('retry-after')}: the wait is the lock's, not a generic second`);
      }, { TALLY_TRUST_PROXY: '127.0.0.1' });
    });
  });
}
