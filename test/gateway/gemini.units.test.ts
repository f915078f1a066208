// The Gemini protocol's and provider's pure parts, without a server: the
// pattern routes and roots, the key from header or query, the usage readers
// (whole answers, SSE cut at every byte, running usage, error chunks, the
// counted fallback's text) and the JSON-array framing.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { geminiApiKey, geminiRoots, matchGeminiPath } from '../../src/gateway/protocols/gemini/index.ts';
import { GeminiArrayFraming } from '../../src/gateway/protocols/gemini/framing.ts';
import { geminiError } from '../../src/gateway/protocols/gemini/errors.ts';
import { GeminiSseTap } from '../../src/gateway/providers/gemini/sse.ts';
import { readGeminiAnswer } from '../../src/gateway/providers/gemini/usage.ts';
import { classifyStatus } from '../../src/gateway/upstreamErrors.ts';
import { TallyError } from '../../src/lib/errors.ts';
import { parseGeminiCall } from '../../src/gateway/protocols/gemini/parse.ts';
import type { Inbound } from '../../src/gateway/call.ts';

const chunk = (o: unknown) => `data: ${JSON.stringify(o)}\r\n\r\n`;
const textChunk = (text: string, extra: Record<string, unknown> = {}) => ({
  candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0 }],
  ...extra,
});

