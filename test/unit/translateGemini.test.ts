// OpenAI chat ⇄ Gemini, both ways: chat inbound → Gemini upstream (request,
// whole answer, stream) and Gemini inbound (Gemini CLI) → chat upstream
// (request, whole answer, stream). Streams are read back by the official SDKs
// (openai for chat chunks, @google/genai for Gemini chunks) through a fake fetch.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { GoogleGenAI, ApiError } from '@google/genai';
import { TallyError } from '../../src/lib/errors.ts';
import { SseEventParser } from '../../src/gateway/translate/sse.ts';
import { chatToGeminiRequest, geminiToChatResponse } from '../../src/gateway/translate/geminiFromChat.ts';
import { GeminiStreamToChat } from '../../src/gateway/translate/geminiStreamToChat.ts';
import { geminiToChatRequest, chatToGeminiResponse } from '../../src/gateway/translate/geminiToChat.ts';
import { ChatStreamToGemini } from '../../src/gateway/translate/geminiStreamFromChat.ts';
import { ChatStreamToResponses } from '../../src/gateway/translate/responsesStream.ts';
import { usageOfGemini, geminiBlockError, SKIP_THOUGHT_SIGNATURE } from '../../src/gateway/translate/geminiShared.ts';
import { geminiResponseWire, geminiStreamChunks, planGemini, mockFunctionArgs, mockReplyText, GEMINI_DEFAULT_REPLY_WORDS } from '../helpers/mockGemini.ts';

const geminiCli = JSON.parse(readFileSync(new URL('../fixtures/gemini-cli/stream-generate-content.json', import.meta.url), 'utf8'));

function refused(fn: () => unknown, param: string) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TallyError);
    assert.equal(e.code, 'untranslatable_field');
    assert.equal(e.param, param);
    return true;
  });
}

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  },
};

