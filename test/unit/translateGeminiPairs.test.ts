// The translators between real mock upstreams and the official SDKs, with no
// relay in between (the wiring is the next step): each test does by hand what an
// adapter pair will do — translate the request, call the mock upstream over
// HTTP, translate its answer or stream, and let the client's SDK read the result.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { GoogleGenAI } from '@google/genai';
import { SseEventParser } from '../../src/gateway/translate/sse.ts';
import { chatToGeminiRequest, geminiToChatResponse } from '../../src/gateway/translate/geminiFromChat.ts';
import { GeminiStreamToChat } from '../../src/gateway/translate/geminiStreamToChat.ts';
import { geminiToChatRequest, chatToGeminiResponse } from '../../src/gateway/translate/geminiToChat.ts';
import { ChatStreamToGemini } from '../../src/gateway/translate/geminiStreamFromChat.ts';
import { responsesToChatRequest, chatToResponsesResponse } from '../../src/gateway/translate/responsesToChat.ts';
import { ChatStreamToResponses } from '../../src/gateway/translate/responsesStream.ts';
import { ChatStreamToMessages } from '../../src/gateway/translate/chatStreamToMessages.ts';
import { messagesToChatRequest } from '../../src/gateway/translate/messagesToChat.ts';
import { parseAnthropicSse } from '../helpers/mockAnthropic.ts';
import { startMockGemini, mockReplyText, GEMINI_DEFAULT_REPLY_WORDS, type MockGemini } from '../helpers/mockGemini.ts';
import { startMockOpenAI, mockUsageFor, type MockOpenAI } from '../helpers/mockOpenAI.ts';

const geminiCli = JSON.parse(readFileSync(new URL('../fixtures/gemini-cli/stream-generate-content.json', import.meta.url), 'utf8'));
const codex = JSON.parse(readFileSync(new URL('../fixtures/codex-cli/responses-stream.json', import.meta.url), 'utf8'));
const GKEY = 'AIza-mock';
const OKEY = 'sk-mock';

/** Reads an SSE response body through SseEventParser, calling `each` with every parsed data. */
async function readSse(res: Response, each: (data: any) => void): Promise<void> {
  const p = new SseEventParser();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
    for (const ev of p.push(Buffer.from(chunk))) if (ev.data !== '[DONE]') each(JSON.parse(ev.data));
}

const fakeFetch = (body: string, type: string) => async () => new Response(body, { status: 200, headers: { 'content-type': type } });

