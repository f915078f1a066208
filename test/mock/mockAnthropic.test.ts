// The mock Anthropic upstream speaks the Messages API wire format: checked first
// byte by byte with plain fetch, then (when the package is installed) with the
// official @anthropic-ai/sdk pointed straight at it, with no Tally in between.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import {
  startMockAnthropic,
  mockAnthropicInputTokens,
  mockToolInput,
  mockToolInputJson,
  mockReplyText,
  parseAnthropicSse,
  anthropicErrorType,
  countWords,
  ANTHROPIC_DEFAULT_CHUNKS,
  ANTHROPIC_DEFAULT_REPLY_WORDS,
  ANTHROPIC_DEFAULT_THINKING_WORDS,
  ANTHROPIC_VERSION,
  type MockAnthropic,
} from '../helpers/mockAnthropic.ts';

const KEY = 'sk-ant-api03-upstream-secret-0123456789';
const MODEL = 'claude-sonnet-4-5-20250929';
const messages = [{ role: 'user', content: 'Say hello to the world please' }];
const weatherTool = {
  name: 'get_weather',
  description: 'Get the current weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
};

function post(mock: MockAnthropic, path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${mock.url}${path}`, {
    method: 'POST',
    headers: { 'x-api-key': KEY, 'anthropic-version': ANTHROPIC_VERSION, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

describe('mock Anthropic upstream, over plain fetch', () => {
  let mock: MockAnthropic;
  before(async () => {
    mock = await startMockAnthropic({ apiKey: KEY });
  });
  after(async () => {
    await mock.close();
  });

  test('non-stream message: the full Message object with deterministic usage', async () => {
    const body = { model: MODEL, max_tokens: 1024, system: 'You are terse.', messages };
    const res = await post(mock, '/v1/messages', body);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('request-id')!, /^req_/);
    const m = (await res.json()) as any;
    assert.deepEqual(Object.keys(m), ['id', 'type', 'role', 'model', 'content', 'stop_reason', 'stop_sequence', 'stop_details', 'usage']);
    assert.match(m.id, /^msg_01/);
    assert.equal(m.type, 'message');
    assert.equal(m.role, 'assistant');
    assert.equal(m.model, MODEL);
    assert.deepEqual(m.content, [{ type: 'text', text: mockReplyText(ANTHROPIC_DEFAULT_REPLY_WORDS) }]);
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(m.stop_sequence, null);
    assert.deepEqual(m.usage, {
      input_tokens: mockAnthropicInputTokens(body),
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      output_tokens: ANTHROPIC_DEFAULT_REPLY_WORDS,
      service_tier: 'standard',
      inference_geo: 'not_available',
    });
    assert.equal(mockAnthropicInputTokens(body), 3 + (6 + 3), 'system words + message words + 3 per message');
  });

  test('max_tokens and stop_sequences end the text with max_tokens / stop_sequence', async () => {
    const capped = (await (await post(mock, '/v1/messages', { model: MODEL, max_tokens: 5, messages })).json()) as any;
    assert.equal(capped.content[0].text, mockReplyText(5));
    assert.equal(capped.stop_reason, 'max_tokens');
    assert.equal(capped.usage.output_tokens, 5);
    const stopped = (await (await post(mock, '/v1/messages', { model: MODEL, max_tokens: 100, messages, stop_sequences: ['fox'] })).json()) as any;
    assert.equal(stopped.content[0].text, 'The quick brown');
    assert.equal(stopped.stop_reason, 'stop_sequence');
    assert.equal(stopped.stop_sequence, 'fox');
  });

  test('stream: real event names, order and framing; usage in message_start and cumulative in message_delta', async () => {
    const body = { model: MODEL, max_tokens: 1024, messages, stream: true };
    const res = await post(mock, '/v1/messages', body);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const raw = await res.text();
    assert.ok(raw.startsWith('event: message_start\ndata: {'), raw.slice(0, 40));
    assert.ok(raw.endsWith('event: message_stop\ndata: {"type":"message_stop"}\n\n'));
    const events = parseAnthropicSse(raw);
    const names = events.map((e) => e.event);
    assert.deepEqual(names, [
      'message_start',
      'content_block_start',
      'ping',
      ...Array(ANTHROPIC_DEFAULT_CHUNKS).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const e of events) assert.equal(e.data.type, e.event, 'data.type repeats the event name');
    const start = events[0].data.message;
    assert.deepEqual(start.content, []);
    assert.equal(start.stop_reason, null);
    assert.equal(start.usage.input_tokens, mockAnthropicInputTokens(body));
    assert.equal(start.usage.output_tokens, 1);
    assert.deepEqual(events[1].data.content_block, { type: 'text', text: '' });
    const text = events
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => {
        assert.equal(e.data.delta.type, 'text_delta');
        return e.data.delta.text;
      })
      .join('');
    assert.equal(text, mockReplyText(ANTHROPIC_DEFAULT_REPLY_WORDS));
    const delta = events.at(-2)!.data;
    assert.deepEqual(delta.delta, { stop_reason: 'end_turn', stop_sequence: null, stop_details: null });
    assert.deepEqual(delta.usage, {
      input_tokens: mockAnthropicInputTokens(body),
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: ANTHROPIC_DEFAULT_REPLY_WORDS,
    });
  });

  test('tool use: a text block, then tool_use whose input_json_delta pieces reassemble to the input', async () => {
    const body = { model: MODEL, max_tokens: 1024, tools: [weatherTool], messages: [{ role: 'user', content: 'Please call a tool for Paris' }], stream: true };
    const events = parseAnthropicSse(await (await post(mock, '/v1/messages', body)).text());
    const starts = events.filter((e) => e.event === 'content_block_start').map((e) => e.data);
    assert.deepEqual(
      starts.map((s) => s.content_block.type),
      ['text', 'tool_use'],
    );
    const tu = starts[1].content_block;
    assert.match(tu.id, /^toolu_01/);
    assert.equal(tu.name, 'get_weather');
    assert.deepEqual(tu.input, {});
    const pieces = events.filter((e) => e.event === 'content_block_delta' && e.data.index === 1).map((e) => e.data.delta);
    assert.ok(pieces.every((d) => d.type === 'input_json_delta'));
    assert.equal(pieces[0].partial_json, '', 'the first input_json_delta is empty, as recorded from the real API');
    assert.ok(pieces.length > 3, 'the JSON arrives in several fragments');
    const json = pieces.map((d) => d.partial_json).join('');
    assert.deepEqual(JSON.parse(json), { city: 'mock city', unit: 'mock unit' });
    const md = events.find((e) => e.event === 'message_delta')!.data;
    assert.equal(md.delta.stop_reason, 'tool_use');
    assert.equal(md.usage.output_tokens, countWords('Calling get_weather now.') + countWords(mockToolInputJson(weatherTool)));

    const full = (await (await post(mock, '/v1/messages', { ...body, stream: false })).json()) as any;
    assert.equal(full.stop_reason, 'tool_use');
    assert.deepEqual(full.content[1].input, mockToolInput(weatherTool));
  });

  test('thinking: a thinking block (thinking_delta, then signature_delta) before the text', async () => {
    const body = { model: MODEL, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 1024 }, messages, stream: true };
    const events = parseAnthropicSse(await (await post(mock, '/v1/messages', body)).text());
    assert.deepEqual(events[1].data.content_block, { type: 'thinking', thinking: '', signature: '' });
    const block0 = events.filter((e) => e.event === 'content_block_delta' && e.data.index === 0).map((e) => e.data.delta);
    assert.equal(block0.at(-1)!.type, 'signature_delta');
    assert.match(block0.at(-1)!.signature, /^EqQB/);
    assert.ok(block0.slice(0, -1).every((d) => d.type === 'thinking_delta'));
    assert.equal(
      countWords(
        block0
          .slice(0, -1)
          .map((d) => d.thinking)
          .join(''),
      ),
      ANTHROPIC_DEFAULT_THINKING_WORDS,
    );
    const md = events.find((e) => e.event === 'message_delta')!.data;
    assert.equal(md.usage.output_tokens, ANTHROPIC_DEFAULT_THINKING_WORDS + ANTHROPIC_DEFAULT_REPLY_WORDS);

    const full = (await (await post(mock, '/v1/messages', { ...body, stream: false })).json()) as any;
    assert.deepEqual(
      full.content.map((c: any) => c.type),
      ['thinking', 'text'],
    );
    assert.equal(typeof full.content[0].signature, 'string');

    const bad = await post(mock, '/v1/messages', { ...body, max_tokens: 1000 });
    assert.equal(bad.status, 400, 'budget_tokens must be below max_tokens');
  });

  test('usageOverride reports exact cache counts (split by TTL, or unsplit as cache_creation null)', async () => {
    const u = {
      input_tokens: 12,
      output_tokens: 345,
      cache_creation_input_tokens: 5501,
      cache_read_input_tokens: 20000,
      cache_creation: { ephemeral_5m_input_tokens: 1501, ephemeral_1h_input_tokens: 4000 },
    };
    const res = await post(
      mock,
      '/v1/messages',
      { model: MODEL, max_tokens: 1024, messages, stream: true },
      { 'x-mock-behavior': JSON.stringify({ usageOverride: u }) },
    );
    const events = parseAnthropicSse(await res.text());
    const su = events[0].data.message.usage;
    assert.equal(su.input_tokens, 12);
    assert.equal(su.cache_creation_input_tokens, 5501);
    assert.equal(su.cache_read_input_tokens, 20000);
    assert.deepEqual(su.cache_creation, u.cache_creation);
    assert.equal(events.find((e) => e.event === 'message_delta')!.data.usage.output_tokens, 345);

    const unsplit = { input_tokens: 3, output_tokens: 7, cache_creation_input_tokens: 100 };
    const m = (await (
      await post(mock, '/v1/messages', { model: MODEL, max_tokens: 10, messages }, { 'x-mock-behavior': JSON.stringify({ usageOverride: unsplit }) })
    ).json()) as any;
    assert.equal(m.usage.cache_creation, null);
    assert.equal(m.usage.cache_creation_input_tokens, 100);
    assert.equal(m.usage.cache_read_input_tokens, 0);
  });

  test('count_tokens answers {input_tokens} with the same arithmetic, no max_tokens needed', async () => {
    const body = { model: MODEL, system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }], tools: [weatherTool], messages };
    const res = await post(mock, '/v1/messages/count_tokens', body);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { input_tokens: mockAnthropicInputTokens(body) });
    assert.equal(mockAnthropicInputTokens(body), 3 + (6 + 3) + (1 + 7));
  });

  test('auth: x-api-key required (401 authentication_error), anthropic-version required (400); anthropic-beta and the query are recorded', async () => {
    const noKey = await fetch(`${mock.url}/v1/messages`, {
      method: 'POST',
      headers: { 'anthropic-version': ANTHROPIC_VERSION, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, max_tokens: 5, messages }),
    });
    assert.equal(noKey.status, 401);
    const nk = (await noKey.json()) as any;
    assert.deepEqual(Object.keys(nk), ['type', 'error', 'request_id']);
    assert.deepEqual(nk.error, { type: 'authentication_error', message: 'x-api-key header is required' });
    assert.equal(nk.request_id, noKey.headers.get('request-id'));

    const wrong = await post(mock, '/v1/messages', { model: MODEL, max_tokens: 5, messages }, { 'x-api-key': 'sk-ant-wrong' });
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as any).error.message.includes(KEY), false, 'the expected key is never echoed');

    const bearer = await fetch(`${mock.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'anthropic-version': ANTHROPIC_VERSION, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, max_tokens: 5, messages }),
    });
    assert.equal(bearer.status, 200, 'Bearer carries the API key too (the official SDK 1.x sends its apiKey so)');
    await bearer.body?.cancel();

    const noVersion = await fetch(`${mock.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, max_tokens: 5, messages }),
    });
    assert.equal(noVersion.status, 400);
    assert.equal(((await noVersion.json()) as any).error.type, 'invalid_request_error');

    const ok = await post(
      mock,
      '/v1/messages?beta=true',
      { model: MODEL, max_tokens: 5, messages },
      { 'anthropic-beta': 'claude-code-20250219, interleaved-thinking-2025-05-14' },
    );
    assert.equal(ok.status, 200);
    const rec = mock.requests.at(-1)!;
    assert.equal(rec.path, '/v1/messages');
    assert.deepEqual(rec.query, { beta: 'true' });
    assert.equal(rec.version, ANTHROPIC_VERSION);
    assert.deepEqual(rec.betas, ['claude-code-20250219', 'interleaved-thinking-2025-05-14']);
  });

  test('acceptBearer lets Authorization: Bearer stand for the key', async () => {
    const m2 = await startMockAnthropic({ apiKey: KEY, acceptBearer: true });
    try {
      const res = await fetch(`${m2.url}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'anthropic-version': ANTHROPIC_VERSION, 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, max_tokens: 5, messages }),
      });
      assert.equal(res.status, 200);
    } finally {
      await m2.close();
    }
  });

  test('every error status answers its Anthropic type in {type:"error",error:{type,message},request_id}', async () => {
    const cases: Array<[number, string]> = [
      [400, 'invalid_request_error'],
      [401, 'authentication_error'],
      [402, 'billing_error'],
      [403, 'permission_error'],
      [404, 'not_found_error'],
      [413, 'request_too_large'],
      [429, 'rate_limit_error'],
      [500, 'api_error'],
      [529, 'overloaded_error'],
    ];
    for (const [status, type] of cases) {
      assert.equal(anthropicErrorType(status), type);
      const res = await post(
        mock,
        '/v1/messages',
        { model: MODEL, max_tokens: 5, messages },
        { 'x-mock-behavior': JSON.stringify({ fail: status, retryAfter: 7 }) },
      );
      assert.equal(res.status, status);
      const body = (await res.json()) as any;
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, type);
      assert.ok(body.error.message.length > 3);
      assert.match(body.request_id, /^req_/);
      if (status === 429 || status === 529) assert.equal(res.headers.get('retry-after'), '7');
    }
    const unknown = await post(mock, '/v1/messages', { model: 'claude-9', max_tokens: 5, messages });
    assert.equal(unknown.status, 404);
    assert.deepEqual(((await unknown.json()) as any).error, { type: 'not_found_error', message: 'model: claude-9' });
  });

  test('a stream cut mid-way: the socket is destroyed after N events and the outcome is mock_closed', async () => {
    const res = await post(
      mock,
      '/v1/messages',
      { model: MODEL, max_tokens: 1024, messages, stream: true },
      { 'x-mock-behavior': '{"disconnectAfterEvents":5}' },
    );
    assert.equal(res.status, 200);
    let raw = '';
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    await assert.rejects(async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return; // a clean end would be a failure of the assertion below
        raw += dec.decode(value, { stream: true });
      }
    });
    const events = parseAnthropicSse(raw);
    assert.deepEqual(
      events.map((e) => e.event),
      ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta'],
    );
    assert.equal(mock.requests.at(-1)!.outcome, 'mock_closed');
  });

  test('an in-stream error event after N events ends the stream', async () => {
    const res = await post(mock, '/v1/messages', { model: MODEL, max_tokens: 1024, messages, stream: true }, { 'x-mock-behavior': '{"errorAfterEvents":3}' });
    const events = parseAnthropicSse(await res.text());
    assert.deepEqual(
      events.map((e) => e.event),
      ['message_start', 'content_block_start', 'ping', 'error'],
    );
    assert.deepEqual(events[3].data, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  });

  test('overloaded before the first byte, then success (failFirstN); slow first byte', async () => {
    mock.setBehavior({ failFirstN: 1 });
    const first = await post(mock, '/v1/messages', { model: MODEL, max_tokens: 5, messages, stream: true });
    assert.equal(first.status, 529);
    assert.equal(((await first.json()) as any).error.type, 'overloaded_error');
    const second = await post(mock, '/v1/messages', { model: MODEL, max_tokens: 5, messages, stream: true });
    assert.equal(second.status, 200);
    await second.text();
    mock.setBehavior({ latencyMs: 120 });
    const t0 = Date.now();
    const slow = await post(mock, '/v1/messages', { model: MODEL, max_tokens: 5, messages });
    assert.ok(Date.now() - t0 >= 110, 'headers arrive after the latency');
    await slow.json();
    mock.setBehavior({});
  });

  test('echo answers with what the mock received (query, version, betas, auth kind, body)', async () => {
    const body = { model: MODEL, max_tokens: 5, messages, metadata: { user_id: 'u-1' } };
    const res = await post(mock, '/v1/messages?beta=true', body, { 'x-mock-behavior': '{"reply":"echo"}', 'anthropic-beta': 'claude-code-20250219' });
    const m = (await res.json()) as any;
    const echo = JSON.parse(m.content[0].text);
    assert.deepEqual(echo, {
      path: '/v1/messages',
      query: { beta: 'true' },
      version: ANTHROPIC_VERSION,
      betas: ['claude-code-20250219'],
      auth: 'x-api-key',
      body,
    });
  });

  test('GET /v1/models answers the Anthropic list shape', async () => {
    const res = await fetch(`${mock.url}/v1/models`, { headers: { 'x-api-key': KEY, 'anthropic-version': ANTHROPIC_VERSION } });
    const list = (await res.json()) as any;
    assert.equal(list.has_more, false);
    assert.ok(list.data.some((m: any) => m.type === 'model' && m.id === MODEL && typeof m.display_name === 'string'));
  });
});

