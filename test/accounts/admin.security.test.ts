import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, ADMIN_TOKEN, type TestTally } from '../helpers/tally.ts';
import { call, send, expectError, assertLedgerOk, type Fetcher } from './http.ts';

type Seeded = Awaited<ReturnType<typeof seedUser>>;

// Every admin endpoint with a body that would succeed for an admin.
const endpoints = (target: Seeded) =>
  [
    ['GET', '/api/admin/users', undefined],
    ['POST', '/api/admin/users', { email: `x-${Math.random().toString(36).slice(2)}@test.io` }],
    ['GET', `/api/admin/users/${target.user.id}`, undefined],
    ['POST', `/api/admin/users/${target.user.id}/credit`, { amount: '100.00', reason: 'self-service' }],
    ['GET', '/api/admin/ledger/verify', undefined],
  ] as const;

async function balanceOf(t: TestTally, userId: string) {
  const r = await t.ctx.db.selectFrom('ledger_accounts').select('balance').where('id', '=', `user:${userId}`).executeTakeFirstOrThrow();
  return String(r.balance);
}

for (const dialect of testDialects()) {
  describe(`the admin API is for operators only on ${dialect}`, () => {
    let t: TestTally;
    let plain: Seeded;
    let p: Fetcher;
    before(async () => {
      t = await startTestTally(dialect);
      plain = await seedUser(t);
      p = await signIn(t, plain.email, plain.password);
    });
    after(async () => {
      if (!t) return;
      try {
        await assertLedgerOk(t.ctx.db);
      } finally {
        await t.close();
      } // close (and drop the schema) even when the check fails
    });

    test('a signed-in plain user gets 403 forbidden on every admin endpoint, and cannot credit themselves', async () => {
      for (const [method, path, body] of endpoints(plain)) {
        const e = await expectError(await send(p, method, path, body), 403, 'forbidden');
        assert.match(e.message, /admin/);
      }
      assert.equal(await balanceOf(t, plain.user.id), '0');
    });

    test('support staff may look but not create users or credit balances', async () => {
      const staff = await seedUser(t, { role: 'support' });
      const s = await signIn(t, staff.email, staff.password);
      await expectError(await send(s, 'POST', `/api/admin/users/${plain.user.id}/credit`, { amount: '1.00', reason: 'x' }), 403, 'forbidden');
      await expectError(await send(s, 'POST', `/api/admin/users/${staff.user.id}/credit`, { amount: '1.00', reason: 'x' }), 403, 'forbidden');
      await expectError(await send(s, 'POST', '/api/admin/users', { email: `s-${Date.now()}@test.io`, role: 'admin' }), 403, 'forbidden');
      assert.equal(await balanceOf(t, staff.user.id), '0');
    });

    test('without a session or token every admin endpoint is a 401 not_signed_in', async () => {
      for (const [method, path, body] of endpoints(plain)) await expectError(await call(t, method, path, body), 401, 'not_signed_in');
    });

    test('a wrong admin token is a 401 invalid_admin_token, even alongside an admin session', async () => {
      const admin = await seedUser(t, { role: 'admin' });
      const a = await signIn(t, admin.email, admin.password);
      for (const headers of <Record<string, string>[]>[
        { 'x-admin-token': 'wrong-token-0123456789' },
        { 'x-admin-token': ADMIN_TOKEN.slice(0, -1) },
        { 'x-admin-token': `${ADMIN_TOKEN}x` },
        { authorization: 'Bearer wrong-token-0123456789' },
      ]) {
        await expectError(
          await call(t, 'POST', `/api/admin/users/${plain.user.id}/credit`, { amount: '1.00', reason: 'x' }, headers),
          401,
          'invalid_admin_token',
        );
        await expectError(await a(`/api/admin/users`, { headers }), 401, 'invalid_admin_token');
      }
      assert.equal(await balanceOf(t, plain.user.id), '0');
    });

    test("a user's API key is not an admin credential", async () => {
      await expectError(await call(t, 'GET', '/api/admin/users', undefined, { authorization: `Bearer ${plain.apiKey}` }), 401, 'not_signed_in');
      await expectError(await call(t, 'GET', '/api/admin/users', undefined, { 'x-admin-token': plain.apiKey }), 401, 'invalid_admin_token');
    });

    test('the admin token is never echoed back in a response', async () => {
      const res = await call(t, 'GET', '/api/admin/users', undefined, { 'x-admin-token': ADMIN_TOKEN });
      assert.equal(res.status, 200);
      assert.equal((await res.text()).includes(ADMIN_TOKEN), false);
      for (const [k, v] of res.headers) assert.equal(v.includes(ADMIN_TOKEN), false, k);
    });

    test('a plain user cannot promote themselves by creating an admin', async () => {
      await expectError(
        await send(p, 'POST', '/api/admin/users', { email: `evil-${Date.now()}@test.io`, role: 'admin', password: 'attacker-chosen-pw' }),
        403,
        'forbidden',
      );
      const admins = await t.ctx.db.selectFrom('users').select('id').where('email', 'like', 'evil-%').execute();
      assert.equal(admins.length, 0);
    });
  });

  describe(`a server without an admin token on ${dialect}`, () => {
    let t: TestTally;
    before(async () => {
      t = await startTestTally(dialect, { adminToken: null });
    });
    after(async () => {
      if (!t) return;
      try {
        await assertLedgerOk(t.ctx.db);
      } finally {
        await t.close();
      } // close (and drop the schema) even when the check fails
    });

    test('refuses every token rather than accepting an empty one', async () => {
      for (const headers of <Record<string, string>[]>[{ 'x-admin-token': ADMIN_TOKEN }, { 'x-admin-token': 'null' }, { authorization: 'Bearer ' }]) {
        const res = await call(t, 'GET', '/api/admin/users', undefined, headers);
        assert.equal(res.status, 401, JSON.stringify(headers));
      }
    });
  });
}
