import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { call, login, expectError, assertLedgerOk } from './http.ts';

for (const dialect of testDialects()) {
  describe(`sign-in mistakes on ${dialect}`, () => {
    let t: TestTally;
    before(async () => {
      t = await startTestTally(dialect);
    });
    after(async () => {
      if (!t) return;
      try {
        await assertLedgerOk(t.ctx.db);
      } finally {
        await t.close();
      } // close (and drop the schema) even when the check fails
    });

    test('a wrong password and an unknown email get the same 401 invalid_credentials, so emails cannot be probed', async () => {
      const u = await seedUser(t);
      const wrong = await expectError(await login(t, u.email, 'not the password'), 401, 'invalid_credentials');
      const unknown = await expectError(await login(t, `nobody-${Date.now()}@test.io`, 'whatever password'), 401, 'invalid_credentials');
      assert.equal(wrong.message, unknown.message);
      assert.equal(wrong.param, unknown.param);
    });

    test('a failed sign-in sets no session cookie', async () => {
      const u = await seedUser(t);
      const res = await login(t, u.email, 'not the password');
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('set-cookie'), null);
    });

    test('missing email or password is a 400 that names the field', async () => {
      await expectError(await call(t, 'POST', '/api/auth/login', { password: 'x' }), 400, 'invalid_request', 'email');
      await expectError(await call(t, 'POST', '/api/auth/login', { email: 'a@test.io' }), 400, 'invalid_request', 'password');
      await expectError(await call(t, 'POST', '/api/auth/login', { email: '', password: '' }), 400, 'invalid_request', 'email');
      await expectError(await call(t, 'POST', '/api/auth/login'), 400, 'invalid_request');
    });

    test('a body that is not JSON is a 400 invalid_json, not a 500', async () => {
      const res = await fetch(`${t.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email": ' });
      await expectError(res, 400, 'invalid_json');
    });

    test('a disabled account cannot sign in, and its open sessions stop working', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      await t.ctx.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', u.user.id).execute();
      await expectError(await f('/api/me'), 401, 'not_signed_in');
      await expectError(await login(t, u.email, u.password), 403, 'account_disabled');
      // The wrong password still says only "invalid credentials".
      await expectError(await login(t, u.email, 'not the password'), 401, 'invalid_credentials');
    });

    test('every account endpoint answers 401 not_signed_in without a session', async () => {
      for (const [method, path] of [
        ['GET', '/api/me'],
        ['GET', '/api/ledger'],
        ['GET', '/api/keys'],
        ['POST', '/api/keys'],
        ['DELETE', '/api/keys/key_whatever'],
      ] as const) {
        const res = await call(t, method, path, method === 'POST' ? {} : undefined);
        const e = await expectError(res, 401, 'not_signed_in');
        assert.match(e.message, /sign in/);
      }
    });

    test('a forged or truncated session cookie is refused like no cookie at all', async () => {
      const u = await seedUser(t);
      const res = await login(t, u.email, u.password);
      const cookie = res.headers.get('set-cookie')!.split(';')[0];
      for (const bad of ['tally_session=forged-token', `${cookie.slice(0, -3)}`, `tally_session=${'A'.repeat(500)}`]) {
        await expectError(await fetch(`${t.url}/api/me`, { headers: { cookie: bad } }), 401, 'not_signed_in');
      }
    });

    test('an unknown route is a 404 in the account API shape', async () => {
      const res = await call(t, 'GET', '/api/no-such-thing');
      assert.equal(res.status, 404);
      const body = (await res.json()) as { error: { code: string; message: string; request_id: string } };
      assert.equal(typeof body.error.code, 'string');
      assert.match(body.error.message, /no route GET \/api\/no-such-thing/);
      assert.equal(body.error.request_id, res.headers.get('x-request-id'));
    });
  });
}
