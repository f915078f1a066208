// The Responses API on a plain OpenAI-compatible channel (Chat Completions
// only, the mock OpenAI upstream): the official openai SDK's responses.create
// and responses.stream, with function tools and a function_call_output round
// trip, and the recorded Codex CLI turn replayed as raw HTTP, all translated
// to chat and back (translate/responsesToChat.ts). The charge is the chat
// upstream's own usage report, to the micro-unit; a translated answer's id is
// never pinned (the chat upstream holds nothing), so previous_response_id on it
// is a 400. On SQLite and PostgreSQL; the ledger verifies.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, mockUsageFor, mockReplyText, toUsage, DEFAULT_REPLY_WORDS, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { parseResponsesSse } from '../helpers/mockResponses.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { computeCost, setModelPrice, type ModelPrice } from '../../src/gateway/pricing.ts';
import { requestLogRow, verifyThenClose } from '../helpers/relay.ts';
import { assertChargedRow, assertNotChargedRow } from '../helpers/anthropicRelay.ts';
import { replayFixture, responsesSdk } from './responses.helpers.ts';

const fixture = JSON.parse(readFileSync(new URL('../fixtures/codex-cli/responses-stream.json', import.meta.url), 'utf8'));
const UP_KEY = 'sk-openai-upstream-secret-0123456789';
const MODEL = 'gpt-4.1-mini';
const ONE_X = 1_000_000n;
const weather = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Get the weather for a city',
  strict: false,
  parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
};

