import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ChatStreamToMessages, MessagesStreamToChat, SseEventParser } from '../../src/gateway/translate/index.ts';
import { anthropicStreamEvents, planAnthropic } from '../helpers/mockAnthropic.ts';

// Streams are translated event by event: what the client reassembles from the
// translated stream is what the upstream said, whatever way the bytes were cut.

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** An Anthropic stream in the recorded shape: thinking, ping, text, a tool call, usage in message_start and message_delta. */
function anthropicEvents(stopReason = 'tool_use'): Array<[string, any]> {
  return [
    [
      'message_start',
      {
        type: 'message_start',
        message: {
          id: 'msg_01ABC',
          type: 'message',
          role: 'assistant',
          model: 'claude-sonnet-4-6',
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: {
            input_tokens: 12,
            cache_creation_input_tokens: 300,
            cache_read_input_tokens: 2000,
            cache_creation: { ephemeral_5m_input_tokens: 200, ephemeral_1h_input_tokens: 100 },
            output_tokens: 1,
          },
        },
      },
    ],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }],
    ['ping', { type: 'ping' }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Let me ' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'think.' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'EqQBCgIYAh' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Héllo "世界" 🙂\n' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 1 }],
    ['content_block_start', { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_01X', name: 'get_weather', input: {} } }],
    ['content_block_delta', { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"city": "Pa' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: 'ris"}' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 2 }],
    [
      'message_delta',
      {
        type: 'message_delta',
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: { input_tokens: 12, cache_creation_input_tokens: 300, cache_read_input_tokens: 2000, output_tokens: 57 },
      },
    ],
    ['message_stop', { type: 'message_stop' }],
  ];
}

/** Splits `s` at pseudo-random points (deterministic), including inside multi-byte characters. */
function cuts(bytes: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let x = seed;
  let from = 0;
  while (from < bytes.length) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const len = 1 + (x % 23);
    out.push(bytes.subarray(from, from + len));
    from += len;
  }
  return out;
}

