// OpenAI Responses inbound ⇄ Chat Completions upstream: the request (Codex CLI's
// recorded shape included), the whole answer, and the stream event by event,
// the last read back by the official openai SDK's own stream accumulator.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { TallyError } from '../../src/lib/errors.ts';
import { responsesToChatRequest, chatToResponsesResponse } from '../../src/gateway/translate/responsesToChat.ts';
import { ChatStreamToResponses } from '../../src/gateway/translate/responsesStream.ts';
import { parseResponsesSse } from '../helpers/mockResponses.ts';

const codex = JSON.parse(readFileSync(new URL('../fixtures/codex-cli/responses-stream.json', import.meta.url), 'utf8'));
const O = { upstreamModel: 'qwen3-coder' };

function refused(fn: () => unknown, param: string) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TallyError);
    assert.equal(e.code, 'untranslatable_field');
    assert.equal(e.status, 400);
    assert.equal(e.param, param);
    return true;
  });
}

describe('Responses request → chat request', () => {
  test('Codex CLI fixture: instructions first, developer → system, function tools kept, web_search dropped, stateless fields gone', () => {
    const out = responsesToChatRequest(codex.body, O);
    assert.equal(out.model, 'qwen3-coder');
    assert.deepEqual(out.messages[0], { role: 'system', content: codex.body.instructions });
    assert.equal(out.messages[1].role, 'system');
    assert.match(out.messages[1].content, /permissions instructions/);
    assert.equal(out.messages[2].role, 'user');
    assert.equal(out.messages[2].content.length, 2);
    assert.deepEqual(out.messages[3], { role: 'user', content: 'Fix the bug in foo.py' });
    assert.deepEqual(
      out.tools.map((t: any) => t.function.name),
      ['shell', 'update_plan', 'apply_patch', 'view_image'],
    );
    assert.deepEqual(out.tools[0].function.parameters, codex.body.tools[0].parameters);
    assert.equal(out.tool_choice, 'auto');
    assert.equal(out.parallel_tool_calls, true);
    assert.equal(out.reasoning_effort, 'medium');
    assert.equal(out.stream, true);
    assert.deepEqual(out.stream_options, { include_usage: true });
    for (const k of ['store', 'include', 'prompt_cache_key', 'client_metadata', 'reasoning', 'instructions', 'input'])
      assert.equal(out[k], undefined, `${k} is not sent to a chat upstream`);
  });

  test('a tool loop: function_call items join the assistant text; outputs become tool messages; images after them', () => {
    const out = responsesToChatRequest(
      {
        model: 'm',
        input: [
          { role: 'user', content: 'Look at the file' },
          { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'gAAAA' },
          { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Reading it.' }] },
          { type: 'function_call', call_id: 'call_1', name: 'shell', arguments: '{"command":["cat","a"]}' },
          { type: 'function_call', call_id: 'call_2', name: 'view_image', arguments: '{"path":"x.png"}' },
          { type: 'function_call_output', call_id: 'call_1', output: 'hello' },
          { type: 'function_call_output', call_id: 'call_2', output: [{ type: 'input_image', image_url: 'data:image/png;base64,AAAA' }] },
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'and?' },
              { type: 'input_image', image_url: 'https://x/y.png', detail: 'high' },
            ],
          },
        ],
        max_output_tokens: 500,
        temperature: 0.2,
      },
      { upstreamModel: 'u', maxTokensField: 'max_completion_tokens' },
    );
    assert.deepEqual(out.messages, [
      { role: 'user', content: 'Look at the file' },
      {
        role: 'assistant',
        content: 'Reading it.',
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'shell', arguments: '{"command":["cat","a"]}' } },
          { id: 'call_2', type: 'function', function: { name: 'view_image', arguments: '{"path":"x.png"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'hello' },
      { role: 'tool', tool_call_id: 'call_2', content: '' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'and?' },
          { type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'high' } },
        ],
      },
    ]);
    assert.equal(out.max_completion_tokens, 500);
    assert.equal(out.temperature, 0.2);
  });

  test('text.format json_schema → response_format; custom tools → a one-string function; forced function choice', () => {
    const out = responsesToChatRequest(
      {
        model: 'm',
        input: 'x',
        text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true } },
        tools: [{ type: 'custom', name: 'apply_patch', description: 'Patch files.', format: { type: 'grammar', syntax: 'lark', definition: 'start: x' } }],
        tool_choice: { type: 'custom', name: 'apply_patch' },
        reasoning: { effort: 'none' },
      },
      O,
    );
    assert.deepEqual(out.response_format, { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } });
    assert.equal(out.tools[0].function.name, 'apply_patch');
    assert.match(out.tools[0].function.description, /^Patch files\. Input format \(lark\): start: x$/);
    assert.deepEqual(out.tools[0].function.parameters.required, ['input']);
    assert.deepEqual(out.tool_choice, { type: 'function', function: { name: 'apply_patch' } });
    assert.equal(out.reasoning_effort, undefined, 'effort none sends nothing');
    const noEffort = responsesToChatRequest({ model: 'm', input: 'x', reasoning: { effort: 'high' } }, { ...O, reasoningEffort: false });
    assert.equal(noEffort.reasoning_effort, undefined);
  });

  test('400s: previous_response_id, conversation, background, prompt, top_logprobs, hosted-only tools, forced hosted tool, item_reference, file_id, bad arguments', () => {
    refused(() => responsesToChatRequest({ model: 'm', input: 'x', previous_response_id: 'resp_1' }, O), 'previous_response_id');
    refused(() => responsesToChatRequest({ model: 'm', input: 'x', conversation: 'conv_1' }, O), 'conversation');
    refused(() => responsesToChatRequest({ model: 'm', input: 'x', background: true }, O), 'background');
    refused(() => responsesToChatRequest({ model: 'm', input: 'x', prompt: { id: 'pmpt_1' } }, O), 'prompt');
    refused(() => responsesToChatRequest({ model: 'm', input: 'x', top_logprobs: 3 }, O), 'top_logprobs');
    refused(() => responsesToChatRequest({ model: 'm', input: 'x', tools: [{ type: 'web_search' }] }, O), 'tools');
    refused(
      () => responsesToChatRequest({ model: 'm', input: 'x', tools: [codex.body.tools[0], { type: 'web_search' }], tool_choice: { type: 'web_search' } }, O),
      'tool_choice',
    );
    refused(() => responsesToChatRequest({ model: 'm', input: [{ type: 'item_reference', id: 'msg_1' }] }, O), 'input[0]');
    refused(
      () => responsesToChatRequest({ model: 'm', input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1' }] }] }, O),
      'input[0].content[0].file_id',
    );
    refused(
      () => responsesToChatRequest({ model: 'm', input: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: '{nope' }] }, O),
      'input[0].arguments',
    );
  });
});