describe('chat request → Gemini generateContent body', () => {
  test('system hoisted, roles user/model, inline images, tool calls and results, tools, config', () => {
    const out = chatToGeminiRequest(
      {
        model: 'gemini-2.5-pro',
        messages: [
          { role: 'system', content: 'Be brief.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is here?' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBOR', detail: 'high' } },
            ],
          },
          { role: 'developer', content: 'Use tools.' },
          {
            role: 'assistant',
            content: 'Checking.',
            reasoning_content: 'old thoughts',
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
                extra_content: { google: { thought_signature: 'SIG1' } },
              },
              { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
          { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'rain' }] },
          { role: 'user', content: 'Thanks' },
        ],
        tools: [weatherTool],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        max_completion_tokens: 2048,
        temperature: 0.3,
        top_p: 0.9,
        stop: 'END',
        seed: 7,
        reasoning_effort: 'medium',
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } },
        store: false,
        user: 'u1',
        stream: true,
        stream_options: { include_usage: true },
      },
      { maxTokensCap: 1000 },
    );
    assert.deepEqual(out.systemInstruction, { parts: [{ text: 'Be brief.' }, { text: 'Use tools.' }] });
    assert.deepEqual(out.contents, [
      { role: 'user', parts: [{ text: 'What is here?' }, { inlineData: { mimeType: 'image/png', data: 'iVBOR' } }] },
      {
        role: 'model',
        parts: [
          { text: 'Checking.' },
          { functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'SIG1' },
          { functionCall: { name: 'get_weather', args: { city: 'Rome' } } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'get_weather', response: { output: 'sunny' } } },
          { functionResponse: { name: 'get_weather', response: { output: 'rain' } } },
          { text: 'Thanks' },
        ],
      },
    ]);
    assert.deepEqual(out.tools, [
      { functionDeclarations: [{ name: 'get_weather', description: 'Weather in a city', parametersJsonSchema: weatherTool.function.parameters }] },
    ]);
    assert.deepEqual(out.toolConfig, { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } });
    assert.deepEqual(out.generationConfig, {
      maxOutputTokens: 1000,
      temperature: 0.3,
      topP: 0.9,
      stopSequences: ['END'],
      seed: 7,
      responseMimeType: 'application/json',
      responseJsonSchema: { type: 'object' },
      thinkingConfig: { thinkingBudget: 8192, includeThoughts: true },
    });
    for (const k of ['model', 'messages', 'stream', 'store', 'user', 'stream_options']) assert.equal(out[k], undefined);
  });

  test('an unsigned tool call gets the documented placeholder; effort as thinkingLevel; none → budget 0', () => {
    const out = chatToGeminiRequest(
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '' } }] },
          { role: 'tool', tool_call_id: 'c', content: 'ok' },
        ],
        reasoning_effort: 'low',
      },
      { thinking: 'level' },
    );
    assert.equal(out.contents[1].parts[0].thoughtSignature, SKIP_THOUGHT_SIGNATURE);
    assert.deepEqual(out.contents[1].parts[0].functionCall, { name: 'f', args: {} });
    assert.deepEqual(out.generationConfig.thinkingConfig, { thinkingLevel: 'low', includeThoughts: true });
    assert.deepEqual(chatToGeminiRequest({ messages: [{ role: 'user', content: 'x' }], reasoning_effort: 'none' }).generationConfig.thinkingConfig, {
      thinkingBudget: 0,
    });
  });

  test('400s: n, logprobs, http image URL, file_id, non-function tools, bad arguments, unknown effort, unknown tool_call_id', () => {
    const m = [{ role: 'user', content: 'x' }];
    refused(() => chatToGeminiRequest({ messages: m, n: 2 }), 'n');
    refused(() => chatToGeminiRequest({ messages: m, logprobs: true }), 'logprobs');
    refused(
      () => chatToGeminiRequest({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] }),
      'messages[0].content[0].image_url',
    );
    refused(
      () => chatToGeminiRequest({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-1' } }] }] }),
      'messages[0].content[0].file',
    );
    refused(() => chatToGeminiRequest({ messages: m, tools: [{ type: 'web_search' }] }), 'tools[0]');
    refused(
      () =>
        chatToGeminiRequest({
          messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1]' } }] }],
        }),
      'messages[0].tool_calls[0].function.arguments',
    );
    refused(() => chatToGeminiRequest({ messages: m, reasoning_effort: 'extreme' }), 'reasoning_effort');
    assert.throws(
      () => chatToGeminiRequest({ messages: [{ role: 'tool', tool_call_id: 'nope', content: 'x' }] }),
      (e: any) => e.code === 'invalid_message',
    );
  });
});

const fnBody = {
  contents: [{ role: 'user', parts: [{ text: 'please call a tool' }] }],
  tools: [{ functionDeclarations: [{ name: 'get_weather', parametersJsonSchema: weatherTool.function.parameters }] }],
};