// ---------------------------------------------------------------------------
// The official SDK. @anthropic-ai/sdk is not a dependency yet (package.json is the
// lead's): these run once it is installed and are skipped, with the reason, until then.
const SDK_PACKAGE = '@anthropic-ai/sdk';
let Anthropic: any = null;
let sdkMissing = '';
try {
  Anthropic = (await import(SDK_PACKAGE)).default;
} catch (e) {
  sdkMissing = `${SDK_PACKAGE} is not installed (npm i -D ${SDK_PACKAGE}); skipped: ${(e as Error).message.split('\n')[0]}`;
}

describe('mock Anthropic upstream, driven by the official @anthropic-ai/sdk', { skip: sdkMissing || false }, () => {
  let mock: MockAnthropic;
  let client: any;
  before(async () => {
    mock = await startMockAnthropic({ apiKey: KEY });
    client = new Anthropic({ baseURL: mock.url, apiKey: KEY, maxRetries: 0 });
  });
  after(async () => {
    await mock?.close();
  });

  test('messages.create (non-stream)', async () => {
    const m = await client.messages.create({ model: MODEL, max_tokens: 1024, messages });
    assert.equal(m.type, 'message');
    assert.equal(m.content[0].text, mockReplyText(ANTHROPIC_DEFAULT_REPLY_WORDS));
    assert.equal(m.usage.input_tokens, mockAnthropicInputTokens({ messages }));
    assert.equal(m.usage.output_tokens, ANTHROPIC_DEFAULT_REPLY_WORDS);
    assert.match(mock.requests.at(-1)!.version ?? '', /^\d{4}-\d{2}-\d{2}$/, 'the SDK sends anthropic-version (1.x sends a 2026 date, not 2023-06-01)');
  });

  test('messages.stream().finalMessage() accumulates text and usage', async () => {
    const m = await client.messages.stream({ model: MODEL, max_tokens: 1024, messages }).finalMessage();
    assert.equal(m.content[0].text, mockReplyText(ANTHROPIC_DEFAULT_REPLY_WORDS));
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(m.usage.output_tokens, ANTHROPIC_DEFAULT_REPLY_WORDS);
  });

  test('tool use: the SDK reassembles input_json_delta into the tool input', async () => {
    const m = await client.messages
      .stream({ model: MODEL, max_tokens: 1024, tools: [weatherTool], messages: [{ role: 'user', content: 'Please call a tool for Paris' }] })
      .finalMessage();
    assert.equal(m.stop_reason, 'tool_use');
    const tu = m.content.find((c: any) => c.type === 'tool_use');
    assert.equal(tu.name, 'get_weather');
    assert.deepEqual(tu.input, mockToolInput(weatherTool));
  });

  test('thinking: the SDK collects thinking and signature', async () => {
    const m = await client.messages.stream({ model: MODEL, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 1024 }, messages }).finalMessage();
    assert.equal(m.content[0].type, 'thinking');
    assert.match(m.content[0].signature, /^EqQB/);
    assert.equal(countWords(m.content[0].thinking), ANTHROPIC_DEFAULT_THINKING_WORDS);
  });

  test('countTokens', async () => {
    const r = await client.messages.countTokens({ model: MODEL, messages });
    assert.deepEqual(r, { input_tokens: mockAnthropicInputTokens({ messages }) });
  });

  test('each error status maps to the SDK error class with the Anthropic error type', async () => {
    const cases: Array<[number, any, string]> = [
      [400, Anthropic.BadRequestError, 'invalid_request_error'],
      [401, Anthropic.AuthenticationError, 'authentication_error'],
      [403, Anthropic.PermissionDeniedError, 'permission_error'],
      [404, Anthropic.NotFoundError, 'not_found_error'],
      [413, Anthropic.APIError, 'request_too_large'],
      [429, Anthropic.RateLimitError, 'rate_limit_error'],
      [500, Anthropic.InternalServerError, 'api_error'],
      [529, Anthropic.InternalServerError, 'overloaded_error'],
    ];
    for (const [status, cls, type] of cases) {
      mock.setBehavior({ fail: status });
      await assert.rejects(client.messages.create({ model: MODEL, max_tokens: 5, messages }), (e: any) => {
        assert.ok(e instanceof cls, `${status} -> ${e?.constructor?.name}`);
        assert.equal(e.status, status);
        assert.equal(e.error?.error?.type, type);
        assert.match(e.requestID ?? '', /^req_/);
        return true;
      });
    }
    mock.setBehavior({});
  });

  test('a stream cut mid-way makes finalMessage() reject', async () => {
    mock.setBehavior({ disconnectAfterEvents: 5 });
    await assert.rejects(client.messages.stream({ model: MODEL, max_tokens: 1024, messages }).finalMessage());
    mock.setBehavior({});
  });

  test('an in-stream overloaded_error event makes finalMessage() reject', async () => {
    mock.setBehavior({ errorAfterEvents: 3 });
    await assert.rejects(client.messages.stream({ model: MODEL, max_tokens: 1024, messages }).finalMessage());
    mock.setBehavior({});
  });
});