const chatAnswer = {
  id: 'chatcmpl-abc',
  object: 'chat.completion',
  created: 1_800_000_000,
  model: 'qwen3-coder',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: 'Running it.',
        reasoning_content: 'Think first.',
        tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'shell', arguments: '{"command":["ls"]}' } }],
      },
      finish_reason: 'tool_calls',
    },
  ],
  usage: {
    prompt_tokens: 100,
    completion_tokens: 30,
    total_tokens: 130,
    prompt_tokens_details: { cached_tokens: 40 },
    completion_tokens_details: { reasoning_tokens: 10 },
  },
};

describe('chat answer → Response object', () => {
  test('reasoning, message, function_call items; usage with cached and reasoning tokens; the request echoed', () => {
    const r = chatToResponsesResponse(chatAnswer, { model: 'gpt-5.1-codex', request: codex.body });
    assert.equal(r.id, 'resp_abc');
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.equal(r.model, 'gpt-5.1-codex');
    assert.equal(r.created_at, 1_800_000_000);
    assert.equal(r.instructions, codex.body.instructions);
    assert.deepEqual(
      r.output.map((o: any) => o.type),
      ['reasoning', 'message', 'function_call'],
    );
    assert.deepEqual(r.output[0].content, [{ type: 'reasoning_text', text: 'Think first.' }]);
    assert.equal(r.output[1].content[0].text, 'Running it.');
    assert.deepEqual(r.output[2], {
      id: 'fc_call_9',
      type: 'function_call',
      status: 'completed',
      arguments: '{"command":["ls"]}',
      call_id: 'call_9',
      name: 'shell',
    });
    assert.deepEqual(r.usage, {
      input_tokens: 100,
      input_tokens_details: { cached_tokens: 40 },
      output_tokens: 30,
      output_tokens_details: { reasoning_tokens: 10 },
      total_tokens: 130,
    });
  });

  test('length → incomplete (max_output_tokens); a custom tool call comes back as custom_tool_call with its input', () => {
    const cut = chatToResponsesResponse(
      { ...chatAnswer, choices: [{ index: 0, message: { role: 'assistant', content: 'Partial' }, finish_reason: 'length' }] },
      { model: 'm', request: { input: 'x' } },
    );
    assert.equal(cut.status, 'incomplete');
    assert.deepEqual(cut.incomplete_details, { reason: 'max_output_tokens' });
    const custom = chatToResponsesResponse(
      {
        ...chatAnswer,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: 'call_p', type: 'function', function: { name: 'apply_patch', arguments: '{"input":"*** Begin Patch"}' } }],
            },
            finish_reason: 'tool_calls',
          },
        ],
      },
      { model: 'm', request: { input: 'x', tools: [{ type: 'custom', name: 'apply_patch' }] } },
    );
    assert.deepEqual(custom.output, [
      { id: 'ctc_call_p', type: 'custom_tool_call', status: 'completed', call_id: 'call_p', name: 'apply_patch', input: '*** Begin Patch' },
    ]);
  });
});

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-s1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'u',
  choices: [{ index: 0, delta, finish_reason: finish }],
});

