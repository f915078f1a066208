import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { send, expectError, assertLedgerOk, type Fetcher } from './http.ts';

const past = new Date(Date.now() - 3600_000).toISOString();

// [what the user sent, expected code, expected param, message must match]
const BAD_KEY_REQUESTS: Array<[string, Record<string, unknown>, string | RegExp, string, RegExp]> = [
  ['a spend limit that is not a number', { limit: 'abc' }, 'invalid_amount', 'limit', /"abc" is not a decimal number/],
  ['a spend limit of zero', { limit: '0' }, 'invalid_amount', 'limit', /greater than zero/],
  ['a negative spend limit', { limit: '-5.00' }, 'invalid_amount', 'limit', /negative/],
  ['a spend limit finer than a micro-unit', { limit: '1.0000001' }, 'invalid_amount', 'limit', /6 decimal places/],
  ['a spend limit sent as a JSON number', { limit: 5 }, /^invalid_(request|amount)$/, 'limit', /string/],
  ['an expiry in the past', { expires_at: past }, 'invalid_expiry', 'expires_at', /future/],
  ['an expiry that is not a date', { expires_at: 'next tuesday' }, 'invalid_expiry', 'expires_at', /ISO date/],
  ['a CIDR with a prefix longer than 32 bits', { ip_allowlist: ['10.0.0.0/33'] }, 'invalid_ip_allowlist', 'ip_allowlist', /prefix/],
  ['an allowlist entry that is not an address', { ip_allowlist: ['office-wifi'] }, 'invalid_ip_allowlist', 'ip_allowlist', /office-wifi/],
  ['a CIDR with a non-numeric prefix', { ip_allowlist: ['10.0.0.0/8x'] }, 'invalid_ip_allowlist', 'ip_allowlist', /prefix/],
  ['an IPv6 CIDR with a prefix above 128', { ip_allowlist: ['2001:db8::/129'] }, 'invalid_ip_allowlist', 'ip_allowlist', /prefix/],
  ['one bad entry among good ones', { ip_allowlist: ['10.0.0.0/8', '300.1.1.1'] }, 'invalid_ip_allowlist', 'ip_allowlist', /300\.1\.1\.1/],
  ['an empty name', { name: '' }, 'invalid_request', 'name', /name/],
  ['a name over 100 characters', { name: 'x'.repeat(101) }, 'invalid_request', 'name', /name/],
  ['a label other than live or test', { label: 'prod' }, 'invalid_request', 'label', /label/],
  ['an empty model name', { models: [''] }, 'invalid_request', 'models.0', /models/],
  ['models as a string instead of a list', { models: 'gpt-4o' }, 'invalid_request', 'models', /models/],
];

async function keyCount(t: TestTally, userId: string) {
  const r = await t.ctx.db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

for (const dialect of testDialects()) {
  describe(`API key requests that are refused on ${dialect}`, () => {
    let t: TestTally;
    let f: Fetcher;
    let userId: string;
    before(async () => {
      t = await startTestTally(dialect);
      const u = await seedUser(t);
      userId = u.user.id;
      f = await signIn(t, u.email, u.password);
    });
    after(async () => {
      if (!t) return;
      try {
        await assertLedgerOk(t.ctx.db);
      } finally {
        await t.close();
      } // close (and drop the schema) even when the check fails
    });

    for (const [what, body, code, param, message] of BAD_KEY_REQUESTS) {
      test(`${what} is a 400 naming ${param}, and no key is created`, async () => {
        const before = await keyCount(t, userId);
        const e = await expectError(await send(f, 'POST', '/api/keys', body), 400, code, param);
        assert.match(e.message, message);
        assert.equal(await keyCount(t, userId), before);
      });
    }

    test('a body that is not JSON is a 400 and creates no key', async () => {
      const before = await keyCount(t, userId);
      await expectError(await f('/api/keys', { method: 'POST', body: '{"name":', headers: { 'content-type': 'application/json' } }), 400, 'invalid_json');
      assert.equal(await keyCount(t, userId), before);
    });

    test('an empty limit or expiry means "none", not an error', async () => {
      const res = await send(f, 'POST', '/api/keys', { limit: null, expires_at: null, models: null, ip_allowlist: null });
      assert.equal(res.status, 201, await res.clone().text());
      const k = (await res.json()) as { limit: string | null; expires_at: string | null };
      assert.equal(k.limit, null);
      assert.equal(k.expires_at, null);
    });
  });
}
