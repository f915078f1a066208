// Editing a channel in place (PATCH /api/admin/channels/:id), on SQLite and
// PostgreSQL: every field an operator may change; a rotated key is the one
// the relay sends upstream from the next request on; removing a key keeps
// the right keys out of rotation (keys_attention renumbered), replacing the
// set clears it; bad input is a 400 naming the field and changes nothing;
// new keys put a channel the upstream refused back in service; only an admin
// (or the admin token) may edit; no key ever appears in an answer or the
// audit trail.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { asAdminToken, call, send, expectJson, expectError } from '../accounts/http.ts';
import { startMockOpenAI, type MockOpenAI, type MockRequest } from '../helpers/mockOpenAI.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { setKeyNeedsAttention, setChannelStatus } from '../../src/gateway/channels.ts';
import { relaySdk as sdk, verifyThenClose } from '../helpers/relay.ts';

const KEYS = ['sk-first-key-000000000aaaa', 'sk-second-key-00000000bbbb', 'sk-third-key-000000000cccc'];
const NEW_KEYS = ['sk-rotated-key-0000000dddd', 'sk-rotated-key-0000000eeee'];
const ALL_KEYS = [...KEYS, ...NEW_KEYS, 'sk-added-key-000000000ffff'];
const messages = [{ role: 'user' as const, content: 'Hello.' }];
const keyOf = (r: MockRequest) => String(r.headers.authorization ?? '').replace(/^Bearer /, '');

