// Gemini in, Gemini upstream out: :generateContent, :streamGenerateContent
// (alt=sse, and the JSON array without it), :countTokens, GET /v1beta/models
// and the error classes, driven by the official @google/genai SDK (and raw
// HTTP where the SDK hides the wire) against a running Tally whose channels
// are mock Gemini upstreams. Every charge is checked to the micro-unit
// against the usageMetadata the mock reported (thoughts and tool-use prompt
// tokens included), on SQLite and PostgreSQL; the ledger verifies at the end.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ApiError, Type } from '@google/genai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import {
  startMockGemini,
  mockGeminiPromptTokens,
  mockReplyText,
  countWords,
  parseGeminiSse,
  GEMINI_DEFAULT_REPLY_WORDS,
  GEMINI_DEFAULT_THINKING_WORDS,
  type MockGemini,
  type GeminiUsage,
} from '../helpers/mockGemini.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice, type ModelPrice } from '../../src/gateway/pricing.ts';
import { requestLogRow as logRow, settledWallet as wallet, verifyThenClose } from '../helpers/relay.ts';
import { assertChargedRow, assertNotChargedRow } from '../helpers/anthropicRelay.ts';
import { genai, geminiCost } from '../helpers/geminiRelay.ts';

const UPSTREAM_KEY = 'AIzaSy-upstream-secret-0123456789';
const BACKUP_KEY = 'AIzaSy-backup-secret-9876543210';
const GEM = 'gemini-2.5-flash';
const MAPPED = 'gemini-house';
const MAPPED_UPSTREAM = 'gemini-2.5-pro';
const FAILOVER = 'gemini-failover';
const GPT_ONLY = 'gpt-4o-mini';
const QUESTION = 'How much did I spend on tokens today?';
const geminiCli = JSON.parse(readFileSync(new URL('../fixtures/gemini-cli/stream-generate-content.json', import.meta.url), 'utf8'));

const weatherDecl = {
  name: 'get_weather',
  description: 'Get the weather for a city',
  parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING }, unit: { type: Type.STRING } }, required: ['city'] },
};

/** The usage the mock reports for a body and a reply when no override is set. */
function plainUsage(body: unknown, candidates: number, thoughts = 0): GeminiUsage {
  return { promptTokenCount: mockGeminiPromptTokens(body), candidatesTokenCount: candidates, thoughtsTokenCount: thoughts };
}

