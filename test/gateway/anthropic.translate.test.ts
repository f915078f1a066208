// Cross-protocol pairs: the official `openai` SDK against an anthropic
// channel (the mock Anthropic upstream), and the official @anthropic-ai/sdk
// against an OpenAI-compatible channel (the mock OpenAI upstream). The answer
// is translated; the charge always comes from the upstream's own usage
// report, to the micro-unit, on SQLite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import {
  startMockAnthropic,
  mockAnthropicInputTokens,
  mockToolInput,
  mockToolInputJson,
  countWords,
  ANTHROPIC_DEFAULT_REPLY_WORDS,
  parseAnthropicSse,
  type MockAnthropic,
  type AnthropicUsage,
} from '../helpers/mockAnthropic.ts';
import { startMockOpenAI, mockUsageFor, mockReplyText, toUsage, DEFAULT_REPLY_WORDS, parseSse, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { computeCost, setModelPrice, type ModelPrice } from '../../src/gateway/pricing.ts';
import { toBig } from '../../src/ledger/index.ts';
import { relaySdk, requestLogRow as logRow, settledWallet as wallet, verifyThenClose } from '../helpers/relay.ts';
import { anthropicCost, assertChargedRow, assertNotChargedRow, claudeSdk } from '../helpers/anthropicRelay.ts';

const ANT_KEY = 'sk-ant-upstream-secret-0123456789';
const OAI_KEY = 'sk-openai-upstream-secret-0123456789';
const CLAUDE = 'claude-sonnet-4-5';
const GPT = 'gpt-4o-mini';
const ONE_X = 1_000_000n;
const chatMessages = [
  { role: 'system' as const, content: 'You are a careful accountant.' },
  { role: 'user' as const, content: 'How much did I spend today?' },
];
const claudeMessages = [{ role: 'user' as const, content: 'How much did I spend on tokens today?' }];
const weatherFn = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Get the weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
  },
};
const weatherTool = {
  name: 'get_weather',
  description: 'Get the weather for a city',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
};

