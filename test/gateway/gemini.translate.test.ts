// The cross pairs with Gemini on one side, beyond the plain text of
// protocols.matrix.test.ts: the official openai SDK on a gemini channel
// (chat.completions whole and streamed, reasoning_effort → thinkingConfig,
// function tools round trip, a blocked prompt as a clear error) and the
// official @google/genai SDK on an OpenAI-compatible channel (function
// declarations round trip, whole and streamed, countTokens counted by Tally).
// Every charge is the arithmetic on the usage the upstream reported, in its
// own format, to the micro-unit, on SQLite and PostgreSQL; ledger verified.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Type } from '@google/genai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import {
  startMockGemini,
  mockGeminiPromptTokens,
  countWords,
  GEMINI_DEFAULT_REPLY_WORDS,
  GEMINI_DEFAULT_THINKING_WORDS,
  type MockGemini,
  type GeminiUsage,
} from '../helpers/mockGemini.ts';
import { startMockOpenAI, mockReplyText, mockUsageFor, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice, type ModelPrice } from '../../src/gateway/pricing.ts';
import { divCeil } from '../../src/ledger/money.ts';
import { relaySdk, requestLogRow as logRow, settledWallet as wallet, verifyThenClose } from '../helpers/relay.ts';
import { assertChargedRow, assertNotChargedRow } from '../helpers/anthropicRelay.ts';
import { genai, geminiCost } from '../helpers/geminiRelay.ts';

const GKEY = 'AIza-translate-upstream-0123456789';
const OKEY = 'sk-openai-translate-0123456789';
const GEM = 'gemini-2.5-flash';
const GPT = 'gpt-4o-mini';
const QUESTION = 'How much did I spend on tokens today?';

/** What an OpenAI usage costs by hand (no cache in these tests). */
const chatCost = (price: ModelPrice, u: { prompt_tokens: number; completion_tokens: number }) =>
  divCeil(BigInt(u.prompt_tokens) * price.inputPer1M + BigInt(u.completion_tokens) * price.outputPer1M, 1_000_000n);

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Get the weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

