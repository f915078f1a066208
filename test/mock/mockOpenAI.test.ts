// The mock upstream speaks the OpenAI wire format the official SDK expects:
// the `openai` package (v6) is pointed straight at it, with no Tally in between.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  startMockOpenAI,
  mockPromptTokens,
  mockCompletionPromptTokens,
  mockEmbedding,
  mockEmbeddingTokens,
  mockReplyText,
  mockUsageFor,
  parseSse,
  refusedPort,
  DEFAULT_CHUNKS,
  DEFAULT_REPLY_WORDS,
  type MockOpenAI,
} from '../helpers/mockOpenAI.ts';

const KEY = 'sk-upstream-secret-0123456789abcd';

describe('mock OpenAI upstream, driven by the official openai SDK', () => {
  let mock: MockOpenAI;
  let client: OpenAI;
  before(async () => {
    mock = await startMockOpenAI({ apiKey: KEY });
    client = new OpenAI({ baseURL: mock.url, apiKey: KEY, maxRetries: 0 });
  });
  after(async () => {
    await mock.close();
  });

  const messages = [
    { role: 'system' as const, content: 'You are terse.' },
    { role: 'user' as const, content: 'Say hello to the world please' },
  ];

  test('non-stream chat completion: shape, content and deterministic usage', async () => {
    mock.setBehavior({});
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    assert.equal(r.object, 'chat.completion');
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.model, 'gpt-4o-mini');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, mockReplyText(DEFAULT_REPLY_WORDS));
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage?.prompt_tokens, mockPromptTokens(messages));
    assert.equal(r.usage?.prompt_tokens, 3 + 3 + 6 + 3, '3 + 6 words, 3 per message');
    assert.equal(r.usage?.completion_tokens, DEFAULT_REPLY_WORDS);
    assert.equal(r.usage?.total_tokens, r.usage!.prompt_tokens + r.usage!.completion_tokens);
    assert.equal(r.usage?.prompt_tokens_details?.cached_tokens, 0);
    const seen = mock.requests.at(-1)!;
    assert.equal(seen.path, '/v1/chat/completions');
    assert.equal(seen.headers.authorization, `Bearer ${KEY}`);
    assert.deepEqual(seen.body.messages, messages);
  });

  test('n and max_tokens / max_completion_tokens are honoured', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, n: 3, max_tokens: 5 });
    assert.equal(r.choices.length, 3);
    assert.deepEqual(
      r.choices.map((c) => c.index),
      [0, 1, 2],
    );
    for (const c of r.choices) {
      assert.equal(c.message.content, mockReplyText(5));
      assert.equal(c.finish_reason, 'length');
    }
    assert.equal(r.usage?.completion_tokens, 15);
    const r2 = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_completion_tokens: 7 });
    assert.equal(r2.choices[0].message.content, mockReplyText(7));
    assert.equal(r2.usage?.completion_tokens, 7);
    assert.deepEqual(mockUsageFor(mock.requests.at(-1)!.body), { prompt_tokens: r2.usage!.prompt_tokens, completion_tokens: 7, cached_tokens: 0 });
  });

  test('a tool call is echoed when tools are offered and the user asks to call a tool', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      },
    ];
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Please call a tool for Paris' }], tools });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.content, null);
    const call = c.message.tool_calls![0];
    assert.equal(call.type, 'function');
    assert.match(call.id, /^call_/);
    if (call.type !== 'function') throw new Error('function call expected');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'mock city' });

    // Streamed, the argument pieces concatenate back to the same JSON.
    const s = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Please call a tool for Paris' }],
      tools,
      stream: true,
    });
    let args = '';
    let name = '';
    let finish: string | null = null;
    for await (const ch of s) {
      for (const ch0 of ch.choices) {
        for (const tc of ch0.delta.tool_calls ?? []) {
          if (tc.function?.name) name = tc.function.name;
          args += tc.function?.arguments ?? '';
        }
        if (ch0.finish_reason) finish = ch0.finish_reason;
      }
    }
    assert.equal(name, 'get_weather');
    assert.deepEqual(JSON.parse(args), { city: 'mock city' });
    assert.equal(finish, 'tool_calls');
  });

  test('stream with include_usage: role chunk, 16 content chunks, finish chunk, usage chunk with choices [] and usage null elsewhere', async () => {
    const s = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const ch of s) chunks.push(ch);
    assert.equal(chunks.length, 1 + DEFAULT_CHUNKS + 1 + 1);
    for (const ch of chunks) {
      assert.equal(ch.object, 'chat.completion.chunk');
      assert.equal(ch.id, chunks[0].id);
    }
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const text = chunks.flatMap((c) => c.choices.map((x) => x.delta.content ?? '')).join('');
    assert.equal(text, mockReplyText(DEFAULT_REPLY_WORDS));
    assert.equal(chunks.at(-2)!.choices[0].finish_reason, 'stop');
    for (const ch of chunks.slice(0, -1)) assert.equal(ch.usage, null, 'every chunk but the last carries "usage": null');
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage?.prompt_tokens, mockPromptTokens(messages));
    assert.equal(last.usage?.completion_tokens, DEFAULT_REPLY_WORDS);
  });

  test('stream without include_usage has no usage field at all; the raw framing is data: ...\\n\\n then data: [DONE]', async () => {
    const res = await fetch(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages, stream: true }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const raw = await res.text();
    assert.ok(raw.startsWith('data: {'), raw.slice(0, 40));
    assert.ok(raw.endsWith('data: [DONE]\n\n'));
    assert.equal(raw.includes('\r'), false);
    const events = parseSse(raw);
    assert.equal(events.at(-1), '[DONE]');
    for (const e of events.slice(0, -1)) assert.equal('usage' in JSON.parse(e), false);
    assert.equal(events.length, 1 + DEFAULT_CHUNKS + 1 + 1);

    // The chunk count is configurable per request through the x-mock-behavior header.
    const res2 = await fetch(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'x-mock-behavior': JSON.stringify({ chunks: 4 }) },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } }),
    });
    assert.equal(parseSse(await res2.text()).length, 1 + 4 + 1 + 1 + 1);
  });

  test('legacy completions: text_completion, stream and non-stream', async () => {
    const r = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time', max_tokens: 10 });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0].text, mockReplyText(10));
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage?.prompt_tokens, mockCompletionPromptTokens('Once upon a time'));
    assert.equal(r.usage?.completion_tokens, 10);
    const s = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'Once upon a time',
      max_tokens: 10,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const ch of s) {
      assert.equal(ch.object, 'text_completion');
      text += ch.choices.map((c) => c.text).join('');
      if (ch.usage) usage = ch.usage;
    }
    assert.equal(text, mockReplyText(10));
    assert.equal(usage?.completion_tokens, 10);
  });

  test('embeddings: deterministic vectors as floats and as the SDK-default base64', async () => {
    const input = ['hello world', 'three little words'];
    const viaB64 = await client.embeddings.create({ model: 'text-embedding-3-small', input });
    assert.equal(mock.requests.at(-1)!.body.encoding_format, 'base64', 'the SDK asks for base64 by default');
    assert.equal(viaB64.object, 'list');
    assert.equal(viaB64.data.length, 2);
    assert.deepEqual(Array.from(viaB64.data[1].embedding), mockEmbedding('three little words'));
    assert.deepEqual(viaB64.usage, { prompt_tokens: mockEmbeddingTokens(input), total_tokens: 5 });
    const viaFloat = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world', encoding_format: 'float', dimensions: 8 });
    assert.equal(viaFloat.data[0].object, 'embedding');
    assert.deepEqual(viaFloat.data[0].embedding, mockEmbedding('hello world', 8));
  });

  test('models: list and retrieve', async () => {
    const list = [];
    for await (const m of client.models.list()) list.push(m);
    assert.ok(list.some((m) => m.id === 'gpt-4o-mini' && m.object === 'model' && typeof m.created === 'number' && m.owned_by === 'openai'));
    const one = await client.models.retrieve('gpt-4o');
    assert.equal(one.id, 'gpt-4o');
    await assert.rejects(client.models.retrieve('nope'), OpenAI.NotFoundError);
  });

  test('an unknown model is 404 model_not_found', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'gpt-9', messages }), (e: any) => {
      assert.ok(e instanceof OpenAI.NotFoundError);
      assert.equal(e.code, 'model_not_found');
      return true;
    });
  });

  test('each failure status maps to the SDK error class, with type, code and message from the body', async () => {
    const cases: Array<[number, any, string | null]> = [
      [400, OpenAI.BadRequestError, 'invalid_value'],
      [401, OpenAI.AuthenticationError, 'invalid_api_key'],
      [403, OpenAI.PermissionDeniedError, 'unsupported_country_region_territory'],
      [404, OpenAI.NotFoundError, 'model_not_found'],
      [429, OpenAI.RateLimitError, 'rate_limit_exceeded'],
      [500, OpenAI.InternalServerError, null],
      [502, OpenAI.InternalServerError, null],
      [503, OpenAI.InternalServerError, null],
    ];
    for (const [status, cls, code] of cases) {
      mock.setBehavior({ fail: status, retryAfter: 7 });
      await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages }), (e: any) => {
        assert.ok(e instanceof cls, `${status} -> ${e?.constructor?.name}`);
        assert.equal(e.status, status);
        assert.equal(e.code, code);
        assert.equal(typeof e.type, 'string');
        assert.ok(e.message.length > 10);
        if (status === 429) assert.equal(e.headers.get('retry-after'), '7');
        return true;
      });
    }
    mock.setBehavior({});
  });

  test('the error body is exactly {error:{message,type,param,code}}', async () => {
    const res = await fetch(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'x-mock-behavior': '{"fail":429}' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages }),
    });
    assert.equal(res.status, 429);
    const body = (await res.json()) as any;
    assert.deepEqual(Object.keys(body), ['error']);
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  });

  test('a wrong key gets 401 with the presented key masked; the expected key is never echoed', async () => {
    const bad = new OpenAI({ baseURL: mock.url, apiKey: 'sk-wrong-key-aaaaaaaaaaaaabcd', maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e: any) => {
      assert.ok(e instanceof OpenAI.AuthenticationError);
      assert.match(e.message, /Incorrect API key provided: sk-wron\*+abcd/);
      assert.equal(e.message.includes(KEY), false);
      return true;
    });
  });

  test('failFirstN fails the first N requests then succeeds; the SDK retries through it', async () => {
    mock.setBehavior({ failFirstN: 2, fail: 503 });
    const retrying = new OpenAI({ baseURL: mock.url, apiKey: KEY, maxRetries: 2 });
    const before = mock.requests.length;
    const r = await retrying.chat.completions.create({ model: 'gpt-4o-mini', messages });
    assert.equal(r.object, 'chat.completion');
    assert.equal(mock.requests.length - before, 3);
    mock.setBehavior({});
  });

  test('omitUsage and usageOverride', async () => {
    mock.setBehavior({ omitUsage: true });
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    assert.equal(r.usage, undefined);
    const s = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } });
    let sawUsage = false;
    for await (const ch of s) if (ch.usage) sawUsage = true;
    assert.equal(sawUsage, false);
    mock.setBehavior({ usageOverride: { prompt_tokens: 1000, completion_tokens: 2000, cached_tokens: 400 } });
    const r2 = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    assert.equal(r2.usage?.prompt_tokens, 1000);
    assert.equal(r2.usage?.completion_tokens, 2000);
    assert.equal(r2.usage?.prompt_tokens_details?.cached_tokens, 400);
    mock.setBehavior({});
  });

  test('latency before headers and delay between chunks', async () => {
    mock.setBehavior({ latencyMs: 150, chunkDelayMs: 10, chunks: 5 });
    const t0 = Date.now();
    const s = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
    const firstByte = Date.now() - t0;
    assert.ok(firstByte >= 140, `headers after ${firstByte}ms`);
    let n = 0;
    for await (const _ of s) n++;
    assert.ok(Date.now() - t0 >= 150 + 5 * 10 - 5);
    assert.equal(n, 1 + 5 + 1);
    mock.setBehavior({});
  });

  test('disconnectAfterChunks cuts the stream after N content chunks: the SDK sees a broken stream', async () => {
    mock.setBehavior({ disconnectAfterChunks: 3, chunks: 8 });
    const s = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } });
    let text = '';
    await assert.rejects(async () => {
      for await (const ch of s) text += ch.choices.map((c) => c.delta.content ?? '').join('');
    });
    assert.equal(text, mockReplyText(DEFAULT_REPLY_WORDS).split(' ').slice(0, 18).join(' '), '3 of 8 chunks of 6 words');
    assert.equal(mock.requests.at(-1)!.outcome, 'mock_closed');
    mock.setBehavior({});
  });

  test('outcome records whether a response completed or the client went away', async () => {
    mock.setBehavior({ chunkDelayMs: 30 });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    assert.equal(mock.requests.at(-1)!.outcome, 'completed');
    const s = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
    let n = 0;
    for await (const _ of s) if (++n === 3) break;
    const rec = mock.requests.at(-1)!;
    for (let i = 0; i < 50 && !rec.outcome; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(rec.outcome, 'client_closed');
    mock.setBehavior({});
  });

  test('errorAfterChunks sends an in-stream error event that the SDK raises', async () => {
    mock.setBehavior({ errorAfterChunks: 2 });
    const s = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
    await assert.rejects(async () => {
      for await (const _ of s) {
        /* drain */
      }
    }, OpenAI.APIError);
    mock.setBehavior({});
  });

  test('hang never answers: the SDK times out; close() still returns promptly', async () => {
    const m2 = await startMockOpenAI({ behavior: { hang: true } });
    const c2 = new OpenAI({ baseURL: m2.url, apiKey: 'x', maxRetries: 0, timeout: 200 });
    await assert.rejects(c2.chat.completions.create({ model: 'gpt-4o-mini', messages }), OpenAI.APIConnectionTimeoutError);
    assert.equal(m2.requests.length, 1);
    const t0 = Date.now();
    await m2.close();
    assert.ok(Date.now() - t0 < 1000);
  });

  test('disconnectBeforeResponse resets the connection: the SDK reports a connection error', async () => {
    mock.setBehavior({ disconnectBeforeResponse: true });
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages }), OpenAI.APIConnectionError);
    mock.setBehavior({});
  });

  test('behaviour may be a function of the request', async () => {
    mock.setBehavior((req) => (req.body?.messages?.at(-1)?.content === 'fail me' ? { fail: 500 } : {}));
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'fail me' }] }),
      OpenAI.InternalServerError,
    );
    const ok = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'fine' }] });
    assert.equal(ok.object, 'chat.completion');
    mock.setBehavior({});
  });

  test('refusedPort gives a port where connections are refused', async () => {
    const port = await refusedPort();
    const c = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'x', maxRetries: 0 });
    await assert.rejects(c.models.list(), OpenAI.APIConnectionError);
  });
});