for (const dialect of testDialects()) {
  describe(`Responses translated to a Chat Completions channel on ${dialect}`, () => {
    let t: TestTally;
    let chat: MockOpenAI;
    let price: ModelPrice;
    let codexPrice: ModelPrice;

    before(async () => {
      t = await startTestTally(dialect);
      chat = await startMockOpenAI({ apiKey: UP_KEY, models: null });
      await createChannel(t.ctx.db, t.config.secret, { name: 'chat', type: 'openai', baseUrl: chat.url, apiKey: UP_KEY, models: [MODEL, fixture.body.model] });
      price = await setModelPrice(t.ctx.db, { model: MODEL, inputPer1M: 400_000n, outputPer1M: 1_600_000n, cachedInputPer1M: 100_000n });
      codexPrice = await setModelPrice(t.ctx.db, { model: fixture.body.model, inputPer1M: 1_250_000n, outputPer1M: 10_000_000n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, chat));

    test('responses.create: instructions become the system message, input the user turn; the chat usage is charged and reported as Responses usage', async () => {
      chat.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client } = responsesSdk(t, u.apiKey);
      const r = await client.responses.create({ model: MODEL, instructions: 'Be brief.', input: 'What is a ledger?', max_output_tokens: 300 });
      assert.equal(r.object, 'response');
      assert.equal(r.status, 'completed');
      assert.equal(r.output_text, mockReplyText(DEFAULT_REPLY_WORDS));
      const seen = chat.requests.at(-1)!;
      assert.equal(seen.path, '/v1/chat/completions');
      assert.equal(seen.headers.authorization, `Bearer ${UP_KEY}`);
      assert.deepEqual(seen.body.messages, [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'What is a ledger?' },
      ]);
      const usage = mockUsageFor(seen.body);
      assert.equal(r.usage?.input_tokens, usage.prompt_tokens);
      assert.equal(r.usage?.output_tokens, usage.completion_tokens);
      await assertChargedRow(t, r._request_id ?? null, computeCost(price, toUsage(usage), ONE_X), {
        endpoint: 'responses',
        usage_source: 'upstream',
        stream: 0,
      });
    });

    test('cached prompt tokens reported by the chat upstream are billed at the cached price', async () => {
      chat.setBehavior({ usageOverride: { prompt_tokens: 3_000, completion_tokens: 200, cached_tokens: 2_048 } });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client } = responsesSdk(t, u.apiKey);
      const r = await client.responses.create({ model: MODEL, input: 'hi', store: false });
      assert.equal(r.usage?.input_tokens_details.cached_tokens, 2_048);
      // (3000 - 2048) x 0.4 + 2048 x 0.1 + 200 x 1.6 = 380.8 + 204.8 + 320 = 905.6 -> 906
      await assertChargedRow(t, r._request_id ?? null, 906n, { cached_tokens: 2_048 });
      chat.setBehavior({});
    });

    test('responses.stream with a function tool: the tool call streams as function_call items; the function_call_output round trip is charged too', async () => {
      chat.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client, lastId } = responsesSdk(t, u.apiKey);
      const input: OpenAI.Responses.ResponseInput = [{ role: 'user', content: 'Please call a tool for Paris' }];
      const s = client.responses.stream({ model: MODEL, input, tools: [weather], store: false });
      let args = '';
      s.on('response.function_call_arguments.delta', (e) => {
        args += e.delta;
      });
      const first = await s.finalResponse();
      const call = first.output.find((o) => o.type === 'function_call');
      assert.ok(call && call.type === 'function_call', JSON.stringify(first.output));
      assert.equal(call.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.arguments), { city: 'mock city', unit: 'mock unit' });
      assert.equal(args, call.arguments);
      const seen1 = chat.requests.at(-1)!;
      assert.equal(seen1.body.stream, true);
      assert.equal(seen1.body.tools[0].function.name, 'get_weather');
      await assertChargedRow(t, lastId(), computeCost(price, toUsage(mockUsageFor(seen1.body)), ONE_X), { stream: 1 });

      const next: OpenAI.Responses.ResponseInput = [
        ...input,
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '18 C and sunny' },
      ];
      const s2 = client.responses.stream({ model: MODEL, input: next, tools: [weather], store: false });
      const second = await s2.finalResponse();
      assert.equal(second.status, 'completed'); // (the chat mock answers any turn whose last user text says "call a tool" with a tool call)
      const seen2 = chat.requests.at(-1)!;
      const msgs = seen2.body.messages;
      assert.equal(msgs.at(-2).tool_calls[0].id, call.call_id);
      assert.deepEqual(msgs.at(-1), { role: 'tool', tool_call_id: call.call_id, content: '18 C and sunny' });
      await assertChargedRow(t, lastId(), computeCost(price, toUsage(mockUsageFor(seen2.body)), ONE_X));
    });

    test('a translated answer is never pinned: previous_response_id on its id is a 400, and nothing is charged', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client, lastId } = responsesSdk(t, u.apiKey);
      const first = await client.responses.create({ model: MODEL, input: 'Remember 7.' });
      const before = chat.requests.length;
      const err = await client.responses.create({ model: MODEL, input: 'Which?', previous_response_id: first.id }).catch((e) => e);
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.equal(err.code, 'previous_response_not_found');
      await assertNotChargedRow(t, lastId());
      assert.equal(chat.requests.length, before);
    });

    test('the chat upstream breaks off mid-stream: the SDK sees an error and the text produced is charged, counted', async () => {
      chat.setBehavior({ disconnectAfterChunks: 4 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client, lastId } = responsesSdk(t, u.apiKey);
      let text = '';
      const err = await (async () => {
        const s = await client.responses.create({ model: MODEL, input: 'Tell me a story', stream: true, store: false });
        for await (const e of s) if (e.type === 'response.output_text.delta') text += e.delta;
      })().catch((e) => e);
      assert.ok(err instanceof OpenAI.APIError, String(err));
      assert.ok(text.length > 0);
      const row = await requestLogRow(t, lastId());
      assert.equal(row.error_code, 'upstream_disconnected');
      assert.equal(row.usage_source, 'counted');
      assert.ok(Number(row.completion_tokens) > 0);
      assert.equal(Number(row.charged), 1);
      chat.setBehavior({});
    });

    test('a client that disconnects mid-stream (translated) is charged for what was produced, counted', async () => {
      chat.setBehavior({ chunkDelayMs: 30 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const ac = new AbortController();
      const res = await fetch(`${t.url}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, input: 'Tell me a long story', stream: true, store: false }),
        signal: ac.signal,
      });
      const rid = res.headers.get('x-request-id');
      const reader = res.body!.getReader();
      let seen = '';
      while (!seen.includes('response.output_text.delta')) seen += Buffer.from((await reader.read()).value!).toString();
      ac.abort();
      const row = await requestLogRow(t, rid);
      assert.equal(row.error_code, 'client_disconnected');
      assert.equal(row.usage_source, 'counted');
      assert.ok(Number(row.completion_tokens) > 0 && Number(row.completion_tokens) < DEFAULT_REPLY_WORDS);
      assert.equal(Number(row.charged), 1);
      chat.setBehavior({});
    });

    test('the recorded Codex CLI turn, raw with its headers: translated (web_search dropped, developer -> system), streamed back as Responses events, charged', async () => {
      chat.setBehavior({});
      const u = await seedUser(t, { balance: 10_000_000n });
      const res = await replayFixture(t, fixture, u.apiKey);
      assert.equal(res.status, 200, await res.clone().text());
      const events = parseResponsesSse(await res.text());
      assert.equal(events[0].event, 'response.created');
      const done = events.at(-1)!;
      assert.equal(done.event, 'response.completed');
      const seen = chat.requests.at(-1)!;
      assert.equal(seen.path, '/v1/chat/completions');
      assert.equal(seen.body.model, fixture.body.model);
      assert.deepEqual(
        seen.body.tools.map((x: any) => x.function.name),
        fixture.body.tools.filter((x: any) => x.type === 'function').map((x: any) => x.name),
      );
      assert.equal(seen.body.messages[0].role, 'system');
      const usage = mockUsageFor(seen.body);
      assert.equal(done.data.response.usage.input_tokens, usage.prompt_tokens);
      assert.equal(
        events
          .filter((e) => e.event === 'response.output_text.delta')
          .map((e) => e.data.delta)
          .join(''),
        mockReplyText(DEFAULT_REPLY_WORDS),
      );
      await assertChargedRow(t, res.headers.get('x-request-id'), computeCost(codexPrice, toUsage(usage), ONE_X), { stream: 1, endpoint: 'responses' });
    });
  });
}