describe('Gemini answer → chat answer', () => {
  test('text, thoughts as reasoning_content, usage in the billing convention', () => {
    const body = { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }], generationConfig: { thinkingConfig: { includeThoughts: true } } };
    const plan = planGemini(body, {
      usageOverride: { promptTokenCount: 1000, candidatesTokenCount: 40, thoughtsTokenCount: 300, cachedContentTokenCount: 600, toolUsePromptTokenCount: 25 },
    });
    const c = geminiToChatResponse(geminiResponseWire('gemini-2.5-pro', 'RID1', plan), { model: 'my-gemini' });
    assert.equal(c.id, 'chatcmpl-RID1');
    assert.equal(c.model, 'my-gemini');
    assert.equal(c.choices[0].message.content, mockReplyText(GEMINI_DEFAULT_REPLY_WORDS));
    assert.equal(c.choices[0].message.reasoning_content, plan.thought);
    assert.equal(c.choices[0].finish_reason, 'stop');
    assert.deepEqual(c.usage, {
      prompt_tokens: 1025,
      completion_tokens: 340,
      total_tokens: 1365,
      prompt_tokens_details: { cached_tokens: 600 },
      completion_tokens_details: { reasoning_tokens: 300 },
    });
    assert.deepEqual(usageOfGemini({ prompt: 1000, cached: 600, toolUse: 25, candidates: 40, thoughts: 300 }), {
      promptTokens: 1025,
      completionTokens: 340,
      cachedTokens: 600,
    });
  });

  test('functionCall → tool_calls (finish tool_calls, signature in extra_content); MAX_TOKENS → length; SAFETY → content_filter', () => {
    const plan = planGemini({ ...fnBody, generationConfig: { thinkingConfig: { thinkingBudget: 512 } } });
    const c = geminiToChatResponse(geminiResponseWire('g', 'R', plan), { model: 'g' });
    const call = c.choices[0].message.tool_calls[0];
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), mockFunctionArgs(fnBody.tools[0].functionDeclarations[0]));
    assert.match(call.id, /^call_/);
    assert.equal(call.extra_content.google.thought_signature, plan.thoughtSignature);
    assert.equal(c.choices[0].finish_reason, 'tool_calls');
    const capped = geminiToChatResponse(
      geminiResponseWire('g', 'R', planGemini({ contents: [{ parts: [{ text: 'x' }] }], generationConfig: { maxOutputTokens: 3 } })),
      { model: 'g' },
    );
    assert.equal(capped.choices[0].finish_reason, 'length');
    const unsafe = geminiToChatResponse(geminiResponseWire('g', 'R', planGemini({ contents: [] }, { reply: 'safety' })), { model: 'g' });
    assert.equal(unsafe.choices[0].finish_reason, 'content_filter');
    assert.equal(unsafe.choices[0].message.content, null);
  });

  test('a blocked prompt is a prompt_blocked 400 naming the reason', () => {
    const blocked = geminiResponseWire('g', 'R', planGemini({ contents: [] }, { reply: 'blocked' }));
    assert.throws(
      () => geminiToChatResponse(blocked, { model: 'g' }),
      (e: unknown) => e instanceof TallyError && e.code === 'prompt_blocked' && e.status === 400 && /SAFETY/.test(e.message),
    );
    assert.equal(geminiBlockError({ candidates: [{}], promptFeedback: {} }), null);
  });
});

/** Chat SSE text → the parsed chunks (without [DONE]). */
function chatChunksOf(sse: string): any[] {
  return sse
    .split('\n\n')
    .filter((b) => b.startsWith('data: ') && b !== 'data: [DONE]')
    .map((b) => JSON.parse(b.slice(6)));
}

function geminiSse(chunks: Array<Record<string, unknown>>): string {
  return chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join('');
}

/** Feeds a Gemini SSE text through SseEventParser in pieces of `cut` bytes. */
function translateGeminiStream(sse: string, cut: number, includeUsage = true) {
  const t = new GeminiStreamToChat({ model: 'my-gemini', includeUsage, created: 1 });
  const p = new SseEventParser();
  const buf = Buffer.from(sse);
  let out = '';
  for (let i = 0; i < buf.length; i += cut) for (const ev of p.push(buf.subarray(i, i + cut))) out += t.push(JSON.parse(ev.data));
  return { t, out: out + t.end() };
}