for (const dialect of testDialects()) {
  describe(`translated pairs (OpenAI chat <-> Anthropic Messages) on ${dialect}`, () => {
    let t: TestTally;
    let ant: MockAnthropic;
    let oai: MockOpenAI;
    let claudePrice: ModelPrice;
    let gptPrice: ModelPrice;

    before(async () => {
      t = await startTestTally(dialect);
      ant = await startMockAnthropic({ apiKey: ANT_KEY, acceptBearer: false, models: null });
      oai = await startMockOpenAI({ apiKey: OAI_KEY, models: null });
      await createChannel(t.ctx.db, t.config.secret, { name: 'claude', type: 'anthropic', baseUrl: ant.url, apiKey: ANT_KEY, models: [CLAUDE] });
      await createChannel(t.ctx.db, t.config.secret, { name: 'gpt', type: 'openai', baseUrl: oai.url, apiKey: OAI_KEY, models: [GPT] });
      claudePrice = await setModelPrice(t.ctx.db, {
        model: CLAUDE,
        inputPer1M: 3_000_000n,
        outputPer1M: 15_000_000n,
        cachedInputPer1M: 300_000n,
        maxOutputTokens: 8192,
      });
      gptPrice = await setModelPrice(t.ctx.db, { model: GPT, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, ant, oai));

    test('openai SDK -> anthropic channel, non-stream: system hoisted, default max_tokens sent; the chat answer carries the text; the Anthropic usage is charged', async () => {
      ant.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data, response } = await relaySdk(t, u.apiKey).chat.completions.create({ model: CLAUDE, messages: chatMessages }).withResponse();
      assert.equal(data.object, 'chat.completion');
      assert.equal(data.choices[0].message.content, mockReplyText(ANTHROPIC_DEFAULT_REPLY_WORDS));
      assert.equal(data.choices[0].finish_reason, 'stop');
      const seen = ant.requestsTo('/messages').at(-1)!;
      assert.equal(seen.path, '/v1/messages');
      assert.equal(seen.headers['x-api-key'], ANT_KEY);
      assert.equal(seen.version, '2023-06-01', 'an OpenAI caller sends no anthropic-version: the default goes');
      assert.equal(seen.body.system, 'You are a careful accountant.');
      assert.deepEqual(seen.body.messages, [{ role: 'user', content: 'How much did I spend today?' }]);
      assert.equal(seen.body.max_tokens, 8192, "the model's max output, as the hold assumed");
      const usage: AnthropicUsage = { input_tokens: mockAnthropicInputTokens(seen.body), output_tokens: ANTHROPIC_DEFAULT_REPLY_WORDS };
      assert.equal(data.usage?.prompt_tokens, usage.input_tokens);
      assert.equal(data.usage?.completion_tokens, usage.output_tokens);
      await assertChargedRow(t, response.headers.get('x-request-id'), anthropicCost(claudePrice, usage), {
        usage_source: 'upstream',
        prompt_tokens: usage.input_tokens,
        completion_tokens: usage.output_tokens,
        endpoint: 'chat.completions',
      });
    });

    test('openai SDK -> anthropic channel, stream with include_usage: chunks carry the text, the usage chunk includes cache reads; charged from message_start/message_delta', async () => {
      const cache: AnthropicUsage = {
        input_tokens: 9,
        output_tokens: 48,
        cache_read_input_tokens: 1_001,
        cache_creation_input_tokens: 50,
        cache_creation: { ephemeral_5m_input_tokens: 50, ephemeral_1h_input_tokens: 0 },
      };
      ant.setBehavior({ usageOverride: cache });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data: stream, response } = await relaySdk(t, u.apiKey)
        .chat.completions.create({ model: CLAUDE, messages: chatMessages, stream: true, stream_options: { include_usage: true }, max_tokens: 300 })
        .withResponse();
      let text = '';
      let usage: OpenAI.CompletionUsage | undefined;
      let finish: string | null = null;
      for await (const ch of stream) {
        text += ch.choices[0]?.delta?.content ?? '';
        finish = ch.choices[0]?.finish_reason ?? finish;
        if (ch.usage) usage = ch.usage;
      }
      assert.equal(text, mockReplyText(ANTHROPIC_DEFAULT_REPLY_WORDS));
      assert.equal(finish, 'stop');
      assert.equal(usage?.prompt_tokens, 9 + 1_001 + 50);
      assert.equal(usage?.prompt_tokens_details?.cached_tokens, 1_001);
      assert.equal(usage?.completion_tokens, 48);
      assert.equal(ant.requestsTo('/messages').at(-1)!.body.max_tokens, 300);
      // (9 + 50) x 3 + 1001 x 0.3 + 48 x 15 = 177 + 300.3 + 720 = 1197.3 -> 1198
      await assertChargedRow(t, response.headers.get('x-request-id'), 1198n, { stream: 1, cached_tokens: 1_001, prompt_tokens: 1_060 });
      ant.setBehavior({});
    });

    test('openai SDK -> anthropic channel, tool calls: the tool_use comes back as tool_calls with JSON arguments, streamed and not', async () => {
      ant.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const ask = [{ role: 'user' as const, content: 'Please call a tool for Paris' }];
      const { data, response } = await relaySdk(t, u.apiKey)
        .chat.completions.create({ model: CLAUDE, messages: ask, tools: [weatherFn] })
        .withResponse();
      const tc = data.choices[0].message.tool_calls?.[0];
      assert.ok(tc && tc.type === 'function');
      assert.equal(tc.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(tc.function.arguments), mockToolInput(weatherTool));
      assert.equal(data.choices[0].finish_reason, 'tool_calls');
      const seen = ant.requestsTo('/messages').at(-1)!;
      assert.equal(seen.body.tools[0].name, 'get_weather');
      const output = countWords('Calling get_weather now.') + countWords(mockToolInputJson(weatherTool));
      await assertChargedRow(
        t,
        response.headers.get('x-request-id'),
        anthropicCost(claudePrice, { input_tokens: mockAnthropicInputTokens(seen.body), output_tokens: output }),
      );

      const { data: s, response: r2 } = await relaySdk(t, u.apiKey)
        .chat.completions.create({ model: CLAUDE, messages: ask, tools: [weatherFn], stream: true })
        .withResponse();
      let args = '';
      let name = '';
      for await (const ch of s) {
        const d = ch.choices[0]?.delta?.tool_calls?.[0];
        if (d?.function?.name) name = d.function.name;
        args += d?.function?.arguments ?? '';
      }
      assert.equal(name, 'get_weather');
      assert.deepEqual(JSON.parse(args), mockToolInput(weatherTool));
      await assertChargedRow(
        t,
        r2.headers.get('x-request-id'),
        anthropicCost(claudePrice, { input_tokens: mockAnthropicInputTokens(seen.body), output_tokens: output }),
      );
    });

    test('anthropic SDK -> openai channel: create and stream().finalMessage() answer as Messages; the OpenAI usage is charged', async () => {
      oai.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const client = claudeSdk(t, u.apiKey);
      const { data: m, response } = await client.messages.create({ model: GPT, max_tokens: 512, system: 'Be brief.', messages: claudeMessages }).withResponse();
      assert.equal(m.type, 'message');
      assert.equal(m.role, 'assistant');
      assert.equal(m.content[0].type === 'text' && m.content[0].text, mockReplyText(DEFAULT_REPLY_WORDS));
      assert.equal(m.stop_reason, 'end_turn');
      const seen = oai.requests.at(-1)!;
      assert.equal(seen.path, '/v1/chat/completions');
      assert.equal(seen.headers.authorization, `Bearer ${OAI_KEY}`);
      assert.deepEqual(seen.body.messages[0], { role: 'system', content: 'Be brief.' });
      assert.equal(seen.body.max_tokens, 512);
      const usage = mockUsageFor(seen.body);
      assert.equal(m.usage.input_tokens, usage.prompt_tokens);
      assert.equal(m.usage.output_tokens, usage.completion_tokens);
      await assertChargedRow(t, response.headers.get('x-request-id'), computeCost(gptPrice, toUsage(usage), ONE_X), { endpoint: 'messages', stream: 0 });

      const s = client.messages.stream({ model: GPT, max_tokens: 512, messages: claudeMessages });
      const fm = await s.finalMessage();
      const { response: r2 } = await s.withResponse();
      assert.equal(fm.content[0].type === 'text' && fm.content[0].text, mockReplyText(DEFAULT_REPLY_WORDS));
      const seen2 = oai.requests.at(-1)!;
      assert.equal(seen2.body.stream, true);
      assert.deepEqual(seen2.body.stream_options, { include_usage: true });
      const usage2 = mockUsageFor(seen2.body);
      assert.equal(fm.usage.output_tokens, usage2.completion_tokens);
      assert.equal(fm.usage.input_tokens, usage2.prompt_tokens);
      await assertChargedRow(t, r2.headers.get('x-request-id'), computeCost(gptPrice, toUsage(usage2), ONE_X), { stream: 1 });
    });

    test('anthropic SDK -> openai channel, tool use: tool_calls come back as tool_use (input_json_delta reassembled by the SDK)', async () => {
      oai.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const s = claudeSdk(t, u.apiKey).messages.stream({
        model: GPT,
        max_tokens: 512,
        tools: [weatherTool],
        messages: [{ role: 'user', content: 'Please call a tool for Paris' }],
      });
      const m = await s.finalMessage();
      const { response } = await s.withResponse();
      assert.equal(m.stop_reason, 'tool_use');
      const tu = m.content.find((c) => c.type === 'tool_use');
      assert.ok(tu && tu.type === 'tool_use');
      assert.equal(tu.name, 'get_weather');
      assert.deepEqual(tu.input, mockToolInput(weatherTool));
      const seen = oai.requests.at(-1)!;
      assert.equal(seen.body.tools[0].function.name, 'get_weather');
      await assertChargedRow(t, response.headers.get('x-request-id'), computeCost(gptPrice, toUsage(mockUsageFor(seen.body)), ONE_X));
    });

    test('a field that cannot be translated is a 400 naming it, in the caller’s shape; nothing reaches the upstream or is charged', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const antBefore = ant.requests.length;
      await assert.rejects(relaySdk(t, u.apiKey).chat.completions.create({ model: CLAUDE, messages: chatMessages, n: 2 }), (e: any) => {
        assert.ok(e instanceof OpenAI.BadRequestError, e?.constructor?.name);
        assert.equal(e.code, 'untranslatable_field');
        assert.equal(e.param, 'n');
        return true;
      });
      assert.equal(ant.requests.length, antBefore);
      const oaiBefore = oai.requests.length;
      const withTopK: any = { model: GPT, max_tokens: 5, top_k: 5, messages: claudeMessages }; // top_k: not in the 1.x SDK's types
      await assert.rejects(claudeSdk(t, u.apiKey).messages.create(withTopK), (e: any) => {
        assert.ok(e instanceof Anthropic.BadRequestError, e?.constructor?.name);
        assert.equal((e as any).error.error.type, 'invalid_request_error');
        assert.match((e as any).error.error.message, /top_k/);
        assert.equal(e.errorCode, 'untranslatable_field');
        return true;
      });
      assert.equal(oai.requests.length, oaiBefore);
      // A legacy completion cannot go to an anthropic channel at all.
      const res = await fetch(`${t.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${u.apiKey}` },
        body: JSON.stringify({ model: CLAUDE, prompt: 'Say hi' }),
      });
      assert.equal(res.status, 400);
      const body = (await res.json()) as any;
      assert.match(body.error.message, /cannot translate/);
      await assertNotChargedRow(t, res.headers.get('x-request-id'));
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n);
    });

    test('a model on an anthropic and an openai channel: a call the anthropic one cannot take (n: 2) goes to the openai one', async () => {
      const MIXED = 'mixed-model';
      const a = await createChannel(t.ctx.db, t.config.secret, {
        name: 'mixed-a',
        type: 'anthropic',
        baseUrl: ant.url,
        apiKey: ANT_KEY,
        models: [MIXED],
        priority: 10,
      });
      const o = await createChannel(t.ctx.db, t.config.secret, {
        name: 'mixed-o',
        type: 'openai',
        baseUrl: oai.url,
        apiKey: OAI_KEY,
        models: [MIXED],
        priority: 0,
      });
      const mixedPrice = await setModelPrice(t.ctx.db, { model: MIXED, inputPer1M: 1_000_000n, outputPer1M: 2_000_000n });
      await t.ctx.catalog.reload();
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data, response } = await relaySdk(t, u.apiKey).chat.completions.create({ model: MIXED, messages: chatMessages, n: 2 }).withResponse();
      assert.equal(data.choices.length, 2);
      const seen = oai.requests.at(-1)!;
      assert.equal(seen.body.n, 2);
      await assertChargedRow(t, response.headers.get('x-request-id'), computeCost(mixedPrice, toUsage(mockUsageFor(seen.body)), ONE_X), {
        channel_id: o.id,
        attempts: 1,
      });
      // Without n, the higher-priority anthropic channel serves it (translated).
      const { response: r2 } = await relaySdk(t, u.apiKey).chat.completions.create({ model: MIXED, messages: chatMessages }).withResponse();
      const row = await logRow(t, r2.headers.get('x-request-id'));
      assert.equal(row.channel_id, a.id);
      assert.equal(Number(row.charged), 1);
    });

    test("an OpenAI-compatible upstream's in-stream error chunk reaches an Anthropic caller as one error event; the output before it is charged", async () => {
      oai.setBehavior({ errorAfterChunks: 4 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await fetch(`${t.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': u.apiKey, 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: GPT, max_tokens: 512, stream: true, messages: claudeMessages }),
      });
      const events = parseAnthropicSse(await res.text());
      assert.equal(events[0].event, 'message_start');
      assert.equal(events.at(-1)!.event, 'error');
      assert.equal(events.filter((e) => e.event === 'error').length, 1);
      assert.equal(events.filter((e) => e.event === 'message_stop').length, 0, 'not closed as if it had finished');
      const row = await logRow(t, res.headers.get('x-request-id'));
      assert.equal(Number(row.charged), 1, row.charge_reason);
      assert.equal(row.error_code, 'upstream_disconnected');
      assert.match(String(row.charge_reason), /before the upstream stream broke/);
      assert.ok(Number(row.completion_tokens) > 0 && Number(row.completion_tokens) < DEFAULT_REPLY_WORDS);
      oai.setBehavior({});
    });

    test('an anthropic upstream cut mid-stream reaches an OpenAI caller as its own broken-stream event; charged for what was produced', async () => {
      ant.setBehavior({ disconnectAfterEvents: 6, eventDelayMs: 5 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${u.apiKey}` },
        body: JSON.stringify({ model: CLAUDE, messages: chatMessages, stream: true }),
      });
      const events = parseSse(await res.text());
      const last = JSON.parse(events.at(-1)!);
      assert.equal(last.error.code, 'upstream_disconnected');
      assert.ok(!events.includes('[DONE]'));
      const row = await logRow(t, res.headers.get('x-request-id'));
      assert.equal(Number(row.charged), 1, row.charge_reason);
      assert.equal(row.error_code, 'upstream_disconnected');
      const input = mockAnthropicInputTokens(ant.requestsTo('/messages').at(-1)!.body);
      assert.equal(Number(row.prompt_tokens), input);
      assert.ok(Number(row.completion_tokens) > 0 && Number(row.completion_tokens) < ANTHROPIC_DEFAULT_REPLY_WORDS);
      assert.equal(toBig(row.cost), computeCost(claudePrice, { promptTokens: input, completionTokens: Number(row.completion_tokens), cachedTokens: 0 }, ONE_X));
      ant.setBehavior({});
    });
  });
}
