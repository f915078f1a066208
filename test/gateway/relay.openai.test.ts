// The relay's happy paths, driven by the official `openai` SDK (v6) and the
// Vercel `ai` SDK against a running Tally whose channel points at the mock
// OpenAI upstream. Every charge is checked to the micro-unit against the usage
// the mock reported, on SQLite and on PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { streamText } from 'ai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import {
  startMockOpenAI,
  mockUsageFor,
  mockReplyText,
  mockEmbedding,
  mockEmbeddingTokens,
  toUsage,
  DEFAULT_REPLY_WORDS,
  DEFAULT_CHUNKS,
  type MockOpenAI,
} from '../helpers/mockOpenAI.ts';
import { createChannel, type Channel } from '../../src/gateway/channels.ts';
import { setModelPrice, computeCost, type ModelPrice } from '../../src/gateway/pricing.ts';
import { upsertGroup } from '../../src/gateway/groups.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { toBig, formatMoney } from '../../src/ledger/index.ts';
import { relaySdk as sdk, requestLogRow as logRow, settledWallet as wallet, verifyThenClose } from '../helpers/relay.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';
const CHAT = 'gpt-4o-mini';
const EMBED = 'text-embedding-3-small';
const INSTRUCT = 'gpt-3.5-turbo-instruct';
const MAPPED = 'public-chat';
const MAPPED_UPSTREAM = 'gpt-4.1-mini';
const ONE_X = 1_000_000n;

/** Asserts a settled, charged request: log row, exact cost, wallet moved by exactly that. */
async function assertCharged(t: TestTally, rid: string | null, expected: bigint, extra: Record<string, unknown> = {}) {
  const row = await logRow(t, rid);
  assert.ok(row, `a request log row exists for ${rid}`);
  assert.equal(Number(row.charged), 1, `charged: ${row.charge_reason}`);
  assert.equal(toBig(row.cost), expected, 'cost = tokens x price, rounded up once');
  assert.equal(toBig(row.charged_amount), expected);
  assert.equal(toBig(row.uncollected), 0n);
  assert.ok(row.transfer_id, 'the log row links its ledger transfer');
  for (const [k, v] of Object.entries(extra))
    assert.equal(typeof v === 'bigint' ? toBig(row[k]) : typeof v === 'number' ? Number(row[k]) : row[k], v, `request_logs.${k}`);
  return row;
}

