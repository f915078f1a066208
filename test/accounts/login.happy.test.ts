import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { login, expectJson, expectError, assertLedgerOk } from './http.ts';

function cookieAttributes(setCookie: string) {
  const [pair, ...attrs] = setCookie.split(';').map((s) => s.trim());
  const map = new Map(
    attrs.map((a) => {
      const [k, v] = a.split('=');
      return [k.toLowerCase(), v ?? true] as const;
    }),
  );
  return { pair, map };
}

for (const dialect of testDialects()) {
  describe(`signing in to the console on ${dialect}`, () => {
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

    test('a user signs in with email and password and gets their profile back', async () => {
      const u = await seedUser(t);
      const body = await expectJson(await login(t, u.email, u.password));
      assert.deepEqual(body.user, { id: u.user.id, email: u.email, nickname: u.user.nickname, role: 'user' });
      assert.equal(JSON.stringify(body).includes('password'), false, 'the response never echoes a password or its hash');
    });

    test('the email is matched case-insensitively and with surrounding spaces trimmed', async () => {
      const u = await seedUser(t, { email: `Mixed.Case.${Date.now()}@Test.io` });
      const body = await expectJson(await login(t, `  ${u.email.toUpperCase()} `, u.password));
      assert.equal(body.user.id, u.user.id);
    });

    test('the session cookie is HttpOnly, SameSite=Lax, scoped to / and expires (not Secure over plain http)', async () => {
      const u = await seedUser(t);
      const res = await login(t, u.email, u.password);
      assert.equal(res.status, 200);
      const { pair, map } = cookieAttributes(res.headers.get('set-cookie') ?? '');
      assert.match(pair, /^tally_session=[A-Za-z0-9_-]{40,}$/, 'an opaque token of at least 240 bits');
      assert.equal(map.get('httponly'), true, 'scripts on the page cannot read the session');
      assert.equal(String(map.get('samesite')).toLowerCase(), 'lax', 'cross-site POSTs do not carry the session');
      assert.equal(map.get('path'), '/');
      const expires = Date.parse(String(map.get('expires')));
      assert.ok(expires > Date.now() + 3600_000, 'the session outlives the page');
      assert.equal(map.has('secure'), false, 'a Secure cookie would never come back over http://localhost');
    });

    test('a client cannot talk the server into a Secure cookie by claiming https itself', async () => {
      const u = await seedUser(t);
      const res = await login(t, u.email, u.password, { 'x-forwarded-proto': 'https' });
      assert.equal(res.status, 200);
      assert.equal(
        cookieAttributes(res.headers.get('set-cookie') ?? '').map.has('secure'),
        false,
        'X-Forwarded-* is ignored unless TALLY_TRUST_PROXY names the proxy',
      );
    });

    test('each sign-in opens its own session: two browsers stay signed in side by side', async () => {
      const u = await seedUser(t);
      const a = await signIn(t, u.email, u.password);
      const b = await signIn(t, u.email, u.password);
      assert.equal((await a('/api/me')).status, 200);
      assert.equal((await b('/api/me')).status, 200);
    });

    test('signing out ends the session: the old cookie no longer works, even if replayed', async () => {
      const u = await seedUser(t);
      const res = await login(t, u.email, u.password);
      const cookie = res.headers.get('set-cookie')!.split(';')[0];
      const me = () => fetch(`${t.url}/api/me`, { headers: { cookie } });
      assert.equal((await me()).status, 200);

      const out = await fetch(`${t.url}/api/auth/logout`, { method: 'POST', headers: { cookie } });
      assert.deepEqual(await expectJson(out), { ok: true });
      const cleared = cookieAttributes(out.headers.get('set-cookie') ?? '');
      assert.equal(cleared.pair, 'tally_session=', 'the browser is told to drop the cookie');

      await expectError(await me(), 401, 'not_signed_in');
      // Logging out twice (a double click) is harmless.
      assert.equal((await fetch(`${t.url}/api/auth/logout`, { method: 'POST', headers: { cookie } })).status, 200);
    });

    test('signing out one browser leaves the other session alone', async () => {
      const u = await seedUser(t);
      const a = await signIn(t, u.email, u.password);
      const b = await signIn(t, u.email, u.password);
      assert.equal((await a('/api/auth/logout', { method: 'POST' })).status, 200);
      await expectError(await a('/api/me'), 401, 'not_signed_in');
      assert.equal((await b('/api/me')).status, 200);
    });

    test('signing out without a session is a no-op, not an error', async () => {
      const res = await fetch(`${t.url}/api/auth/logout`, { method: 'POST' });
      assert.deepEqual(await expectJson(res), { ok: true });
    });
  });

  describe(`the session cookie behind a proxy on ${dialect}`, () => {
    test('behind a trusted https proxy (TALLY_TRUST_PROXY) the session cookie is also Secure', async () => {
      const t = await startTestTally(dialect, {}, { TALLY_TRUST_PROXY: '127.0.0.1' });
      try {
        const u = await seedUser(t);
        const res = await login(t, u.email, u.password, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.5' });
        assert.equal(res.status, 200);
        assert.equal(cookieAttributes(res.headers.get('set-cookie') ?? '').map.get('secure'), true);
      } finally {
        await t.close();
      }
    });

    test('TALLY_SECURE_COOKIES=on makes the cookie Secure whatever the request says', async () => {
      const t = await startTestTally(dialect, {}, { TALLY_SECURE_COOKIES: 'on' });
      try {
        const u = await seedUser(t);
        const res = await login(t, u.email, u.password);
        assert.equal(cookieAttributes(res.headers.get('set-cookie') ?? '').map.get('secure'), true);
      } finally {
        await t.close();
      }
    });
  });
}