for (const dialect of testDialects()) {
  describe(`Gemini translated pairs on ${dialect}`, () => {
    let t: TestTally;
    let gem: MockGemini;
    let oai: MockOpenAI;
    let gemPrice: ModelPrice;
    let gptPrice: ModelPrice;

    before(async () => {
      t = await startTestTally(dialect);
      gem = await startMockGemini({ apiKey: GKEY, models: null });
      oai = await startMockOpenAI({ apiKey: OKEY, models: null });
      await createChannel(t.ctx.db, t.config.secret, { name: 'google', type: 'gemini', baseUrl: gem.url, apiKey: GKEY, models: [GEM] });
      await createChannel(t.ctx.db, t.config.secret, { name: 'gpt', type: 'openai', baseUrl: oai.url, apiKey: OKEY, models: [GPT] });
      gemPrice = await setModelPrice(t.ctx.db, { model: GEM, inputPer1M: 300_000n, outputPer1M: 2_500_000n });
      gptPrice = await setModelPrice(t.ctx.db, { model: GPT, inputPer1M: 150_000n, outputPer1M: 600_000n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, gem, oai));

    test('openai SDK on a gemini channel: reasoning_effort becomes thinkingConfig, thoughts come back as reasoning and are billed as output (whole and streamed)', async () => {
      gem.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const c = relaySdk(t, u.apiKey);
      const { data: r, response } = await c.chat.completions
        .create({ model: GEM, messages: [{ role: 'user', content: QUESTION }], reasoning_effort: 'low' })
        .withResponse();
      assert.equal(r.choices[0].message.content, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
      assert.equal(countWords((r.choices[0].message as any).reasoning_content ?? ''), GEMINI_DEFAULT_THINKING_WORDS);
      const seen = gem.requestsTo('generateContent').at(-1)!;
      assert.equal(seen.path, `/v1beta/models/${GEM}:generateContent`);
      assert.equal(seen.headers['x-goog-api-key'], GKEY);
      assert.deepEqual(seen.body.generationConfig.thinkingConfig, { thinkingBudget: 1024, includeThoughts: true });
      const usage: GeminiUsage = {
        promptTokenCount: mockGeminiPromptTokens(seen.body),
        candidatesTokenCount: GEMINI_DEFAULT_REPLY_WORDS,
        thoughtsTokenCount: GEMINI_DEFAULT_THINKING_WORDS,
      };
      assert.equal(r.usage?.completion_tokens, GEMINI_DEFAULT_REPLY_WORDS + GEMINI_DEFAULT_THINKING_WORDS, 'OpenAI counts reasoning inside completion');
      await assertChargedRow(t, response.headers.get('x-request-id'), geminiCost(gemPrice, usage), {
        endpoint: 'chat.completions',
        completion_tokens: GEMINI_DEFAULT_REPLY_WORDS,
        reasoning_tokens: GEMINI_DEFAULT_THINKING_WORDS,
      });

      const reported: GeminiUsage = { promptTokenCount: 901, toolUsePromptTokenCount: 17, candidatesTokenCount: 48, thoughtsTokenCount: 333 };
      gem.setBehavior({ usageOverride: reported });
      const { data: stream, response: sr } = await c.chat.completions
        .create({
          model: GEM,
          messages: [{ role: 'user', content: QUESTION }],
          reasoning_effort: 'medium',
          stream: true,
          stream_options: { include_usage: true },
        })
        .withResponse();
      let text = '';
      let lastUsage: any = null;
      for await (const ch of stream) {
        text += ch.choices[0]?.delta?.content ?? '';
        if (ch.usage) lastUsage = ch.usage;
      }
      assert.equal(text, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
      assert.equal(lastUsage.prompt_tokens, 901 + 17);
      assert.equal(gem.requestsTo('streamGenerateContent').at(-1)!.query.alt, 'sse');
      await assertChargedRow(t, sr.headers.get('x-request-id'), geminiCost(gemPrice, reported), {
        stream: 1,
        tool_use_prompt_tokens: 17,
        reasoning_tokens: 333,
      });
      gem.setBehavior({});
    });

    test('openai SDK on a gemini channel: a function tool round trip (tool_calls → tool message → answer), each turn charged on the usageMetadata', async () => {
      gem.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const c = relaySdk(t, u.apiKey);
      const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Please call a tool for Paris' }];
      const { data: first, response: r1 } = await c.chat.completions.create({ model: GEM, messages, tools: [weatherTool] }).withResponse();
      const call = first.choices[0].message.tool_calls?.[0];
      assert.equal(first.choices[0].finish_reason, 'tool_calls');
      assert.equal(call?.type === 'function' && call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call!.type === 'function' ? call!.function.arguments : '{}'), { city: 'mock city' });
      const seen1 = gem.requestsTo('generateContent').at(-1)!;
      assert.equal(seen1.body.tools[0].functionDeclarations[0].name, 'get_weather');
      const u1: GeminiUsage = {
        promptTokenCount: mockGeminiPromptTokens(seen1.body),
        candidatesTokenCount: countWords(JSON.stringify({ city: 'mock city' }, null, 1)),
      };
      await assertChargedRow(t, r1.headers.get('x-request-id'), geminiCost(gemPrice, u1));

      messages.push(first.choices[0].message as OpenAI.Chat.ChatCompletionMessageParam, { role: 'tool', tool_call_id: call!.id, content: 'sunny, 21 degrees' });
      const { data: stream, response: r2 } = await c.chat.completions.create({ model: GEM, messages, tools: [weatherTool], stream: true }).withResponse();
      let text = '';
      for await (const ch of stream) text += ch.choices[0]?.delta?.content ?? '';
      assert.equal(text, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
      const seen2 = gem.requestsTo('streamGenerateContent').at(-1)!;
      const fr = seen2.body.contents.at(-1).parts[0].functionResponse;
      assert.equal(fr.name, 'get_weather', 'the tool message becomes a functionResponse named after its call');
      assert.deepEqual(fr.response, { output: 'sunny, 21 degrees' });
      const u2: GeminiUsage = { promptTokenCount: mockGeminiPromptTokens(seen2.body), candidatesTokenCount: GEMINI_DEFAULT_REPLY_WORDS };
      await assertChargedRow(t, r2.headers.get('x-request-id'), geminiCost(gemPrice, u2));
    });

    test('openai SDK on a gemini channel: a blocked prompt is a 400 prompt_blocked (whole) or an in-stream error (streamed); nothing charged', async () => {
      gem.setBehavior({ reply: 'blocked' });
      const u = await seedUser(t, { balance: 1_000_000n });
      const c = relaySdk(t, u.apiKey);
      await assert.rejects(c.chat.completions.create({ model: GEM, messages: [{ role: 'user', content: QUESTION }] }), (e: any) => {
        assert.ok(e instanceof OpenAI.BadRequestError, String(e));
        assert.equal(e.code, 'prompt_blocked');
        assert.match(e.message, /blockReason SAFETY/);
        return true;
      });
      const stream = await c.chat.completions.create({ model: GEM, messages: [{ role: 'user', content: QUESTION }], stream: true });
      await assert.rejects(
        (async () => {
          for await (const _ of stream);
        })(),
        /blockReason SAFETY|prompt/,
      );
      await t.ctx.relay.flush();
      const rows = await t.ctx.db.selectFrom('request_logs').selectAll().where('user_id', '=', u.user.id).execute();
      assert.equal(rows.length, 2);
      for (const r of rows) await assertNotChargedRow(t, String(r.id));
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n);
      gem.setBehavior({});
    });

    test('@google/genai on an OpenAI-compatible channel: function declarations round trip, whole and streamed; charged on the chat usage; countTokens counted by Tally', async () => {
      oai.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const ai = genai(t, u.apiKey);
      const tools = [
        {
          functionDeclarations: [
            {
              name: 'get_weather',
              description: 'Get the weather for a city',
              parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ['city'] },
            },
          ],
        },
      ];
      const first = await ai.models.generateContent({
        model: GPT,
        contents: 'Please call a tool for Paris',
        config: { tools, systemInstruction: 'You are terse.' },
      });
      const fc = first.functionCalls?.[0];
      assert.equal(fc?.name, 'get_weather');
      assert.deepEqual(fc?.args, { city: 'mock city' });
      const seen1 = oai.requestsTo('/chat/completions').at(-1)!;
      assert.equal(seen1.headers.authorization, `Bearer ${OKEY}`);
      assert.equal(seen1.body.messages[0].role, 'system');
      assert.equal(seen1.body.tools[0].function.name, 'get_weather');
      const rid1 = first.sdkHttpResponse?.headers?.['x-request-id'] ?? null;
      await assertChargedRow(t, rid1, chatCost(gptPrice, mockUsageFor(seen1.body)), { endpoint: 'gemini.generate' });

      const contents = [
        { role: 'user', parts: [{ text: 'Please call a tool for Paris' }] },
        first.candidates![0].content!,
        // The mock answers a tool call again while the last user text asks for one: a text part after the result.
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { output: 'sunny, 21 degrees' } } }, { text: 'Now summarise it.' }] },
      ];
      let text = '';
      let rid2: string | null = null;
      for await (const ch of await ai.models.generateContentStream({ model: GPT, contents, config: { tools } })) {
        rid2 ??= ch.sdkHttpResponse?.headers?.['x-request-id'] ?? null;
        text += ch.text ?? '';
      }
      assert.equal(text, mockReplyText(48));
      const seen2 = oai.requestsTo('/chat/completions').at(-1)!;
      assert.equal(seen2.body.stream, true);
      const toolMsg = seen2.body.messages.find((m: any) => m.role === 'tool');
      assert.ok(toolMsg, JSON.stringify(seen2.body.messages));
      assert.match(toolMsg.content, /sunny, 21 degrees/);
      await assertChargedRow(t, rid2, chatCost(gptPrice, mockUsageFor(seen2.body)), { stream: 1 });

      const n = await ai.models.countTokens({ model: GPT, contents: QUESTION });
      assert.ok((n.totalTokens ?? 0) > 0);
      assert.equal(oai.requestsTo('/chat/completions').at(-1)!.seq, seen2.seq, 'countTokens never reaches an OpenAI upstream');
      const row = await logRow(t, rid2);
      assert.equal(row.model, GPT);
    });

    test("a Gemini caller's JSON-array stream (no alt=sse) on an OpenAI-compatible channel: the translated stream is reframed as Google's array", async () => {
      oai.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await fetch(`${t.url}/v1beta/models/${GPT}:streamGenerateContent`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-goog-api-key': u.apiKey },
        body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: QUESTION }] }] }),
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const arr = JSON.parse(await res.text()) as any[];
      assert.ok(Array.isArray(arr));
      const text = arr.map((c) => (c.candidates?.[0]?.content?.parts ?? []).map((p: any) => p.text ?? '').join('')).join('');
      assert.equal(text, mockReplyText(48));
      const seen = oai.requestsTo('/chat/completions').at(-1)!;
      assert.equal(seen.body.stream, true);
      const usage = mockUsageFor(seen.body);
      assert.equal(arr.at(-1).usageMetadata.promptTokenCount, usage.prompt_tokens);
      await assertChargedRow(t, res.headers.get('x-request-id'), chatCost(gptPrice, usage), { stream: 1 });
    });
  });
}