for (const dialect of testDialects()) {
  describe(`Gemini relay on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockGemini;
    let backup: MockGemini;
    let openai: MockOpenAI;
    let price: ModelPrice;
    let mappedPrice: ModelPrice;
    let failoverPrice: ModelPrice;

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockGemini({ apiKey: UPSTREAM_KEY, models: null });
      backup = await startMockGemini({ apiKey: BACKUP_KEY, models: null });
      openai = await startMockOpenAI({ apiKey: 'sk-openai-upstream-0123456789', models: null });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'google',
        type: 'gemini',
        baseUrl: mock.url,
        apiKey: UPSTREAM_KEY,
        models: [GEM, MAPPED, FAILOVER],
        modelMap: { [MAPPED]: MAPPED_UPSTREAM },
        priority: 10,
      });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'google-backup',
        type: 'gemini',
        baseUrl: backup.url,
        apiKey: BACKUP_KEY,
        models: [FAILOVER],
        priority: 1,
      });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'gpt',
        type: 'openai',
        baseUrl: openai.url,
        apiKey: 'sk-openai-upstream-0123456789',
        models: [GPT_ONLY],
      });
      // $0.30 / $2.50 per 1M, cache reads $0.03: odd prompts exercise rounding up.
      price = await setModelPrice(t.ctx.db, { model: GEM, inputPer1M: 300_000n, outputPer1M: 2_500_000n, cachedInputPer1M: 30_000n });
      mappedPrice = await setModelPrice(t.ctx.db, { model: MAPPED, inputPer1M: 1_250_000n, outputPer1M: 10_000_000n });
      failoverPrice = await setModelPrice(t.ctx.db, { model: FAILOVER, inputPer1M: 1_000_000n, outputPer1M: 3_000_000n });
      await setModelPrice(t.ctx.db, { model: GPT_ONLY, inputPer1M: 150_000n, outputPer1M: 600_000n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock, backup, openai));

    test('generateContent: the answer passes through, the upstream gets x-goog-api-key and the caller body byte for byte; the exact usage is charged', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const r = await genai(t, u.apiKey).models.generateContent({ model: GEM, contents: QUESTION });
      assert.equal(r.text, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
      const rid = r.sdkHttpResponse?.headers?.['x-request-id'] ?? null;
      assert.ok(rid, 'every answer carries x-request-id');

      const seen = mock.requestsTo('generateContent').at(-1)!;
      assert.equal(seen.path, `/v1beta/models/${GEM}:generateContent`, 'base URL as for the SDK, /v1beta/models/{m}:generateContent appended');
      assert.equal(seen.auth, 'header');
      assert.equal(seen.headers['x-goog-api-key'], UPSTREAM_KEY);
      assert.equal(JSON.stringify(seen.headers).includes(u.apiKey), false, "the user's key never reaches the upstream");
      assert.deepEqual(seen.body.contents, [{ role: 'user', parts: [{ text: QUESTION }] }]);

      const usage = plainUsage(seen.body, GEMINI_DEFAULT_REPLY_WORDS);
      assert.equal(r.usageMetadata?.promptTokenCount, usage.promptTokenCount);
      assert.equal(usage.promptTokenCount, 11, '8 words + 3 for the content');
      const expected = geminiCost(price, usage);
      assert.equal(expected, 124n, '(11 x 0.30 + 48 x 2.50) = 123.3, rounded up to 124 micro-units');
      const row = await assertChargedRow(t, rid, expected, {
        status: 200,
        endpoint: 'gemini.generate',
        usage_source: 'upstream',
        prompt_tokens: usage.promptTokenCount,
        completion_tokens: usage.candidatesTokenCount,
        stream: 0,
        model: GEM,
        attempts: 1,
      });
      assert.match(String(row.charge_reason), /completed/);
      const w = await wallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n - expected);
      assert.equal(w.available, w.balance, 'nothing stays reserved');
    });

    test('generateContentStream with thinking: every chunk passes, the last usageMetadata is billed (thoughts as output, tool-use prompt as input, cached at its price)', async () => {
      const reported: GeminiUsage = {
        promptTokenCount: 1_207,
        cachedContentTokenCount: 1_000,
        toolUsePromptTokenCount: 33,
        candidatesTokenCount: 48,
        thoughtsTokenCount: 211,
      };
      mock.setBehavior({ usageOverride: reported, usageOnEveryChunk: true });
      const u = await seedUser(t, { balance: 1_000_000n });
      const stream = await genai(t, u.apiKey).models.generateContentStream({
        model: GEM,
        contents: QUESTION,
        config: { thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } },
      });
      let text = '';
      let thought = '';
      let rid: string | null = null;
      let last: any = null;
      for await (const chunk of stream) {
        rid ??= chunk.sdkHttpResponse?.headers?.['x-request-id'] ?? null;
        for (const p of chunk.candidates?.[0]?.content?.parts ?? []) {
          if (p.thought) thought += p.text ?? '';
          else text += p.text ?? '';
        }
        last = chunk;
      }
      assert.equal(text, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
      assert.equal(countWords(thought), GEMINI_DEFAULT_THINKING_WORDS, 'thought parts pass through');
      assert.equal(last.usageMetadata.thoughtsTokenCount, 211);
      const seen = mock.requestsTo('streamGenerateContent').at(-1)!;
      assert.equal(seen.query.alt, 'sse');
      assert.equal(seen.path, `/v1beta/models/${GEM}:streamGenerateContent`);

      const expected = geminiCost(price, reported);
      // (207 + 33) x 0.30 + 1000 x 0.03 + (48 + 211) x 2.50 = 72 + 30 + 647.5 = 749.5 → 750
      assert.equal(expected, 750n);
      await assertChargedRow(t, rid, expected, {
        endpoint: 'gemini.generate',
        stream: 1,
        usage_source: 'upstream',
        prompt_tokens: 1_207,
        cached_tokens: 1_000,
        tool_use_prompt_tokens: 33,
        completion_tokens: 48,
        reasoning_tokens: 211,
      });
    });

    test('function declarations and a function call round trip (non-stream and stream), each turn charged exactly', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const ai = genai(t, u.apiKey);
      const tools = [{ functionDeclarations: [weatherDecl] }];
      const first = await ai.models.generateContent({ model: GEM, contents: 'Please call a tool for Paris', config: { tools } });
      const call = first.functionCalls?.[0];
      assert.equal(call?.name, 'get_weather');
      assert.deepEqual(call?.args, { city: 'mock city', unit: 'mock unit' });
      const seen1 = mock.requestsTo('generateContent').at(-1)!;
      assert.deepEqual(seen1.body.tools[0].functionDeclarations[0].name, 'get_weather');
      const u1 = plainUsage(seen1.body, countWords(JSON.stringify(call!.args, null, 1)));
      await assertChargedRow(t, first.sdkHttpResponse?.headers?.['x-request-id'] ?? null, geminiCost(price, u1), { prompt_tokens: u1.promptTokenCount });

      const contents = [
        { role: 'user', parts: [{ text: 'Please call a tool for Paris' }] },
        first.candidates![0].content!,
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { output: 'sunny, 21 degrees' } } }] },
      ];
      const stream = await ai.models.generateContentStream({ model: GEM, contents, config: { tools } });
      let text = '';
      let rid: string | null = null;
      for await (const c of stream) {
        rid ??= c.sdkHttpResponse?.headers?.['x-request-id'] ?? null;
        text += c.text ?? '';
      }
      assert.equal(text, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
      const seen2 = mock.requestsTo('streamGenerateContent').at(-1)!;
      assert.equal(seen2.body.contents[2].parts[0].functionResponse.name, 'get_weather');
      const u2 = plainUsage(seen2.body, GEMINI_DEFAULT_REPLY_WORDS);
      await assertChargedRow(t, rid, geminiCost(price, u2), { prompt_tokens: u2.promptTokenCount, stream: 1 });
    });

    test('a mapped model: the upstream path names its own model, the caller is billed at the public price; /api/v1beta serves too', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const r = await genai(t, u.apiKey, { prefix: '/api' }).models.generateContent({ model: MAPPED, contents: QUESTION });
      const seen = mock.requestsTo('generateContent').at(-1)!;
      assert.equal(seen.model, MAPPED_UPSTREAM);
      const usage = plainUsage(seen.body, GEMINI_DEFAULT_REPLY_WORDS);
      await assertChargedRow(t, r.sdkHttpResponse?.headers?.['x-request-id'] ?? null, geminiCost(mappedPrice, usage), {
        model: MAPPED,
        upstream_model: MAPPED_UPSTREAM,
      });
    });

    test('apiVersion v1: POST /v1/models/{m}:generateContent is served as well', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const r = await genai(t, u.apiKey, { apiVersion: 'v1' }).models.generateContent({ model: GEM, contents: QUESTION });
      assert.equal(r.text, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
      assert.equal(mock.requestsTo('generateContent').at(-1)!.path, `/v1beta/models/${GEM}:generateContent`, 'the channel decides the upstream version');
    });

    test('a wallet that cannot pay the default output cap gets generationConfig.maxOutputTokens lowered upstream', async () => {
      mock.setBehavior({});
      // 2,000 micro-units at $2.50/1M output: about 800 output tokens, far below the model's cap.
      const u = await seedUser(t, { balance: 2_000n });
      const r = await genai(t, u.apiKey).models.generateContent({ model: GEM, contents: QUESTION, config: { temperature: 0.2 } });
      const seen = mock.requestsTo('generateContent').at(-1)!;
      assert.ok(
        seen.body.generationConfig.maxOutputTokens > 0 && seen.body.generationConfig.maxOutputTokens < 1000,
        JSON.stringify(seen.body.generationConfig),
      );
      assert.equal(seen.body.generationConfig.temperature, 0.2, "the caller's generationConfig is kept");
      const row = await logRow(t, r.sdkHttpResponse?.headers?.['x-request-id'] ?? null);
      assert.equal(Number(row.charged), 1);
    });

    test('countTokens: answered by the gemini channel ({totalTokens}), never charged, never logged; Tally counts itself for a model no gemini channel serves', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const ai = genai(t, u.apiKey);
      const before = mock.requestsTo('countTokens').length;
      const r = await ai.models.countTokens({ model: GEM, contents: QUESTION });
      const seen = mock.requestsTo('countTokens').at(-1)!;
      assert.equal(mock.requestsTo('countTokens').length, before + 1);
      assert.equal(seen.headers['x-goog-api-key'], UPSTREAM_KEY);
      assert.equal(r.totalTokens, mockGeminiPromptTokens(seen.body));
      await ai.models.countTokens({ model: MAPPED, contents: QUESTION });
      assert.equal(mock.requestsTo('countTokens').at(-1)!.model, MAPPED_UPSTREAM);

      const own = await ai.models.countTokens({ model: GPT_ONLY, contents: QUESTION });
      assert.ok((own.totalTokens ?? 0) > 0, 'Tally counts the prompt itself');
      assert.equal(mock.requestsTo('countTokens').length, before + 2);
      const rows = await t.ctx.db.selectFrom('request_logs').selectAll().where('user_id', '=', u.user.id).execute();
      assert.equal(rows.length, 0, 'countTokens is not a billed request');
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n);

      await assert.rejects(genai(t, 'sk-not-a-real-key-0000000000').models.countTokens({ model: GEM, contents: QUESTION }), (e: any) => {
        assert.ok(e instanceof ApiError);
        assert.equal(e.status, 401);
        return true;
      });
      // The upstream is down: Tally's own count, not an error.
      mock.setBehavior({ fail: 503 });
      const fallback = await ai.models.countTokens({ model: GEM, contents: QUESTION });
      assert.ok((fallback.totalTokens ?? 0) > 0);
      mock.setBehavior({});
    });

    test('a blocked prompt: the SDK reads promptFeedback.blockReason as Google sends it; the prompt tokens Google reported are charged, nothing else', async () => {
      mock.setBehavior({ reply: 'blocked' });
      const u = await seedUser(t, { balance: 1_000_000n });
      const ai = genai(t, u.apiKey);
      const r = await ai.models.generateContent({ model: GEM, contents: QUESTION });
      assert.equal(r.promptFeedback?.blockReason, 'SAFETY');
      assert.equal(r.text, undefined);
      const seen = mock.requestsTo('generateContent').at(-1)!;
      const usage = plainUsage(seen.body, 0);
      await assertChargedRow(t, r.sdkHttpResponse?.headers?.['x-request-id'] ?? null, geminiCost(price, usage), {
        prompt_tokens: usage.promptTokenCount,
        completion_tokens: 0,
      });

      const s = await ai.models.generateContentStream({ model: GEM, contents: QUESTION });
      let rid: string | null = null;
      let reason: string | undefined;
      for await (const c of s) {
        rid ??= c.sdkHttpResponse?.headers?.['x-request-id'] ?? null;
        reason ??= c.promptFeedback?.blockReason;
      }
      assert.equal(reason, 'SAFETY');
      await assertChargedRow(t, rid, geminiCost(price, usage), { completion_tokens: 0, stream: 1 });
      mock.setBehavior({});
    });

    test('an upstream 429 (RESOURCE_EXHAUSTED) fails over to the next gemini channel; only the answer that came is charged', async () => {
      mock.setBehavior({ fail: 429 });
      backup.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const r = await genai(t, u.apiKey).models.generateContent({ model: FAILOVER, contents: QUESTION });
      assert.equal(r.text, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
      const seen = backup.requestsTo('generateContent').at(-1)!;
      assert.equal(seen.headers['x-goog-api-key'], BACKUP_KEY);
      assert.equal(mock.requestsTo('generateContent').at(-1)!.model, FAILOVER, 'the first channel was tried');
      const usage = plainUsage(seen.body, GEMINI_DEFAULT_REPLY_WORDS);
      await assertChargedRow(t, r.sdkHttpResponse?.headers?.['x-request-id'] ?? null, geminiCost(failoverPrice, usage), { attempts: 2 });

      // Every channel limited: the caller gets Google's 429 shape, nothing charged.
      backup.setBehavior({ fail: 429 });
      const res = await fetch(`${t.url}/v1beta/models/${FAILOVER}:generateContent`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-goog-api-key': u.apiKey },
        body: JSON.stringify({ contents: [{ parts: [{ text: QUESTION }] }] }),
      });
      assert.equal(res.status, 429);
      const body = (await res.json()) as any;
      assert.equal(body.error.status, 'RESOURCE_EXHAUSTED');
      assert.match(body.error.message, /RESOURCE_EXHAUSTED/);
      assert.equal(body.error.details[0].reason, 'upstream_rate_limited');
      assert.ok(body.error.details.some((d: any) => d['@type'] === 'type.googleapis.com/google.rpc.RetryInfo'));
      await assertNotChargedRow(t, res.headers.get('x-request-id'));
      mock.setBehavior({});
      backup.setBehavior({});
      await t.ctx.catalog.reload();
    });

    test('bad input: Google error shape {error:{code,message,status}} with the right status and Tally code; nothing charged', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const post = (path: string, body: unknown, headers: Record<string, string> = { 'x-goog-api-key': u.apiKey }) =>
        fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      const contents = [{ role: 'user', parts: [{ text: QUESTION }] }];
      const cases: Array<[string, Response, number, string, string]> = [
        ['unknown model', await post('/v1beta/models/gemini-9-ultra:generateContent', { contents }), 404, 'NOT_FOUND', 'model_not_found'],
        ['missing contents', await post(`/v1beta/models/${GEM}:generateContent`, {}), 400, 'INVALID_ARGUMENT', 'invalid_request'],
        [
          'bad part list',
          await post(`/v1beta/models/${GEM}:streamGenerateContent?alt=sse`, { contents: [{ role: 'user', parts: [] }] }),
          400,
          'INVALID_ARGUMENT',
          'invalid_request',
        ],
        [
          'bad maxOutputTokens',
          await post(`/v1beta/models/${GEM}:generateContent`, { contents, generationConfig: { maxOutputTokens: '100' } }),
          400,
          'INVALID_ARGUMENT',
          'invalid_request',
        ],
        [
          'a proto (snake_case) billed field',
          await post(`/v1beta/models/${GEM}:generateContent`, { contents, generation_config: { candidate_count: 8, max_output_tokens: 65536 } }),
          400,
          'INVALID_ARGUMENT',
          'invalid_request',
        ],
        [
          'a body model other than the path one',
          await post(`/v1beta/models/${GEM}:streamGenerateContent?alt=sse`, { model: 'models/gemini-2.5-pro', contents }),
          400,
          'INVALID_ARGUMENT',
          'invalid_request',
        ],
        [
          'bad key',
          await post(`/v1beta/models/${GEM}:generateContent`, { contents }, { 'x-goog-api-key': 'sk-nope-000000000000000' }),
          401,
          'UNAUTHENTICATED',
          'invalid_api_key',
        ],
        ['no key', await post(`/v1beta/models/${GEM}:generateContent`, { contents }, {}), 401, 'UNAUTHENTICATED', 'missing_api_key'],
        ['a method not served', await post(`/v1beta/models/${GEM}:embedContent`, { content: { parts: [{ text: 'x' }] } }), 404, 'NOT_FOUND', 'route_not_found'],
        ['a method not served, /api/v1', await post(`/api/v1/models/${GEM}:batchEmbedContents`, {}), 404, 'NOT_FOUND', 'route_not_found'],
      ];
      for (const [what, res, status, name, code] of cases) {
        const body = (await res.json()) as any;
        assert.equal(res.status, status, what);
        assert.ok(res.headers.get('x-request-id'), `${what}: x-request-id`);
        assert.equal(body.error.code, status, what);
        assert.equal(body.error.status, name, what);
        assert.equal(typeof body.error.message, 'string');
        assert.equal(body.error.details[0].reason, code, `${what}: ${JSON.stringify(body)}`);
      }
      // The fast path's own refusals (bad JSON) come in the same shape.
      const badJson = await fetch(`${t.url}/v1beta/models/${GEM}:generateContent`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-goog-api-key': u.apiKey },
        body: '{"contents": [',
      });
      assert.equal(badJson.status, 400);
      const bj = (await badJson.json()) as any;
      assert.equal(bj.error.status, 'INVALID_ARGUMENT');
      assert.equal(bj.error.details[0].reason, 'invalid_json');
      const missing = await (await post(`/v1beta/models/${GEM}:generateContent`, { contents: [] })).json();
      assert.equal((missing as any).error.details[0].metadata.param, 'contents');
      const snake = (await (await post(`/v1beta/models/${GEM}:countTokens`, { generateContentRequest: { contents, system_instruction: {} } })).json()) as any;
      assert.equal(snake.error.code, 400);
      assert.equal(snake.error.details[0].metadata.param, 'generateContentRequest.system_instruction');
      assert.match(snake.error.message, /generateContentRequest\.systemInstruction/);
      const other = await seedUser(t, { balance: 1_000_000n }); // charged: kept apart from `u`, which is never charged
      const same = await post(`/v1beta/models/${GEM}:generateContent`, { model: `models/${GEM}`, contents }, { 'x-goog-api-key': other.apiKey });
      assert.equal(same.status, 200, 'the path model repeated in the body is fine');
      await same.arrayBuffer();
      // The SDK turns the shape into an ApiError with the status.
      await assert.rejects(genai(t, u.apiKey).models.generateContent({ model: 'gemini-9-ultra', contents: QUESTION }), (e: any) => {
        assert.ok(e instanceof ApiError);
        assert.equal(e.status, 404);
        assert.match(e.message, /NOT_FOUND/);
        return true;
      });
      // Insufficient balance: 402 FAILED_PRECONDITION (not a 429 the SDK and Gemini CLI would retry).
      const poor = await seedUser(t);
      const broke = await post(`/v1beta/models/${GEM}:generateContent`, { contents }, { 'x-goog-api-key': poor.apiKey });
      assert.equal(broke.status, 402);
      assert.equal(((await broke.json()) as any).error.status, 'FAILED_PRECONDITION');
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n, 'nothing charged');
      const rows = await t.ctx.db.selectFrom('request_logs').selectAll().where('user_id', '=', u.user.id).where('charged', '=', 1).execute();
      assert.equal(rows.length, 0);
    });

    test("?key= in the query authenticates (REST examples, curl); a stream without alt=sse is Google's JSON array, the upstream still asked for SSE", async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const body = { contents: [{ role: 'user', parts: [{ text: QUESTION }] }] };
      const whole = await fetch(`${t.url}/v1beta/models/${GEM}:generateContent?key=${u.apiKey}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(whole.status, 200);
      const w = (await whole.json()) as any;
      assert.equal(w.candidates[0].content.parts[0].text, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
      const usage = plainUsage(body, GEMINI_DEFAULT_REPLY_WORDS);
      await assertChargedRow(t, whole.headers.get('x-request-id'), geminiCost(price, usage));

      const res = await fetch(`${t.url}/v1beta/models/${GEM}:streamGenerateContent?key=${u.apiKey}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const arr = JSON.parse(await res.text()) as any[];
      assert.ok(Array.isArray(arr) && arr.length > 1);
      assert.equal(arr.map((c) => c.candidates[0].content.parts[0].text).join(''), mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
      assert.equal(arr.at(-1).usageMetadata.candidatesTokenCount, GEMINI_DEFAULT_REPLY_WORDS);
      const seen = mock.requestsTo('streamGenerateContent').at(-1)!;
      assert.equal(seen.query.alt, 'sse');
      assert.equal(seen.query.key, undefined, 'the key never goes in the upstream URL');
      await assertChargedRow(t, res.headers.get('x-request-id'), geminiCost(price, usage), { stream: 1 });

      // Broken off mid-way: the array still closes, with an error element; the output so far is charged by count.
      mock.setBehavior({ disconnectAfterChunks: 3 });
      const cut = await fetch(`${t.url}/v1beta/models/${GEM}:streamGenerateContent?key=${u.apiKey}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const parts = JSON.parse(await cut.text()) as any[];
      assert.equal(parts.length, 4);
      assert.equal(parts.at(-1).error.status, 'UNAVAILABLE');
      const row = await logRow(t, cut.headers.get('x-request-id'));
      assert.equal(row.error_code, 'upstream_disconnected');
      mock.setBehavior({});
    });

    test('an error chunk inside the stream ends it as the upstream wrote it (the SDK throws ApiError); the output before it is charged by count', async () => {
      mock.setBehavior({ errorAfterChunks: 3 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const stream = await genai(t, u.apiKey).models.generateContentStream({ model: GEM, contents: QUESTION });
      let rid: string | null = null;
      await assert.rejects(
        (async () => {
          for await (const c of stream) rid ??= c.sdkHttpResponse?.headers?.['x-request-id'] ?? null;
        })(),
        (e: any) => {
          assert.ok(e instanceof ApiError, String(e));
          assert.equal(e.status, 503);
          return true;
        },
      );
      const row = await logRow(t, rid);
      assert.equal(row.error_code, 'upstream_disconnected');
      assert.equal(Number(row.charged), 1, row.charge_reason);
      assert.equal(row.usage_source, 'counted');
      mock.setBehavior({});
    });

    test('the Gemini CLI fixture replays end to end (raw HTTP with its headers and query): SSE back, thoughts and declarations billed exactly', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      await setModelPrice(t.ctx.db, { model: geminiCli.path.split('/')[3].split(':')[0], inputPer1M: 1_250_000n, outputPer1M: 10_000_000n });
      const model = geminiCli.path.split('/')[3].split(':')[0];
      await createChannel(t.ctx.db, t.config.secret, { name: 'google-cli', type: 'gemini', baseUrl: mock.url, apiKey: UPSTREAM_KEY, models: [model] });
      await t.ctx.catalog.reload();
      const cliPrice = t.ctx.catalog.prices.get(model)!;
      const headers = { ...geminiCli.headers, 'x-goog-api-key': u.apiKey };
      const res = await fetch(`${t.url}${geminiCli.path}?${new URLSearchParams(geminiCli.query)}`, {
        method: geminiCli.method,
        headers,
        body: JSON.stringify(geminiCli.body),
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const chunks = parseGeminiSse(await res.text());
      const seen = mock.requestsTo('streamGenerateContent').at(-1)!;
      assert.deepEqual(seen.body, geminiCli.body, 'the body passes byte for byte');
      assert.equal(chunks.filter((c) => c.candidates?.[0]?.content?.parts?.[0]?.thought).length > 0, true, 'thoughts shown (includeThoughts)');
      const last = chunks.at(-1);
      assert.equal(last.usageMetadata.thoughtsTokenCount, GEMINI_DEFAULT_THINKING_WORDS);
      const usage = plainUsage(seen.body, GEMINI_DEFAULT_REPLY_WORDS, GEMINI_DEFAULT_THINKING_WORDS);
      assert.equal(last.usageMetadata.promptTokenCount, usage.promptTokenCount);
      await assertChargedRow(t, res.headers.get('x-request-id'), geminiCost(cliPrice, usage), {
        reasoning_tokens: GEMINI_DEFAULT_THINKING_WORDS,
        completion_tokens: GEMINI_DEFAULT_REPLY_WORDS,
        stream: 1,
      });
    });

    test("GET /v1beta/models (SDK models.list / models.get): the models this key may use, in Gemini's shape; GET /v1/models with a Gemini key header too", async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const ai = genai(t, u.apiKey);
      const names: string[] = [];
      for await (const m of await ai.models.list()) names.push(m.name!);
      for (const m of [GEM, MAPPED, FAILOVER, GPT_ONLY]) assert.ok(names.includes(`models/${m}`), `${m} in ${names.join(',')}`);
      const one = await ai.models.get({ model: GEM });
      assert.equal(one.name, `models/${GEM}`);
      assert.ok(one.supportedActions?.includes('generateContent') ?? true);
      await assert.rejects(ai.models.get({ model: 'gemini-9-ultra' }), (e: any) => e instanceof ApiError && e.status === 404);

      const raw = await fetch(`${t.url}/v1beta/models?key=${u.apiKey}`);
      const list = (await raw.json()) as any;
      assert.ok(raw.headers.get('x-request-id'));
      const entry = list.models.find((m: any) => m.name === `models/${GEM}`);
      assert.deepEqual(entry.supportedGenerationMethods, ['generateContent', 'streamGenerateContent', 'countTokens']);
      assert.equal(entry.outputTokenLimit, price.maxOutputTokens);
      const v1 = (await (await fetch(`${t.url}/v1/models`, { headers: { 'x-goog-api-key': u.apiKey } })).json()) as any;
      assert.ok(Array.isArray(v1.models), 'Gemini shape on /v1/models for a Gemini client');
      const bad = await fetch(`${t.url}/v1beta/models`, { headers: { 'x-goog-api-key': 'sk-nope-000000000000000' } });
      assert.equal(bad.status, 401);
      assert.equal(((await bad.json()) as any).error.status, 'UNAUTHENTICATED');
    });
  });
}
