// The pair composition in charge/translation.ts, with no server: every caller
// protocol against every provider wire goes through OpenAI chat (one leg when
// either side speaks chat, two otherwise). Upstream answers are written out
// here in each provider's wire format, cut at awkward places, and the caller's
// stream is read back with its own format's rules: the text, the tool call and
// the stop reason arrive; an upstream error inside the stream marks the
// translation failed (so the attempt bills it as broken) and reaches the
// caller as its own error event.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { translationFor, type Translation } from '../../src/gateway/charge/translation.ts';
import type { GatewayCall } from '../../src/gateway/call.ts';
import type { RuntimeChannel } from '../../src/gateway/catalog.ts';
import { SseEventParser } from '../../src/gateway/translate/sse.ts';

const X = { defaultMaxTokens: 4096, inputTokensHint: 7 };

function callOf(protocol: string, endpoint: GatewayCall['endpoint'], body: Record<string, any>, stream: boolean): GatewayCall {
  return {
    protocol: { name: protocol } as GatewayCall['protocol'],
    endpoint,
    model: 'alias',
    messages: null,
    input: null,
    tools: null,
    stream,
    clientWantsUsage: true,
    choices: 1,
    requestedMax: null,
    prompt: { text: '', parts: [] } as unknown as GatewayCall['prompt'],
    body,
    raw: JSON.stringify(body),
    forwardHeaders: null,
  };
}

const channel = (wire: string, extra: Partial<RuntimeChannel> = {}) => ({ provider: { wire }, responsesApi: false, ...extra }) as unknown as RuntimeChannel;

const REQUESTS = {
  chat: (stream: boolean) =>
    callOf(
      'openai',
      'chat.completions',
      {
        model: 'alias',
        messages: [{ role: 'user', content: 'weather in Paris?' }],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
        ...(stream ? { stream: true } : {}),
      },
      stream,
    ),
  messages: (stream: boolean) =>
    callOf(
      'anthropic',
      'messages',
      {
        model: 'alias',
        max_tokens: 500,
        system: 'Be brief.',
        messages: [{ role: 'user', content: 'weather in Paris?' }],
        tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
        ...(stream ? { stream: true } : {}),
      },
      stream,
    ),
  responses: (stream: boolean) =>
    callOf(
      'responses',
      'responses',
      {
        model: 'alias',
        instructions: 'Be brief.',
        input: [{ role: 'user', content: 'weather in Paris?' }],
        tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
        store: false,
        ...(stream ? { stream: true } : {}),
      },
      stream,
    ),
  gemini: (stream: boolean) =>
    callOf(
      'gemini',
      'gemini.generate',
      {
        systemInstruction: { parts: [{ text: 'Be brief.' }] },
        contents: [{ role: 'user', parts: [{ text: 'weather in Paris?' }] }],
        tools: [{ functionDeclarations: [{ name: 'get_weather', parametersJsonSchema: { type: 'object', properties: { city: { type: 'string' } } } }] }],
      },
      stream,
    ),
};
type Caller = keyof typeof REQUESTS;