describe('Gemini protocol and provider, pure parts', () => {
  test('pattern routes: /models/{model}:{method} for the three methods, nothing else; roots per API prefix', () => {
    assert.deepEqual(matchGeminiPath('/models/gemini-2.5-pro:generateContent'), {
      endpoint: 'gemini.generate',
      params: { model: 'gemini-2.5-pro', method: 'generateContent' },
    });
    assert.equal(matchGeminiPath('/models/gemini-2.5-pro:streamGenerateContent')?.endpoint, 'gemini.generate');
    assert.equal(matchGeminiPath('/models/gemini-2.5-pro:countTokens')?.endpoint, 'gemini.count_tokens');
    assert.equal(matchGeminiPath('/models/gemini-2.5-pro:embedContent'), null);
    assert.equal(matchGeminiPath('/models/deepseek/deepseek-chat:generateContent')?.params.model, 'deepseek/deepseek-chat', 'vendor/model names');
    assert.equal(matchGeminiPath('/models/llama3:8b:streamGenerateContent')?.params.model, 'llama3:8b');
    assert.equal(matchGeminiPath('/models/:generateContent'), null);
    assert.equal(matchGeminiPath('/models/gemini%2D2.5:generateContent')?.params.model, 'gemini-2.5');
    assert.equal(matchGeminiPath('/models/%E0%A4%A:generateContent'), null, 'a bad escape is no route, not a 500');
    assert.deepEqual(geminiRoots('/v1'), ['/v1beta', '/v1']);
    assert.deepEqual(geminiRoots('/api/v1'), ['/api/v1beta', '/api/v1']);
    assert.deepEqual(geminiRoots('/gw'), ['/gw/v1beta', '/gw/v1']);
  });

  test('the key: x-goog-api-key, else ?key=, else Bearer', () => {
    assert.equal(geminiApiKey({ 'x-goog-api-key': 'sk-a', authorization: 'Bearer sk-b' }, '/v1beta/models/m:generateContent?key=sk-c'), 'sk-a');
    assert.equal(geminiApiKey({ authorization: 'Bearer sk-b' }, '/v1beta/models/m:generateContent?alt=sse&key=sk-c'), 'sk-c');
    assert.equal(geminiApiKey({ authorization: 'Bearer sk-b' }, '/v1beta/models/m:generateContent?alt=sse'), 'sk-b');
    assert.equal(geminiApiKey({}, '/v1beta/models/m:generateContent'), undefined);
  });

  test("Google's error shape: status names, Tally's code in an ErrorInfo, RetryInfo on a 429", () => {
    const e = geminiError(new TallyError('rate_limited', 'slow down', { details: { retry_after: '7' } }));
    assert.equal(e.error.code, 429);
    assert.equal(e.error.status, 'RESOURCE_EXHAUSTED');
    assert.equal(e.error.details[0].reason, 'rate_limited');
    assert.equal(e.error.details[1].retryDelay, '7s');
    assert.equal(geminiError(new TallyError('insufficient_balance', 'top up')).error.status, 'FAILED_PRECONDITION');
    assert.equal(geminiError(new TallyError('invalid_api_key', 'no')).error.status, 'UNAUTHENTICATED');
    assert.equal(geminiError(new TallyError('no_channel_available', 'none')).error.status, 'UNAVAILABLE');
  });

  test('an upstream 400 API_KEY_INVALID is Tally’s credentials (failover, operator alerted), not the caller’s request; Google’s status name is in the message', () => {
    const body = JSON.stringify({
      error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT', details: [{ reason: 'API_KEY_INVALID' }] },
    });
    const f = classifyStatus(400, body, 'AIza-secret-123456', 'google', null);
    assert.equal(f.error.code, 'upstream_auth_failed');
    assert.equal(f.failover, true);
    assert.equal(f.needsAttention, true);
    const q = classifyStatus(429, JSON.stringify({ error: { code: 429, message: 'quota', status: 'RESOURCE_EXHAUSTED' } }), null, 'google', null);
    assert.equal(q.failover, true);
    assert.match(q.error.message, /RESOURCE_EXHAUSTED: quota/);
  });

  test('the SSE tap, fed one byte at a time: bytes pass unchanged, the last usageMetadata wins once a finishReason came, thoughts and tool-use kept apart', () => {
    const sse =
      chunk(textChunk('Let me think', { usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 0 } })) +
      chunk({ candidates: [{ content: { role: 'model', parts: [{ text: 'hmm', thought: true }] }, index: 0 }] }) +
      chunk({
        candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'f', args: { a: 'b' } } }] }, finishReason: 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: 10, cachedContentTokenCount: 4, toolUsePromptTokenCount: 3, candidatesTokenCount: 5, thoughtsTokenCount: 7 },
      });
    const tap = new GeminiSseTap();
    const bytes = Buffer.from(sse);
    let out = '';
    for (let i = 0; i < bytes.length; i++) {
      out += tap.push(bytes.subarray(i, i + 1)).toString('latin1');
      if (i === 60) assert.equal(tap.reportedUsage(), null, 'not final before the finishReason');
    }
    tap.flushCarry();
    assert.equal(Buffer.from(out, 'latin1').toString('utf8'), sse);
    assert.deepEqual(tap.reportedUsage(), { promptTokens: 10, completionTokens: 5, cachedTokens: 4, reasoningTokens: 7, toolUsePromptTokens: 3 });
    assert.equal(tap.failedInStream(), false);
    assert.equal(tap.producedText(), 'Let me thinkhmmf{"a":"b"}', 'thought text and function calls count too');
  });

  test('the SSE tap: a stream cut before its final chunk reports no usage, but the prompt side; an error chunk is failedInStream (an "error" key in function args is not)', () => {
    const tap = new GeminiSseTap();
    tap.push(Buffer.from(chunk(textChunk('one two', { usageMetadata: { promptTokenCount: 21, candidatesTokenCount: 2 } }))));
    tap.push(Buffer.from(chunk({ candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'f', args: { error: 'x' } } }] }, index: 0 }] })));
    assert.equal(tap.failedInStream(), false);
    assert.equal(tap.reportedUsage(), null);
    assert.deepEqual(tap.promptUsage(), { promptTokens: 21, cachedTokens: 0, completionTokens: 0 });
    tap.push(Buffer.from(chunk({ error: { code: 503, message: 'overloaded', status: 'UNAVAILABLE' } })));
    assert.equal(tap.failedInStream(), true);
  });

  test('whole answers: a GenerateContentResponse, a JSON array, an SSE body, no usage (counted), not Gemini at all', () => {
    const usageMetadata = { promptTokenCount: 8, candidatesTokenCount: 3, thoughtsTokenCount: 2 };
    const whole = readGeminiAnswer(Buffer.from(JSON.stringify({ ...textChunk('a b c'), usageMetadata })));
    assert.deepEqual(whole, { usage: { promptTokens: 8, completionTokens: 3, cachedTokens: 0, reasoningTokens: 2 }, output: '', shape: 'json' });
    const arr = readGeminiAnswer(Buffer.from(JSON.stringify([textChunk('a'), { ...textChunk('b'), usageMetadata }])));
    assert.equal(arr.usage?.completionTokens, 3);
    const sse = readGeminiAnswer(Buffer.from(chunk(textChunk('a')) + chunk({ ...textChunk('b'), usageMetadata })));
    assert.equal(sse.shape, 'sse');
    assert.equal(sse.usage?.promptTokens, 8);
    assert.deepEqual(readGeminiAnswer(Buffer.from(JSON.stringify(textChunk('no usage here')))), { usage: null, output: 'no usage here', shape: 'json' });
    assert.equal(readGeminiAnswer(Buffer.from('<html>bad gateway</html>')).shape, 'unrecognised');
  });

  test('the JSON-array framing: elements as events arrive (cut anywhere), "]" at the end, an error element when broken, "[]" when empty', () => {
    const f = new GeminiArrayFraming();
    const sse = chunk(textChunk('a')) + chunk(textChunk('b'));
    let out = '';
    for (const c of [sse.slice(0, 7), sse.slice(7, 30), sse.slice(30)]) out += f.push(c);
    out += f.close(false);
    assert.deepEqual(JSON.parse(out), [textChunk('a'), textChunk('b')]);
    const broken = new GeminiArrayFraming();
    const b = broken.push(chunk(textChunk('a'))) + broken.close(true);
    const parsed = JSON.parse(b);
    assert.equal(parsed.length, 2);
    assert.equal(parsed[1].error.status, 'UNAVAILABLE');
    assert.deepEqual(JSON.parse(new GeminiArrayFraming().close(false)), []);
    assert.equal(JSON.parse(new GeminiArrayFraming().close(true))[0].error.code, 503);
  });

  test('proto (snake_case) spellings of the billed fields are refused with a 400 naming the field and its camelCase name', () => {
    const contents = [{ role: 'user', parts: [{ text: 'hi' }] }];
    const call = (body: Record<string, unknown>, method = 'generateContent') =>
      parseGeminiCall({
        protocol: { name: 'gemini' },
        endpoint: method === 'countTokens' ? 'gemini.count_tokens' : 'gemini.generate',
        body,
        raw: JSON.stringify(body),
        params: { model: 'gemini-2.5-pro', method },
        req: { url: `/v1beta/models/gemini-2.5-pro:${method}` },
      } as unknown as Inbound);
    const cases: Array<[Record<string, unknown>, string, string, string?]> = [
      [{ contents, generation_config: { candidate_count: 8 } }, 'generation_config', 'generationConfig'],
      [{ contents, system_instruction: { parts: [{ text: 'x' }] } }, 'system_instruction', 'systemInstruction'],
      [{ contents, generationConfig: { max_output_tokens: 65536 } }, 'generationConfig.max_output_tokens', 'generationConfig.maxOutputTokens'],
      [{ contents, generationConfig: { candidate_count: 8 } }, 'generationConfig.candidate_count', 'generationConfig.candidateCount'],
      [{ contents, generationConfig: { thinking_config: { thinkingBudget: 9 } } }, 'generationConfig.thinking_config', 'generationConfig.thinkingConfig'],
      [
        { contents, generationConfig: { thinkingConfig: { thinking_budget: 99999 } } },
        'generationConfig.thinkingConfig.thinking_budget',
        'generationConfig.thinkingConfig.thinkingBudget',
      ],
      [{ generate_content_request: { contents } }, 'generate_content_request', 'generateContentRequest', 'countTokens'],
      [
        { generateContentRequest: { contents, generation_config: {} } },
        'generateContentRequest.generation_config',
        'generateContentRequest.generationConfig',
        'countTokens',
      ],
    ];
    for (const [body, param, camel, method] of cases) {
      assert.throws(
        () => call(body, method),
        (e: any) => {
          assert.ok(e instanceof TallyError, param);
          assert.equal(e.code, 'invalid_request', param);
          assert.equal(e.param, param);
          assert.ok(e.message.includes(camel), `${param}: ${e.message}`);
          const g = geminiError(e);
          assert.equal(g.error.code, 400);
          assert.equal(g.error.status, 'INVALID_ARGUMENT');
          return true;
        },
        param,
      );
    }
    const ok = call({ contents, systemInstruction: { parts: [{ text: 'x' }] }, generationConfig: { maxOutputTokens: 7, candidateCount: 2 } });
    assert.equal(ok.requestedMax, 7);
    assert.equal(ok.choices, 2);
  });

  test('a model in the body must be the one in the path (a leading "models/" aside)', () => {
    const contents = [{ role: 'user', parts: [{ text: 'hi' }] }];
    const call = (body: Record<string, unknown>, method = 'generateContent') =>
      parseGeminiCall({
        protocol: { name: 'gemini' },
        endpoint: 'gemini.generate',
        body,
        raw: JSON.stringify(body),
        params: { model: 'gemini-2.5-flash-lite', method },
        req: { url: `/v1beta/models/gemini-2.5-flash-lite:${method}?alt=sse` },
      } as unknown as Inbound);
    for (const model of ['models/gemini-2.5-pro', 'gemini-2.5-pro', 'models/', 7, null]) {
      for (const method of ['generateContent', 'streamGenerateContent']) {
        assert.throws(
          () => call({ model, contents }, method),
          (e: any) => e instanceof TallyError && e.code === 'invalid_request' && e.param === 'model' && /path/.test(e.message),
          `${JSON.stringify(model)} ${method}`,
        );
      }
    }
    assert.equal(call({ model: 'models/gemini-2.5-flash-lite', contents }).model, 'gemini-2.5-flash-lite');
    assert.equal(call({ model: 'gemini-2.5-flash-lite', contents }, 'streamGenerateContent').model, 'gemini-2.5-flash-lite');
  });

  test('the SSE tap: usage and an error chunk are found wherever the stream is cut (CRLF and LF framing)', () => {
    const usageMetadata = { promptTokenCount: 10, candidatesTokenCount: 5, thoughtsTokenCount: 2 };
    const want = { promptTokens: 10, completionTokens: 5, cachedTokens: 0, reasoningTokens: 2 };
    const fnArgs = { candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'f', args: { error: 'x' } } }] }, index: 0 }] };
    const crlf =
      chunk(textChunk('a b', { usageMetadata: { promptTokenCount: 10 } })) +
      chunk(fnArgs) +
      chunk({ candidates: [{ content: { role: 'model', parts: [{ text: 'c' }] }, finishReason: 'STOP', index: 0 }], usageMetadata });
    const lf = crlf.replaceAll('\r\n', '\n');
    const err =
      chunk(textChunk('a', { usageMetadata: { promptTokenCount: 10 } })) +
      chunk(fnArgs) +
      'data:' +
      JSON.stringify({ error: { code: 503, status: 'UNAVAILABLE' } }) +
      '\r\n\r\n';
    for (const [sse, isErr] of [
      [crlf, false],
      [lf, false],
      [err, true],
      [err.replaceAll('\r\n', '\n'), true],
    ] as const) {
      const bytes = Buffer.from(sse);
      for (let cut = 0; cut <= bytes.length; cut++) {
        for (const pieces of [
          [bytes.subarray(0, cut), bytes.subarray(cut)],
          [bytes.subarray(0, cut), bytes.subarray(cut, cut + 1), bytes.subarray(cut + 1)],
        ]) {
          const tap = new GeminiSseTap();
          for (const p of pieces) if (p.length) assert.equal(tap.push(p), p, 'forwarded as it came');
          tap.flushCarry();
          const at = `cut at ${cut} of ${JSON.stringify(sse.slice(0, 20))}`;
          assert.equal(tap.failedInStream(), isErr, at);
          if (isErr) {
            assert.equal(tap.reportedUsage(), null, at);
            assert.deepEqual(tap.promptUsage(), { promptTokens: 10, cachedTokens: 0, completionTokens: 0 }, at);
          } else assert.deepEqual(tap.reportedUsage(), want, at);
        }
      }
    }
  });

  test('the SSE tap is linear: a 4 MB event in 16 KB chunks costs about 4x a 1 MB one, not 16x', () => {
    const eventOf = (mb: number) =>
      Buffer.from(
        chunk({
          candidates: [
            {
              content: { role: 'model', parts: [{ inlineData: { mimeType: 'image/png', data: 'A'.repeat(mb * 1024 * 1024) } }] },
              finishReason: 'STOP',
              index: 0,
            },
          ],
          usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1290 },
        }),
      );
    const run = (ev: Buffer): number => {
      const t0 = process.hrtime.bigint();
      const tap = new GeminiSseTap();
      for (let i = 0; i < ev.length; i += 16 * 1024) tap.push(ev.subarray(i, i + 16 * 1024));
      tap.flushCarry();
      const ns = Number(process.hrtime.bigint() - t0);
      assert.deepEqual(tap.reportedUsage(), { promptTokens: 3, completionTokens: 1290, cachedTokens: 0 });
      return ns;
    };
    const small = eventOf(1);
    const big = eventOf(4);
    run(small); // warm up
    run(big);
    const best = (ev: Buffer) => Math.min(...[0, 1, 2, 3, 4].map(() => run(ev)));
    const ratio = best(big) / best(small);
    assert.ok(ratio < 8, `4 MB / 1 MB time ratio ${ratio.toFixed(1)} (linear ~4, quadratic ~16)`);
  });
});
