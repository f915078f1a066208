import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chatToMessagesRequest, messagesToChatRequest } from '../../src/gateway/translate/index.ts';
import { TallyError } from '../../src/lib/errors.ts';

// Requests across protocols: what an OpenAI chat caller sends becomes what
// Anthropic takes, and what an Anthropic caller (Claude Code) sends becomes
// what an OpenAI-compatible upstream takes. Nothing that changes the answer is
// dropped silently: it is translated or refused with a 400 naming the field.

const toA = (body: Record<string, any>, o: Partial<{ defaultMaxTokens: number; maxTokensCap: number }> = {}) =>
  chatToMessagesRequest(body, { upstreamModel: 'claude-up', defaultMaxTokens: 4096, ...o });
const toC = (body: Record<string, any>, o: Record<string, any> = {}) => messagesToChatRequest(body, { upstreamModel: 'gpt-up', ...o });

function refused(fn: () => unknown, param: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TallyError, String(e));
    assert.equal(e.code, 'untranslatable_field');
    assert.equal(e.status, 400);
    assert.equal(e.param, param);
    assert.match(e.message, new RegExp(`^${param.replace(/[[\].]/g, '\\$&')} cannot be sent to (Anthropic|OpenAI-compatible) models: .+`));
    return true;
  });
}

const PNG = 'iVBORw0KGgo=';