/** Reassembles OpenAI chunks (the client's view). */
function assembleChat(text: string) {
  const p = new SseEventParser();
  const events = p.push(text);
  assert.equal(events[events.length - 1].data, '[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
  let content = '';
  let reasoning = '';
  let role: string | undefined;
  let finish: string | null = null;
  let usage: any = null;
  const calls: any[] = [];
  for (const c of chunks) {
    assert.equal(c.object, 'chat.completion.chunk');
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      const d = ch.delta;
      if (d.role) role = d.role;
      if (d.content) content += d.content;
      if (d.reasoning_content) reasoning += d.reasoning_content;
      for (const tc of d.tool_calls ?? []) {
        calls[tc.index] ??= { id: tc.id, type: tc.type, function: { name: tc.function.name, arguments: '' } };
        calls[tc.index].function.arguments += tc.function.arguments ?? '';
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  return { chunks, role, content, reasoning, calls, finish, usage };
}

describe('Anthropic stream → OpenAI chat chunks', () => {
  test('thinking, text and a tool call arrive as reasoning_content, content and tool_calls deltas; usage chunk when asked', () => {
    const t = new MessagesStreamToChat({ model: 'my-claude', includeUsage: true, created: 1700000000 });
    let out = '';
    for (const [e, d] of anthropicEvents()) out += t.push(e, d);
    out += t.end();
    const r = assembleChat(out);
    assert.equal(r.role, 'assistant');
    assert.equal(r.reasoning, 'Let me think.');
    assert.equal(r.content, 'Héllo "世界" 🙂\n');
    assert.deepEqual(r.calls, [{ id: 'toolu_01X', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }]);
    assert.equal(r.finish, 'tool_calls');
    assert.deepEqual(r.usage, { prompt_tokens: 2312, completion_tokens: 57, total_tokens: 2369, prompt_tokens_details: { cached_tokens: 2000 } });
    for (const c of r.chunks) {
      assert.equal(c.id, 'chatcmpl-01ABC');
      assert.equal(c.model, 'my-claude');
      assert.equal(c.created, 1700000000);
    }
    // The usage chunk is the last one, with no choices; the others carry usage: null.
    assert.deepEqual(r.chunks[r.chunks.length - 1].choices, []);
    assert.ok(r.chunks.slice(0, -1).every((c) => c.usage === null));
    assert.deepEqual(t.usage, { promptTokens: 2312, completionTokens: 57, cachedTokens: 2000, cacheWriteTokens: 200, cacheWrite1hTokens: 100 });
  });

  test('no usage chunk unless the caller asked; events that carry nothing send nothing', () => {
    const t = new MessagesStreamToChat({ model: 'm', includeUsage: false, id: 'chatcmpl-fixed' });
    let out = '';
    for (const [e, d] of anthropicEvents('end_turn')) {
      const s = t.push(e, d);
      if (e === 'ping' || e === 'content_block_stop' || e === 'message_stop') assert.equal(s, '');
      out += s;
    }
    out += t.end();
    const r = assembleChat(out);
    assert.equal(r.usage, null);
    assert.equal(r.finish, 'stop');
    assert.ok(r.chunks.every((c) => c.id === 'chatcmpl-fixed' && !('usage' in c)));
  });

  test('stop reasons: end_turn, stop_sequence → stop; max_tokens → length; tool_use → tool_calls; refusal → content_filter', () => {
    const cases: Array<[string, string]> = [
      ['end_turn', 'stop'],
      ['stop_sequence', 'stop'],
      ['max_tokens', 'length'],
      ['tool_use', 'tool_calls'],
      ['refusal', 'content_filter'],
    ];
    for (const [stop, finish] of cases) {
      const t = new MessagesStreamToChat({ model: 'm', includeUsage: false });
      const s = t.push('message_delta', { type: 'message_delta', delta: { stop_reason: stop }, usage: { output_tokens: 1 } });
      assert.equal(JSON.parse(s.slice(6)).choices[0].finish_reason, finish, stop);
    }
  });

  test('the bytes of an Anthropic stream cut anywhere parse into the same events (SseEventParser)', () => {
    const events = anthropicEvents();
    const text = events.map(([e, d]) => sse(e, d)).join('');
    for (const nl of ['\n', '\r\n']) {
      const bytes = Buffer.from(nl === '\n' ? text : text.replace(/\n/g, '\r\n'));
      for (let seed = 1; seed <= 40; seed++) {
        const p = new SseEventParser();
        const got: Array<{ event: string | null; data: string }> = [];
        for (const c of cuts(bytes, seed)) for (const ev of p.push(c)) got.push(ev);
        assert.deepEqual(
          got.map((g) => [g.event, JSON.parse(g.data)]),
          events,
          `seed ${seed} ${JSON.stringify(nl)}`,
        );
      }
    }
  });

  test('the mock upstream’s stream (thinking, then a tool call) translates', () => {
    const body = {
      model: 'claude-sonnet-4-6',
      max_tokens: 2000,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      tools: [{ name: 'lookup', description: 'Look up', input_schema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } }],
      messages: [{ role: 'user', content: 'please call a tool' }],
    };
    const plan = planAnthropic(body, { reply: 'tool_use' });
    const text = anthropicStreamEvents('msg_mock', body.model, plan)
      .map(([e, d]) => sse(e, d))
      .join('');
    const p = new SseEventParser();
    const t = new MessagesStreamToChat({ model: 'alias', includeUsage: true });
    let out = '';
    for (const c of cuts(Buffer.from(text), 7)) for (const ev of p.push(c)) out += t.push(ev.event ?? 'message', JSON.parse(ev.data));
    out += t.end();
    const r = assembleChat(out);
    assert.equal(r.finish, 'tool_calls');
    assert.equal(r.calls.length, 1);
    assert.equal(r.calls[0].function.name, 'lookup');
    assert.equal(typeof JSON.parse(r.calls[0].function.arguments).q, 'string');
    assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
  });

  test('an in-stream error becomes an OpenAI error object', () => {
    const t = new MessagesStreamToChat({ model: 'm', includeUsage: false });
    const s = t.push('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    assert.deepEqual(JSON.parse(s.slice(6)), { error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: 'overloaded_error' } });
  });
});

/** Reassembles an Anthropic stream (what the SDK's MessageStream does), checking the order rules. */
function assembleMessage(text: string) {
  const events = new SseEventParser().push(text).map((e) => ({ event: e.event, data: JSON.parse(e.data) }));
  assert.equal(events[0].event, 'message_start');
  assert.equal(events[events.length - 1].event, 'message_stop');
  const msg = structuredClone(events[0].data.message);
  const open = new Set<number>();
  const json: string[] = [];
  let next = 0;
  for (const { event, data } of events.slice(1, -1)) {
    assert.equal(event, data.type);
    if (event === 'content_block_start') {
      assert.equal(data.index, next++, 'blocks are numbered in order');
      assert.equal(open.size, 0, 'the previous block was stopped');
      open.add(data.index);
      msg.content[data.index] = structuredClone(data.content_block);
      json[data.index] = '';
    } else if (event === 'content_block_delta') {
      assert.ok(open.has(data.index));
      const b = msg.content[data.index];
      const d = data.delta;
      if (d.type === 'text_delta') b.text += d.text;
      else if (d.type === 'thinking_delta') b.thinking += d.thinking;
      else if (d.type === 'input_json_delta') json[data.index] += d.partial_json;
      else assert.fail(d.type);
    } else if (event === 'content_block_stop') {
      assert.ok(open.delete(data.index));
      if (msg.content[data.index].type === 'tool_use') msg.content[data.index].input = JSON.parse(json[data.index] || '{}');
    } else if (event === 'message_delta') {
      msg.stop_reason = data.delta.stop_reason;
      msg.stop_sequence = data.delta.stop_sequence;
      Object.assign(msg.usage, data.usage);
    } else assert.fail(`unexpected ${event}`);
  }
  assert.equal(open.size, 0, 'every block was stopped');
  return msg;
}

const chunk = (delta: Record<string, any>, finish: string | null = null, extra: Record<string, any> = {}) => ({
  id: 'chatcmpl-9xyz',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'deepseek-reasoner',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  ...extra,
});

describe('OpenAI chat chunks → Anthropic stream', () => {
  test('reasoning_content, content and parallel tool calls become thinking, text and tool_use blocks, each started and stopped', () => {
    const t = new ChatStreamToMessages({ model: 'claude-alias', inputTokensHint: 40 });
    const chunks = [
      chunk({ role: 'assistant', content: '' }),
      chunk({ reasoning_content: 'Hmm, ' }),
      chunk({ reasoning_content: 'two calls.' }),
      chunk({ content: 'Checking ' }),
      chunk({ content: 'both.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } }] }),
      chunk({}, 'tool_calls'),
      {
        id: 'chatcmpl-9xyz',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'x',
        choices: [],
        usage: { prompt_tokens: 1200, completion_tokens: 80, total_tokens: 1280, prompt_tokens_details: { cached_tokens: 1024 } },
      },
    ];
    let out = '';
    for (const c of chunks) out += t.push(c);
    out += t.end();
    const msg = assembleMessage(out);
    assert.equal(msg.id, 'msg_9xyz');
    assert.equal(msg.model, 'claude-alias');
    assert.equal(msg.role, 'assistant');
    assert.deepEqual(msg.content, [
      { type: 'thinking', thinking: 'Hmm, two calls.', signature: '' },
      { type: 'text', text: 'Checking both.' },
      { type: 'tool_use', id: 'call_a', name: 'weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_b', name: 'weather', input: { city: 'Rome' } },
    ]);
    assert.equal(msg.stop_reason, 'tool_use');
    assert.deepEqual(msg.usage, { input_tokens: 176, cache_creation_input_tokens: 0, cache_read_input_tokens: 1024, output_tokens: 80 });
    assert.deepEqual(t.usage, { promptTokens: 1200, completionTokens: 80, cachedTokens: 1024 });
    assert.equal(t.end(), '', 'end() once');
  });

  test('tool calls told apart by id only (every one numbered 0), or with the id repeated on each delta', () => {
    const t = new ChatStreamToMessages({ model: 'm' });
    let out = '';
    for (const c of [
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '{"n":' } }] }),
      chunk({ tool_calls: [{ index: 0, id: 'call_a', function: { arguments: '1}' } }] }),
      chunk({ tool_calls: [{ index: 0, id: 'call_b', type: 'function', function: { name: 'g', arguments: '{}' } }] }),
      chunk({}, 'tool_calls'),
    ])
      out += t.push(c);
    const msg = assembleMessage(out + t.end());
    assert.deepEqual(msg.content, [
      { type: 'tool_use', id: 'call_a', name: 'f', input: { n: 1 } },
      { type: 'tool_use', id: 'call_b', name: 'g', input: {} },
    ]);
  });

  test('message_start carries the input-token hint; without an upstream usage chunk the hint is reported', () => {
    const t = new ChatStreamToMessages({ model: 'm', id: 'msg_fixed', inputTokensHint: 33 });
    const first = t.push(chunk({ role: 'assistant', content: 'Hi' }));
    const ev = new SseEventParser().push(first);
    assert.equal(ev[0].event, 'message_start');
    assert.deepEqual(JSON.parse(ev[0].data).message.usage, { input_tokens: 33, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 });
    assert.equal(JSON.parse(ev[0].data).message.id, 'msg_fixed');
    assert.deepEqual(
      ev.slice(1).map((e) => e.event),
      ['content_block_start', 'content_block_delta'],
    );
    const msg = assembleMessage(first + t.push(chunk({}, 'length')) + t.end());
    assert.equal(msg.stop_reason, 'max_tokens');
    assert.equal(msg.usage.input_tokens, 33);
    assert.deepEqual(msg.content, [{ type: 'text', text: 'Hi' }]);
  });

  test('finish reasons: stop → end_turn, length → max_tokens, tool_calls → tool_use, content_filter → refusal', () => {
    for (const [finish, stop] of [
      ['stop', 'end_turn'],
      ['length', 'max_tokens'],
      ['tool_calls', 'tool_use'],
      ['content_filter', 'refusal'],
    ]) {
      const t = new ChatStreamToMessages({ model: 'm' });
      assert.equal(assembleMessage(t.push(chunk({ content: 'x' }, finish)) + t.end()).stop_reason, stop);
    }
  });

  test('an empty stream still makes a well-formed message; error() is an Anthropic error event', () => {
    const t = new ChatStreamToMessages({ model: 'm' });
    const msg = assembleMessage(t.end());
    assert.deepEqual(msg.content, []);
    assert.equal(msg.stop_reason, 'end_turn');
    const e = new SseEventParser().push(new ChatStreamToMessages({ model: 'm' }).error('overloaded_error', 'Upstream went away'));
    assert.equal(e[0].event, 'error');
    assert.deepEqual(JSON.parse(e[0].data), { type: 'error', error: { type: 'overloaded_error', message: 'Upstream went away' } });
    const u = new ChatStreamToMessages({ model: 'm' });
    u.push(chunk({ content: 'partial' }));
    const err = new SseEventParser().push(u.push({ error: { message: 'model crashed', type: 'server_error' } }));
    assert.deepEqual(JSON.parse(err[0].data), { type: 'error', error: { type: 'api_error', message: 'model crashed' } });
    assert.equal(u.end(), '', 'nothing after an error');
  });

  test('round trip: Anthropic stream → chat chunks → Anthropic stream keeps the content', () => {
    const a2c = new MessagesStreamToChat({ model: 'm', includeUsage: true });
    let chat = '';
    for (const [e, d] of anthropicEvents()) chat += a2c.push(e, d);
    chat += a2c.end();
    const c2a = new ChatStreamToMessages({ model: 'm' });
    let back = '';
    for (const ev of new SseEventParser().push(chat)) if (ev.data !== '[DONE]') back += c2a.push(JSON.parse(ev.data));
    back += c2a.end();
    const msg = assembleMessage(back);
    assert.deepEqual(msg.content, [
      { type: 'thinking', thinking: 'Let me think.', signature: '' },
      { type: 'text', text: 'Héllo "世界" 🙂\n' },
      { type: 'tool_use', id: 'toolu_01X', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    assert.equal(msg.stop_reason, 'tool_use');
    // 2312 prompt tokens of which 2000 cache reads; the 300 written are uncached input on the OpenAI side.
    assert.deepEqual(msg.usage, { input_tokens: 312, cache_creation_input_tokens: 0, cache_read_input_tokens: 2000, output_tokens: 57 });
  });
});
