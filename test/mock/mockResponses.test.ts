// The mock Responses-native OpenAI upstream speaks the Responses API wire format:
// checked with plain fetch (event order, sequence numbers, usage), then with the
// official openai SDK (responses.create, responses.stream(...).finalResponse()).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import {
  startMockResponses,
  mockResponsesInputTokens,
  mockSchemaArguments,
  mockReplyText,
  parseResponsesSse,
  countWords,
  RESPONSES_DEFAULT_REPLY_WORDS,
  RESPONSES_DEFAULT_REASONING_WORDS,
  RESPONSES_DEFAULT_CHUNKS,
  type MockResponses,
} from '../helpers/mockResponses.ts';

const KEY = 'sk-proj-upstream-secret-0123456789';
const MODEL = 'gpt-5.1';
const shell = {
  type: 'function',
  name: 'shell',
  description: 'Runs a shell command',
  strict: false,
  parameters: { type: 'object', properties: { command: { type: 'string' }, workdir: { type: 'string' } }, required: ['command'] },
};

function post(mock: MockResponses, body: unknown) {
  return fetch(`${mock.url}/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('mock Responses upstream, over plain fetch', () => {
  let mock: MockResponses;
  before(async () => {
    mock = await startMockResponses({ apiKey: KEY });
  });
  after(async () => {
    await mock.close();
  });

  test('non-stream: the response object, a message with output_text, deterministic usage', async () => {
    const body = { model: MODEL, instructions: 'You are terse.', input: 'Say hello to the world please' };
    const res = await post(mock, body);
    assert.equal(res.status, 200);
    const r = (await res.json()) as any;
    assert.match(r.id, /^resp_[0-9a-f]{48}$/);
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.equal(r.output.length, 1);
    assert.equal(r.output[0].type, 'message');
    assert.match(r.output[0].id, /^msg_/);
    assert.deepEqual(r.output[0].content, [{ type: 'output_text', annotations: [], logprobs: [], text: mockReplyText(RESPONSES_DEFAULT_REPLY_WORDS) }]);
    assert.equal(mockResponsesInputTokens(body), 3 + 6 + 3);
    assert.deepEqual(r.usage, {
      input_tokens: 12,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: RESPONSES_DEFAULT_REPLY_WORDS,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 12 + RESPONSES_DEFAULT_REPLY_WORDS,
    });
  });

  test('reasoning with encrypted_content when included; a function_call when asked; max_output_tokens → incomplete', async () => {
    const r = (await (
      await post(mock, {
        model: MODEL,
        input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Please call a tool' }] }],
        tools: [shell, { type: 'web_search' }],
        reasoning: { effort: 'medium', summary: 'auto' },
        include: ['reasoning.encrypted_content'],
        store: false,
      })
    ).json()) as any;
    assert.deepEqual(
      r.output.map((o: any) => o.type),
      ['reasoning', 'function_call'],
    );
    assert.match(r.output[0].encrypted_content, /^gAAAAA/);
    assert.equal(countWords(r.output[0].summary[0].text), RESPONSES_DEFAULT_REASONING_WORDS);
    assert.equal(r.output[1].name, 'shell');
    assert.match(r.output[1].call_id, /^call_/);
    assert.equal(r.output[1].arguments, mockSchemaArguments(shell.parameters));
    assert.equal(r.usage.output_tokens_details.reasoning_tokens, RESPONSES_DEFAULT_REASONING_WORDS);
    assert.equal(r.usage.output_tokens, RESPONSES_DEFAULT_REASONING_WORDS + countWords(r.output[1].arguments));
    assert.equal(mock.stored.has(r.id), false, 'store:false is not kept');
    const cut = (await (await post(mock, { model: MODEL, input: 'Hi', max_output_tokens: 5 })).json()) as any;
    assert.equal(cut.status, 'incomplete');
    assert.deepEqual(cut.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(cut.output[0].content[0].text, mockReplyText(5));
  });

  test('previous_response_id: a stored one counts as input again; an unknown one is 400 previous_response_not_found', async () => {
    const first = (await (await post(mock, { model: MODEL, input: 'Hello there' })).json()) as any;
    const second = (await (await post(mock, { model: MODEL, input: 'And again', previous_response_id: first.id })).json()) as any;
    assert.equal(second.previous_response_id, first.id);
    assert.equal(second.usage.input_tokens, 2 + 3 + first.usage.total_tokens);
    const res = await post(mock, { model: MODEL, input: 'x', previous_response_id: 'resp_unknown' });
    assert.equal(res.status, 400);
    assert.deepEqual(((await res.json()) as any).error, {
      message: "Previous response with id 'resp_unknown' not found.",
      type: 'invalid_request_error',
      param: 'previous_response_id',
      code: 'previous_response_not_found',
    });
    const got = await fetch(`${mock.url}/responses/${first.id}`, { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(((await got.json()) as any).id, first.id);
  });

  test('stream: the real event sequence, sequence_number 0,1,2…, event name = data.type, usage on response.completed', async () => {
    const res = await post(mock, { model: MODEL, input: 'Say hello', stream: true });
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const events = parseResponsesSse(await res.text());
    events.forEach((e, i) => {
      assert.equal(e.event, e.data.type);
      assert.equal(e.data.sequence_number, i);
    });
    const types = events.map((e) => e.event);
    assert.deepEqual(types, [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array(RESPONSES_DEFAULT_CHUNKS).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    assert.equal(events[0].data.response.status, 'in_progress');
    assert.equal(events[0].data.response.usage, null);
    const text = events
      .filter((e) => e.event === 'response.output_text.delta')
      .map((e) => e.data.delta)
      .join('');
    assert.equal(text, mockReplyText(RESPONSES_DEFAULT_REPLY_WORDS));
    const done = events.at(-1)!.data.response;
    assert.equal(done.usage.output_tokens, RESPONSES_DEFAULT_REPLY_WORDS);
    assert.equal(done.output[0].content[0].text, text);
  });

  test('stream: reasoning summary events, function-call argument deltas; Codex CLI fixture accepted', async () => {
    const fixture = JSON.parse(readFileSync(new URL('../fixtures/codex-cli/responses-stream.json', import.meta.url), 'utf8'));
    const body = { ...fixture.body, model: 'gpt-5.1-codex' };
    body.input = [...body.input, { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'now call a tool' }] }];
    const events = parseResponsesSse(await (await post(mock, body)).text());
    const types = events.map((e) => e.event);
    assert.ok(types.includes('response.reasoning_summary_text.delta'));
    const args = events
      .filter((e) => e.event === 'response.function_call_arguments.delta')
      .map((e) => e.data.delta)
      .join('');
    assert.equal(args, events.find((e) => e.event === 'response.function_call_arguments.done')!.data.arguments);
    const done = events.at(-1)!.data.response;
    assert.equal(done.output[1].type, 'function_call');
    assert.equal(done.output[1].name, 'shell');
    assert.match(done.output[0].encrypted_content, /^gAAAAA/);
  });

  test('stream cut and response.failed; error bodies', async () => {
    mock.setBehavior({ disconnectAfterEvents: 4 });
    const res = await post(mock, { model: MODEL, input: 'Hi', stream: true });
    await assert.rejects(res.text());
    mock.setBehavior({ failAfterEvents: 3 });
    const events = parseResponsesSse(await (await post(mock, { model: MODEL, input: 'Hi', stream: true })).text());
    assert.equal(events.at(-1)!.event, 'response.failed');
    assert.equal(events.at(-1)!.data.response.error.code, 'server_error');
    mock.setBehavior({ fail: 429 });
    const limited = await post(mock, { model: MODEL, input: 'Hi' });
    assert.equal(limited.status, 429);
    assert.equal(((await limited.json()) as any).error.code, 'rate_limit_exceeded');
    mock.setBehavior({});
    const bad = await fetch(`${mock.url}/responses`, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: '{}' });
    assert.equal(bad.status, 401);
  });
});

describe('mock Responses upstream, through the official openai SDK', () => {
  let mock: MockResponses;
  let client: OpenAI;
  before(async () => {
    mock = await startMockResponses({ apiKey: KEY });
    client = new OpenAI({ apiKey: KEY, baseURL: mock.url, maxRetries: 0 });
  });
  after(async () => {
    await mock.close();
  });

  test('responses.create: output_text and usage', async () => {
    const r = await client.responses.create({ model: MODEL, instructions: 'You are terse.', input: 'Say hello to the world please' });
    assert.equal(r.output_text, mockReplyText(RESPONSES_DEFAULT_REPLY_WORDS));
    assert.equal(r.usage?.input_tokens, 12);
  });

  test('responses.create with function tools, then the function_call_output back', async () => {
    const r = await client.responses.create({ model: MODEL, input: 'Please call a tool', tools: [shell as any] });
    const call = r.output.find((o) => o.type === 'function_call') as any;
    assert.equal(call.name, 'shell');
    const next = await client.responses.create({
      model: MODEL,
      input: [
        { role: 'user', content: 'Please call a tool' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: 'ok done' },
      ],
      tools: [shell as any],
    });
    assert.equal(next.output_text, mockReplyText(RESPONSES_DEFAULT_REPLY_WORDS), 'the last user turn does not ask again');
  });

  test('responses.stream(...).finalResponse(): text deltas, reasoning, usage', async () => {
    const stream = client.responses.stream({
      model: MODEL,
      input: 'Say hello',
      reasoning: { effort: 'low', summary: 'auto' },
      include: ['reasoning.encrypted_content'],
    });
    let text = '';
    stream.on('response.output_text.delta', (e) => {
      text += e.delta;
    });
    const r = await stream.finalResponse();
    assert.equal(text, mockReplyText(RESPONSES_DEFAULT_REPLY_WORDS));
    assert.equal(r.output_text, text);
    assert.equal(r.usage?.output_tokens_details.reasoning_tokens, RESPONSES_DEFAULT_REASONING_WORDS);
    assert.equal(r.usage?.output_tokens, RESPONSES_DEFAULT_REASONING_WORDS + RESPONSES_DEFAULT_REPLY_WORDS);
  });

  test('responses.stream with a function tool: the final function_call carries the whole arguments', async () => {
    const r = await client.responses.stream({ model: MODEL, input: 'call a tool now', tools: [shell as any] }).finalResponse();
    const call = r.output.find((o) => o.type === 'function_call') as any;
    assert.deepEqual(JSON.parse(call.arguments), { command: 'mock command', workdir: 'mock workdir' });
  });

  test('an unknown previous_response_id is a BadRequestError with the code', async () => {
    await assert.rejects(client.responses.create({ model: MODEL, input: 'x', previous_response_id: 'resp_nope' }), (e: any) => {
      assert.equal(e.status, 400);
      assert.equal(e.code, 'previous_response_not_found');
      return true;
    });
  });
});