describe('translators against the mock upstreams', () => {
  let gemini: MockGemini;
  let openai: MockOpenAI;
  before(async () => {
    gemini = await startMockGemini({ apiKey: GKEY });
    openai = await startMockOpenAI({ apiKey: OKEY, models: null });
  });
  after(async () => {
    await gemini.close();
    await openai.close();
  });

  const geminiPost = (model: string, action: string, body: unknown) =>
    fetch(`${gemini.url}/v1beta/models/${model}:${action}`, {
      method: 'POST',
      headers: { 'x-goog-api-key': GKEY, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const chatPost = (body: unknown) =>
    fetch(`${openai.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OKEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  test('chat client → Gemini upstream, streamed: the openai SDK gets the text and usage (thoughts billed as output)', async () => {
    const chat = {
      model: 'my-gemini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Say hello' },
      ],
      reasoning_effort: 'low',
      stream: true,
    };
    const body = chatToGeminiRequest(chat);
    const res = await geminiPost('gemini-2.5-flash', 'streamGenerateContent?alt=sse', body);
    assert.equal(res.status, 200);
    const t = new GeminiStreamToChat({ model: 'my-gemini', includeUsage: true });
    let out = '';
    await readSse(res, (d) => {
      out += t.push(d);
    });
    out += t.end();
    const u = gemini.requests.at(-1)!;
    assert.equal(u.body.generationConfig.thinkingConfig.thinkingBudget, 1024);
    const client = new OpenAI({ apiKey: 'k', baseURL: 'http://tally.invalid/v1', maxRetries: 0, fetch: fakeFetch(out, 'text/event-stream') });
    const final = await client.chat.completions.stream({ model: 'my-gemini', messages: [], stream_options: { include_usage: true } }).finalChatCompletion();
    assert.equal(final.choices[0].message.content, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
    assert.equal(final.usage?.prompt_tokens, 2 + 2 + 3);
    assert.equal(final.usage?.completion_tokens, GEMINI_DEFAULT_REPLY_WORDS + 12);
    assert.deepEqual(t.usage, { promptTokens: 7, completionTokens: GEMINI_DEFAULT_REPLY_WORDS + 12, cachedTokens: 0 });
  });

  test('chat client → Gemini upstream, whole: a 429 stays Google-shaped for the adapter; the answer translates', async () => {
    gemini.setBehavior({ fail: 429 });
    const limited = await geminiPost('gemini-2.5-flash', 'generateContent', chatToGeminiRequest({ messages: [{ role: 'user', content: 'x' }] }));
    assert.equal(limited.status, 429);
    assert.equal(((await limited.json()) as any).error.status, 'RESOURCE_EXHAUSTED');
    gemini.setBehavior({});
    const res = await geminiPost('gemini-2.5-flash', 'generateContent', chatToGeminiRequest({ messages: [{ role: 'user', content: 'x' }], max_tokens: 4 }));
    const c = geminiToChatResponse((await res.json()) as any, { model: 'my-gemini' });
    assert.equal(c.choices[0].message.content, mockReplyText(4));
    assert.equal(c.choices[0].finish_reason, 'length');
  });

  test('Gemini CLI → chat upstream, streamed: @google/genai reads the translated stream, usage from the chat upstream', async () => {
    const body = geminiToChatRequest(geminiCli.body, { upstreamModel: 'gpt-4o-mini', stream: true });
    const res = await chatPost(body);
    assert.equal(res.status, 200);
    const t = new ChatStreamToGemini({ model: 'gemini-2.5-pro' });
    let out = '';
    await readSse(res, (d) => {
      out += t.push(d);
    });
    out += t.end();
    const want = mockUsageFor(openai.requests.at(-1)!.body);
    const ai = new GoogleGenAI({ apiKey: 'k', httpOptions: { baseUrl: 'http://tally.invalid', fetch: fakeFetch(out, 'text/event-stream') } });
    let text = '';
    let last: any;
    for await (const c of await ai.models.generateContentStream({ model: 'gemini-2.5-pro', contents: 'x' })) {
      text += c.text ?? '';
      last = c;
    }
    assert.ok(text.length > 0);
    assert.equal(last.usageMetadata.promptTokenCount, want.prompt_tokens);
    assert.equal(last.usageMetadata.candidatesTokenCount, want.completion_tokens);
    assert.deepEqual(t.usage, { promptTokens: want.prompt_tokens, completionTokens: want.completion_tokens, cachedTokens: 0 });
  });

  test('Gemini client → chat upstream, whole, with a function call: functionCalls come back to @google/genai', async () => {
    const g = {
      contents: [{ role: 'user', parts: [{ text: 'Please call a tool' }] }],
      tools: [{ functionDeclarations: [{ name: 'read_file', parametersJsonSchema: { type: 'object', properties: { path: { type: 'string' } } } }] }],
    };
    const res = await chatPost(geminiToChatRequest(g, { upstreamModel: 'gpt-4o-mini' }));
    const answer = chatToGeminiResponse((await res.json()) as any, { model: 'gemini-2.5-pro' });
    const ai = new GoogleGenAI({ apiKey: 'k', httpOptions: { baseUrl: 'http://tally.invalid', fetch: fakeFetch(JSON.stringify(answer), 'application/json') } });
    const r = await ai.models.generateContent({ model: 'gemini-2.5-pro', contents: 'x' });
    assert.equal(r.functionCalls?.[0]?.name, 'read_file');
    assert.deepEqual(r.functionCalls?.[0]?.args, { path: 'mock path' });
  });

  test('Codex CLI → chat upstream, streamed: the openai SDK reads the Responses stream; usage is the upstream’s', async () => {
    const body = responsesToChatRequest(codex.body, { upstreamModel: 'gpt-4o-mini', reasoningEffort: false });
    const res = await chatPost(body);
    const t = new ChatStreamToResponses({ model: codex.body.model, request: codex.body });
    let out = '';
    await readSse(res, (d) => {
      out += t.push(d);
    });
    out += t.end();
    const want = mockUsageFor(openai.requests.at(-1)!.body);
    const client = new OpenAI({ apiKey: 'k', baseURL: 'http://tally.invalid/v1', maxRetries: 0, fetch: fakeFetch(out, 'text/event-stream') });
    const r = await client.responses.stream({ model: codex.body.model, input: 'x' }).finalResponse();
    assert.ok(r.output_text.length > 0);
    assert.equal(r.usage?.input_tokens, want.prompt_tokens);
    assert.equal(r.usage?.output_tokens, want.completion_tokens);
  });

  test('Responses client → Gemini upstream, streamed through the chat pivot as objects (pushObjects): the SDK reads it', async () => {
    gemini.setBehavior({
      usageOverride: { promptTokenCount: 900, candidatesTokenCount: 40, thoughtsTokenCount: 300, cachedContentTokenCount: 500, toolUsePromptTokenCount: 20 },
    });
    const request = {
      model: 'gemini-alias',
      input: [{ role: 'user', content: 'Please call a tool' }],
      tools: [{ type: 'function', name: 'read_file', parameters: { type: 'object', properties: { path: { type: 'string' } } } }],
      reasoning: { effort: 'medium' },
      stream: true,
    };
    const res = await geminiPost(
      'gemini-2.5-pro',
      'streamGenerateContent?alt=sse',
      chatToGeminiRequest(responsesToChatRequest(request, { upstreamModel: 'unused' })),
    );
    const g = new GeminiStreamToChat({ model: 'gemini-alias', includeUsage: true });
    const r = new ChatStreamToResponses({ model: 'gemini-alias', request });
    let out = '';
    await readSse(res, (d) => {
      for (const c of g.pushObjects(d)) out += r.push(c);
    });
    for (const c of g.endObjects()) out += r.push(c);
    out += r.end();
    gemini.setBehavior({});
    const client = new OpenAI({ apiKey: 'k', baseURL: 'http://tally.invalid/v1', maxRetries: 0, fetch: fakeFetch(out, 'text/event-stream') });
    const final = await client.responses.stream({ model: 'gemini-alias', input: 'x' }).finalResponse();
    const call = final.output.find((o) => o.type === 'function_call') as any;
    assert.equal(call.name, 'read_file');
    assert.deepEqual(JSON.parse(call.arguments), { path: 'mock path' });
    assert.deepEqual(final.usage, {
      input_tokens: 920,
      input_tokens_details: { cached_tokens: 500 },
      output_tokens: 340,
      output_tokens_details: { reasoning_tokens: 300 },
      total_tokens: 1260,
    });
    assert.deepEqual(g.usage, { promptTokens: 920, completionTokens: 340, cachedTokens: 500 });
    assert.deepEqual(r.usage, g.usage);
  });

  test('Anthropic client → Gemini upstream, streamed through the chat pivot as objects', async () => {
    const msg = { model: 'claude-alias', max_tokens: 5, system: 'Be brief.', messages: [{ role: 'user', content: 'Say hello' }], stream: true };
    const chat = messagesToChatRequest(msg, { upstreamModel: 'unused' });
    const res = await geminiPost('gemini-2.5-flash', 'streamGenerateContent?alt=sse', chatToGeminiRequest(chat));
    const g = new GeminiStreamToChat({ model: 'claude-alias', includeUsage: true });
    const a = new ChatStreamToMessages({ model: 'claude-alias' });
    let out = '';
    await readSse(res, (d) => {
      for (const c of g.pushObjects(d)) out += a.push(c);
    });
    for (const c of g.endObjects()) out += a.push(c);
    out += a.end();
    const events = parseAnthropicSse(out);
    const text = events
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => e.data.delta.text)
      .join('');
    assert.equal(text, mockReplyText(5));
    const delta = events.find((e) => e.event === 'message_delta')!.data;
    assert.equal(delta.delta.stop_reason, 'max_tokens');
    assert.equal(delta.usage.input_tokens, 2 + 2 + 3);
    assert.equal(delta.usage.output_tokens, 5);
  });

  test('Responses client → Gemini upstream through the chat pivot, whole', async () => {
    const request = { model: 'gemini-pro-alias', instructions: 'Be brief.', input: 'Say hello', max_output_tokens: 6 };
    const res = await geminiPost('gemini-2.5-pro', 'generateContent', chatToGeminiRequest(responsesToChatRequest(request, { upstreamModel: 'unused' })));
    const r = chatToResponsesResponse(geminiToChatResponse((await res.json()) as any, { model: 'gemini-pro-alias' }), { model: 'gemini-pro-alias', request });
    assert.equal(r.status, 'incomplete');
    assert.equal(r.output[0].content[0].text, mockReplyText(6));
    assert.equal(r.usage.input_tokens, 2 + 2 + 3);
  });
});