describe('OpenAI chat request → Anthropic Messages request', () => {
  test('system and developer messages become `system`, turns keep their order, the model is the upstream name', () => {
    const a = toA({
      model: 'claude-alias',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Use French.' }] },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Salut' },
        { role: 'user', content: 'Again' },
      ],
    });
    assert.equal(a.model, 'claude-up');
    assert.deepEqual(a.system, [
      { type: 'text', text: 'Be brief.' },
      { type: 'text', text: 'Use French.' },
    ]);
    assert.deepEqual(a.messages, [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: [{ type: 'text', text: 'Salut' }] },
      { role: 'user', content: 'Again' },
    ]);
    assert.equal(
      toA({
        messages: [
          { role: 'system', content: 'One' },
          { role: 'user', content: 'x' },
        ],
      }).system,
      'One',
    );
  });

  test('a cache_control on a text part is kept for Claude', () => {
    const a = toA({
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Big', cache_control: { type: 'ephemeral' } }] },
        { role: 'user', content: 'q' },
      ],
    });
    assert.deepEqual(a.system, [{ type: 'text', text: 'Big', cache_control: { type: 'ephemeral' } }]);
  });

  test('images: data: URLs become base64 sources, http(s) URLs become url sources, detail is dropped', () => {
    const a = toA({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}`, detail: 'high' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          ],
        },
      ],
    });
    assert.deepEqual(a.messages[0].content, [
      { type: 'text', text: 'What is this?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
    ]);
    refused(
      () => toA({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }] }),
      'messages[0].content[0].image_url',
    );
  });

  test('a PDF sent inline becomes a document block; other parts are refused', () => {
    const a = toA({ messages: [{ role: 'user', content: [{ type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBER' } }] }] });
    assert.deepEqual(a.messages[0].content, [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBER' } }]);
    refused(() => toA({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-1' } }] }] }), 'messages[0].content[0].file');
    refused(
      () => toA({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }] }] }),
      'messages[0].content[0]',
    );
  });

  test('tools, assistant tool_calls and tool results (consecutive ones merged into one user turn, results first)', () => {
    const a = toA({
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_2', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18C' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '24C' }] },
        { role: 'user', content: 'Thanks; which is warmer?' },
      ],
      tools: [
        {
          type: 'function',
          function: { name: 'weather', description: 'Get weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true },
        },
      ],
      tool_choice: 'auto',
    });
    assert.deepEqual(a.tools, [{ name: 'weather', description: 'Get weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }]);
    assert.equal(a.tool_choice, undefined, 'auto is Anthropic’s default');
    assert.deepEqual(a.messages[1], {
      role: 'assistant',
      content: [
        { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'call_2', name: 'weather', input: { city: 'Rome' } },
      ],
    });
    assert.deepEqual(a.messages[2], {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'call_1', content: '18C' },
        { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: '24C' }] },
        { type: 'text', text: 'Thanks; which is warmer?' },
      ],
    });
    assert.equal(a.messages.length, 3);
  });

  test('tool_choice and parallel_tool_calls', () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
    const m = [{ role: 'user', content: 'x' }];
    assert.deepEqual(toA({ messages: m, tools, tool_choice: 'none' }).tool_choice, { type: 'none' });
    assert.deepEqual(toA({ messages: m, tools, tool_choice: 'required' }).tool_choice, { type: 'any' });
    assert.deepEqual(toA({ messages: m, tools, tool_choice: { type: 'function', function: { name: 'f' } } }).tool_choice, { type: 'tool', name: 'f' });
    assert.deepEqual(toA({ messages: m, tools, parallel_tool_calls: false }).tool_choice, { type: 'auto', disable_parallel_tool_use: true });
    assert.deepEqual(toA({ messages: m, tools, tool_choice: 'required', parallel_tool_calls: false }).tool_choice, {
      type: 'any',
      disable_parallel_tool_use: true,
    });
    assert.deepEqual(toA({ messages: m, tools: [{ type: 'function', function: { name: 'g' } }] }).tools, [
      { name: 'g', input_schema: { type: 'object', properties: {} } },
    ]);
    refused(() => toA({ messages: m, tools: [{ type: 'custom', custom: { name: 'x' } }] }), 'tools[0]');
    refused(() => toA({ messages: m, tools, tool_choice: 'sometimes' }), 'tool_choice');
  });

  test('stop, max_tokens / max_completion_tokens (default when absent, lowered by the cap), temperature, top_p, user, stream', () => {
    const m = [{ role: 'user', content: 'x' }];
    assert.deepEqual(toA({ messages: m, stop: 'END' }).stop_sequences, ['END']);
    assert.deepEqual(toA({ messages: m, stop: ['a', 'b'] }).stop_sequences, ['a', 'b']);
    assert.equal(toA({ messages: m }).max_tokens, 4096);
    assert.equal(toA({ messages: m, max_tokens: 100 }).max_tokens, 100);
    assert.equal(toA({ messages: m, max_tokens: 100, max_completion_tokens: 200 }).max_tokens, 200);
    assert.equal(toA({ messages: m, max_tokens: 9000 }, { maxTokensCap: 500 }).max_tokens, 500);
    assert.equal(toA({ messages: m }, { maxTokensCap: 500 }).max_tokens, 500);
    const a = toA({ messages: m, temperature: 0.2, top_p: 0.9, user: 'u-42', stream: true, stream_options: { include_usage: true }, seed: 7, n: 1 });
    assert.deepEqual(a, { model: 'claude-up', messages: m, max_tokens: 4096, temperature: 0.2, top_p: 0.9, metadata: { user_id: 'u-42' }, stream: true });
    refused(() => toA({ messages: m, temperature: 1.5 }), 'temperature');
  });

  test('reasoning_effort → thinking budget below max_tokens (minimal 1024, low 4096, medium 10240, high 24576)', () => {
    const m = [{ role: 'user', content: 'x' }];
    assert.deepEqual(toA({ messages: m, reasoning_effort: 'low', max_tokens: 8000 }).thinking, { type: 'enabled', budget_tokens: 4096 });
    assert.deepEqual(toA({ messages: m, reasoning_effort: 'medium', max_tokens: 32000 }).thinking, { type: 'enabled', budget_tokens: 10240 });
    assert.deepEqual(toA({ messages: m, reasoning_effort: 'high', max_tokens: 32000 }).thinking, { type: 'enabled', budget_tokens: 24576 });
    assert.deepEqual(toA({ messages: m, reasoning_effort: 'high', max_tokens: 8000 }).thinking, { type: 'enabled', budget_tokens: 7999 });
    assert.deepEqual(toA({ messages: m, reasoning_effort: 'minimal' }).thinking, { type: 'enabled', budget_tokens: 1024 });
    assert.equal(toA({ messages: m, reasoning_effort: 'none' }).thinking, undefined);
    refused(() => toA({ messages: m, reasoning_effort: 'low', max_tokens: 1000 }), 'reasoning_effort');
    refused(() => toA({ messages: m, reasoning_effort: 'low' }, { maxTokensCap: 900 }), 'reasoning_effort');
    refused(() => toA({ messages: m, reasoning_effort: 'turbo' }), 'reasoning_effort');
    refused(() => toA({ messages: m, reasoning_effort: 'low', temperature: 0.3 }), 'temperature');
  });

  test('in a tool loop whose assistant turn has no signed thinking, thinking is left out (Anthropic would refuse it); signed thinking_blocks go back first', () => {
    const loop = [
      { role: 'user', content: 'ls' },
      {
        role: 'assistant',
        content: null,
        reasoning_content: 'unsigned',
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'sh', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'a.txt' },
    ];
    const tools = [{ type: 'function', function: { name: 'sh', parameters: { type: 'object' } } }];
    assert.equal(toA({ messages: loop, tools, reasoning_effort: 'low', max_tokens: 8000 }).thinking, undefined);
    const signed = structuredClone(loop) as any[];
    signed[1].thinking_blocks = [{ type: 'thinking', thinking: 'signed', signature: 'EqQB' }];
    const a = toA({ messages: signed, tools, reasoning_effort: 'low', max_tokens: 8000 });
    assert.deepEqual(a.thinking, { type: 'enabled', budget_tokens: 4096 });
    assert.deepEqual(a.messages[1].content[0], { type: 'thinking', thinking: 'signed', signature: 'EqQB' });
    assert.equal(a.messages[1].content[1].type, 'tool_use');
  });

  test('response_format json_schema → output_config.format; text is harmless', () => {
    const m = [{ role: 'user', content: 'x' }];
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    assert.deepEqual(toA({ messages: m, response_format: { type: 'json_schema', json_schema: { name: 'x', schema, strict: true } } }).output_config, {
      format: { type: 'json_schema', schema },
    });
    assert.equal(toA({ messages: m, response_format: { type: 'text' } }).output_config, undefined);
    refused(() => toA({ messages: m, response_format: { type: 'json_object' } }), 'response_format');
  });

  test('every field Anthropic cannot honour is a 400 naming it', () => {
    const m = [{ role: 'user', content: 'x' }];
    refused(() => toA({ messages: m, n: 2 }), 'n');
    refused(() => toA({ messages: m, logprobs: true }), 'logprobs');
    refused(() => toA({ messages: m, top_logprobs: 2 }), 'top_logprobs');
    refused(() => toA({ messages: m, frequency_penalty: 0.5 }), 'frequency_penalty');
    refused(() => toA({ messages: m, presence_penalty: -1 }), 'presence_penalty');
    refused(() => toA({ messages: m, logit_bias: { 50256: -100 } }), 'logit_bias');
    refused(() => toA({ messages: m, modalities: ['text', 'audio'], audio: { voice: 'alloy' } }), 'modalities');
    refused(() => toA({ messages: m, web_search_options: {} }), 'web_search_options');
    refused(() => toA({ messages: m, functions: [{ name: 'f' }] }), 'functions');
    refused(() => toA({ messages: [{ role: 'function', name: 'f', content: 'x' }] }), 'messages[0].role');
    refused(
      () => toA({ messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] }),
      'messages[0].tool_calls[0].function.arguments',
    );
    // Harmless: zero penalties, logprobs false, empty logit_bias.
    assert.doesNotThrow(() => toA({ messages: m, frequency_penalty: 0, presence_penalty: 0, logprobs: false, logit_bias: {} }));
  });
});

describe('Anthropic Messages request → OpenAI chat request', () => {
  test('system (string or blocks, cache_control dropped) becomes the first system message', () => {
    const c = toC({
      model: 'claude-x',
      max_tokens: 100,
      system: [
        { type: 'text', text: 'A' },
        { type: 'text', text: 'B', cache_control: { type: 'ephemeral' } },
      ],
      messages: [{ role: 'user', content: 'Hi' }],
    });
    assert.deepEqual(c, {
      model: 'gpt-up',
      messages: [
        { role: 'system', content: 'A\n\nB' },
        { role: 'user', content: 'Hi' },
      ],
      max_tokens: 100,
    });
    assert.deepEqual(toC({ system: 'S', messages: [{ role: 'user', content: 'q' }] }).messages[0], { role: 'system', content: 'S' });
  });

  test('images: base64 → data: URL, url → image_url; a Files API source is refused', () => {
    const c = toC({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
            { type: 'text', text: 'Compare', cache_control: { type: 'ephemeral' } },
          ],
        },
      ],
    });
    assert.deepEqual(c.messages[0].content, [
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
      { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
      { type: 'text', text: 'Compare' },
    ]);
    refused(() => toC({ messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'f' } }] }] }), 'messages[0].content[0].source');
  });

  test('tool_use ⇄ tool_calls, tool results → tool messages before the user’s text; images of a tool result follow in a user message', () => {
    const c = toC({
      messages: [
        { role: 'user', content: 'Look at the screenshot' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'I should read it.', signature: 'sig' },
            { type: 'text', text: 'Reading.' },
            { type: 'tool_use', id: 'toolu_1', name: 'Read', input: { file_path: '/a.png' } },
            { type: 'tool_use', id: 'toolu_2', name: 'Bash', input: { command: 'ls' } },
          ],
        },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_1',
              content: [
                { type: 'text', text: 'image:' },
                { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
              ],
            },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: 'not found', is_error: true },
            { type: 'text', text: 'go on' },
          ],
        },
      ],
    });
    assert.deepEqual(c.messages[1], {
      role: 'assistant',
      content: 'Reading.',
      reasoning_content: 'I should read it.',
      tool_calls: [
        { id: 'toolu_1', type: 'function', function: { name: 'Read', arguments: '{"file_path":"/a.png"}' } },
        { id: 'toolu_2', type: 'function', function: { name: 'Bash', arguments: '{"command":"ls"}' } },
      ],
    });
    assert.deepEqual(c.messages.slice(2), [
      { role: 'tool', tool_call_id: 'toolu_1', content: 'image:' },
      { role: 'tool', tool_call_id: 'toolu_2', content: 'Error: not found' },
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
          { type: 'text', text: 'go on' },
        ],
      },
    ]);
  });

  test('tools and tool_choice (auto/any/none/tool, disable_parallel_tool_use → parallel_tool_calls false)', () => {
    const tools = [{ name: 'f', description: 'd', input_schema: { type: 'object' }, cache_control: { type: 'ephemeral' } }];
    const m = [{ role: 'user', content: 'x' }];
    assert.deepEqual(toC({ messages: m, tools }).tools, [{ type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object' } } }]);
    assert.equal(toC({ messages: m, tools, tool_choice: { type: 'auto' } }).tool_choice, 'auto');
    assert.equal(toC({ messages: m, tools, tool_choice: { type: 'any' } }).tool_choice, 'required');
    assert.equal(toC({ messages: m, tools, tool_choice: { type: 'none' } }).tool_choice, 'none');
    const c = toC({ messages: m, tools, tool_choice: { type: 'tool', name: 'f', disable_parallel_tool_use: true } });
    assert.deepEqual(c.tool_choice, { type: 'function', function: { name: 'f' } });
    assert.equal(c.parallel_tool_calls, false);
    refused(() => toC({ messages: m, tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }] }), 'tools[0]');
  });

  test('stop_sequences, max_tokens (capped; max_completion_tokens on request), temperature, top_p, stream with usage', () => {
    const m = [{ role: 'user', content: 'x' }];
    const c = toC({ messages: m, max_tokens: 32000, stop_sequences: ['###'], temperature: 0.5, top_p: 0.8, stream: true }, { maxTokensCap: 2000 });
    assert.deepEqual(c, {
      model: 'gpt-up',
      messages: m,
      max_tokens: 2000,
      stop: ['###'],
      temperature: 0.5,
      top_p: 0.8,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(toC({ messages: m, max_tokens: 10 }, { maxTokensField: 'max_completion_tokens' }).max_completion_tokens, 10);
    refused(() => toC({ messages: m, top_k: 40 }), 'top_k');
    refused(() => toC({ messages: m, mcp_servers: [{ type: 'url', url: 'https://x', name: 'x' }] }), 'mcp_servers');
    refused(() => toC({ messages: m, container: 'c' }), 'container');
    refused(() => toC({ messages: [{ role: 'user', content: [{ type: 'search_result', source: 's', title: 't', content: [] }] }] }), 'messages[0].content[0]');
  });

  test('thinking → reasoning_effort: budgets, adaptive with output_config.effort, disabled; off for upstreams without it', () => {
    const m = [{ role: 'user', content: 'x' }];
    assert.equal(toC({ messages: m, thinking: { type: 'enabled', budget_tokens: 2000 } }).reasoning_effort, 'low');
    assert.equal(toC({ messages: m, thinking: { type: 'enabled', budget_tokens: 8000 } }).reasoning_effort, 'medium');
    assert.equal(toC({ messages: m, thinking: { type: 'enabled', budget_tokens: 20000 } }).reasoning_effort, 'high');
    assert.equal(toC({ messages: m, thinking: { type: 'adaptive' }, output_config: { effort: 'low' } }).reasoning_effort, 'low');
    assert.equal(toC({ messages: m, thinking: { type: 'adaptive' }, output_config: { effort: 'max' } }).reasoning_effort, 'high');
    assert.equal(toC({ messages: m, thinking: { type: 'adaptive' } }).reasoning_effort, undefined);
    assert.equal(toC({ messages: m, thinking: { type: 'disabled' }, output_config: { effort: 'low' } }).reasoning_effort, undefined);
    assert.equal(toC({ messages: m, thinking: { type: 'enabled', budget_tokens: 8000 } }, { reasoningEffort: false }).reasoning_effort, undefined);
  });

  test('output_config.format json_schema → response_format; metadata.user_id → user when it fits', () => {
    const schema = { type: 'object' };
    const c = toC({ messages: [{ role: 'user', content: 'x' }], output_config: { format: { type: 'json_schema', schema } }, metadata: { user_id: 'u1' } });
    assert.deepEqual(c.response_format, { type: 'json_schema', json_schema: { name: 'output', schema, strict: true } });
    assert.equal(c.user, 'u1');
  });

  test('the Claude Code main turn becomes a chat request an OpenAI-compatible upstream takes', () => {
    const fx = JSON.parse(readFileSync(new URL('../fixtures/claude-code/messages-main-stream.json', import.meta.url), 'utf8'));
    const c = toC(fx.body, { maxTokensCap: 16000 });
    assert.equal(c.model, 'gpt-up');
    assert.equal(c.stream, true);
    assert.deepEqual(c.stream_options, { include_usage: true });
    assert.equal(c.max_tokens, 16000);
    assert.equal(c.reasoning_effort, 'high');
    assert.equal(c.tools.length, fx.body.tools.length);
    for (const t of c.tools) {
      assert.equal(t.type, 'function');
      assert.equal(typeof t.function.name, 'string');
      assert.equal(t.function.parameters.type, 'object');
    }
    assert.equal(c.messages[0].role, 'system');
    assert.ok(c.messages[0].content.includes('You are Claude Code'));
    assert.equal(c.user, undefined, 'a JSON user_id longer than 64 characters is not sent as user');
    // Nothing Anthropic-only is left for the upstream to reject.
    const text = JSON.stringify(c);
    for (const k of ['cache_control', 'input_schema', '"thinking"', 'output_config', 'metadata']) assert.ok(!text.includes(k), k);
    const last = c.messages[c.messages.length - 1];
    assert.equal(last.role, 'user');
    assert.ok(Array.isArray(last.content) && last.content.every((p: any) => p.type === 'text'));
  });

  test('every Claude Code fixture translates', () => {
    for (const f of ['messages-haiku-topic.json', 'messages-custom-base-url.json', 'count-tokens.json']) {
      const fx = JSON.parse(readFileSync(new URL(`../fixtures/claude-code/${f}`, import.meta.url), 'utf8'));
      const c = toC(fx.body);
      assert.ok(Array.isArray(c.messages) && c.messages.length > 0, f);
    }
  });
});