describe('Gemini stream → chat chunks', () => {
  test('text and thoughts chunk by chunk, whatever the byte cuts; running usage, the last wins', () => {
    const body = { contents: [{ parts: [{ text: 'Hi' }] }], generationConfig: { thinkingConfig: { includeThoughts: true } } };
    const plan = planGemini(body);
    const sse = geminiSse(geminiStreamChunks('g', 'RID', plan, { usageOnEveryChunk: true }));
    for (const cut of [1, 7, 64, 100_000]) {
      const { t, out } = translateGeminiStream(sse, cut);
      const chunks = chatChunksOf(out);
      assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
      const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
      const reasoning = chunks.map((c) => c.choices[0]?.delta?.reasoning_content ?? '').join('');
      assert.equal(text, plan.text);
      assert.equal(reasoning, plan.thought);
      assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
      assert.deepEqual(chunks.at(-1).usage, {
        prompt_tokens: plan.usage.promptTokenCount,
        completion_tokens: plan.usage.candidatesTokenCount + plan.usage.thoughtsTokenCount,
        total_tokens: plan.usage.promptTokenCount + plan.usage.candidatesTokenCount + plan.usage.thoughtsTokenCount,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: plan.usage.thoughtsTokenCount },
      });
      assert.deepEqual(t.usage, {
        promptTokens: plan.usage.promptTokenCount,
        completionTokens: plan.usage.candidatesTokenCount + plan.usage.thoughtsTokenCount,
        cachedTokens: 0,
      });
      assert.ok(out.endsWith('data: [DONE]\n\n'));
    }
  });

  test('the openai SDK reads the translated stream with a function call', async () => {
    const sse = geminiSse(geminiStreamChunks('g', 'RID', planGemini(fnBody)));
    const { out } = translateGeminiStream(sse, 13);
    const client = new OpenAI({
      apiKey: 'k',
      baseURL: 'http://tally.invalid/v1',
      maxRetries: 0,
      fetch: async () => new Response(out, { status: 200, headers: { 'content-type': 'text/event-stream' } }),
    });
    const stream = client.chat.completions.stream({ model: 'g', messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true } });
    const final = await stream.finalChatCompletion();
    const call = final.choices[0].message.tool_calls?.[0] as any;
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), mockFunctionArgs(fnBody.tools[0].functionDeclarations[0]));
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
  });

  test('a blocked prompt and an in-stream error become error lines; end() then adds nothing', () => {
    const blocked = translateGeminiStream(geminiSse(geminiStreamChunks('g', 'R', planGemini({ contents: [] }, { reply: 'blocked' }))), 50);
    assert.deepEqual(chatChunksOf(blocked.out)[0].error.code, 'prompt_blocked');
    assert.equal(blocked.out.includes('[DONE]'), false);
    const objects = new GeminiStreamToChat({ model: 'g', includeUsage: true });
    const blockedChunk = geminiStreamChunks('g', 'R', planGemini({ contents: [] }, { reply: 'blocked' }))[0];
    const errs = objects.pushObjects(blockedChunk);
    assert.equal(errs.length, 1);
    assert.equal(errs[0].error.code, 'prompt_blocked');
    assert.deepEqual(objects.endObjects(), []);
    const r = new ChatStreamToResponses({ model: 'm', request: { input: 'x' } });
    const failed = r.push(errs[0]) + r.end();
    assert.match(failed, /event: response\.failed\n/);
    assert.match(failed, /blockReason SAFETY/);
    const t = new GeminiStreamToChat({ model: 'g', includeUsage: false });
    const out = t.push({ error: { code: 503, message: 'The model is overloaded.', status: 'UNAVAILABLE' } }) + t.end();
    assert.deepEqual(JSON.parse(out.slice(6)).error, { message: 'The model is overloaded.', type: 'upstream_error', param: null, code: 'UNAVAILABLE' });
  });
});