for (const dialect of testDialects()) {
  describe(`editing a channel on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let other: MockOpenAI;
    let apiKey: string;
    const patch = (id: string, body: unknown) => asAdminToken(t, 'PATCH', `/api/admin/channels/${encodeURIComponent(id)}`, body);
    const view = async (id: string) => (await expectJson<{ data: any[] }>(await asAdminToken(t, 'GET', '/api/admin/channels'))).data.find((c) => c.id === id);
    const add = async (body: Record<string, unknown>) =>
      expectJson<any>(await asAdminToken(t, 'POST', '/api/admin/channels', { type: 'openai', base_url: mock.url, models: ['gpt-4o-mini'], ...body }), 201);
    const ask = (model = 'gpt-4o-mini') => sdk(t, apiKey).chat.completions.create({ model, messages, max_tokens: 5 });

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockOpenAI({ models: null });
      other = await startMockOpenAI({ models: null });
      for (const model of ['gpt-4o-mini', 'gpt-4o']) await setModelPrice(t.ctx.db, { model, inputPer1M: 150_000n, outputPer1M: 600_000n });
      apiKey = (await seedUser(t, { balance: 10_000_000n })).apiKey;
    });
    after(() => verifyThenClose(t, mock, other));

    test('each field changes alone and the rest stays: name, base URL, models, map, priority, weight, timeouts', async () => {
      const c = await add({ name: 'fields', api_key: KEYS[0], priority: 1, weight: 2 });
      const steps: Array<[Record<string, unknown>, (v: any) => void]> = [
        [{ name: 'fields-renamed' }, (v) => assert.equal(v.name, 'fields-renamed')],
        [{ base_url: `${other.url}/` }, (v) => assert.equal(v.base_url, other.url, 'a trailing slash is dropped as on create')],
        [{ models: ['gpt-4o-mini', 'gpt-4o'] }, (v) => assert.deepEqual(v.models, ['gpt-4o-mini', 'gpt-4o'])],
        [{ model_map: { 'gpt-4o': 'gpt-4o-2024-08-06' } }, (v) => assert.deepEqual(v.model_map, { 'gpt-4o': 'gpt-4o-2024-08-06' })],
        [{ priority: 7 }, (v) => assert.equal(v.priority, 7)],
        [{ weight: 3 }, (v) => assert.equal(v.weight, 3)],
        [
          { connect_timeout_ms: 2_000, first_byte_timeout_ms: 30_000, total_timeout_ms: 120_000 },
          (v) => assert.deepEqual(v.timeouts_ms, { connect: 2_000, first_byte: 30_000, total: 120_000 }),
        ],
      ];
      for (const [body, check] of steps) {
        const answer = await expectJson(await patch(c.id, body));
        check(answer);
        check(await view(c.id));
      }
      const v = await view(c.id);
      assert.equal(v.type, 'openai');
      assert.equal(v.status, 'enabled');
      assert.equal(v.has_api_key, true, 'keys not mentioned stay');
      // The edits reach the relay: the new base URL serves, the added model routes, the map renames it upstream.
      const before = other.requests.length;
      await ask('gpt-4o');
      const sent = other.requests.slice(before);
      assert.equal(sent.length, 1, 'the request went to the new base URL');
      assert.equal(sent[0].body.model, 'gpt-4o-2024-08-06');
      assert.equal(keyOf(sent[0]), KEYS[0]);
      // Renamed: the old name is free, the new one finds it; an empty map clears it.
      assert.equal((await expectJson(await patch('fields-renamed', { model_map: {} }))).id, c.id);
      assert.deepEqual((await view(c.id)).model_map, {});
      await expectJson(await asAdminToken(t, 'POST', `/api/admin/channels/${c.id}/disable`));
    });

    test('a rotated key is the one the relay sends from the next request on; an added key joins the rotation; a removed one leaves it', async () => {
      const c = await add({ name: 'rotate', api_key: KEYS[0], models: ['rotate-model'], model_map: { 'rotate-model': 'gpt-4o-mini' } });
      await setModelPrice(t.ctx.db, { model: 'rotate-model', inputPer1M: 150_000n, outputPer1M: 600_000n });
      await t.ctx.catalog.reload();
      const used = async (n: number) => {
        const before = mock.requests.length;
        for (let i = 0; i < n; i++) await ask('rotate-model');
        return mock.requests.slice(before).map(keyOf);
      };
      assert.deepEqual(await used(1), [KEYS[0]]);

      const replaced = await expectJson(await patch(c.id, { api_keys: [NEW_KEYS[0]] }));
      assert.equal(replaced.has_api_key, true);
      assert.deepEqual(await used(2), [NEW_KEYS[0], NEW_KEYS[0]], 'the old key is never sent again');

      const added = await expectJson(await patch(c.id, { add_api_keys: [NEW_KEYS[1]] }));
      assert.equal(added.api_keys.count, 2);
      assert.deepEqual(
        added.api_keys.keys.map((k: any) => k.key),
        ['...dddd', '...eeee'],
      );
      const both = await used(4);
      assert.equal(both.filter((k) => k === NEW_KEYS[0]).length, 2, String(both));
      assert.equal(both.filter((k) => k === NEW_KEYS[1]).length, 2, String(both));

      const removed = await expectJson(await patch(c.id, { remove_api_keys: ['...dddd'] }));
      assert.equal(removed.api_keys, undefined, 'one key left: no per-key list');
      assert.equal(removed.has_api_key, true);
      assert.deepEqual(await used(2), [NEW_KEYS[1], NEW_KEYS[1]]);
    });

    test('removing a key renumbers the keys out of rotation; replacing the set clears them', async () => {
      const c = await add({ name: 'attention', api_keys: KEYS, models: ['attention-model'] });
      // The upstream refused the second and third keys (as the relay marks them on a 401).
      await setKeyNeedsAttention(t.ctx.db, { id: c.id, index: 1, keyCount: 3 });
      await setKeyNeedsAttention(t.ctx.db, { id: c.id, index: 2, keyCount: 3 });
      await t.ctx.catalog.reload();
      const marks = (v: any) => v.api_keys.keys.map((k: any) => [k.key, k.needs_attention]);

      // Remove the first (good) key by index: the two refused keys become #0 and #1, still out of rotation.
      let v = await expectJson(await patch(c.id, { remove_api_keys: [0], add_api_keys: [ALL_KEYS[5]] }));
      assert.deepEqual(marks(v), [
        ['...bbbb', true],
        ['...cccc', true],
        ['...ffff', false],
      ]);
      // Remove a refused key by its hint: the other refused one moves to #0 and stays marked.
      v = await expectJson(await patch(c.id, { remove_api_keys: ['bbbb'] }));
      assert.deepEqual(marks(v), [
        ['...cccc', true],
        ['...ffff', false],
      ]);
      const row = await t.ctx.db.selectFrom('channels').select('keys_attention').where('id', '=', c.id).executeTakeFirstOrThrow();
      assert.deepEqual(JSON.parse(row.keys_attention!), [0]);

      // Replaced: every key in rotation again.
      v = await expectJson(await patch(c.id, { api_keys: KEYS }));
      assert.deepEqual(marks(v), [
        ['...aaaa', false],
        ['...bbbb', false],
        ['...cccc', false],
      ]);
      const cleared = await t.ctx.db.selectFrom('channels').select('keys_attention').where('id', '=', c.id).executeTakeFirstOrThrow();
      assert.equal(cleared.keys_attention, null);
    });

    test('new keys put a channel the upstream refused back in service; a channel an operator disabled stays disabled', async () => {
      const refused = await add({ name: 'refused', api_key: KEYS[0] });
      await setChannelStatus(t.ctx.db, { id: refused.id, status: 'needs_attention', reason: 'upstream answered 401' });
      await t.ctx.catalog.reload();
      // Removing nothing and changing the weight is not an answer to refused keys.
      assert.equal((await expectJson(await patch(refused.id, { weight: 2 }))).status, 'needs_attention');
      const fixed = await expectJson(await patch(refused.id, { api_keys: [NEW_KEYS[0]] }));
      assert.equal(fixed.status, 'enabled');
      assert.equal(fixed.status_reason, null);
      const audit = await t.ctx.db.selectFrom('audit_log').select('data').where('action', '=', 'channel.update').where('target', '=', refused.id).execute();
      assert.ok(
        audit.some((a) => JSON.parse(a.data!).changed.includes('status')),
        'the audit row says the status changed',
      );

      const off = await add({ name: 'switched-off', api_key: KEYS[0] });
      await expectJson(await asAdminToken(t, 'POST', `/api/admin/channels/${off.id}/disable`));
      assert.equal((await expectJson(await patch(off.id, { add_api_keys: [NEW_KEYS[1]] }))).status, 'disabled');
      await expectJson(await asAdminToken(t, 'POST', `/api/admin/channels/${refused.id}/disable`));
    });

    test('bad input is a 400 naming the field, and nothing changes', async () => {
      const c = await add({ name: 'strict', api_keys: KEYS.slice(0, 2) });
      await add({ name: 'taken', api_key: KEYS[2] });
      const azure = await add({ name: 'azure-strict', type: 'azure', base_url: 'https://example-resource.openai.azure.com', api_key: KEYS[2] });
      const snapshot = async () => t.ctx.db.selectFrom('channels').selectAll().where('id', '=', c.id).executeTakeFirstOrThrow();
      const before = await snapshot();
      const cases: Array<[Record<string, unknown>, number, string, string]> = [
        [{ type: 'anthropic' }, 400, 'invalid_channel_type', 'type'],
        [{ name: '   ' }, 400, 'invalid_name', 'name'],
        [{ name: 'taken' }, 409, 'channel_exists', 'name'],
        [{ base_url: 'not a url' }, 400, 'invalid_base_url', 'base_url'],
        [{ base_url: 'ftp://example.com' }, 400, 'invalid_base_url', 'base_url'],
        [{ models: [] }, 400, 'invalid_request', 'models'],
        [{ models: ['  '] }, 400, 'invalid_models', 'models'],
        [{ priority: -1 }, 400, 'invalid_request', 'priority'],
        [{ weight: 1.5 }, 400, 'invalid_request', 'weight'],
        [{ first_byte_timeout_ms: 5 }, 400, 'invalid_request', 'first_byte_timeout_ms'],
        [{ api_version: '2024-10-21' }, 400, 'invalid_request', 'api_version'],
        [{ responses_api: 'yes' }, 400, 'invalid_request', 'responses_api'],
        [{ api_keys: [''] }, 400, 'invalid_request', 'api_keys.0'],
        [{ api_keys: ['sk-x'], add_api_keys: ['sk-y'] }, 400, 'invalid_request', 'api_keys'],
        [{ add_api_keys: ['sk-new-0000000000gggg'], remove_api_keys: ['zzzz'] }, 400, 'invalid_key_hint', 'remove_api_keys'],
        [{ remove_api_keys: [5] }, 400, 'invalid_key_hint', 'remove_api_keys'],
        [{ remove_api_keys: ['sk-whole-key'] }, 400, 'invalid_key_hint', 'remove_api_keys'],
        [{ modles: ['gpt-4o'] }, 400, 'invalid_request', 'body'],
      ];
      for (const [body, status, code, param] of cases) {
        const err = await expectError(await patch(c.id, body), status, code, param);
        assert.doesNotMatch(err.message, /sk-/, 'no key in an error');
      }
      const typeErr = await expectError(await patch(c.id, { type: 'anthropic' }), 400, 'invalid_channel_type', 'type');
      assert.match(typeErr.message, /cannot change/);
      assert.deepEqual(await snapshot(), before, 'nothing changed');
      // azure: api-version is checked; responses_api is openai only.
      await expectError(await patch(azure.id, { api_version: 'latest' }), 400, 'invalid_request', 'api_version');
      await expectError(await patch(azure.id, { responses_api: true }), 400, 'invalid_request', 'responses_api');
      assert.equal((await expectJson(await patch(azure.id, { api_version: '2025-04-01-preview' }))).api_version, '2025-04-01-preview');
      // openai: responses_api on and off.
      assert.equal((await expectJson(await patch(c.id, { responses_api: true }))).responses_api, true);
      assert.equal((await expectJson(await patch(c.id, { responses_api: false }))).responses_api, false);
      await expectError(await patch('no-such-channel', { weight: 1 }), 404, 'channel_not_found');
      for (const id of [c.id, azure.id]) await expectJson(await asAdminToken(t, 'POST', `/api/admin/channels/${id}/disable`));
      await expectJson(await asAdminToken(t, 'POST', `/api/admin/channels/taken/disable`));
    });

    test('only an admin or the admin token may edit: no credentials 401, a user or support 403, and the channel is unchanged', async () => {
      const c = await add({ name: 'guarded', api_key: KEYS[0] });
      const body = { api_keys: ['sk-attacker-key-000000zzzz'], base_url: 'http://127.0.0.1:9/v1' };
      await expectError(await call(t, 'PATCH', `/api/admin/channels/${c.id}`, body), 401, /.+/);
      for (const role of ['user', 'support'] as const) {
        const u = await seedUser(t, { role });
        const f = await signIn(t, u.email, u.password);
        await expectError(await send(f, 'PATCH', `/api/admin/channels/${c.id}`, body), 403, 'forbidden');
      }
      const v = await view(c.id);
      assert.equal(v.base_url, mock.url);
      const admin = await seedUser(t, { role: 'admin' });
      const f = await signIn(t, admin.email, admin.password);
      assert.equal((await expectJson(await send(f, 'PATCH', `/api/admin/channels/${c.id}`, { weight: 5 }))).weight, 5);
      await expectJson(await asAdminToken(t, 'POST', `/api/admin/channels/${c.id}/disable`));
    });

    test('no key in any answer or audit row; the audit row names the changed fields and masked hints', async () => {
      const c = await add({ name: 'audited', api_key: KEYS[0] });
      const answers = [
        await (await patch(c.id, { api_keys: KEYS.slice(0, 2), priority: 4 })).text(),
        await (await patch(c.id, { add_api_keys: [NEW_KEYS[0]], remove_api_keys: ['aaaa'] })).text(),
        await (await asAdminToken(t, 'GET', '/api/admin/channels')).text(),
      ];
      const audit = await t.ctx.db
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', 'channel.update')
        .where('target', '=', c.id)
        .orderBy('created_at')
        .execute();
      assert.equal(audit.length, 2);
      const text = JSON.stringify(audit, (_k, v) => (typeof v === 'bigint' ? String(v) : v)) + answers.join('\n');
      for (const k of ALL_KEYS) {
        assert.ok(!text.includes(k), `key ...${k.slice(-4)} leaked`);
        assert.ok(!text.includes(k.slice(0, -4)), `most of key ...${k.slice(-4)} leaked`);
      }
      const first = JSON.parse(audit[0].data!);
      assert.deepEqual(first.changed, ['priority', 'keys']);
      assert.equal(first.priority, 4);
      assert.deepEqual(first.keys, { count: 2, replaced: true, added: ['...bbbb'], removed: [] });
      assert.deepEqual(JSON.parse(audit[1].data!).keys, { count: 2, replaced: false, added: ['...dddd'], removed: ['...aaaa'] });
      assert.equal(audit[0].actor, 'admin_token');
      await expectJson(await asAdminToken(t, 'POST', `/api/admin/channels/${c.id}/disable`));
    });
  });
}