// Upstream streams: "It is sunny" as text in two deltas, then a get_weather({"city":"Paris"}) call, then usage.
const sse = (events: Array<[string | null, unknown]>) => events.map(([e, d]) => `${e ? `event: ${e}\n` : ''}data: ${JSON.stringify(d)}\n\n`).join('');
const UPSTREAM_STREAMS: Record<string, string> = {
  openai:
    sse([
      [null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: 'It is ' } }] }],
      [null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'sunny' } }] }],
      [
        null,
        {
          id: 'chatcmpl-1',
          object: 'chat.completion.chunk',
          choices: [
            { index: 0, delta: { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":' } }] } },
          ],
        },
      ],
      [
        null,
        {
          id: 'chatcmpl-1',
          object: 'chat.completion.chunk',
          choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] } }],
        },
      ],
      [null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] }],
      [null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 } }],
    ]) + 'data: [DONE]\n\n',
  anthropic: sse([
    [
      'message_start',
      {
        type: 'message_start',
        message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'claude', usage: { input_tokens: 20, output_tokens: 1 } },
      },
    ],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'It is ' } }],
    ['ping', { type: 'ping' }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'sunny' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } }],
    ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 1 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 9 } }],
    ['message_stop', { type: 'message_stop' }],
  ]),
  gemini: [
    { candidates: [{ content: { parts: [{ text: 'It is ' }], role: 'model' }, index: 0 }], responseId: 'g1', modelVersion: 'gemini-x' },
    { candidates: [{ content: { parts: [{ text: 'sunny' }], role: 'model' }, index: 0 }], responseId: 'g1', modelVersion: 'gemini-x' },
    {
      candidates: [{ content: { parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }], role: 'model' }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 20, candidatesTokenCount: 9, totalTokenCount: 29 },
      responseId: 'g1',
      modelVersion: 'gemini-x',
    },
  ]
    .map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`)
    .join(''),
};

const UPSTREAM_WHOLE: Record<string, unknown> = {
  openai: {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'x',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: 'It is sunny',
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        finish_reason: 'tool_calls',
      },
    ],
    usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 },
  },
  anthropic: {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude',
    content: [
      { type: 'text', text: 'It is sunny' },
      { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
    ],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: { input_tokens: 20, output_tokens: 9 },
  },
  gemini: {
    candidates: [
      {
        content: { parts: [{ text: 'It is sunny' }, { functionCall: { name: 'get_weather', args: { city: 'Paris' } } }], role: 'model' },
        finishReason: 'STOP',
        index: 0,
      },
    ],
    usageMetadata: { promptTokenCount: 20, candidatesTokenCount: 9, totalTokenCount: 29 },
    responseId: 'g1',
  },
};

/** Feeds `text` to the translation in pieces of `step` bytes (cutting events and UTF-8 anywhere). */
function runStream(tr: Translation, text: string, step = 7): { out: string; failed: boolean } {
  const sx = tr.stream();
  const bytes = Buffer.from(text);
  let out = '';
  for (let i = 0; i < bytes.length; i += step) out += sx.push(bytes.subarray(i, i + step));
  if (!sx.failed) out += sx.end();
  return { out, failed: sx.failed };
}

function events(text: string): Array<{ event?: string; data: any }> {
  const p = new SseEventParser();
  return p
    .push(text)
    .filter((e) => e.data !== '[DONE]')
    .map((e) => ({ event: e.event ?? undefined, data: JSON.parse(e.data) }));
}

/** What the caller's stream says, read by that protocol's rules: text, the tool call (name + parsed args), the stop. */
function readCallerStream(caller: Caller, out: string): { text: string; call: { name: string; args: any } | null; stop: string } {
  const evs = events(out);
  let text = '';
  let name = '';
  let args = '';
  let stop = '';
  for (const { event, data } of evs) {
    switch (caller) {
      case 'chat': {
        const d = data.choices?.[0]?.delta;
        text += d?.content ?? '';
        for (const tc of d?.tool_calls ?? []) {
          name ||= tc.function?.name ?? '';
          args += tc.function?.arguments ?? '';
        }
        stop = data.choices?.[0]?.finish_reason ?? stop;
        break;
      }
      case 'messages':
        if (event === 'content_block_delta' && data.delta.type === 'text_delta') text += data.delta.text;
        if (event === 'content_block_start' && data.content_block.type === 'tool_use') name = data.content_block.name;
        if (event === 'content_block_delta' && data.delta.type === 'input_json_delta') args += data.delta.partial_json;
        if (event === 'message_delta') stop = data.delta.stop_reason;
        break;
      case 'responses':
        if (event === 'response.output_text.delta') text += data.delta;
        if (event === 'response.output_item.added' && data.item.type === 'function_call') name = data.item.name;
        if (event === 'response.function_call_arguments.delta') args += data.delta;
        if (event === 'response.completed' || event === 'response.incomplete') stop = data.response.status;
        break;
      case 'gemini':
        for (const p of data.candidates?.[0]?.content?.parts ?? []) {
          if (typeof p.text === 'string' && !p.thought) text += p.text;
          if (p.functionCall) {
            name = p.functionCall.name;
            args = JSON.stringify(p.functionCall.args);
          }
        }
        stop = data.candidates?.[0]?.finishReason ?? stop;
        break;
    }
  }
  return { text, call: name ? { name, args: JSON.parse(args) } : null, stop };
}

function readCallerWhole(caller: Caller, a: any): { text: string; call: { name: string; args: any } | null } {
  switch (caller) {
    case 'chat': {
      const m = a.choices[0].message;
      const tc = m.tool_calls?.[0];
      return { text: m.content ?? '', call: tc ? { name: tc.function.name, args: JSON.parse(tc.function.arguments) } : null };
    }
    case 'messages': {
      const tu = a.content.find((b: any) => b.type === 'tool_use');
      return { text: a.content.map((b: any) => (b.type === 'text' ? b.text : '')).join(''), call: tu ? { name: tu.name, args: tu.input } : null };
    }
    case 'responses': {
      const msg = a.output.find((o: any) => o.type === 'message');
      const fc = a.output.find((o: any) => o.type === 'function_call');
      return { text: msg?.content?.[0]?.text ?? '', call: fc ? { name: fc.name, args: JSON.parse(fc.arguments) } : null };
    }
    case 'gemini': {
      const parts = a.candidates[0].content.parts;
      const fc = parts.find((p: any) => p.functionCall);
      return { text: parts.map((p: any) => p.text ?? '').join(''), call: fc ? { name: fc.functionCall.name, args: fc.functionCall.args } : null };
    }
  }
}

const STOP_OF_TOOL_CALL: Record<Caller, string> = { chat: 'tool_calls', messages: 'tool_use', responses: 'completed', gemini: 'STOP' };

describe('every caller protocol x every provider wire, composed through chat', () => {
  for (const caller of Object.keys(REQUESTS) as Caller[]) {
    for (const wire of ['openai', 'anthropic', 'gemini']) {
      const same = REQUESTS[caller](true).protocol.name === wire;
      if (same) {
        test(`${caller} on a ${wire} channel: no translation (the bytes pass through)`, () => {
          assert.equal(translationFor(REQUESTS[caller](true), channel(wire), X), null);
        });
        continue;
      }
      test(`${caller} on a ${wire} channel: the request is in ${wire}'s format; a stream cut every 7 bytes reads back as text, tool call and stop`, () => {
        const tr = translationFor(REQUESTS[caller](true), channel(wire), X)!;
        assert.ok(tr, 'translatable');
        const body = tr.call.body;
        if (wire === 'openai') {
          assert.equal(tr.call.endpoint, 'chat.completions');
          assert.equal(body.stream, true);
          assert.deepEqual(body.stream_options, { include_usage: true }, 'usage is always asked of a chat upstream');
          assert.equal(body.tools[0].function.name, 'get_weather');
        } else if (wire === 'anthropic') {
          assert.equal(tr.call.endpoint, 'messages');
          assert.equal(body.stream, true);
          assert.equal(body.tools[0].name, 'get_weather');
          assert.ok(body.max_tokens > 0);
        } else {
          assert.equal(tr.call.endpoint, 'gemini.generate');
          assert.equal(tr.call.stream, true, 'streaming is in the URL the provider builds');
          assert.equal(body.tools[0].functionDeclarations[0].name, 'get_weather');
          assert.equal(body.contents.at(-1).parts[0].text, 'weather in Paris?');
        }
        assert.equal(tr.call.raw, JSON.stringify(body));
        const { out, failed } = runStream(tr, UPSTREAM_STREAMS[wire]);
        assert.equal(failed, false);
        const r = readCallerStream(caller, out);
        assert.equal(r.text, 'It is sunny');
        assert.deepEqual(r.call, { name: 'get_weather', args: { city: 'Paris' } });
        assert.equal(r.stop, STOP_OF_TOOL_CALL[caller]);
      });
      test(`${caller} on a ${wire} channel, whole: the answer reads back as text and tool call`, () => {
        const tr = translationFor(REQUESTS[caller](false), channel(wire), X)!;
        const out = JSON.parse(tr.whole(Buffer.from(JSON.stringify(UPSTREAM_WHOLE[wire]))).toString());
        assert.deepEqual(readCallerWhole(caller, out), { text: 'It is sunny', call: { name: 'get_weather', args: { city: 'Paris' } } });
      });
    }
  }

  test('an upstream error inside the stream marks the translation failed and reaches the caller as its own error', () => {
    const cases: Array<[Caller, string, string, (out: string) => boolean]> = [
      [
        'responses',
        'anthropic',
        UPSTREAM_STREAMS.anthropic.slice(0, UPSTREAM_STREAMS.anthropic.indexOf('event: content_block_stop')) +
          sse([['error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }]]),
        (out) => events(out).some((e) => e.event === 'response.failed'),
      ],
      [
        'gemini',
        'anthropic',
        sse([['error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }]]),
        (out) => events(out).some((e) => e.data.error != null),
      ],
      [
        'messages',
        'gemini',
        `data: ${JSON.stringify({ error: { code: 503, message: 'The model is overloaded', status: 'UNAVAILABLE' } })}\r\n\r\n`,
        (out) => events(out).some((e) => e.event === 'error'),
      ],
      [
        'responses',
        'openai',
        `data: ${JSON.stringify({ error: { message: 'boom', type: 'server_error' } })}\n\n`,
        (out) => events(out).some((e) => e.event === 'response.failed'),
      ],
    ];
    for (const [caller, wire, upstream, sawError] of cases) {
      const { out, failed } = runStream(translationFor(REQUESTS[caller](true), channel(wire), X)!, upstream, 5);
      assert.equal(failed, true, `${caller} on ${wire}: failed`);
      assert.ok(sawError(out), `${caller} on ${wire}: the caller sees its own error event: ${out.slice(-300)}`);
    }
  });

  test('a Gemini prompt blocked before any output fails a translated stream and a whole answer with prompt_blocked', () => {
    const blocked = { promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 20, totalTokenCount: 20 } };
    const { failed } = runStream(translationFor(REQUESTS.messages(true), channel('gemini'), X)!, `data: ${JSON.stringify(blocked)}\r\n\r\n`);
    assert.equal(failed, true);
    assert.throws(
      () => translationFor(REQUESTS.responses(false), channel('gemini'), X)!.whole(Buffer.from(JSON.stringify(blocked))),
      (e: any) => e.code === 'prompt_blocked',
    );
  });

  test('a Responses caller on an openai channel that speaks Responses natively passes through; legacy completions cannot be translated', () => {
    const native = channel('openai', { provider: { wire: 'openai', passthrough: (_ch: unknown, c: GatewayCall) => c.endpoint === 'responses' } } as any);
    assert.equal(translationFor(REQUESTS.responses(true), native, X), null);
    assert.ok(translationFor(REQUESTS.responses(true), channel('openai'), X));
    assert.equal(translationFor(callOf('openai', 'completions', { model: 'alias', prompt: 'x' }, false), channel('anthropic'), X), undefined);
    assert.equal(translationFor(callOf('openai', 'embeddings', { model: 'alias', input: 'x' }, false), channel('gemini'), X), undefined);
  });

  test('a field that cannot be translated is a 400 naming it, before anything is sent', () => {
    const c = REQUESTS.responses(false);
    c.body.previous_response_id = 'resp_123';
    assert.throws(
      () => translationFor(c, channel('anthropic'), X),
      (e: any) => e.code === 'untranslatable_field' && /previous_response_id/.test(e.message),
    );
  });
});
