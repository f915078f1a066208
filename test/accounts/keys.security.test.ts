import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { send, expectJson, expectError, assertLedgerOk } from './http.ts';

for (const dialect of testDialects()) {
  describe(`one user's API keys are out of another user's reach on ${dialect}`, () => {
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

    test("revoking another user's key answers 404 exactly like a missing key, and the key keeps working", async () => {
      const alice = await seedUser(t);
      const bob = await seedUser(t);
      const b = await signIn(t, bob.email, bob.password);
      const theirs = await expectError(await send(b, 'DELETE', `/api/keys/${alice.key.id}`), 404, 'key_not_found');
      const missing = await expectError(await send(b, 'DELETE', '/api/keys/key_01zzzzzzzzzzzzzzzzzzzzzzzz'), 404, 'key_not_found');
      assert.equal(theirs.message.replace(alice.key.id, '<id>'), missing.message.replace('key_01zzzzzzzzzzzzzzzzzzzzzzzz', '<id>'));
      const row = await t.ctx.db.selectFrom('api_keys').select(['status', 'revoked_at']).where('id', '=', alice.key.id).executeTakeFirstOrThrow();
      assert.equal(row.status, 'active');
      assert.equal(row.revoked_at, null);
      assert.equal((await t.ctx.keys.authenticate(alice.apiKey, '127.0.0.1')).user.id, alice.user.id);
    });

    test("a user's key list shows only their own keys", async () => {
      const alice = await seedUser(t);
      const bob = await seedUser(t);
      const a = await signIn(t, alice.email, alice.password);
      await expectJson(await send(a, 'POST', '/api/keys', { name: 'alice-2' }), 201);
      const b = await signIn(t, bob.email, bob.password);
      const { data } = await expectJson<{ data: Array<{ id: string }> }>(await b('/api/keys'));
      assert.deepEqual(
        data.map((k) => k.id),
        [bob.key.id],
      );
    });

    test('keys are unguessable: sk- plus at least 128 bits of base62, all different', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      const keys = new Set<string>();
      for (let i = 0; i < 20; i++) keys.add((await expectJson<{ key: string }>(await send(f, 'POST', '/api/keys', { name: `k${i}` }), 201)).key);
      assert.equal(keys.size, 20);
      for (const k of keys) {
        assert.match(k, /^sk-[0-9A-Za-z]+$/);
        const bits = (k.length - 3) * Math.log2(62);
        assert.ok(bits >= 128, `${k.length - 3} base62 characters carry only ${bits.toFixed(0)} bits`);
      }
    });

    test('the database stores only a hash of the key, never the key itself', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      const k = await expectJson<{ id: string; key: string }>(await send(f, 'POST', '/api/keys', {}), 201);
      const row = await t.ctx.db.selectFrom('api_keys').selectAll().where('id', '=', k.id).executeTakeFirstOrThrow();
      const stored = JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
      assert.equal(stored.includes(k.key), false);
      assert.equal(stored.includes(k.key.slice(3)), false);
      assert.match(row.key_hash, /^[0-9a-f]{64}$/);
    });

    test('the full key appears in no account or statement response after creation', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const f = await signIn(t, u.email, u.password);
      const k = await expectJson<{ key: string }>(await send(f, 'POST', '/api/keys', {}), 201);
      for (const path of ['/api/me', '/api/ledger', '/api/keys']) {
        const text = await (await f(path)).text();
        assert.equal(text.includes(k.key), false, path);
        assert.equal(text.includes(u.apiKey), false, path);
      }
    });

    // "10.0.0.0/" (a typo, the prefix forgotten) must not silently mean /0,
    // which would allow every IPv4 address on the internet.
    test('an allowlist entry with an empty prefix ("10.0.0.0/") is refused, not read as "allow everyone"', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      await expectError(await send(f, 'POST', '/api/keys', { ip_allowlist: ['10.0.0.0/'] }), 400, 'invalid_ip_allowlist', 'ip_allowlist');
      await expectError(await send(f, 'POST', '/api/keys', { ip_allowlist: ['10.0.0.0/8/16'] }), 400, 'invalid_ip_allowlist', 'ip_allowlist');
    });
  });
}
