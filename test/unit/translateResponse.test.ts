import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { chatToMessagesResponse, messagesToChatResponse, SseEventParser } from '../../src/gateway/translate/index.ts';
import { TallyError } from '../../src/lib/errors.ts';

// Whole answers across protocols, and the SSE parser's edge cases.

describe('Anthropic Message → OpenAI chat.completion', () => {
  test('text, thinking and tool_use blocks; stop reason; usage with cache reads and writes in the prompt total', () => {
    const c = messagesToChatResponse(
      {
        id: 'msg_01XYZ',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-6',
        content: [
          { type: 'thinking', thinking: 'Plan.', signature: 'sig' },
          { type: 'redacted_thinking', data: 'xx' },
          { type: 'text', text: 'Let me check.' },
          { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } },
        ],
        stop_reason: 'tool_use',
        stop_sequence: null,
        usage: { input_tokens: 10, cache_creation_input_tokens: 100, cache_read_input_tokens: 1000, output_tokens: 25 },
      },
      { model: 'my-claude', created: 1700000000 },
    );
    assert.deepEqual(c, {
      id: 'chatcmpl-01XYZ',
      object: 'chat.completion',
      created: 1700000000,
      model: 'my-claude',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Let me check.',
            refusal: null,
            reasoning_content: 'Plan.',
            tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 1110, completion_tokens: 25, total_tokens: 1135, prompt_tokens_details: { cached_tokens: 1000 } },
    });
  });

  test('stop reasons map; a text-only answer has no tool_calls or reasoning_content', () => {
    const base = { id: 'msg_1', content: [{ type: 'text', text: 'ok' }], usage: { input_tokens: 1, output_tokens: 1 } };
    for (const [stop, finish] of [
      ['end_turn', 'stop'],
      ['stop_sequence', 'stop'],
      ['max_tokens', 'length'],
      ['refusal', 'content_filter'],
    ]) {
      const c = messagesToChatResponse({ ...base, stop_reason: stop }, { model: 'm' });
      assert.equal(c.choices[0].finish_reason, finish);
      assert.deepEqual(c.choices[0].message, { role: 'assistant', content: 'ok', refusal: null });
    }
  });
});

describe('OpenAI chat.completion → Anthropic Message', () => {
  test('reasoning_content, content and tool_calls become thinking, text and tool_use blocks; usage splits out cached tokens', () => {
    const m = chatToMessagesResponse(
      {
        id: 'chatcmpl-abc',
        object: 'chat.completion',
        created: 1,
        model: 'deepseek-reasoner',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: 'Calling.',
              reasoning_content: 'Think.',
              tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'Bash', arguments: '{"command":"ls"}' } }],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 500, completion_tokens: 40, total_tokens: 540, prompt_tokens_details: { cached_tokens: 384 } },
      },
      { model: 'claude-alias' },
    );
    assert.deepEqual(m, {
      id: 'msg_abc',
      type: 'message',
      role: 'assistant',
      model: 'claude-alias',
      content: [
        { type: 'thinking', thinking: 'Think.', signature: '' },
        { type: 'text', text: 'Calling.' },
        { type: 'tool_use', id: 'call_1', name: 'Bash', input: { command: 'ls' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 116, cache_creation_input_tokens: 0, cache_read_input_tokens: 384, output_tokens: 40 },
    });
  });

  test('finish reasons map back; `reasoning` (vLLM/OpenRouter) is read too; empty arguments are {}', () => {
    const mk = (finish: string, message: Record<string, any> = { content: 'x' }) =>
      chatToMessagesResponse({ id: 'chatcmpl-1', choices: [{ index: 0, message, finish_reason: finish }] }, { model: 'm' });
    assert.equal(mk('stop').stop_reason, 'end_turn');
    assert.equal(mk('length').stop_reason, 'max_tokens');
    assert.equal(mk('content_filter').stop_reason, 'refusal');
    assert.deepEqual(mk('stop', { content: 'a', reasoning: 'r' }).content, [
      { type: 'thinking', thinking: 'r', signature: '' },
      { type: 'text', text: 'a' },
    ]);
    assert.deepEqual(mk('tool_calls', { content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '' } }] }).content, [
      { type: 'tool_use', id: 'c', name: 'f', input: {} },
    ]);
    assert.deepEqual(mk('stop').usage, { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 });
  });

  test('tool arguments that are not a JSON object are an upstream error (Anthropic’s shape needs an object)', () => {
    assert.throws(
      () =>
        chatToMessagesResponse(
          { choices: [{ message: { tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"a":' } }] }, finish_reason: 'tool_calls' }] },
          { model: 'm' },
        ),
      (e: unknown) => e instanceof TallyError && e.code === 'upstream_error',
    );
  });
});

describe('SseEventParser', () => {
  test('comments, multi-line data, no space after the colon, a lone \\r, events without data, and a final event without a blank line', () => {
    const p = new SseEventParser();
    const got = [
      ...p.push(': keep-alive\n\nevent: a\ndata: line1\ndata:line2\n\n'),
      ...p.push('event: only-name\n\nid: 5\nretry: 10\ndata: x\r\rdata: {"y":1}\r'),
      ...p.push('\n\r\n'),
      ...p.push('data: pending'),
    ];
    assert.deepEqual(got, [
      { event: 'a', data: 'line1\nline2' },
      { event: null, data: 'x' },
      { event: null, data: '{"y":1}' },
    ]);
    assert.deepEqual(p.push('\n\n'), [{ event: null, data: 'pending' }]);
  });

  test('a UTF-8 character cut between chunks is decoded whole', () => {
    const bytes = Buffer.from('data: {"t":"世界🙂"}\n\n');
    for (let i = 1; i < bytes.length; i++) {
      const p = new SseEventParser();
      const got = [...p.push(bytes.subarray(0, i)), ...p.push(bytes.subarray(i))];
      assert.deepEqual(got, [{ event: null, data: '{"t":"世界🙂"}' }], `cut at ${i}`);
    }
  });

  test('a large event arriving one byte at a time is parsed in linear time', () => {
    const big = `data: ${JSON.stringify({ text: 'x'.repeat(200_000) })}\n\n`;
    const p = new SseEventParser();
    const t0 = performance.now();
    let n = 0;
    for (let i = 0; i < big.length; i += 1) n += p.push(big[i]).length;
    assert.equal(n, 1);
    assert.ok(performance.now() - t0 < 2000, 'no quadratic rescans');
  });
});
