// The mock Gemini upstream speaks the Gemini API (v1beta) wire format: checked
// byte by byte with plain fetch, then with the official @google/genai pointed
// straight at it (httpOptions.baseUrl), with no Tally in between.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, GoogleGenAI } from '@google/genai';
import {
  startMockGemini,
  mockGeminiPromptTokens,
  mockFunctionArgs,
  mockReplyText,
  parseGeminiSse,
  countWords,
  GEMINI_DEFAULT_CHUNKS,
  GEMINI_DEFAULT_REPLY_WORDS,
  GEMINI_DEFAULT_THINKING_WORDS,
  type MockGemini,
} from '../helpers/mockGemini.ts';

const KEY = 'AIzaSyMock-upstream-secret-0123456789';
const MODEL = 'gemini-2.5-flash';
const contents = [{ role: 'user', parts: [{ text: 'Say hello to the world please' }] }];
const weather = {
  name: 'get_weather',
  description: 'Get the current weather in a city',
  parametersJsonSchema: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
};

function post(mock: MockGemini, path: string, body: unknown, headers: Record<string, string> = { 'x-goog-api-key': KEY }) {
  return fetch(`${mock.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

describe('mock Gemini upstream, over plain fetch', () => {
  let mock: MockGemini;
  before(async () => {
    mock = await startMockGemini({ apiKey: KEY });
  });
  after(async () => {
    await mock.close();
  });

  test('generateContent: candidates, finishReason, usageMetadata with fixed numbers', async () => {
    const body = { contents, systemInstruction: { parts: [{ text: 'You are terse.' }] } };
    const res = await post(mock, `/v1beta/models/${MODEL}:generateContent`, body);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^application\/json/);
    const r = (await res.json()) as any;
    assert.deepEqual(Object.keys(r), ['candidates', 'usageMetadata', 'modelVersion', 'responseId']);
    assert.deepEqual(r.candidates, [
      { content: { parts: [{ text: mockReplyText(GEMINI_DEFAULT_REPLY_WORDS) }], role: 'model' }, finishReason: 'STOP', index: 0 },
    ]);
    assert.equal(mockGeminiPromptTokens(body), 3 + 6 + 3);
    assert.deepEqual(r.usageMetadata, {
      promptTokenCount: 12,
      candidatesTokenCount: GEMINI_DEFAULT_REPLY_WORDS,
      totalTokenCount: 12 + GEMINI_DEFAULT_REPLY_WORDS,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 12 }],
    });
    assert.equal(r.modelVersion, MODEL);
    assert.equal(mock.requests.at(-1)!.model, MODEL);
    assert.equal(mock.requests.at(-1)!.action, 'generateContent');
    assert.equal(mock.requests.at(-1)!.auth, 'header');
  });

  test('the key may come as ?key=; none is 403 PERMISSION_DENIED, a wrong one 400 INVALID_ARGUMENT', async () => {
    const ok = await post(mock, `/v1beta/models/${MODEL}:generateContent?key=${KEY}`, { contents }, {});
    assert.equal(ok.status, 200);
    assert.equal(mock.requests.at(-1)!.auth, 'query');
    const none = await post(mock, `/v1beta/models/${MODEL}:generateContent`, { contents }, {});
    assert.equal(none.status, 403);
    assert.equal(((await none.json()) as any).error.status, 'PERMISSION_DENIED');
    const wrong = await post(mock, `/v1beta/models/${MODEL}:generateContent`, { contents }, { 'x-goog-api-key': 'nope' });
    assert.equal(wrong.status, 400);
    const e = ((await wrong.json()) as any).error;
    assert.equal(e.code, 400);
    assert.equal(e.status, 'INVALID_ARGUMENT');
    assert.match(e.message, /API key not valid/);
    assert.equal(e.details[0].reason, 'API_KEY_INVALID');
  });

  test('thinking: thought parts only with includeThoughts, thoughtsTokenCount either way, total sums all', async () => {
    const shown = (await (
      await post(mock, `/v1beta/models/${MODEL}:generateContent`, { contents, generationConfig: { thinkingConfig: { includeThoughts: true } } })
    ).json()) as any;
    const parts = shown.candidates[0].content.parts;
    assert.equal(parts.length, 2);
    assert.equal(parts[0].thought, true);
    assert.equal(countWords(parts[0].text), GEMINI_DEFAULT_THINKING_WORDS);
    assert.match(parts[1].thoughtSignature, /^CiQB/);
    const u = shown.usageMetadata;
    assert.equal(u.thoughtsTokenCount, GEMINI_DEFAULT_THINKING_WORDS);
    assert.equal(u.totalTokenCount, u.promptTokenCount + u.candidatesTokenCount + u.thoughtsTokenCount);
    const hidden = (await (
      await post(mock, `/v1beta/models/${MODEL}:generateContent`, { contents, generationConfig: { thinkingConfig: { thinkingBudget: 1024 } } })
    ).json()) as any;
    assert.equal(hidden.candidates[0].content.parts.length, 1);
    assert.equal(hidden.usageMetadata.thoughtsTokenCount, GEMINI_DEFAULT_THINKING_WORDS);
  });

  test('functionCall when asked to call a tool; maxOutputTokens → MAX_TOKENS; stopSequences cut', async () => {
    const call = (await (
      await post(mock, `/v1beta/models/${MODEL}:generateContent`, {
        contents: [{ role: 'user', parts: [{ text: 'Please call a tool' }] }],
        tools: [{ functionDeclarations: [weather] }],
      })
    ).json()) as any;
    assert.deepEqual(call.candidates[0].content.parts, [{ functionCall: { name: 'get_weather', args: mockFunctionArgs(weather) } }]);
    assert.equal(call.candidates[0].finishReason, 'STOP');
    assert.equal(call.usageMetadata.candidatesTokenCount, countWords(JSON.stringify(mockFunctionArgs(weather), null, 1)));
    const capped = (await (await post(mock, `/v1beta/models/${MODEL}:generateContent`, { contents, generationConfig: { maxOutputTokens: 5 } })).json()) as any;
    assert.equal(capped.candidates[0].content.parts[0].text, mockReplyText(5));
    assert.equal(capped.candidates[0].finishReason, 'MAX_TOKENS');
    const stopped = (await (
      await post(mock, `/v1beta/models/${MODEL}:generateContent`, { contents, generationConfig: { stopSequences: ['fox'] } })
    ).json()) as any;
    assert.equal(stopped.candidates[0].content.parts[0].text, 'The quick brown');
    assert.equal(stopped.candidates[0].finishReason, 'STOP');
  });

  test('a blocked prompt: 200, promptFeedback.blockReason, no candidates; a SAFETY candidate has no parts', async () => {
    mock.setBehavior({ reply: 'blocked' });
    const r = (await (await post(mock, `/v1beta/models/${MODEL}:generateContent`, { contents })).json()) as any;
    assert.equal(r.candidates, undefined);
    assert.equal(r.promptFeedback.blockReason, 'SAFETY');
    assert.equal(r.usageMetadata.candidatesTokenCount, undefined);
    assert.equal(r.usageMetadata.totalTokenCount, r.usageMetadata.promptTokenCount);
    mock.setBehavior({ reply: 'safety' });
    const s = (await (await post(mock, `/v1beta/models/${MODEL}:generateContent`, { contents })).json()) as any;
    assert.equal(s.candidates[0].finishReason, 'SAFETY');
    assert.equal(s.candidates[0].content.parts, undefined);
    mock.setBehavior({});
  });

  test('usageOverride: cached content inside promptTokenCount, tool-use prompt and thoughts in the total', async () => {
    mock.setBehavior({
      usageOverride: { promptTokenCount: 1000, candidatesTokenCount: 40, thoughtsTokenCount: 300, cachedContentTokenCount: 600, toolUsePromptTokenCount: 25 },
    });
    const r = (await (await post(mock, `/v1beta/models/${MODEL}:generateContent`, { contents })).json()) as any;
    assert.deepEqual(r.usageMetadata, {
      promptTokenCount: 1000,
      candidatesTokenCount: 40,
      totalTokenCount: 1365,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 1000 }],
      cachedContentTokenCount: 600,
      cacheTokensDetails: [{ modality: 'TEXT', tokenCount: 600 }],
      toolUsePromptTokenCount: 25,
      thoughtsTokenCount: 300,
    });
    mock.setBehavior({});
  });

  test('streamGenerateContent?alt=sse: data chunks framed with \\r\\n\\r\\n, usageMetadata and finishReason on the last', async () => {
    const res = await post(mock, `/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`, { contents });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const raw = await res.text();
    assert.ok(raw.startsWith('data: {'));
    assert.ok(raw.endsWith('}\r\n\r\n'));
    const chunks = parseGeminiSse(raw);
    assert.equal(chunks.length, GEMINI_DEFAULT_CHUNKS);
    assert.equal(chunks.map((c) => c.candidates[0].content.parts[0].text).join(''), mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
    for (const c of chunks.slice(0, -1)) {
      assert.equal(c.usageMetadata, undefined);
      assert.equal(c.candidates[0].finishReason, undefined);
    }
    const last = chunks.at(-1);
    assert.equal(last.candidates[0].finishReason, 'STOP');
    assert.equal(last.usageMetadata.candidatesTokenCount, GEMINI_DEFAULT_REPLY_WORDS);
    assert.equal(new Set(chunks.map((c) => c.responseId)).size, 1);
  });

  test('stream: usageOnEveryChunk gives running counts; thought chunks first; blocked prompt is one chunk', async () => {
    mock.setBehavior({ usageOnEveryChunk: true });
    const chunks = parseGeminiSse(
      await (
        await post(mock, `/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`, { contents, generationConfig: { thinkingConfig: { includeThoughts: true } } })
      ).text(),
    );
    assert.equal(chunks.length, 2 * GEMINI_DEFAULT_CHUNKS);
    assert.ok(chunks.slice(0, GEMINI_DEFAULT_CHUNKS).every((c) => c.candidates[0].content.parts[0].thought === true));
    assert.ok(chunks[GEMINI_DEFAULT_CHUNKS].candidates[0].content.parts[0].thoughtSignature);
    assert.ok(chunks.every((c) => c.usageMetadata.promptTokenCount === chunks[0].usageMetadata.promptTokenCount));
    assert.equal(chunks.at(-1).usageMetadata.thoughtsTokenCount, GEMINI_DEFAULT_THINKING_WORDS);
    mock.setBehavior({ reply: 'blocked' });
    const blocked = parseGeminiSse(await (await post(mock, `/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`, { contents })).text());
    assert.equal(blocked.length, 1);
    assert.equal(blocked[0].promptFeedback.blockReason, 'SAFETY');
    mock.setBehavior({});
  });

  test('stream cut mid-way, and an in-stream error chunk', async () => {
    mock.setBehavior({ disconnectAfterChunks: 3 });
    const res = await post(mock, `/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`, { contents });
    assert.equal(res.status, 200);
    await assert.rejects(res.text());
    mock.setBehavior({ errorAfterChunks: 2 });
    const chunks = parseGeminiSse(await (await post(mock, `/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`, { contents })).text());
    assert.equal(chunks.length, 3);
    assert.deepEqual(chunks[2].error, { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' });
    mock.setBehavior({});
  });

  test('errors: {error:{code,message,status}} for 400, 403, 404, 429 (RetryInfo), 500, 503', async () => {
    const want: Record<number, string> = {
      400: 'INVALID_ARGUMENT',
      403: 'PERMISSION_DENIED',
      404: 'NOT_FOUND',
      429: 'RESOURCE_EXHAUSTED',
      500: 'INTERNAL',
      503: 'UNAVAILABLE',
    };
    for (const [code, status] of Object.entries(want)) {
      mock.setBehavior({ fail: Number(code) });
      const res = await post(mock, `/v1beta/models/${MODEL}:generateContent`, { contents });
      assert.equal(res.status, Number(code));
      const e = ((await res.json()) as any).error;
      assert.equal(e.code, Number(code));
      assert.equal(e.status, status);
      assert.ok(e.message.length > 0);
      if (code === '429') assert.equal(e.details.at(-1).retryDelay, '13s');
    }
    mock.setBehavior({});
    const unknown = await post(mock, '/v1beta/models/gemini-0-nope:generateContent', { contents });
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as any).error.message, /models\/gemini-0-nope is not found for API version v1beta/);
    const empty = await post(mock, `/v1beta/models/${MODEL}:generateContent`, { contents: [] });
    assert.equal(empty.status, 400);
  });

  test('countTokens and the model list', async () => {
    const r = (await (await post(mock, `/v1beta/models/${MODEL}:countTokens`, { contents })).json()) as any;
    assert.deepEqual(r, { totalTokens: 9, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 9 }] });
    const wrapped = (await (
      await post(mock, `/v1beta/models/${MODEL}:countTokens`, { generateContentRequest: { model: `models/${MODEL}`, contents } })
    ).json()) as any;
    assert.equal(wrapped.totalTokens, 9);
    const list = (await (await fetch(`${mock.url}/v1beta/models?key=${KEY}`)).json()) as any;
    assert.ok(list.models.some((m: any) => m.name === `models/${MODEL}` && m.supportedGenerationMethods.includes('generateContent')));
    const one = (await (await fetch(`${mock.url}/v1beta/models/${MODEL}`, { headers: { 'x-goog-api-key': KEY } })).json()) as any;
    assert.equal(one.name, `models/${MODEL}`);
  });
});

describe('mock Gemini upstream, through the official @google/genai', () => {
  let mock: MockGemini;
  let ai: GoogleGenAI;
  before(async () => {
    mock = await startMockGemini({ apiKey: KEY });
    ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: mock.url } });
  });
  after(async () => {
    await mock.close();
  });

  test('generateContent: text, usage, and the wire path the SDK uses', async () => {
    const r = await ai.models.generateContent({ model: MODEL, contents: 'Say hello to the world please', config: { systemInstruction: 'You are terse.' } });
    assert.equal(r.text, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
    assert.equal(r.usageMetadata?.promptTokenCount, 12);
    assert.equal(r.usageMetadata?.candidatesTokenCount, GEMINI_DEFAULT_REPLY_WORDS);
    assert.equal(r.candidates?.[0]?.finishReason, 'STOP');
    const seen = mock.requests.at(-1)!;
    assert.equal(seen.path, `/v1beta/models/${MODEL}:generateContent`);
    assert.equal(seen.auth, 'header');
    assert.deepEqual(seen.body.systemInstruction, { parts: [{ text: 'You are terse.' }], role: 'user' });
  });

  test('generateContent with function declarations: functionCalls; with thinking: thoughts apart', async () => {
    const r = await ai.models.generateContent({
      model: MODEL,
      contents: 'Please call a tool',
      config: { tools: [{ functionDeclarations: [weather] }] },
    });
    assert.deepEqual(
      r.functionCalls?.map((c) => ({ name: c.name, args: c.args })),
      [{ name: 'get_weather', args: mockFunctionArgs(weather) }],
    );
    const t = await ai.models.generateContent({ model: MODEL, contents: 'Hi', config: { thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } } });
    assert.equal(t.text, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS), '.text leaves thought parts out');
    assert.equal(t.usageMetadata?.thoughtsTokenCount, GEMINI_DEFAULT_THINKING_WORDS);
  });

  test('generateContentStream: the chunks join into the reply; usage on the last', async () => {
    const stream = await ai.models.generateContentStream({ model: MODEL, contents: 'Say hello to the world please' });
    let text = '';
    let n = 0;
    let last: any;
    for await (const c of stream) {
      text += c.text ?? '';
      n++;
      last = c;
    }
    assert.equal(n, GEMINI_DEFAULT_CHUNKS);
    assert.equal(text, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
    assert.equal(last.usageMetadata.candidatesTokenCount, GEMINI_DEFAULT_REPLY_WORDS);
    assert.equal(mock.requests.at(-1)!.query.alt, 'sse');
  });

  test('countTokens', async () => {
    const r = await ai.models.countTokens({ model: MODEL, contents: 'Say hello to the world please' });
    assert.equal(r.totalTokens, 9);
  });

  test('errors reach the SDK as ApiError with the status; an in-stream error chunk and a cut stream throw', async () => {
    for (const code of [400, 403, 404, 429, 500, 503]) {
      mock.setBehavior({ fail: code });
      await assert.rejects(ai.models.generateContent({ model: MODEL, contents: 'Hi' }), (e: unknown) => {
        assert.ok(e instanceof ApiError);
        assert.equal(e.status, code);
        return true;
      });
    }
    mock.setBehavior({ errorAfterChunks: 2 });
    await assert.rejects(
      (async () => {
        for await (const _ of await ai.models.generateContentStream({ model: MODEL, contents: 'Hi' })) {
        }
      })(),
      (e: unknown) => e instanceof ApiError && e.status === 503,
    );
    mock.setBehavior({ disconnectAfterChunks: 2 });
    await assert.rejects(
      (async () => {
        for await (const _ of await ai.models.generateContentStream({ model: MODEL, contents: 'Hi' })) {
        }
      })(),
    );
    mock.setBehavior({ reply: 'blocked' });
    const blocked = await ai.models.generateContent({ model: MODEL, contents: 'Hi' });
    assert.equal(blocked.promptFeedback?.blockReason, 'SAFETY');
    assert.equal(blocked.text, undefined);
    mock.setBehavior({});
  });
});
