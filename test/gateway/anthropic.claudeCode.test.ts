// The recorded Claude Code requests (test/fixtures/claude-code/: the main turn
// with 18 tools, cache_control, adaptive thinking and metadata.user_id; the
// Haiku topic call with Bearer auth and an assistant prefill; a custom base
// URL with betas no gateway may refuse; count_tokens), replayed through Tally
// exactly as the client sends them (`?beta=true`, its headers, its body; only
// the key is Tally's): passed through to an anthropic channel byte for byte,
// and translated to an OpenAI-compatible channel. Each charged to the
// micro-unit from the upstream's usage; count_tokens never charged.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockAnthropic, mockAnthropicInputTokens, parseAnthropicSse, type MockAnthropic } from '../helpers/mockAnthropic.ts';
import { startMockOpenAI, mockUsageFor, toUsage, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { computeCost, setModelPrice, type ModelPrice } from '../../src/gateway/pricing.ts';
import { settledWallet as wallet, verifyThenClose } from '../helpers/relay.ts';
import { anthropicCost, assertChargedRow } from '../helpers/anthropicRelay.ts';

interface Fixture {
  file: string;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: any;
}

const dir = new URL('../fixtures/claude-code/', import.meta.url);
const fixtures: Fixture[] = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ file: f, ...JSON.parse(readFileSync(new URL(f, dir), 'utf8')) }));
const models = [...new Set(fixtures.map((f) => f.body.model as string))];
const ANT_KEY = 'sk-ant-upstream-secret-0123456789';
const OAI_KEY = 'sk-openai-upstream-secret-0123456789';

/** The fixture's request with Tally's key where the client put its own (x-api-key, or Bearer for ANTHROPIC_AUTH_TOKEN). */
function replay(t: TestTally, f: Fixture, key: string): Promise<Response> {
  const headers: Record<string, string> = { ...f.headers };
  if (headers.authorization) headers.authorization = `Bearer ${key}`;
  else headers['x-api-key'] = key;
  delete headers['accept-encoding'];
  const qs = new URLSearchParams(f.query).toString();
  return fetch(`${t.url}${f.path}${qs ? `?${qs}` : ''}`, { method: f.method, headers, body: JSON.stringify(f.body) });
}

for (const dialect of testDialects()) {
  describe(`Claude Code replayed through Tally on ${dialect}`, () => {
    let t: TestTally;
    let ant: MockAnthropic;
    let oai: MockOpenAI;
    const prices = new Map<string, ModelPrice>();

    before(async () => {
      t = await startTestTally(dialect);
      ant = await startMockAnthropic({ apiKey: ANT_KEY, acceptBearer: false, models: null });
      oai = await startMockOpenAI({ apiKey: OAI_KEY, models: null });
      // The fixture models on an anthropic channel; the same names with a "gpt/" prefix on an OpenAI-compatible one.
      await createChannel(t.ctx.db, t.config.secret, { name: 'claude', type: 'anthropic', baseUrl: ant.url, apiKey: ANT_KEY, models });
      await createChannel(t.ctx.db, t.config.secret, { name: 'gpt', type: 'openai', baseUrl: oai.url, apiKey: OAI_KEY, models: models.map((m) => `gpt/${m}`) });
      for (const m of models) {
        prices.set(m, await setModelPrice(t.ctx.db, { model: m, inputPer1M: 5_000_000n, outputPer1M: 25_000_000n, cachedInputPer1M: 500_000n }));
        prices.set(`gpt/${m}`, await setModelPrice(t.ctx.db, { model: `gpt/${m}`, inputPer1M: 1_250_000n, outputPer1M: 10_000_000n }));
      }
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, ant, oai));

    for (const f of fixtures) {
      test(`${f.file}: passed through to the anthropic channel unchanged, betas and version forwarded`, async () => {
        const u = await seedUser(t, { balance: 10_000_000n });
        const res = await replay(t, f, u.apiKey);
        assert.equal(res.status, 200, await res.clone().text());
        const rec = ant.requests.at(-1)!;
        assert.equal(rec.path, f.path);
        assert.equal(JSON.stringify(rec.body), JSON.stringify(f.body), 'the body reaches the upstream as the client sent it');
        assert.deepEqual(rec.betas, f.headers['anthropic-beta'].split(','), 'anthropic-beta forwarded, unknown betas included');
        assert.equal(rec.version, f.headers['anthropic-version']);
        assert.equal(rec.headers['x-api-key'], ANT_KEY);
        assert.equal(rec.headers.authorization, undefined);
        if (f.path.endsWith('/count_tokens')) {
          assert.deepEqual(await res.json(), { input_tokens: mockAnthropicInputTokens(f.body) });
          assert.equal((await wallet(t, u.user.id)).balance, 10_000_000n, 'count_tokens is never charged');
          return;
        }
        let usage: { input_tokens: number; output_tokens: number };
        if (f.body.stream) {
          const events = parseAnthropicSse(await res.text());
          assert.equal(events[0].event, 'message_start');
          assert.equal(events.at(-1)!.event, 'message_stop');
          usage = { input_tokens: events[0].data.message.usage.input_tokens, output_tokens: events.at(-2)!.data.usage.output_tokens };
        } else usage = ((await res.json()) as any).usage;
        assert.equal(usage.input_tokens, mockAnthropicInputTokens(f.body));
        await assertChargedRow(t, res.headers.get('x-request-id'), anthropicCost(prices.get(f.body.model)!, usage), {
          prompt_tokens: usage.input_tokens,
          completion_tokens: usage.output_tokens,
        });
      });

      test(`${f.file}: translated to an OpenAI-compatible channel and answered in Anthropic's shape`, async () => {
        const u = await seedUser(t, { balance: 10_000_000n });
        const model = `gpt/${f.body.model}`;
        const res = await replay(t, { ...f, body: { ...f.body, model } }, u.apiKey);
        assert.equal(res.status, 200, await res.clone().text());
        if (f.path.endsWith('/count_tokens')) {
          // No upstream can count for this model: Tally's own count, close to the mock's word count, never charged.
          const n = ((await res.json()) as { input_tokens: number }).input_tokens;
          assert.ok(n > mockAnthropicInputTokens(f.body) / 2, `Tally's count ${n}`);
          assert.equal((await wallet(t, u.user.id)).balance, 10_000_000n);
          return;
        }
        const seen = oai.requests.at(-1)!;
        assert.equal(seen.path, '/v1/chat/completions');
        assert.equal(seen.body.model, model);
        assert.equal(seen.body.tools?.length ?? 0, f.body.tools?.length ?? 0, 'every tool translated');
        assert.equal(JSON.stringify(seen.body).includes('cache_control'), false, 'cache_control dropped harmlessly');
        const usage = mockUsageFor(seen.body);
        if (f.body.stream) {
          const events = parseAnthropicSse(await res.text());
          assert.equal(events[0].event, 'message_start');
          assert.equal(events.at(-1)!.event, 'message_stop');
          const delta = events.find((e) => e.event === 'message_delta')!;
          assert.equal(delta.data.usage.output_tokens, usage.completion_tokens);
        } else {
          const m = (await res.json()) as any;
          assert.equal(m.type, 'message');
          assert.equal(m.usage.output_tokens, usage.completion_tokens);
        }
        await assertChargedRow(t, res.headers.get('x-request-id'), computeCost(prices.get(model)!, toUsage(usage), 1_000_000n), {
          prompt_tokens: usage.prompt_tokens,
          completion_tokens: usage.completion_tokens,
        });
      });
    }
  });
}
