import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { createApiKey, hashApiKey } from '../../src/accounts/apiKeys.ts';
import { KeyCache } from '../../src/accounts/keyCache.ts';
import { send, expectJson, assertLedgerOk } from './http.ts';

const refused = (code: string, status = 401) => ({ code, status });

for (const dialect of testDialects()) {
  describe(`API key verification (ctx.keys.authenticate) on ${dialect}`, () => {
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

    test('a valid key resolves to its key and owner, again and again', async () => {
      const u = await seedUser(t);
      for (let i = 0; i < 3; i++) {
        const p = await t.ctx.keys.authenticate(u.apiKey, '127.0.0.1');
        assert.equal(p.key.id, u.key.id);
        assert.equal(p.user.id, u.user.id);
        assert.equal(p.user.email, u.email);
      }
    });

    test('no key, a non-Tally key and an unknown sk- key are refused with distinct codes', async () => {
      await assert.rejects(t.ctx.keys.authenticate(undefined, '127.0.0.1'), refused('missing_api_key'));
      await assert.rejects(t.ctx.keys.authenticate('', '127.0.0.1'), refused('missing_api_key'));
      await assert.rejects(t.ctx.keys.authenticate('Bearer abc', '127.0.0.1'), refused('invalid_api_key'));
      await assert.rejects(t.ctx.keys.authenticate('sk-' + 'x'.repeat(48), '127.0.0.1'), refused('invalid_api_key'));
      // A key with one character changed is just as unknown.
      const u = await seedUser(t);
      const typo = u.apiKey.slice(0, -1) + (u.apiKey.endsWith('a') ? 'b' : 'a');
      await assert.rejects(t.ctx.keys.authenticate(typo, '127.0.0.1'), refused('invalid_api_key'));
    });

    test('a key revoked with DELETE /api/keys/:id stops working on this instance at once, although it was cached', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      const k = await expectJson<{ id: string; key: string }>(await send(f, 'POST', '/api/keys', { name: 'to revoke' }), 201);
      await t.ctx.keys.authenticate(k.key, '127.0.0.1'); // now cached
      await expectJson(await send(f, 'DELETE', `/api/keys/${k.id}`));
      const e = await t.ctx.keys.authenticate(k.key, '127.0.0.1').then(
        () => null,
        (x) => x,
      );
      assert.equal(e?.code, 'api_key_revoked');
      assert.equal(e.status, 401);
      assert.match(e.message, /revoked/);
    });

    test('an expired key is refused with its expiry time in the message', async () => {
      const u = await seedUser(t);
      const createdAt = Date.now() - 3600_000;
      const expiresAt = Date.now() - 60_000;
      const { secret } = await createApiKey(t.ctx.db, { userId: u.user.id, name: 'old', expiresAt }, createdAt);
      await assert.rejects(t.ctx.keys.authenticate(secret, '127.0.0.1'), (e: any) => {
        assert.equal(e.code, 'api_key_expired');
        assert.equal(e.status, 401);
        assert.ok(e.message.includes(new Date(expiresAt).toISOString()), e.message);
        return true;
      });
    });

    test('a cached key stops working the moment it expires, without waiting for the cache', async () => {
      const u = await seedUser(t);
      let clock = Date.now();
      const cache = new KeyCache(t.ctx.db, { now: () => clock, ttlMs: 60_000 });
      const { secret } = await createApiKey(t.ctx.db, { userId: u.user.id, expiresAt: clock + 1_000 }, clock);
      await cache.authenticate(secret, '127.0.0.1');
      clock += 999;
      await cache.authenticate(secret, '127.0.0.1');
      clock += 1;
      await assert.rejects(cache.authenticate(secret, '127.0.0.1'), refused('api_key_expired'));
    });

    test('a revocation made elsewhere (another instance, the CLI) is honoured once the cache entry ages out', async () => {
      const u = await seedUser(t);
      let clock = Date.now();
      const cache = new KeyCache(t.ctx.db, { now: () => clock, ttlMs: 1_000 });
      await cache.authenticate(u.apiKey, '127.0.0.1');
      await t.ctx.db.updateTable('api_keys').set({ status: 'revoked', revoked_at: clock }).where('id', '=', u.key.id).execute();
      clock += 1_001;
      await assert.rejects(cache.authenticate(u.apiKey, '127.0.0.1'), refused('api_key_revoked'));
    });

    test('an unknown key that is created later starts working once the negative cache ages out', async () => {
      const u = await seedUser(t);
      let clock = Date.now();
      const cache = new KeyCache(t.ctx.db, { now: () => clock, negativeTtlMs: 500 });
      const probe = 'sk-' + 'Q'.repeat(48);
      await assert.rejects(cache.authenticate(probe, '127.0.0.1'), refused('invalid_api_key'));
      // Planting the hash directly stands in for "created after the first failed attempt".
      const { key } = await createApiKey(t.ctx.db, { userId: u.user.id, name: 'later' }, clock);
      await t.ctx.db
        .updateTable('api_keys')
        .set({ key_hash: hashApiKey(probe) })
        .where('id', '=', key.id)
        .execute();
      clock += 501;
      assert.equal((await cache.authenticate(probe, '127.0.0.1')).key.id, key.id);
    });

    test('an IPv4 allowlist 10.0.0.0/8 admits 10.1.2.3 and refuses 192.0.2.1, including IPv4-mapped IPv6 forms', async () => {
      const u = await seedUser(t);
      const { secret } = await createApiKey(t.ctx.db, { userId: u.user.id, ipAllowlist: ['10.0.0.0/8'] });
      for (const ip of ['10.1.2.3', '10.255.255.255', '::ffff:10.1.2.3', '0:0:0:0:0:ffff:10.1.2.3']) {
        assert.equal((await t.ctx.keys.authenticate(secret, ip)).user.id, u.user.id, ip);
      }
      for (const ip of ['192.0.2.1', '11.0.0.1', '::ffff:192.0.2.1', '2001:db8::1', '::1', '', 'not-an-ip']) {
        await assert.rejects(t.ctx.keys.authenticate(secret, ip), (e: any) => {
          assert.equal(e.code, 'ip_not_allowed', ip);
          assert.equal(e.status, 403);
          return true;
        });
      }
    });

    test("the refusal message names the caller's address so they can ask for it to be added", async () => {
      const u = await seedUser(t);
      const { secret } = await createApiKey(t.ctx.db, { userId: u.user.id, ipAllowlist: ['10.0.0.0/8'] });
      await assert.rejects(t.ctx.keys.authenticate(secret, '192.0.2.1'), /192\.0\.2\.1/);
    });

    test('IPv6 ranges and single addresses in an allowlist are matched exactly', async () => {
      const u = await seedUser(t);
      const { secret } = await createApiKey(t.ctx.db, { userId: u.user.id, ipAllowlist: ['2001:db8::/32', '203.0.113.7'] });
      for (const ip of ['2001:db8::1', '2001:db8:ffff::42', '203.0.113.7', '::ffff:203.0.113.7']) await t.ctx.keys.authenticate(secret, ip);
      for (const ip of ['2001:db9::1', '203.0.113.8', '203.0.113.6']) {
        await assert.rejects(t.ctx.keys.authenticate(secret, ip), refused('ip_not_allowed', 403));
      }
    });

    test('a key without an allowlist works from any address', async () => {
      const u = await seedUser(t);
      for (const ip of ['127.0.0.1', '192.0.2.1', '2001:db8::1', '::ffff:198.51.100.9']) await t.ctx.keys.authenticate(u.apiKey, ip);
    });

    test('the keys of a disabled account are refused, cached or not', async () => {
      const u = await seedUser(t);
      const { secret: fresh } = await createApiKey(t.ctx.db, { userId: u.user.id, name: 'never used' });
      await t.ctx.keys.authenticate(u.apiKey, '127.0.0.1'); // cached while the account was active
      await t.ctx.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', u.user.id).execute();
      await assert.rejects(t.ctx.keys.authenticate(fresh, '127.0.0.1'), refused('account_disabled', 403)); // a known key of a disabled account: 403, as at sign-in;
      t.ctx.keys.invalidateUser(u.user.id);
      await assert.rejects(t.ctx.keys.authenticate(u.apiKey, '127.0.0.1'), refused('account_disabled', 403)); // a known key of a disabled account: 403, as at sign-in;
    });

    test("revoking one key leaves the owner's other keys working", async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      const k = await expectJson<{ id: string; key: string }>(await send(f, 'POST', '/api/keys', {}), 201);
      await t.ctx.keys.authenticate(k.key, '127.0.0.1');
      await t.ctx.keys.authenticate(u.apiKey, '127.0.0.1');
      await expectJson(await send(f, 'DELETE', `/api/keys/${k.id}`));
      await assert.rejects(t.ctx.keys.authenticate(k.key, '127.0.0.1'), refused('api_key_revoked'));
      assert.equal((await t.ctx.keys.authenticate(u.apiKey, '127.0.0.1')).key.id, u.key.id);
    });
  });
}
