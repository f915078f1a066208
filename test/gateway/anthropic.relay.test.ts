// Anthropic Messages in, Anthropic upstream out: POST /v1/messages (stream and
// not), count_tokens, GET /v1/models in Anthropic's shape and every error
// class, driven by the official @anthropic-ai/sdk against a running Tally
// whose channel is the mock Anthropic upstream. Every charge is checked to the
// micro-unit against the usage the mock reported, on SQLite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import {
  startMockAnthropic,
  mockAnthropicInputTokens,
  mockReplyText,
  mockToolInput,
  mockToolInputJson,
  countWords,
  parseAnthropicSse,
  ANTHROPIC_DEFAULT_REPLY_WORDS,
  type MockAnthropic,
  type AnthropicUsage,
} from '../helpers/mockAnthropic.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice, type ModelPrice } from '../../src/gateway/pricing.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { requestLogRow as logRow, settledWallet as wallet, verifyThenClose } from '../helpers/relay.ts';
import { anthropicCost, assertChargedRow, assertNotChargedRow, claudeSdk } from '../helpers/anthropicRelay.ts';

const UPSTREAM_KEY = 'sk-ant-upstream-secret-0123456789';
const CLAUDE = 'claude-sonnet-4-5';
const MAPPED = 'claude-house';
const MAPPED_UPSTREAM = 'claude-haiku-4-5-20251001';
const GPT_ONLY = 'gpt-4o-mini';
const PRICED_UNROUTED = 'claude-unrouted';
const messages = [{ role: 'user' as const, content: 'How much did I spend on tokens today?' }];
const weatherTool = {
  name: 'get_weather',
  description: 'Get the weather for a city',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
};