describe('Gemini request (Gemini CLI) → chat request', () => {
  test('the Gemini CLI fixture: system, turns, 8 function tools, thinking budget → effort, stream', () => {
    const out = geminiToChatRequest(geminiCli.body, { upstreamModel: 'deepseek-chat', stream: true });
    assert.equal(out.model, 'deepseek-chat');
    assert.deepEqual(out.messages[0], { role: 'system', content: geminiCli.body.systemInstruction.parts[0].text });
    assert.deepEqual(
      out.messages.slice(1).map((m: any) => m.role),
      ['user', 'assistant', 'user'],
    );
    assert.equal(out.messages[3].content, 'Why does the build fail?');
    assert.equal(out.tools.length, 8);
    assert.deepEqual(out.tools[0].function.parameters, geminiCli.body.tools[0].functionDeclarations[0].parametersJsonSchema);
    assert.equal(out.temperature, 0);
    assert.equal(out.top_p, 1);
    assert.equal(out.reasoning_effort, 'medium', 'thinkingBudget 8192');
    assert.equal(out.stream, true);
    assert.deepEqual(out.stream_options, { include_usage: true });
  });

  test('function calls and responses pair by id, else by name in order; thoughts go back as reasoning_content; OpenAPI types lowered', () => {
    const out = geminiToChatRequest(
      {
        contents: [
          { role: 'user', parts: [{ text: 'Go' }, { inlineData: { mimeType: 'image/jpeg', data: 'AAA' } }] },
          {
            role: 'model',
            parts: [
              { text: 'hmm', thought: true },
              { functionCall: { name: 'read', args: { p: 'a' } }, thoughtSignature: 'S' },
              { functionCall: { name: 'read', args: { p: 'b' } } },
              { functionCall: { id: 'own-id', name: 'ls', args: {} } },
            ],
          },
          {
            role: 'user',
            parts: [
              { functionResponse: { id: 'own-id', name: 'ls', response: { output: 'x y' } } },
              { functionResponse: { name: 'read', response: { output: 'A' } } },
              { functionResponse: { name: 'read', response: { lines: 3 } } },
              { text: 'and now?' },
            ],
          },
        ],
        tools: [{ functionDeclarations: [{ name: 'read', parameters: { type: 'OBJECT', properties: { p: { type: 'STRING' } } } }] }, { googleSearch: {} }],
        toolConfig: { functionCallingConfig: { mode: 'ANY' } },
        generationConfig: { responseMimeType: 'application/json', maxOutputTokens: 100, thinkingConfig: { thinkingBudget: 0 } },
        safetySettings: [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' }],
      },
      { upstreamModel: 'u', maxTokensField: 'max_completion_tokens' },
    );
    assert.deepEqual(out.messages, [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Go' },
          { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,AAA' } },
        ],
      },
      {
        role: 'assistant',
        content: null,
        reasoning_content: 'hmm',
        tool_calls: [
          { id: 'call_1_0', type: 'function', function: { name: 'read', arguments: '{"p":"a"}' } },
          { id: 'call_1_1', type: 'function', function: { name: 'read', arguments: '{"p":"b"}' } },
          { id: 'own-id', type: 'function', function: { name: 'ls', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'own-id', content: 'x y' },
      { role: 'tool', tool_call_id: 'call_1_0', content: 'A' },
      { role: 'tool', tool_call_id: 'call_1_1', content: '{"lines":3}' },
      { role: 'user', content: 'and now?' },
    ]);
    assert.deepEqual(out.tools, [{ type: 'function', function: { name: 'read', parameters: { type: 'object', properties: { p: { type: 'string' } } } } }]);
    assert.equal(out.tool_choice, 'required');
    assert.deepEqual(out.response_format, { type: 'json_object' });
    assert.equal(out.max_completion_tokens, 100);
    assert.equal(out.reasoning_effort, 'none');
    assert.equal(out.safetySettings, undefined);
  });

  test('400s: googleSearch alone, topK, cachedContent, candidateCount, Files API fileData, code execution parts', () => {
    const c = [{ role: 'user', parts: [{ text: 'x' }] }];
    const O = { upstreamModel: 'u' };
    refused(() => geminiToChatRequest({ contents: c, tools: [{ googleSearch: {} }] }, O), 'tools');
    refused(() => geminiToChatRequest({ contents: c, generationConfig: { topK: 40 } }, O), 'generationConfig.topK');
    refused(() => geminiToChatRequest({ contents: c, cachedContent: 'cachedContents/1' }, O), 'cachedContent');
    refused(() => geminiToChatRequest({ contents: c, generationConfig: { candidateCount: 2 } }, O), 'generationConfig.candidateCount');
    refused(
      () =>
        geminiToChatRequest(
          {
            contents: [
              { role: 'user', parts: [{ fileData: { mimeType: 'application/pdf', fileUri: 'https://generativelanguage.googleapis.com/v1beta/files/abc' } }] },
            ],
          },
          O,
        ),
      'contents[0].parts[0].fileData',
    );
    refused(() => geminiToChatRequest({ contents: [{ role: 'model', parts: [{ executableCode: { code: '1' } }] }] }, O), 'contents[0].parts[0]');
  });
});

const chatAnswer = {
  id: 'chatcmpl-xyz',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: 'Sure.',
        reasoning_content: 'Thinking.',
        tool_calls: [{ id: 'call_7', type: 'function', function: { name: 'read_file', arguments: '{"absolute_path":"/a"}' } }],
      },
      finish_reason: 'tool_calls',
    },
  ],
  usage: {
    prompt_tokens: 80,
    completion_tokens: 30,
    total_tokens: 110,
    prompt_tokens_details: { cached_tokens: 20 },
    completion_tokens_details: { reasoning_tokens: 12 },
  },
};