function chatChunks(): Array<Record<string, any>> {
  return [
    chunk({ role: 'assistant', content: '' }),
    chunk({ reasoning_content: 'Let me ' }),
    chunk({ reasoning_content: 'think.' }),
    chunk({ content: 'Hello' }),
    chunk({ content: ' world' }),
    chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'shell', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'view_image', arguments: '{"pa' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"command":' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '["ls"]}' } }] }),
    chunk({ tool_calls: [{ index: 1, function: { arguments: 'th":"a.png"}' } }] }),
    chunk({}, 'tool_calls'),
    {
      id: 'chatcmpl-s1',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'u',
      choices: [],
      usage: { prompt_tokens: 50, completion_tokens: 20, total_tokens: 70, completion_tokens_details: { reasoning_tokens: 4 } },
    },
  ];
}

function translate(chunks: Array<Record<string, any>>, request: Record<string, any> = { model: 'gpt-5.1', input: 'x' }) {
  const t = new ChatStreamToResponses({ model: 'gpt-5.1', request, createdAt: 1_800_000_000 });
  let out = '';
  for (const c of chunks) out += t.push(c);
  out += t.end();
  return { t, out };
}

describe('chat stream → Responses events', () => {
  test('the event sequence, sequence numbers, the final response with every item and usage', () => {
    const { t, out } = translate(chatChunks());
    const events = parseResponsesSse(out);
    events.forEach((e, i) => {
      assert.equal(e.event, e.data.type);
      assert.equal(e.data.sequence_number, i);
    });
    assert.deepEqual(
      events.map((e) => e.event),
      [
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
        'response.reasoning_text.delta',
        'response.reasoning_text.delta',
        'response.reasoning_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.output_item.added',
        'response.content_part.added',
        'response.output_text.delta',
        'response.output_text.delta',
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.output_item.added',
        'response.output_item.added',
        'response.function_call_arguments.delta',
        'response.function_call_arguments.delta',
        'response.function_call_arguments.delta',
        'response.function_call_arguments.delta',
        'response.function_call_arguments.done',
        'response.output_item.done',
        'response.function_call_arguments.done',
        'response.output_item.done',
        'response.completed',
      ],
    );
    const done = events.at(-1)!.data.response;
    assert.equal(done.id, 'resp_s1');
    assert.equal(done.status, 'completed');
    assert.deepEqual(
      done.output.map((o: any) => o.type),
      ['reasoning', 'message', 'function_call', 'function_call'],
    );
    assert.equal(done.output[1].content[0].text, 'Hello world');
    assert.equal(done.output[2].arguments, '{"command":["ls"]}');
    assert.equal(done.output[3].arguments, '{"path":"a.png"}');
    assert.deepEqual(done.usage, {
      input_tokens: 50,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 20,
      output_tokens_details: { reasoning_tokens: 4 },
      total_tokens: 70,
    });
    assert.deepEqual(t.usage, { promptTokens: 50, completionTokens: 20, cachedTokens: 0 });
    assert.equal(t.reportedUsage, true);
  });

  test('the official openai SDK reads the translated stream (responses.stream(...).finalResponse())', async () => {
    const { out } = translate(chatChunks());
    const client = new OpenAI({
      apiKey: 'k',
      baseURL: 'http://tally.invalid/v1',
      maxRetries: 0,
      fetch: async () => new Response(out, { status: 200, headers: { 'content-type': 'text/event-stream' } }),
    });
    let text = '';
    const stream = client.responses.stream({ model: 'gpt-5.1', input: 'x' });
    stream.on('response.output_text.delta', (e) => {
      text += e.delta;
    });
    const r = await stream.finalResponse();
    assert.equal(text, 'Hello world');
    assert.equal(r.output_text, 'Hello world');
    const calls = r.output.filter((o) => o.type === 'function_call') as any[];
    assert.deepEqual(
      calls.map((c) => [c.call_id, c.name, JSON.parse(c.arguments)]),
      [
        ['call_a', 'shell', { command: ['ls'] }],
        ['call_b', 'view_image', { path: 'a.png' }],
      ],
    );
    assert.equal(r.usage?.output_tokens, 20);
  });

  test('length → response.incomplete; an upstream error chunk → response.failed; no usage chunk → the input hint', () => {
    const cut = parseResponsesSse(translate([chunk({ content: 'Hi' }), chunk({}, 'length')]).out);
    assert.equal(cut.at(-1)!.event, 'response.incomplete');
    assert.deepEqual(cut.at(-1)!.data.response.incomplete_details, { reason: 'max_output_tokens' });
    const t = new ChatStreamToResponses({ model: 'm', request: { input: 'x' }, inputTokensHint: 7 });
    let out = t.push(chunk({ content: 'Hi' }));
    out += t.push({ error: { message: 'upstream exploded' } });
    out += t.end();
    const failed = parseResponsesSse(out);
    assert.equal(failed.at(-1)!.event, 'response.failed');
    assert.deepEqual(failed.at(-1)!.data.response.error, { code: 'server_error', message: 'upstream exploded' });
    const hinted = new ChatStreamToResponses({ model: 'm', request: { input: 'x' }, inputTokensHint: 7 });
    hinted.push(chunk({ content: 'Hi' }));
    const end = parseResponsesSse(hinted.end());
    assert.equal(end.at(-1)!.data.response.usage.input_tokens, 7);
    assert.equal(hinted.reportedUsage, false);
  });

  test('a custom tool call streams as custom_tool_call with its input', () => {
    const request = { input: 'x', tools: [{ type: 'custom', name: 'apply_patch' }] };
    const { out } = translate(
      [
        chunk({ tool_calls: [{ index: 0, id: 'call_p', type: 'function', function: { name: 'apply_patch', arguments: '{"input":' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: '"*** Begin Patch"}' } }] }),
        chunk({}, 'tool_calls'),
      ],
      request,
    );
    const events = parseResponsesSse(out);
    const done = events.at(-1)!.data.response;
    assert.deepEqual(done.output, [
      { id: 'ctc_call_p', type: 'custom_tool_call', status: 'completed', call_id: 'call_p', name: 'apply_patch', input: '*** Begin Patch' },
    ]);
    assert.ok(events.some((e) => e.event === 'response.custom_tool_call_input.done' && e.data.input === '*** Begin Patch'));
  });

  test('linear: 20 000 one-character deltas translate quickly', () => {
    const t = new ChatStreamToResponses({ model: 'm', request: { input: 'x' } });
    const started = performance.now();
    let n = 0;
    for (let i = 0; i < 20_000; i++) n += t.push(chunk({ content: 'x' })).length;
    const end = t.end();
    assert.ok(end.includes(`"text":"${'x'.repeat(20_000)}"`));
    assert.ok(n > 0);
    assert.ok(performance.now() - started < 2000);
  });
});