// ---------------------------------------------------------------------------
// The recorded Claude Code request shapes (test/fixtures/claude-code) replay against the mock
// unchanged apart from the key: the mock must accept what the real client sends.
describe('Claude Code fixtures replay against the mock', () => {
  const dir = new URL('../fixtures/claude-code/', import.meta.url);
  const fixtures = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ file: f, ...JSON.parse(readFileSync(new URL(f, dir), 'utf8')) }));
  let mock: MockAnthropic;
  before(async () => {
    mock = await startMockAnthropic({ apiKey: KEY, acceptBearer: true, models: null });
  });
  after(async () => {
    await mock.close();
  });

  test('there are four Claude Code fixtures, the main one with 18 tools, cache_control, thinking, metadata.user_id and max_tokens 32000', () => {
    assert.equal(fixtures.length, 4);
    const main = fixtures.find((f) => f.file === 'messages-main-stream.json')!;
    assert.equal(main.body.tools.length, 18);
    assert.equal(main.body.max_tokens, 32000);
    assert.equal(main.body.stream, true);
    assert.ok(main.body.system.some((b: any) => b.cache_control?.type === 'ephemeral'));
    assert.ok(JSON.parse(main.body.metadata.user_id).session_id);
    assert.deepEqual(main.query, { beta: 'true' });
    assert.match(main.headers['anthropic-beta'], /claude-code-20250219/);
  });

  for (const f of fixtures) {
    test(`${f.file} is accepted and answered in its own shape`, async () => {
      const headers: Record<string, string> = { ...f.headers };
      if (headers.authorization) headers.authorization = `Bearer ${KEY}`;
      else headers['x-api-key'] = KEY;
      delete headers['accept-encoding'];
      const qs = new URLSearchParams(f.query).toString();
      const res = await fetch(`${mock.url}${f.path}${qs ? `?${qs}` : ''}`, { method: f.method, headers, body: JSON.stringify(f.body) });
      assert.equal(res.status, 200, await res.clone().text());
      const rec = mock.requests.at(-1)!;
      assert.deepEqual(rec.query, f.query);
      assert.deepEqual(rec.betas, f.headers['anthropic-beta'].split(','));
      if (f.path.endsWith('/count_tokens')) {
        assert.deepEqual(await res.json(), { input_tokens: mockAnthropicInputTokens(f.body) });
      } else if (f.body.stream) {
        const events = parseAnthropicSse(await res.text());
        assert.equal(events[0].event, 'message_start');
        assert.equal(events.at(-1)!.event, 'message_stop');
        assert.equal(events[0].data.message.usage.input_tokens, mockAnthropicInputTokens(f.body));
      } else {
        assert.equal(((await res.json()) as any).type, 'message');
      }
    });
  }
});