describe('chat answer and stream → Gemini', () => {
  test('whole answer: thought, text, functionCall parts; usage with reasoning as thoughts', () => {
    const r = chatToGeminiResponse(chatAnswer, { model: 'gemini-2.5-pro' });
    assert.deepEqual(r, {
      candidates: [
        {
          content: {
            parts: [
              { text: 'Thinking.', thought: true },
              { text: 'Sure.' },
              { functionCall: { name: 'read_file', args: { absolute_path: '/a' }, id: 'call_7' } },
            ],
            role: 'model',
          },
          finishReason: 'STOP',
          index: 0,
        },
      ],
      usageMetadata: { promptTokenCount: 80, candidatesTokenCount: 18, totalTokenCount: 110, cachedContentTokenCount: 20, thoughtsTokenCount: 12 },
      modelVersion: 'gemini-2.5-pro',
      responseId: 'xyz',
    });
    assert.equal(
      chatToGeminiResponse({ choices: [{ message: { content: 'x' }, finish_reason: 'length' }] }, { model: 'g' }).candidates[0].finishReason,
      'MAX_TOKENS',
    );
  });

  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({ id: 'chatcmpl-s', choices: [{ index: 0, delta, finish_reason: finish }] });
  const chunks = [
    chunk({ role: 'assistant', content: '' }),
    chunk({ reasoning_content: 'Hmm.' }),
    chunk({ content: 'Hello' }),
    chunk({ content: ' there' }),
    chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'ls', arguments: '{"pa' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: 'th":"/"}' } }] }),
    chunk({}, 'tool_calls'),
    { id: 'chatcmpl-s', choices: [], usage: { prompt_tokens: 10, completion_tokens: 9, total_tokens: 19, completion_tokens_details: { reasoning_tokens: 2 } } },
  ];

  test('stream: chunks with \\r\\n\\r\\n framing; the function call whole on the last with usage; read by @google/genai', async () => {
    const t = new ChatStreamToGemini({ model: 'gemini-2.5-pro' });
    let out = '';
    for (const c of chunks) out += t.push(c);
    out += t.end();
    assert.ok(out.endsWith('}\r\n\r\n'));
    assert.deepEqual(t.usage, { promptTokens: 10, completionTokens: 9, cachedTokens: 0 });
    const ai = new GoogleGenAI({
      apiKey: 'k',
      httpOptions: { baseUrl: 'http://tally.invalid', fetch: async () => new Response(out, { status: 200, headers: { 'content-type': 'text/event-stream' } }) },
    });
    let text = '';
    let last: any;
    for await (const c of await ai.models.generateContentStream({ model: 'gemini-2.5-pro', contents: 'x' })) {
      text += c.text ?? '';
      last = c;
    }
    assert.equal(text, 'Hello there');
    assert.deepEqual(last.functionCalls, [{ id: 'call_1', name: 'ls', args: { path: '/' } }]);
    assert.equal(last.candidates[0].finishReason, 'STOP');
    assert.deepEqual(last.usageMetadata, { promptTokenCount: 10, candidatesTokenCount: 7, totalTokenCount: 19, thoughtsTokenCount: 2 });
  });

  test('stream: an upstream error chunk becomes a Google error the SDK throws', async () => {
    const t = new ChatStreamToGemini({ model: 'g' });
    const out = t.push(chunk({ content: 'Hi' })) + t.push({ error: { message: 'boom' } }) + t.end();
    const ai = new GoogleGenAI({
      apiKey: 'k',
      httpOptions: { baseUrl: 'http://tally.invalid', fetch: async () => new Response(out, { status: 200, headers: { 'content-type': 'text/event-stream' } }) },
    });
    await assert.rejects(
      (async () => {
        for await (const _ of await ai.models.generateContentStream({ model: 'g', contents: 'x' })) {
        }
      })(),
      (e: unknown) => e instanceof ApiError && e.status === 500,
    );
  });
});
