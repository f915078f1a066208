import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { send, expectJson, expectError, assertLedgerOk } from './http.ts';

interface KeyView {
  id: string;
  name: string;
  display: string;
  label: string;
  status: string;
  expires_at: string | null;
  limit: string | null;
  spent: string;
  models: string[] | null;
  ip_allowlist: string[] | null;
  created_at: string;
  last_used_at: string | null;
  key?: string;
}

for (const dialect of testDialects()) {
  describe(`API keys in the console on ${dialect}`, () => {
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

    test('creating a key returns the full sk- key once, with its settings', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      const k = await expectJson<KeyView>(await send(f, 'POST', '/api/keys', { name: 'laptop' }), 201);
      assert.match(k.key!, /^sk-[0-9A-Za-z]+$/);
      assert.equal(k.display, `sk-…${k.key!.slice(-4)}`);
      assert.match(k.id, /^key_/);
      assert.equal(k.name, 'laptop');
      assert.equal(k.label, 'live');
      assert.equal(k.status, 'active');
      assert.equal(k.expires_at, null);
      assert.equal(k.limit, null);
      assert.equal(k.spent, '0.00');
      assert.equal(k.models, null);
      assert.equal(k.ip_allowlist, null);
      assert.equal(k.last_used_at, null);
    });

    test('a key with an expiry, a spend limit, a model list and an IP allowlist keeps them all', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      const expires = new Date(Date.now() + 30 * 24 * 3600_000).toISOString();
      const k = await expectJson<KeyView>(
        await send(f, 'POST', '/api/keys', {
          name: 'ci',
          label: 'test',
          expires_at: expires,
          limit: '5.00',
          models: ['gpt-4o-mini', ' claude-3-haiku '],
          ip_allowlist: ['10.0.0.0/8', '2001:db8::/32'],
        }),
        201,
      );
      assert.equal(k.label, 'test');
      assert.equal(k.expires_at, expires);
      assert.equal(k.limit, '5.00');
      assert.deepEqual(k.models, ['gpt-4o-mini', 'claude-3-haiku']);
      assert.deepEqual(k.ip_allowlist, ['10.0.0.0/8', '2001:db8::/32']);
      const listed = (await expectJson<{ data: KeyView[] }>(await f('/api/keys'))).data.find((x) => x.id === k.id)!;
      const { key: _shownOnce, ...withoutKey } = k;
      assert.deepEqual(listed, withoutKey);
    });

    test('the key list shows each key as sk-…last4 and never the full key', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      const created = await expectJson<KeyView>(await send(f, 'POST', '/api/keys', { name: 'second' }), 201);
      const res = await f('/api/keys');
      const text = await res.clone().text();
      const { data } = await expectJson<{ data: KeyView[] }>(res);
      assert.deepEqual(data.map((k) => k.name).sort(), ['second', 'test']);
      for (const k of data) {
        assert.equal('key' in k, false);
        assert.match(k.display, /^sk-…[0-9A-Za-z]{4}$/);
      }
      for (const secret of [created.key!, u.apiKey]) {
        assert.equal(text.includes(secret), false, 'the full key is never listed');
        assert.equal(text.includes(secret.slice(3, 20)), false, 'not even a long piece of it');
      }
      assert.equal(/key_hash|[0-9a-f]{64}/.test(text), false, 'nor its hash');
    });

    test('a newly created key authenticates at once', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      const k = await expectJson<KeyView>(await send(f, 'POST', '/api/keys', {}), 201);
      const p = await t.ctx.keys.authenticate(k.key!, '127.0.0.1');
      assert.equal(p.key.id, k.id);
      assert.equal(p.user.id, u.user.id);
    });

    test('revoking a key marks it revoked, keeps it in the list, and a second revoke is harmless', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      const k = await expectJson<KeyView>(await send(f, 'POST', '/api/keys', { name: 'leaked' }), 201);
      const revoked = await expectJson<KeyView>(await send(f, 'DELETE', `/api/keys/${k.id}`));
      assert.equal(revoked.id, k.id);
      assert.equal(revoked.status, 'revoked');
      assert.equal('key' in revoked, false);
      const again = await expectJson<KeyView>(await send(f, 'DELETE', `/api/keys/${k.id}`));
      assert.equal(again.status, 'revoked');
      const row = await t.ctx.db.selectFrom('api_keys').select(['revoked_at']).where('id', '=', k.id).executeTakeFirstOrThrow();
      assert.ok(row.revoked_at !== null);
      const listed = (await expectJson<{ data: KeyView[] }>(await f('/api/keys'))).data.find((x) => x.id === k.id);
      assert.equal(listed?.status, 'revoked');
      await assert.rejects(t.ctx.keys.authenticate(k.key!, '127.0.0.1'), { code: 'api_key_revoked', status: 401 });
      // The other keys of the account keep working.
      assert.equal((await t.ctx.keys.authenticate(u.apiKey, '127.0.0.1')).user.id, u.user.id);
    });

    test('revoking a key that does not exist is a 404 key_not_found', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      await expectError(await send(f, 'DELETE', '/api/keys/key_doesnotexist'), 404, 'key_not_found');
    });
  });
}
