// Several upstream keys on one channel, on SQLite and PostgreSQL: requests
// rotate over the keys; a key the upstream refuses (401) is taken out of
// rotation (that key, not the channel) and the request fails over to the
// next key of the same channel; the admin view shows the count and each key's
// last 4 characters, never a key; the log row never carries one.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { asAdminToken, expectJson } from '../accounts/http.ts';
import { startMockOpenAI, type MockOpenAI, type MockRequest } from '../helpers/mockOpenAI.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { relaySdk as sdk, requestLogRow as logRow, verifyThenClose } from '../helpers/relay.ts';

const KEYS = ['sk-key-one-0000000000aaaa', 'sk-key-two-0000000000bbbb', 'sk-key-three-00000000cccc'];
const messages = [{ role: 'user' as const, content: 'Hello.' }];
const keyOf = (r: MockRequest) => String(r.headers.authorization ?? '').replace(/^Bearer /, '');

for (const dialect of testDialects()) {
  describe(`several upstream keys per channel on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let channelId: string;
    /** Keys the mock refuses with 401. */
    const refused = new Set<string>();

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockOpenAI({ models: null, behavior: (r) => (refused.has(keyOf(r)) ? { fail: 401 } : {}) });
      const created = await expectJson<any>(
        await asAdminToken(t, 'POST', '/api/admin/channels', { name: 'pooled', type: 'openai', base_url: mock.url, api_keys: KEYS, models: ['gpt-4o-mini'] }),
        201,
      );
      channelId = created.id;
      await setModelPrice(t.ctx.db, { model: 'gpt-4o-mini', inputPer1M: 150_000n, outputPer1M: 600_000n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock));

    test('requests rotate over the keys: six requests, each key twice', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const before = mock.requests.length;
      for (let i = 0; i < 6; i++) await sdk(t, u.apiKey).chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 5 });
      const used = mock.requests.slice(before).map(keyOf);
      assert.equal(used.length, 6);
      for (const k of KEYS) assert.equal(used.filter((x) => x === k).length, 2, `${k.slice(-4)} used twice: ${used.map((x) => x.slice(-4))}`);
    });

    test('a key the upstream refuses (401) is taken out of rotation; the request fails over to the next key; the others keep serving', async () => {
      refused.add(KEYS[1]);
      const u = await seedUser(t, { balance: 1_000_000n });
      const before = mock.requests.length;
      for (let i = 0; i < 6; i++) {
        const r = await sdk(t, u.apiKey).chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 5 });
        assert.equal(r.object, 'chat.completion', 'every request is answered');
      }
      const used = mock.requests.slice(before).map(keyOf);
      assert.equal(used.filter((k) => k === KEYS[1]).length, 1, 'the refused key was tried once, then left out');
      assert.ok(used.filter((k) => k === KEYS[0]).length >= 2 && used.filter((k) => k === KEYS[2]).length >= 2, String(used.map((x) => x.slice(-4))));

      const list = await expectJson<{ data: any[] }>(await asAdminToken(t, 'GET', '/api/admin/channels'));
      const ch = list.data.find((c) => c.id === channelId);
      assert.equal(ch.status, 'enabled', 'the channel stays enabled');
      assert.equal(ch.api_keys.count, 3);
      assert.deepEqual(
        ch.api_keys.keys.map((k: any) => [k.key, k.needs_attention]),
        [
          ['...aaaa', false],
          ['...bbbb', true],
          ['...cccc', false],
        ],
      );
      const text = JSON.stringify(list);
      for (const k of KEYS) assert.ok(!text.includes(k), 'the admin view never shows a key');
      refused.clear();
    });

    test('the last key refused: the channel needs attention; the log rows never carry a key', async () => {
      refused.add(KEYS[0]);
      refused.add(KEYS[2]);
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${u.apiKey}` },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages }),
      });
      assert.ok(res.status >= 400);
      await res.text();
      const row = await logRow(t, res.headers.get('x-request-id'));
      assert.equal(Number(row.charged), 0);
      const rowText = JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
      for (const k of KEYS) assert.ok(!rowText.includes(k), 'no key in the log row');
      const list = await expectJson<{ data: any[] }>(await asAdminToken(t, 'GET', '/api/admin/channels'));
      const ch = list.data.find((c) => c.id === channelId);
      assert.equal(ch.status, 'needs_attention', 'no key left: the channel is taken out');
      refused.clear();
    });
  });
}