/** The usage the mock reports for a body when no override is set. */
function plainUsage(body: unknown, output: number): AnthropicUsage {
  return { input_tokens: mockAnthropicInputTokens(body), output_tokens: output, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
}

for (const dialect of testDialects()) {
  describe(`Anthropic Messages relay on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockAnthropic;
    let openai: MockOpenAI;
    let price: ModelPrice;
    let mappedPrice: ModelPrice;

    before(async () => {
      t = await startTestTally(dialect);
      // acceptBearer false: the upstream must get the channel key as x-api-key, as Anthropic's API wants it.
      mock = await startMockAnthropic({ apiKey: UPSTREAM_KEY, acceptBearer: false, models: null });
      openai = await startMockOpenAI({ apiKey: 'sk-openai-upstream-0123456789', models: null });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'claude',
        type: 'anthropic',
        baseUrl: mock.url,
        apiKey: UPSTREAM_KEY,
        models: [CLAUDE, MAPPED],
        modelMap: { [MAPPED]: MAPPED_UPSTREAM },
      });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'gpt',
        type: 'openai',
        baseUrl: openai.url,
        apiKey: 'sk-openai-upstream-0123456789',
        models: [GPT_ONLY],
      });
      // $3 / $15 per 1M, cache reads $0.30: odd prompts exercise rounding up.
      price = await setModelPrice(t.ctx.db, { model: CLAUDE, inputPer1M: 3_000_000n, outputPer1M: 15_000_000n, cachedInputPer1M: 300_000n });
      mappedPrice = await setModelPrice(t.ctx.db, { model: MAPPED, inputPer1M: 1_000_000n, outputPer1M: 5_000_000n, cachedInputPer1M: 100_000n });
      await setModelPrice(t.ctx.db, { model: GPT_ONLY, inputPer1M: 150_000n, outputPer1M: 600_000n });
      await setModelPrice(t.ctx.db, { model: PRICED_UNROUTED, inputPer1M: 1_000_000n, outputPer1M: 1_000_000n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock, openai));

    test('messages.create (non-stream): the Message passes through, the upstream gets x-api-key and the caller anthropic-version; the exact usage is charged', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data: m, response } = await claudeSdk(t, u.apiKey).messages.create({ model: CLAUDE, max_tokens: 1024, messages }).withResponse();
      const rid = response.headers.get('x-request-id');
      assert.ok(rid);
      assert.equal(response.headers.get('request-id'), rid, 'request-id (what the SDK reads) is the same id');
      assert.equal(m.type, 'message');
      assert.equal(m.content[0].type === 'text' && m.content[0].text, mockReplyText(ANTHROPIC_DEFAULT_REPLY_WORDS));

      const seen = mock.requestsTo('/messages').at(-1)!;
      assert.equal(seen.path, '/v1/messages', 'base URL as for the SDK, /v1/messages appended');
      assert.equal(seen.headers['x-api-key'], UPSTREAM_KEY);
      assert.equal(seen.headers.authorization, undefined);
      assert.equal(JSON.stringify(seen.headers).includes(u.apiKey), false, "the user's key never reaches the upstream");
      assert.match(seen.version ?? '', /^\d{4}-\d{2}-\d{2}$/, "the caller's anthropic-version is forwarded");
      assert.deepEqual(seen.body.messages, messages);

      const usage = plainUsage(seen.body, ANTHROPIC_DEFAULT_REPLY_WORDS);
      assert.equal(m.usage.input_tokens, usage.input_tokens);
      assert.equal(m.usage.output_tokens, usage.output_tokens);
      const expected = anthropicCost(price, usage);
      assert.equal(usage.input_tokens, 11, '8 words + 3 for the message');
      assert.equal(expected, 753n, '11 x 3 + 48 x 15 = 753 micro-units');
      const row = await assertChargedRow(t, rid, expected, {
        status: 200,
        endpoint: 'messages',
        usage_source: 'upstream',
        prompt_tokens: usage.input_tokens,
        completion_tokens: usage.output_tokens,
        stream: 0,
        model: CLAUDE,
        attempts: 1,
      });
      assert.match(String(row.charge_reason), /completed/);
      const w = await wallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n - expected);
      assert.equal(w.available, w.balance, 'nothing stays reserved');
    });

    test('messages.stream().finalMessage(): every event passes, usage read from message_start and message_delta, prompt-cache counts billed at their prices', async () => {
      const cache: AnthropicUsage = {
        input_tokens: 17,
        output_tokens: 48,
        cache_read_input_tokens: 2_003,
        cache_creation_input_tokens: 301,
        cache_creation: { ephemeral_5m_input_tokens: 101, ephemeral_1h_input_tokens: 200 },
      };
      mock.setBehavior({ usageOverride: cache });
      const u = await seedUser(t, { balance: 1_000_000n });
      const stream = claudeSdk(t, u.apiKey).messages.stream({ model: CLAUDE, max_tokens: 2048, messages });
      const m = await stream.finalMessage();
      const { response } = await stream.withResponse();
      const rid = response.headers.get('x-request-id');
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.equal(m.content[0].type === 'text' && m.content[0].text, mockReplyText(ANTHROPIC_DEFAULT_REPLY_WORDS));
      assert.equal(m.usage.cache_read_input_tokens, 2_003);
      assert.equal(m.usage.output_tokens, 48);
      const expected = anthropicCost(price, cache);
      // (17 + 301) x 3 + 2003 x 0.3 + 48 x 15 = 954 + 600.9 + 720 = 2274.9 -> 2275
      assert.equal(expected, 2275n);
      await assertChargedRow(t, rid, expected, {
        stream: 1,
        usage_source: 'upstream',
        prompt_tokens: 17 + 2_003 + 301,
        cached_tokens: 2_003,
        completion_tokens: 48,
      });
      mock.setBehavior({});
    });

    test('the raw stream reaches the client byte for byte as the upstream sent it (events, ping, order)', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await fetch(`${t.url}/v1/messages?beta=true`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-api-key': u.apiKey,
          'anthropic-version': '2023-06-01',
          'anthropic-beta': 'claude-code-20250219,fine-grained-tool-streaming-2025-05-14',
        },
        body: JSON.stringify({ model: CLAUDE, max_tokens: 100, stream: true, messages }),
      });
      assert.equal(res.status, 200);
      const text = await res.text();
      const events = parseAnthropicSse(text);
      assert.deepEqual(
        [...new Set(events.map((e) => e.event))],
        ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'],
      );
      const seen = mock.requestsTo('/messages').at(-1)!;
      assert.equal(seen.version, '2023-06-01');
      assert.deepEqual(seen.betas, ['claude-code-20250219', 'fine-grained-tool-streaming-2025-05-14'], 'anthropic-beta forwarded as sent');
      assert.equal(events.map((e) => (e.event === 'content_block_delta' ? e.data.delta.text : '')).join(''), mockReplyText(ANTHROPIC_DEFAULT_REPLY_WORDS));
      await assertChargedRow(t, res.headers.get('x-request-id'), anthropicCost(price, plainUsage(seen.body, 48)));

      // Every API prefix: a client whose base URL is https://host/api reaches /api/v1/messages.
      const viaApi = await fetch(`${t.url}/api/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': u.apiKey, 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: CLAUDE, max_tokens: 100, messages }),
      });
      assert.equal(viaApi.status, 200);
      assert.equal(((await viaApi.json()) as any).type, 'message');
      assert.equal(mock.requestsTo('/messages').at(-1)!.path, '/v1/messages');
    });

    test('tool use, streamed and not: the tool input arrives whole (input_json_delta reassembled by the SDK) and the charge matches the usage', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const client = claudeSdk(t, u.apiKey);
      const ask = [{ role: 'user' as const, content: 'Please call a tool for Paris' }];
      const s = client.messages.stream({ model: CLAUDE, max_tokens: 1024, tools: [weatherTool], messages: ask });
      const m = await s.finalMessage();
      const { response } = await s.withResponse();
      assert.equal(m.stop_reason, 'tool_use');
      const tu = m.content.find((c) => c.type === 'tool_use');
      assert.ok(tu && tu.type === 'tool_use');
      assert.equal(tu.name, 'get_weather');
      assert.deepEqual(tu.input, mockToolInput(weatherTool));
      const seen = mock.requestsTo('/messages').at(-1)!;
      const output = countWords('Calling get_weather now.') + countWords(mockToolInputJson(weatherTool));
      assert.equal(m.usage.output_tokens, output);
      await assertChargedRow(t, response.headers.get('x-request-id'), anthropicCost(price, plainUsage(seen.body, output)), { stream: 1 });

      // The tool result goes back, non-stream.
      const { data: m2, response: r2 } = await client.messages
        .create({
          model: CLAUDE,
          max_tokens: 1024,
          tools: [weatherTool],
          messages: [
            ...ask,
            { role: 'assistant', content: m.content },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: tu.id, content: 'Sunny, 21 C' }] },
          ],
        })
        .withResponse();
      assert.equal(m2.stop_reason, 'end_turn');
      const seen2 = mock.requestsTo('/messages').at(-1)!;
      await assertChargedRow(t, r2.headers.get('x-request-id'), anthropicCost(price, plainUsage(seen2.body, 48)), { stream: 0 });
    });

    test('a mapped model: the upstream gets its own name, the caller is billed at the public model price', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { response } = await claudeSdk(t, u.apiKey).messages.create({ model: MAPPED, max_tokens: 64, messages }).withResponse();
      const seen = mock.requestsTo('/messages').at(-1)!;
      assert.equal(seen.body.model, MAPPED_UPSTREAM);
      await assertChargedRow(t, response.headers.get('x-request-id'), anthropicCost(mappedPrice, plainUsage(seen.body, 48)), {
        upstream_model: MAPPED_UPSTREAM,
        model: MAPPED,
      });
    });

    test('a wallet that cannot pay max_tokens gets it lowered upstream (the Anthropic body carries the cap)', async () => {
      mock.setBehavior({});
      // 11 prompt tokens x 3 + 1,000 x 15 = 15,033 micro-units for the bound; the wallet has 5,000.
      const u = await seedUser(t, { balance: 5_000n });
      const { data: m, response } = await claudeSdk(t, u.apiKey).messages.create({ model: CLAUDE, max_tokens: 1000, messages }).withResponse();
      const seen = mock.requestsTo('/messages').at(-1)!;
      assert.ok(seen.body.max_tokens < 1000 && seen.body.max_tokens > 0, `capped to ${seen.body.max_tokens}`);
      const row = await logRow(t, response.headers.get('x-request-id'));
      assert.equal(Number(row.charged), 1, row.charge_reason);
      assert.match(String(row.charge_reason), /max_tokens capped/);
      assert.ok(m.usage.output_tokens <= seen.body.max_tokens);
      const w = await wallet(t, u.user.id);
      assert.ok(w.balance >= 0n);
    });

    test('countTokens: answered by the anthropic channel, never charged, never logged; Tally counts itself for a model no anthropic channel serves', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const client = claudeSdk(t, u.apiKey);
      const before = mock.requestsTo('/count_tokens').length;
      const r = await client.messages.countTokens({ model: CLAUDE, messages, system: 'You are terse.' });
      assert.deepEqual(r, { input_tokens: mockAnthropicInputTokens({ messages, system: 'You are terse.' }) });
      assert.equal(mock.requestsTo('/count_tokens').length, before + 1);
      const seen = mock.requestsTo('/count_tokens').at(-1)!;
      assert.equal(seen.headers['x-api-key'], UPSTREAM_KEY);
      // A mapped model is counted under its upstream name.
      await client.messages.countTokens({ model: MAPPED, messages });
      assert.equal(mock.requestsTo('/count_tokens').at(-1)!.body.model, MAPPED_UPSTREAM);
      // Only an OpenAI-compatible channel serves this model: Tally's own count.
      const own = await client.messages.countTokens({ model: GPT_ONLY, messages });
      assert.ok(own.input_tokens > 5 && own.input_tokens < 40, `Tally's own count: ${own.input_tokens}`);
      assert.equal(mock.requestsTo('/count_tokens').length, before + 2);
      const w = await wallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n, 'never charged');
      const rows = await t.ctx.db.selectFrom('request_logs').select('id').where('user_id', '=', u.user.id).execute();
      assert.equal(rows.length, 0, 'count_tokens is not a billed request');
      // Still needs a valid key.
      await assert.rejects(claudeSdk(t, 'sk-not-a-real-key-0000000000').messages.countTokens({ model: CLAUDE, messages }), Anthropic.AuthenticationError);
      // The upstream failing (5xx): Tally's own count rather than an error; the request being wrong (4xx): the caller is told.
      mock.setBehavior({ fail: 500 });
      const fallback = await client.messages.countTokens({ model: CLAUDE, messages });
      assert.equal(fallback.input_tokens, own.input_tokens, 'the same prompt, counted by Tally');
      mock.setBehavior({ fail: 400, failMessage: 'messages.0.content: bad block' });
      await assert.rejects(client.messages.countTokens({ model: CLAUDE, messages }), (e: any) => {
        assert.ok(e instanceof Anthropic.BadRequestError, e?.constructor?.name);
        assert.match((e as any).error.error.message, /bad block/);
        return true;
      });
      mock.setBehavior({});
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n, 'never charged');
    });

    test('GET /v1/models answers in Anthropic list shape when the caller sends anthropic-version (SDK models.list), OpenAI shape otherwise', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const page = await claudeSdk(t, u.apiKey).models.list();
      const ids = page.data.map((m) => m.id);
      assert.ok(ids.includes(CLAUDE) && ids.includes(MAPPED) && ids.includes(GPT_ONLY), ids.join(','));
      for (const m of page.data) {
        assert.equal(m.type, 'model');
        assert.equal(typeof m.display_name, 'string');
        assert.ok(!Number.isNaN(Date.parse(m.created_at)));
      }
      const raw = await fetch(`${t.url}/v1/models`, { headers: { 'x-api-key': u.apiKey, 'anthropic-version': '2023-06-01' } });
      const body = (await raw.json()) as any;
      assert.equal(body.has_more, false);
      assert.equal(body.first_id, body.data[0].id);
      assert.equal(body.last_id, body.data.at(-1).id);
      assert.ok(raw.headers.get('request-id'));
      const bad = await fetch(`${t.url}/v1/models`, { headers: { 'x-api-key': 'sk-wrong-000000000000', 'anthropic-version': '2023-06-01' } });
      assert.equal(bad.status, 401);
      const err = (await bad.json()) as any;
      assert.equal(err.type, 'error');
      assert.equal(err.error.type, 'authentication_error');
      const oa = (await (await fetch(`${t.url}/v1/models`, { headers: { authorization: `Bearer ${u.apiKey}` } })).json()) as any;
      assert.equal(oa.object, 'list');
    });

    test('every error class: Anthropic shape {type:"error",error:{type,message}}, request-id, and the SDK class for its status; nothing charged', async () => {
      const rich = await seedUser(t, { balance: 1_000_000n });
      const broke = await seedUser(t, { balance: 0n });
      const limited = await createApiKey(t.ctx.db, { userId: rich.user.id, name: 'gpt only', models: [GPT_ONLY] });
      const cases: Array<[string, () => Promise<unknown>, any, number, string]> = [
        [
          'invalid key',
          () => claudeSdk(t, 'sk-nope-0000000000000000').messages.create({ model: CLAUDE, max_tokens: 5, messages }),
          Anthropic.AuthenticationError,
          401,
          'authentication_error',
        ],
        [
          'empty wallet',
          () => claudeSdk(t, broke.apiKey).messages.create({ model: CLAUDE, max_tokens: 5, messages }),
          Anthropic.PaymentRequiredError,
          402,
          'billing_error',
        ],
        [
          'model not allowed to the key',
          () => claudeSdk(t, limited.secret).messages.create({ model: CLAUDE, max_tokens: 5, messages }),
          Anthropic.PermissionDeniedError,
          403,
          'permission_error',
        ],
        [
          'unknown model',
          () => claudeSdk(t, rich.apiKey).messages.create({ model: 'claude-nonexistent', max_tokens: 5, messages }),
          Anthropic.NotFoundError,
          404,
          'not_found_error',
        ],
        [
          'no channel serves the model',
          () => claudeSdk(t, rich.apiKey).messages.create({ model: PRICED_UNROUTED, max_tokens: 5, messages }),
          Anthropic.OverloadedError,
          529,
          'overloaded_error',
        ],
        [
          'max_tokens missing',
          () => claudeSdk(t, rich.apiKey).messages.create({ model: CLAUDE, messages } as any),
          Anthropic.BadRequestError,
          400,
          'invalid_request_error',
        ],
      ];
      for (const [what, call, cls, status, type] of cases) {
        await assert.rejects(call(), (e: any) => {
          assert.ok(e instanceof cls, `${what}: ${e?.constructor?.name} ${e?.message}`);
          assert.equal(e.status, status, what);
          assert.equal(e.error?.type, 'error', what);
          assert.equal(e.error?.error?.type, type, what);
          assert.ok(e.error?.error?.message?.length > 5, what);
          assert.match(e.requestID ?? '', /^req_/, `${what}: request-id`);
          assert.equal(e.headers.get('x-request-id'), e.requestID);
          return true;
        });
      }
      // Upstream refusals arrive in the same shape: a 429 from the only channel, and a 529 overloaded_error.
      mock.setBehavior({ fail: 429, retryAfter: 3 });
      await assert.rejects(claudeSdk(t, rich.apiKey).messages.create({ model: CLAUDE, max_tokens: 5, messages }), (e: any) => {
        assert.ok(e instanceof Anthropic.RateLimitError, e?.constructor?.name);
        assert.equal((e as any).error.error.type, 'rate_limit_error');
        assert.equal(e.headers.get('retry-after'), '3');
        return true;
      });
      mock.setBehavior({ fail: 529 });
      await assert.rejects(claudeSdk(t, rich.apiKey).messages.create({ model: CLAUDE, max_tokens: 5, messages }), (e: any) => {
        assert.ok(e instanceof Anthropic.OverloadedError, e?.constructor?.name);
        assert.equal((e as any).error.error.type, 'overloaded_error');
        assert.match((e as any).error.error.message, /overloaded/i);
        return true;
      });
      mock.setBehavior({});
      assert.equal((await wallet(t, rich.user.id)).balance, 1_000_000n, 'no error was charged');
      // A body that is not JSON, and a stream field that is not a boolean: 400 in Anthropic's shape from the fast path and the parser.
      for (const body of ['{not json', JSON.stringify({ model: CLAUDE, max_tokens: 5, messages, stream: 'true' })]) {
        const res = await fetch(`${t.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': rich.apiKey }, body });
        assert.equal(res.status, 400);
        const j = (await res.json()) as any;
        assert.equal(j.type, 'error');
        assert.equal(j.error.type, 'invalid_request_error');
        assert.ok(res.headers.get('request-id'));
      }
    });

    test('a failed request is logged as not charged, with the error code', async () => {
      mock.setBehavior({ fail: 500 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await fetch(`${t.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${u.apiKey}` },
        body: JSON.stringify({ model: CLAUDE, max_tokens: 5, messages }),
      });
      mock.setBehavior({});
      assert.equal(res.status, 502);
      assert.equal(((await res.json()) as any).error.type, 'api_error');
      const row = await assertNotChargedRow(t, res.headers.get('x-request-id'));
      assert.equal(row.error_code, 'upstream_error');
    });
  });
}

for (const dialect of testDialects()) {
  describe(`Anthropic relay with a per-key rate limit on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockAnthropic;

    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_KEY_RPM: '3' });
      mock = await startMockAnthropic({ apiKey: UPSTREAM_KEY, models: null });
      await createChannel(t.ctx.db, t.config.secret, { name: 'claude', type: 'anthropic', baseUrl: mock.url, apiKey: UPSTREAM_KEY, models: [CLAUDE] });
      await setModelPrice(t.ctx.db, { model: CLAUDE, inputPer1M: 3_000_000n, outputPer1M: 15_000_000n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock));

    test('count_tokens counts against the key RPM: past it, 429 rate_limit_error with retry-after (the SDK RateLimitError), and messages too', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const client = claudeSdk(t, u.apiKey);
      await client.messages.countTokens({ model: CLAUDE, messages });
      await client.messages.countTokens({ model: CLAUDE, messages });
      await client.messages.create({ model: CLAUDE, max_tokens: 16, messages });
      for (const call of [
        () => client.messages.countTokens({ model: CLAUDE, messages }),
        () => client.messages.create({ model: CLAUDE, max_tokens: 16, messages }),
      ]) {
        await assert.rejects(call(), (e: any) => {
          assert.ok(e instanceof Anthropic.RateLimitError, e?.constructor?.name);
          assert.equal(e.status, 429);
          assert.equal((e as any).error.error.type, 'rate_limit_error');
          assert.ok(Number(e.headers.get('retry-after')) >= 1);
          return true;
        });
      }
    });
  });
}