for (const dialect of testDialects()) {
  describe(`OpenAI-compatible relay on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let primary: Channel;
    let mapped: Channel;
    let chatPrice: ModelPrice;
    let embedPrice: ModelPrice;
    let instructPrice: ModelPrice;
    let mappedPrice: ModelPrice;

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: [CHAT, EMBED, INSTRUCT, MAPPED_UPSTREAM, 'gpt-4o'] });
      primary = await createChannel(t.ctx.db, t.config.secret, {
        name: 'primary',
        type: 'openai',
        baseUrl: mock.url,
        apiKey: UPSTREAM_KEY,
        models: [CHAT, EMBED, INSTRUCT, 'gpt-4o'],
      });
      mapped = await createChannel(t.ctx.db, t.config.secret, {
        name: 'mapped',
        type: 'openai',
        baseUrl: mock.url,
        apiKey: UPSTREAM_KEY,
        models: [MAPPED],
        modelMap: { [MAPPED]: MAPPED_UPSTREAM },
      });
      // $2.50 / $10 per 1M tokens: 2.5 micro-units per prompt token, so odd prompts exercise rounding up.
      chatPrice = await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n });
      embedPrice = await setModelPrice(t.ctx.db, { model: EMBED, inputPer1M: 20_000n, outputPer1M: 0n, kind: 'embedding' });
      instructPrice = await setModelPrice(t.ctx.db, { model: INSTRUCT, inputPer1M: 1_500_000n, outputPer1M: 2_000_000n });
      mappedPrice = await setModelPrice(t.ctx.db, { model: MAPPED, inputPer1M: 400_000n, outputPer1M: 1_600_000n });
      // gpt-4o is routed but has no price: it must not be served, nor listed.
      await upsertGroup(t.ctx.db, { name: 'pro', multiplierPpm: 1_250_000n, models: null });
      await upsertGroup(t.ctx.db, { name: 'chat-only', multiplierPpm: ONE_X, models: [CHAT] });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock));

    const messages = [
      { role: 'system' as const, content: 'You are a careful accountant.' },
      { role: 'user' as const, content: 'How much did I spend today?' },
    ];

    test('non-stream chat: the reply passes through and the exact upstream usage is charged once', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data, response } = await sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages }).withResponse();
      const rid = response.headers.get('x-request-id');
      assert.ok(rid);
      assert.equal(data.object, 'chat.completion');
      assert.equal(data.choices[0].message.content, mockReplyText(DEFAULT_REPLY_WORDS));

      const seen = mock.requests.at(-1)!;
      assert.equal(seen.path, '/v1/chat/completions');
      assert.equal(seen.headers.authorization, `Bearer ${UPSTREAM_KEY}`, 'the upstream gets the channel key');
      assert.equal(JSON.stringify(seen.headers).includes(u.apiKey), false, "the user's key never reaches the upstream");
      assert.deepEqual(seen.body.messages, messages);
      const usage = mockUsageFor(seen.body);
      assert.equal(data.usage?.prompt_tokens, usage.prompt_tokens);
      assert.equal(data.usage?.completion_tokens, usage.completion_tokens);

      const expected = computeCost(chatPrice, toUsage(usage), ONE_X);
      assert.equal(usage.prompt_tokens, 17, '5 + 6 words, 3 per message');
      assert.equal(expected, 523n, 'ceil(17 x 2.5 + 48 x 10) = ceil(522.5) micro-units');
      const row = await assertCharged(t, rid, expected, {
        status: 200,
        usage_source: 'upstream',
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        channel_id: primary.id,
        attempts: 1,
        stream: 0,
        model: CHAT,
        user_id: u.user.id,
      });
      assert.ok(row.charge_reason);
      assert.match(String(row.key_display), /^sk-/, 'the key is logged masked');
      assert.equal(String(row.key_display).includes(u.apiKey.slice(3, 20)), false);
      assert.equal(row.key_id, u.key.id);
      assert.equal(row.endpoint !== null && row.endpoint !== undefined, true);
      assert.ok(row.latency_ms !== null && Number(row.latency_ms) >= 0, 'latency is logged');
      assert.ok(row.client_ip, 'the client IP is logged');
      const w = await wallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n - expected, 'the wallet moved by exactly the cost');
      assert.equal(w.available, w.balance, 'nothing stays reserved after settlement');
    });

    test('stream with include_usage: the client gets every chunk and the usage chunk; the charge matches it', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data: stream, response } = await sdk(t, u.apiKey)
        .chat.completions.create({ model: CHAT, messages, stream: true, stream_options: { include_usage: true } })
        .withResponse();
      const rid = response.headers.get('x-request-id');
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      const chunks: OpenAI.ChatCompletionChunk[] = [];
      for await (const ch of stream) chunks.push(ch);
      assert.equal(chunks.length, 1 + DEFAULT_CHUNKS + 1 + 1, 'role, 16 content chunks, finish, usage');
      const text = chunks.flatMap((c) => c.choices.map((x) => x.delta.content ?? '')).join('');
      assert.equal(text, mockReplyText(DEFAULT_REPLY_WORDS));
      const last = chunks.at(-1)!;
      assert.deepEqual(last.choices, []);
      const usage = mockUsageFor(mock.requests.at(-1)!.body);
      assert.equal(last.usage?.prompt_tokens, usage.prompt_tokens);
      assert.equal(last.usage?.completion_tokens, usage.completion_tokens);
      const expected = computeCost(chatPrice, toUsage(usage), ONE_X);
      await assertCharged(t, rid, expected, { stream: 1, usage_source: 'upstream', status: 200, completion_tokens: DEFAULT_REPLY_WORDS });
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n - expected);
    });

    test('streamed chunks reach the client as the upstream sends them, not buffered until the end', async () => {
      mock.setBehavior({ chunkDelayMs: 100, chunks: 8 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const t0 = Date.now();
      const s = await sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages, stream: true });
      const arrivals: number[] = [];
      for await (const ch of s) if (ch.choices[0]?.delta?.content) arrivals.push(Date.now() - t0);
      assert.equal(arrivals.length, 8);
      // The upstream spends ~900 ms on this reply; the first content must arrive long before the last.
      assert.ok(arrivals[0] < 400, `first content after ${arrivals[0]} ms`);
      assert.ok(arrivals[7] - arrivals[0] >= 500, `content spread over ${arrivals[7] - arrivals[0]} ms, as the upstream sent it`);
      mock.setBehavior({});
    });

    test('stream without include_usage: Tally asks upstream for usage, charges it, and does not show the usage chunk to the client', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: CHAT, messages, stream: true }),
      });
      assert.equal(res.status, 200);
      const rid = res.headers.get('x-request-id');
      const raw = await res.text();
      assert.ok(raw.endsWith('data: [DONE]\n\n'), 'the stream ends with [DONE]');
      const events = raw
        .split('\n\n')
        .filter(Boolean)
        .map((e) => e.replace(/^data: /, ''));
      assert.equal(events.at(-1), '[DONE]');
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
      assert.equal(chunks.length, 1 + DEFAULT_CHUNKS + 1, 'role, content and finish chunks, no usage chunk');
      for (const c of chunks) {
        assert.ok(c.choices.length > 0, 'no usage-only chunk reaches a client that did not ask for one');
        assert.ok(!c.usage, 'no usage figures reach a client that did not ask for them');
      }
      const seen = mock.requests.at(-1)!;
      assert.equal(seen.body.stream_options?.include_usage, true, 'Tally asked the upstream for usage');
      const expected = computeCost(chatPrice, toUsage(mockUsageFor(seen.body)), ONE_X);
      await assertCharged(t, rid, expected, { usage_source: 'upstream', stream: 1 });
    });

    test('the same through the SDK: no chunk with usage when the client did not ask', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data: stream, response } = await sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages, stream: true }).withResponse();
      let text = '';
      for await (const ch of stream) {
        assert.ok(!ch.usage);
        assert.ok(ch.choices.length > 0);
        text += ch.choices.map((c) => c.delta.content ?? '').join('');
      }
      assert.equal(text, mockReplyText(DEFAULT_REPLY_WORDS));
      const expected = computeCost(chatPrice, toUsage(mockUsageFor(mock.requests.at(-1)!.body)), ONE_X);
      await assertCharged(t, response.headers.get('x-request-id'), expected);
    });

    test('upstream reports no usage: Tally counts the tokens itself and charges them (usage_source counted)', async () => {
      mock.setBehavior({ omitUsage: true });
      const u = await seedUser(t, { balance: 1_000_000n });
      const c = sdk(t, u.apiKey);
      const { data: stream, response } = await c.chat.completions
        .create({ model: CHAT, messages, stream: true, stream_options: { include_usage: true } })
        .withResponse();
      let text = '';
      for await (const ch of stream) text += ch.choices.map((x) => x.delta.content ?? '').join('');
      assert.equal(text, mockReplyText(DEFAULT_REPLY_WORDS));
      const row = await logRow(t, response.headers.get('x-request-id'));
      assert.equal(Number(row.charged), 1);
      assert.equal(row.usage_source, 'counted');
      assert.ok(Number(row.prompt_tokens) > 0);
      // 48 common English words are about 48 tokens under any BPE tokenizer.
      assert.ok(Number(row.completion_tokens) >= 24 && Number(row.completion_tokens) <= 96, `counted ${row.completion_tokens}`);
      assert.equal(
        toBig(row.cost),
        computeCost(chatPrice, { promptTokens: Number(row.prompt_tokens), completionTokens: Number(row.completion_tokens), cachedTokens: 0 }, ONE_X),
      );
      assert.ok(toBig(row.charged_amount) > 0n);

      const { data, response: r2 } = await c.chat.completions.create({ model: CHAT, messages }).withResponse();
      assert.equal(data.usage, undefined);
      const row2 = await logRow(t, r2.headers.get('x-request-id'));
      assert.equal(row2.usage_source, 'counted');
      assert.ok(toBig(row2.charged_amount) > 0n);
      const w = await wallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n - toBig(row.charged_amount) - toBig(row2.charged_amount));
      mock.setBehavior({});
    });

    test("the upstream's own error line mid-stream reaches the client once and is settled as a broken stream: charged only for the output before it", async () => {
      mock.setBehavior({ errorAfterChunks: 4 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${u.apiKey}` },
        body: JSON.stringify({ model: CHAT, messages, stream: true }),
      });
      const text = await res.text();
      const errors = text.split('\n\n').filter((e) => e.startsWith('data: {"error"'));
      assert.equal(errors.length, 1, "the upstream error line, and no second broken-stream line of Tally's");
      const row = await logRow(t, res.headers.get('x-request-id'));
      assert.equal(Number(row.charged), 1, row.charge_reason);
      assert.equal(row.usage_source, 'counted');
      assert.equal(row.error_code, 'upstream_disconnected');
      assert.match(String(row.charge_reason), /before the upstream stream broke/);
      assert.ok(Number(row.completion_tokens) > 0 && Number(row.completion_tokens) < DEFAULT_REPLY_WORDS, `counted ${row.completion_tokens}`);
      mock.setBehavior({});
    });

    test('n choices and a tool call pass through; the charge follows the upstream usage', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const c = sdk(t, u.apiKey);
      const { data, response } = await c.chat.completions.create({ model: CHAT, messages, n: 3, max_tokens: 10 }).withResponse();
      assert.equal(data.choices.length, 3);
      const usage = mockUsageFor(mock.requests.at(-1)!.body);
      assert.equal(usage.completion_tokens, 30);
      await assertCharged(t, response.headers.get('x-request-id'), computeCost(chatPrice, toUsage(usage), ONE_X));

      const tools: OpenAI.ChatCompletionTool[] = [
        {
          type: 'function',
          function: {
            name: 'lookup_balance',
            description: 'Looks up a balance',
            parameters: { type: 'object', properties: { account: { type: 'string' } }, required: ['account'] },
          },
        },
      ];
      const { data: d2, response: r2 } = await c.chat.completions
        .create({ model: CHAT, messages: [{ role: 'user', content: 'Please call a tool for my account' }], tools, tool_choice: 'auto' })
        .withResponse();
      const call = d2.choices[0].message.tool_calls?.[0];
      assert.equal(d2.choices[0].finish_reason, 'tool_calls');
      assert.ok(call && call.type === 'function');
      assert.equal(call.function.name, 'lookup_balance');
      assert.deepEqual(JSON.parse(call.function.arguments), { account: 'mock account' });
      const seen = mock.requests.at(-1)!;
      assert.deepEqual(seen.body.tools, tools);
      assert.equal(seen.body.tool_choice, 'auto');
      await assertCharged(t, r2.headers.get('x-request-id'), computeCost(chatPrice, toUsage(mockUsageFor(seen.body)), ONE_X));
    });

    test('every other field is passed through untouched: vision parts, response_format, sampling, custom fields', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const visionMessages = [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this receipt?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } },
          ],
        },
      ];
      const extra = {
        temperature: 0.2,
        top_p: 0.9,
        seed: 42,
        user: 'end-user-7',
        presence_penalty: 0.1,
        logit_bias: { '50256': -100 },
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'receipt', schema: { type: 'object', properties: { total: { type: 'number' } } }, strict: true },
        },
        metadata: { order: 'A-1' },
        x_vendor_extension: { keep: [1, 2, 3] },
      };
      await sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages: visionMessages as any, ...(extra as any) });
      const seen = mock.requests.at(-1)!.body;
      assert.deepEqual(seen.messages, visionMessages);
      for (const [k, v] of Object.entries(extra)) assert.deepEqual(seen[k], v, `${k} reaches the upstream unchanged`);
      assert.equal(seen.model, CHAT);
    });

    test('legacy completions (text_completion) are relayed and charged', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data, response } = await sdk(t, u.apiKey)
        .completions.create({ model: INSTRUCT, prompt: 'Write a receipt line for coffee', max_tokens: 12 })
        .withResponse();
      assert.equal(data.object, 'text_completion');
      assert.equal(data.choices[0].text, mockReplyText(12));
      const usage = mockUsageFor(mock.requests.at(-1)!.body);
      await assertCharged(t, response.headers.get('x-request-id'), computeCost(instructPrice, toUsage(usage), ONE_X), {
        prompt_tokens: 6,
        completion_tokens: 12,
      });

      const { data: s, response: r2 } = await sdk(t, u.apiKey)
        .completions.create({ model: INSTRUCT, prompt: 'Write a receipt line for tea', max_tokens: 20, stream: true })
        .withResponse();
      let text = '';
      for await (const ch of s) {
        assert.ok(!ch.usage);
        text += ch.choices.map((c) => c.text).join('');
      }
      assert.equal(text, mockReplyText(20));
      await assertCharged(t, r2.headers.get('x-request-id'), computeCost(instructPrice, toUsage(mockUsageFor(mock.requests.at(-1)!.body)), ONE_X), {
        stream: 1,
      });
    });

    test('embeddings: vectors pass through (base64 as the SDK asks, and floats) and the input tokens are charged, rounded up', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const input = ['a ledger never forgets', 'two entries'];
      const { data, response } = await sdk(t, u.apiKey).embeddings.create({ model: EMBED, input }).withResponse();
      assert.equal(mock.requests.at(-1)!.body.encoding_format, 'base64');
      assert.equal(data.data.length, 2);
      assert.deepEqual(Array.from(data.data[0].embedding), mockEmbedding('a ledger never forgets'));
      const tokens = mockEmbeddingTokens(input);
      assert.equal(data.usage.prompt_tokens, tokens);
      const expected = computeCost(embedPrice, { promptTokens: tokens, completionTokens: 0, cachedTokens: 0 }, ONE_X);
      assert.equal(expected, 1n, '6 tokens at $0.02/1M is 0.12 micro-units, rounded up to 1');
      await assertCharged(t, response.headers.get('x-request-id'), expected, { prompt_tokens: tokens, completion_tokens: 0 });

      const floats = await sdk(t, u.apiKey).embeddings.create({ model: EMBED, input: 'plain floats please', encoding_format: 'float', dimensions: 12 });
      assert.deepEqual(floats.data[0].embedding, mockEmbedding('plain floats please', 12));
    });

    test('model mapping: the client uses the public name, the upstream receives the mapped name', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data, response } = await sdk(t, u.apiKey).chat.completions.create({ model: MAPPED, messages }).withResponse();
      assert.equal(data.choices[0].message.content, mockReplyText(DEFAULT_REPLY_WORDS));
      const seen = mock.requests.at(-1)!;
      assert.equal(seen.body.model, MAPPED_UPSTREAM);
      await assertCharged(t, response.headers.get('x-request-id'), computeCost(mappedPrice, toUsage(mockUsageFor(seen.body)), ONE_X), {
        model: MAPPED,
        upstream_model: MAPPED_UPSTREAM,
        channel_id: mapped.id,
      });
    });

    test('the model list shows only what this key and group may use, and only priced, routed models', async () => {
      const everyone = await seedUser(t, { balance: 1_000_000n });
      const ids = async (key: string) => {
        const out: string[] = [];
        for await (const m of sdk(t, key).models.list()) {
          assert.equal(m.object, 'model');
          assert.equal(typeof m.created, 'number');
          assert.equal(typeof m.owned_by, 'string');
          out.push(m.id);
        }
        return out.sort();
      };
      assert.deepEqual(await ids(everyone.apiKey), [CHAT, INSTRUCT, MAPPED, EMBED].sort(), 'gpt-4o has a channel but no price: not listed');

      const grouped = await seedUser(t, { balance: 1_000_000n, group: 'chat-only' });
      assert.deepEqual(await ids(grouped.apiKey), [CHAT]);

      const { secret: embedOnly } = await createApiKey(t.ctx.db, { userId: everyone.user.id, name: 'embed only', models: [EMBED] });
      assert.deepEqual(await ids(embedOnly), [EMBED]);

      const one = await sdk(t, everyone.apiKey).models.retrieve(CHAT);
      assert.equal(one.id, CHAT);
      assert.equal(one.object, 'model');
      await assert.rejects(sdk(t, embedOnly).models.retrieve(CHAT), (e: any) => e instanceof OpenAI.APIError && (e.status === 404 || e.status === 403));
      await assert.rejects(sdk(t, everyone.apiKey).models.retrieve('gpt-4o'), OpenAI.NotFoundError);
    });

    test('the /api/v1 prefix serves the same API', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const c = sdk(t, u.apiKey, '/api/v1');
      const { data, response } = await c.chat.completions.create({ model: CHAT, messages }).withResponse();
      assert.equal(data.object, 'chat.completion');
      await assertCharged(t, response.headers.get('x-request-id'), computeCost(chatPrice, toUsage(mockUsageFor(mock.requests.at(-1)!.body)), ONE_X));
      const list = [];
      for await (const m of c.models.list()) list.push(m.id);
      assert.ok(list.includes(CHAT));
      const e = await c.embeddings.create({ model: EMBED, input: 'prefix' });
      assert.equal(e.data.length, 1);
    });

    test("a group's multiplier scales the cost", async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n, group: 'pro' });
      const { response } = await sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages }).withResponse();
      const expected = computeCost(chatPrice, toUsage(mockUsageFor(mock.requests.at(-1)!.body)), 1_250_000n);
      assert.equal(expected, 654n, 'ceil((17 x 2.5 + 48 x 10) x 1.25) = ceil(653.125)');
      const row = await assertCharged(t, response.headers.get('x-request-id'), expected, { group_name: 'pro' });
      assert.ok(row.pricing, 'the log keeps the prices and multiplier it used');
    });

    test('cached prompt tokens reported by the upstream are billed at the cached price', async () => {
      const model = 'cached-model';
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'cached',
        type: 'openai',
        baseUrl: mock.url,
        apiKey: UPSTREAM_KEY,
        models: [model],
        modelMap: { [model]: CHAT },
      });
      const price = await setModelPrice(t.ctx.db, { model, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n, cachedInputPer1M: 1_250_000n });
      await t.ctx.catalog.reload();
      mock.setBehavior({ usageOverride: { prompt_tokens: 1001, completion_tokens: 7, cached_tokens: 600 } });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { response } = await sdk(t, u.apiKey).chat.completions.create({ model, messages }).withResponse();
      const expected = computeCost(price, { promptTokens: 1001, completionTokens: 7, cachedTokens: 600 }, ONE_X);
      assert.equal(expected, 1823n, 'ceil(401 x 2.5 + 600 x 1.25 + 7 x 10) = ceil(1002.5 + 750 + 70)');
      await assertCharged(t, response.headers.get('x-request-id'), expected, { prompt_tokens: 1001, completion_tokens: 7, cached_tokens: 600 });
      mock.setBehavior({});
    });

    test('GET /api/usage lists the rows and GET /api/usage/:id explains one charge; another user sees neither', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { response } = await sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages }).withResponse();
      const rid = response.headers.get('x-request-id')!;
      const expected = computeCost(chatPrice, toUsage(mockUsageFor(mock.requests.at(-1)!.body)), ONE_X);
      await logRow(t, rid);
      const f = await signIn(t, u.email, u.password);
      const list = await f('/api/usage');
      assert.equal(list.status, 200);
      const body = (await list.json()) as { data: any[] };
      assert.ok(Array.isArray(body.data));
      const mine = body.data.find((r) => JSON.stringify(r).includes(rid));
      assert.ok(mine, 'the request is listed');
      assert.equal(JSON.stringify(mine).includes(u.apiKey), false, 'the full key is never shown');
      const one = await f(`/api/usage/${rid}`);
      assert.equal(one.status, 200);
      const explained = await one.text();
      assert.ok(explained.includes(formatMoney(expected, 6)), `the explanation states the cost ${formatMoney(expected, 6)}: ${explained}`);

      const other = await seedUser(t);
      const g = await signIn(t, other.email, other.password);
      assert.equal((await g(`/api/usage/${rid}`)).status, 404);
      const theirs = (await (await g('/api/usage')).json()) as { data: any[] };
      assert.equal(JSON.stringify(theirs).includes(rid), false);
    });

    test('the Vercel ai SDK (@ai-sdk/openai-compatible) streams through Tally and sees the usage', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const provider = createOpenAICompatible({ name: 'tally', baseURL: `${t.url}/v1`, apiKey: u.apiKey, includeUsage: true });
      const result = streamText({ model: provider(CHAT), prompt: 'Summarise my spending this week', maxRetries: 0 });
      let text = '';
      for await (const delta of result.textStream) text += delta;
      assert.equal(text, mockReplyText(DEFAULT_REPLY_WORDS));
      const usage = await result.usage;
      const seen = mock.requests.at(-1)!;
      assert.equal(seen.body.stream, true);
      const expectedUsage = mockUsageFor(seen.body);
      assert.equal(usage.inputTokens, expectedUsage.prompt_tokens);
      assert.equal(usage.outputTokens, expectedUsage.completion_tokens);
      await t.ctx.relay.flush();
      const rows = await t.ctx.db.selectFrom('request_logs').selectAll().where('user_id', '=', u.user.id).execute();
      assert.equal(rows.length, 1);
      await assertCharged(t, rows[0].id, computeCost(chatPrice, toUsage(expectedUsage), ONE_X), { stream: 1 });
    });
  });
}
