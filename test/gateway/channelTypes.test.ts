// A channel type Tally has no provider adapter for (src/gateway/providers/)
// used to be accepted and then sent OpenAI's wire format, which such an
// upstream does not speak. Every listed type now has its adapter (openai,
// anthropic, gemini, azure, demo) and is created, routed and probed in its
// own format; a row of a type this version does not know (left by another
// version) is not routed, and the operator is told once.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from 'pino';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { asAdminToken, expectError, expectJson } from '../accounts/http.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { Catalog } from '../../src/gateway/catalog.ts';
import { isTallyError } from '../../src/lib/errors.ts';
import { requestLogRow, verifyThenClose } from '../helpers/relay.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { startMockAnthropic, type MockAnthropic } from '../helpers/mockAnthropic.ts';
import { startMockGemini, type MockGemini } from '../helpers/mockGemini.ts';

const channelBody = (type: string, name = `ch-${type}`) => ({
  name,
  type,
  base_url: type === 'anthropic' ? 'https://api.anthropic.com' : 'https://generativelanguage.googleapis.com',
  api_key: 'sk-upstream-0123456789',
  models: [`${type}-model`],
});

for (const dialect of testDialects()) {
  describe(`channel types on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let anthropicMock: MockAnthropic;
    let geminiMock: MockGemini;

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockOpenAI({ apiKey: 'sk-upstream-probe-0123456789' });
      anthropicMock = await startMockAnthropic({ apiKey: 'sk-ant-upstream-probe-0123456789', acceptBearer: false });
      geminiMock = await startMockGemini({ apiKey: 'AIza-upstream-probe-0123456789', models: null });
    });
    after(async () => {
      await verifyThenClose(t, mock, anthropicMock, geminiMock);
    });

    test('the admin API creates gemini and anthropic channels; an unknown type is refused with a 400 naming the types', async () => {
      const err = await expectError(await asAdminToken(t, 'POST', '/api/admin/channels', channelBody('vertex')), 400, 'invalid_request', 'type');
      assert.match(err.message, /openai/);
      assert.match(err.message, /gemini/);
      const list = await expectJson<{ data: unknown[] }>(await asAdminToken(t, 'GET', '/api/admin/channels'));
      assert.equal(list.data.length, 0, 'nothing was created');
      await expectJson(await asAdminToken(t, 'POST', '/api/admin/channels', channelBody('gemini')), 201);
      await expectJson(await asAdminToken(t, 'POST', '/api/admin/channels', channelBody('anthropic')), 201);
      const after = await expectJson<{ data: Array<{ type: string }> }>(await asAdminToken(t, 'GET', '/api/admin/channels'));
      assert.deepEqual(after.data.map((c) => c.type).sort(), ['anthropic', 'gemini']);
    });

    test('createChannel (what the CLI calls) creates gemini and anthropic channels', async () => {
      const g = await createChannel(t.ctx.db, t.config.secret, {
        name: 'x',
        type: 'gemini',
        baseUrl: 'https://generativelanguage.googleapis.com',
        models: ['gemini-x'],
      });
      assert.equal(g.type, 'gemini');
      const c = await createChannel(t.ctx.db, t.config.secret, { name: 'y', type: 'anthropic', baseUrl: 'https://api.anthropic.com', models: ['claude-x'] });
      assert.equal(c.type, 'anthropic');
      await assert.rejects(
        createChannel(t.ctx.db, t.config.secret, { name: 'z', type: 'vertex' as never, baseUrl: 'https://example.com', models: ['v-x'] }),
        (e) => isTallyError(e) && e.code === 'invalid_channel_type' && e.status === 400,
      );
    });

    test('a stored channel of an unsupported type is not routed, and is reported once', async () => {
      const now = Date.now();
      await t.ctx.db
        .insertInto('channels')
        .values({
          id: 'chn_legacyvertex',
          name: 'legacy-vertex',
          type: 'vertex' as never, // a type this version does not know (left by another version)
          base_url: 'https://aiplatform.googleapis.com',
          api_key_enc: null,
          models: JSON.stringify(['vertex-legacy']),
          model_map: null,
          priority: 0,
          weight: 1,
          connect_timeout_ms: 10_000,
          first_byte_timeout_ms: 60_000,
          total_timeout_ms: 600_000,
          status: 'enabled',
          status_reason: null,
          responses_api: 0,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await setModelPrice(t.ctx.db, { model: 'vertex-legacy', inputPer1M: 1_000_000n, outputPer1M: 1_000_000n });

      const warnings: string[] = [];
      const log = { warn: (_o: unknown, msg: string) => warnings.push(msg) } as unknown as Logger;
      const catalog = new Catalog(t.ctx.db, t.config.secret, undefined, log);
      try {
        await catalog.reload();
        await catalog.reload();
        assert.equal(catalog.channelsFor('vertex-legacy').length, 0);
        assert.equal(warnings.length, 1, 'one warning, not one per reload');
        assert.match(warnings[0], /legacy-vertex.*vertex/);
      } finally {
        await catalog.close();
      }

      // Through the relay: no channel serves the model, and nothing is charged.
      await t.ctx.catalog.reload();
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${u.apiKey}` },
        body: JSON.stringify({ model: 'vertex-legacy', messages: [{ role: 'user', content: 'hi' }] }),
      });
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(res.status, 503);
      assert.equal(body.error.code, 'no_channel_available');
      const row = await requestLogRow(t, res.headers.get('x-request-id'));
      assert.equal(Number(row.charged), 0, row.charge_reason);
    });

    test("`channel test` probes openai, anthropic and gemini channels each in its provider's format, and refuses a stored unsupported one", async () => {
      const c = await createChannel(t.ctx.db, t.config.secret, {
        name: 'probe-me',
        type: 'openai',
        baseUrl: mock.url,
        apiKey: 'sk-upstream-probe-0123456789',
        models: ['gpt-4o-mini'],
      });
      const r = await expectJson<{ ok: boolean; status: number }>(await asAdminToken(t, 'POST', `/api/admin/channels/${c.id}/test`));
      assert.equal(r.ok, true, JSON.stringify(r));
      const probe = mock.requestsTo('/chat/completions').at(-1)!;
      assert.equal(probe.headers.authorization, 'Bearer sk-upstream-probe-0123456789');
      assert.equal(probe.body.max_tokens, 1);
      const a = await createChannel(t.ctx.db, t.config.secret, {
        name: 'probe-claude',
        type: 'anthropic',
        baseUrl: anthropicMock.url,
        apiKey: 'sk-ant-upstream-probe-0123456789',
        models: ['claude-haiku-4-5-20251001'],
      });
      const ra = await expectJson<{ ok: boolean; status: number }>(await asAdminToken(t, 'POST', `/api/admin/channels/${a.id}/test`));
      assert.equal(ra.ok, true, JSON.stringify(ra));
      const ap = anthropicMock.requestsTo('/messages').at(-1)!;
      assert.equal(ap.path, '/v1/messages', 'the SDK-style base URL gets /v1/messages');
      assert.equal(ap.headers['x-api-key'], 'sk-ant-upstream-probe-0123456789');
      assert.equal(ap.version, '2023-06-01');
      assert.equal(ap.body.max_tokens, 1);
      const g = await createChannel(t.ctx.db, t.config.secret, {
        name: 'probe-gemini',
        type: 'gemini',
        baseUrl: geminiMock.url,
        apiKey: 'AIza-upstream-probe-0123456789',
        models: ['gemini-2.5-flash'],
      });
      const rg = await expectJson<{ ok: boolean; status: number }>(await asAdminToken(t, 'POST', `/api/admin/channels/${g.id}/test`));
      assert.equal(rg.ok, true, JSON.stringify(rg));
      const gp = geminiMock.requestsTo('generateContent').at(-1)!;
      assert.equal(gp.path, '/v1beta/models/gemini-2.5-flash:generateContent', 'the SDK-style base URL gets /v1beta/models/{m}:generateContent');
      assert.equal(gp.headers['x-goog-api-key'], 'AIza-upstream-probe-0123456789');
      assert.equal(gp.body.generationConfig.maxOutputTokens, 1);
      await expectError(await asAdminToken(t, 'POST', '/api/admin/channels/chn_legacyvertex/test'), 400, 'unsupported_channel_type');
    });
  });
}
