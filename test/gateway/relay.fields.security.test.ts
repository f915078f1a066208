// A bill cannot be skipped with a loose value. Tally forwards the client's
// JSON as is, so a billing field Tally reads one way and the upstream another
// was a way around the bill: `"stream": "true"` is not a stream to Tally, but
// an upstream that coerces like pydantic's lax mode streams the answer, which
// Tally could not parse and billed as zero output. Now every field that
// decides the bill must have its documented JSON type (400 naming it
// otherwise), and whatever the upstream answers is billed from what actually
// arrived: an SSE answer to a non-stream request, a whole JSON body to a
// stream request, or a body that is not JSON at all is counted, never zero.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, mockReplyText, DEFAULT_REPLY_WORDS, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice, computeCost, type ModelPrice } from '../../src/gateway/pricing.ts';
import { countText } from '../../src/gateway/tokens.ts';
import { estimatePrompt } from '../../src/gateway/promptEstimate.ts';
import { collectPrompt } from '../../src/gateway/protocols/openai/prompt.ts';
import { toBig } from '../../src/ledger/index.ts';
import { requestLogRow, settledWallet, verifyThenClose } from '../helpers/relay.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';
const CHAT = 'gpt-4o-mini';
const INSTRUCT = 'gpt-3.5-turbo-instruct';
const EMBED = 'text-embedding-3-small';
const ONE_X = 1_000_000n;
const FUNDS = 10_000_000n;
const messages = [{ role: 'user', content: 'Tell me about double entry bookkeeping' }];

async function call(t: TestTally, apiKey: string, path: string, body: unknown) {
  const res = await fetch(`${t.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* SSE or not JSON */
  }
  return { status: res.status, text, json, requestId: res.headers.get('x-request-id') };
}

/** Tally's own count of a request's prompt (what it bills when the upstream reports no usage). */
async function tallyPromptCount(body: Record<string, unknown>): Promise<number> {
  const e = await estimatePrompt(collectPrompt(body));
  assert.ok(e.count !== null);
  return e.count;
}

for (const dialect of testDialects()) {
  describe(`billing fields and unreadable answers on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let price: ModelPrice;

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null, behavior: { laxBooleans: true } });
      await createChannel(t.ctx.db, t.config.secret, { name: 'lax', type: 'openai', baseUrl: mock.url, apiKey: UPSTREAM_KEY, models: [CHAT, INSTRUCT, EMBED] });
      price = await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n, maxOutputTokens: 1024 });
      await setModelPrice(t.ctx.db, { model: INSTRUCT, inputPer1M: 1_500_000n, outputPer1M: 2_000_000n, maxOutputTokens: 1024 });
      await setModelPrice(t.ctx.db, { model: EMBED, inputPer1M: 20_000n, outputPer1M: 0n, kind: 'embedding' });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock));

    /** Sends a request that must be refused with 400 naming `param`, before the upstream sees it, charging nothing. */
    async function refused(path: string, body: Record<string, unknown>, param: string) {
      mock.setBehavior({ laxBooleans: true });
      const u = await seedUser(t, { balance: FUNDS });
      const before = mock.requests.length;
      const r = await call(t, u.apiKey, path, body);
      assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 120)} -> ${r.status} ${r.text.slice(0, 200)}`);
      assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(r.json.error.code, 'invalid_request');
      assert.equal(r.json.error.type, 'invalid_request_error');
      assert.equal(r.json.error.param, param);
      assert.match(r.json.error.message, new RegExp(param.replace(/[[\].]/g, '\\$&')));
      assert.equal(mock.requests.length, before, 'nothing reached the upstream');
      assert.equal((await settledWallet(t, u.user.id)).balance, FUNDS);
    }

    for (const loose of ['true', 1, 'yes', 'false', 0, 'on']) {
      test(`"stream": ${JSON.stringify(loose)} is refused with 400 naming stream, not forwarded to an upstream that would coerce it`, async () => {
        await refused('/v1/chat/completions', { model: CHAT, messages, stream: loose }, 'stream');
      });
    }

    test('loose values in the other billing fields are refused, each naming its field', async () => {
      await refused('/v1/completions', { model: INSTRUCT, prompt: 'Say hi', stream: 'true' }, 'stream');
      await refused('/v1/chat/completions', { model: CHAT, messages, stream: true, stream_options: { include_usage: 'true' } }, 'stream_options.include_usage');
      await refused('/v1/chat/completions', { model: CHAT, messages, stream: true, stream_options: 'include_usage' }, 'stream_options');
      await refused('/v1/chat/completions', { model: CHAT, messages, max_tokens: '100' }, 'max_tokens');
      await refused('/v1/chat/completions', { model: CHAT, messages, max_tokens: 1e300 }, 'max_tokens');
      await refused('/v1/chat/completions', { model: CHAT, messages, max_completion_tokens: 12.5 }, 'max_completion_tokens');
      await refused('/v1/chat/completions', { model: CHAT, messages, n: '2' }, 'n');
      await refused('/v1/chat/completions', { model: CHAT, messages, n: 129 }, 'n');
      await refused('/v1/completions', { model: INSTRUCT, prompt: 'Say hi', best_of: '3' }, 'best_of');
      await refused('/v1/completions', { model: INSTRUCT, prompt: 'Say hi', n: 3, best_of: 2 }, 'best_of');
      await refused('/v1/completions', { model: INSTRUCT, prompt: 'Say hi', echo: 'yes' }, 'echo');
      await refused('/v1/chat/completions', { model: 42, messages }, 'model');
    });

    test('prompt shapes Tally cannot count are refused: messages, content, prompt and input', async () => {
      await refused('/v1/chat/completions', { model: CHAT, messages: ['hello'] }, 'messages[0]');
      await refused('/v1/chat/completions', { model: CHAT, messages: [{ role: 'user', content: { text: 'hello' } }] }, 'messages[0].content');
      await refused('/v1/chat/completions', { model: CHAT, messages: [{ role: 'user', content: 7 }] }, 'messages[0].content');
      await refused('/v1/completions', { model: INSTRUCT, prompt: { text: 'hello' } }, 'prompt');
      await refused('/v1/completions', { model: INSTRUCT, prompt: [1.5, 2] }, 'prompt');
      await refused('/v1/completions', { model: INSTRUCT, prompt: ['hello', 3] }, 'prompt');
      await refused('/v1/embeddings', { model: EMBED, input: [{ text: 'hello' }] }, 'input');
      await refused('/v1/embeddings', { model: EMBED, input: [[1, 2], 'x'] }, 'input');
      await refused('/v1/embeddings', { model: EMBED, input: [-1] }, 'input');
    });

    test('real booleans, token ids and null options still pass', async () => {
      mock.setBehavior({ laxBooleans: true });
      const u = await seedUser(t, { balance: FUNDS });
      for (const [path, body] of [
        ['/v1/chat/completions', { model: CHAT, messages, stream: false, stream_options: null, n: null, max_tokens: null }],
        ['/v1/completions', { model: INSTRUCT, prompt: [1, 2, 3], echo: false, best_of: 1 }],
        ['/v1/embeddings', { model: EMBED, input: [[1, 2], [3]] }],
      ] as const) {
        const r = await call(t, u.apiKey, path, body);
        assert.equal(r.status, 200, `${path}: ${r.text.slice(0, 200)}`);
      }
    });

    test('best_of is held for: the hold covers best_of completions, not only n', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: FUNDS });
      const r = await call(t, u.apiKey, '/v1/completions', { model: INSTRUCT, prompt: 'Say hi', max_tokens: 100, best_of: 5 });
      assert.equal(r.status, 200, r.text);
      const row = await requestLogRow(t, r.requestId);
      const instruct = t.ctx.catalog.prices.get(INSTRUCT)!;
      assert.ok(
        toBig(row.held) >= computeCost(instruct, { promptTokens: 0, completionTokens: 5 * 100, cachedTokens: 0 }, ONE_X),
        `held ${row.held} for best_of 5 x 100 tokens`,
      );
    });

    test('a non-stream request answered with an SSE stream anyway is billed for the streamed text, never as zero output', async () => {
      mock.setBehavior({ forceStream: true, omitUsage: true });
      const u = await seedUser(t, { balance: FUNDS });
      const body = { model: CHAT, messages };
      const r = await call(t, u.apiKey, '/v1/chat/completions', body);
      assert.equal(r.status, 200);
      assert.match(r.text, /^data: /, 'the client got what the upstream sent');
      const row = await requestLogRow(t, r.requestId);
      const usage = { promptTokens: await tallyPromptCount(body), completionTokens: countText(mockReplyText(DEFAULT_REPLY_WORDS)), cachedTokens: 0 };
      assert.ok(usage.completionTokens > 0);
      assert.equal(row.usage_source, 'counted');
      assert.equal(Number(row.prompt_tokens), usage.promptTokens);
      assert.equal(Number(row.completion_tokens), usage.completionTokens, row.charge_reason);
      assert.equal(toBig(row.charged_amount), computeCost(price, usage, ONE_X));
      assert.equal((await settledWallet(t, u.user.id)).balance, FUNDS - computeCost(price, usage, ONE_X));
    });

    test('a non-stream request answered with SSE that carries a usage chunk is billed from that usage', async () => {
      mock.setBehavior({
        rawReply: {
          contentType: 'text/event-stream',
          body: `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'Hello there' } }] })}\n\ndata: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 12, completion_tokens: 34, total_tokens: 46 } })}\n\ndata: [DONE]\n\n`,
        },
      });
      const u = await seedUser(t, { balance: FUNDS });
      const r = await call(t, u.apiKey, '/v1/chat/completions', { model: CHAT, messages });
      assert.equal(r.status, 200);
      const row = await requestLogRow(t, r.requestId);
      assert.equal(row.usage_source, 'upstream');
      assert.equal(Number(row.completion_tokens), 34);
      assert.equal(toBig(row.charged_amount), computeCost(price, { promptTokens: 12, completionTokens: 34, cachedTokens: 0 }, ONE_X));
    });

    test('an answer that is not JSON at all is counted as output: the text received, with the tokenizer', async () => {
      const answer = 'Sure! Here is the answer you asked for, as plain text rather than JSON.';
      mock.setBehavior({ rawReply: { contentType: 'text/plain', body: answer } });
      const u = await seedUser(t, { balance: FUNDS });
      const body = { model: CHAT, messages };
      const r = await call(t, u.apiKey, '/v1/chat/completions', body);
      assert.equal(r.status, 200);
      assert.equal(r.text, answer);
      const row = await requestLogRow(t, r.requestId);
      const usage = { promptTokens: await tallyPromptCount(body), completionTokens: countText(answer), cachedTokens: 0 };
      assert.equal(row.usage_source, 'counted');
      assert.equal(Number(row.completion_tokens), usage.completionTokens);
      assert.equal(toBig(row.charged_amount), computeCost(price, usage, ONE_X));
    });

    test('a stream request answered with one whole JSON body is billed from that body, not as an empty stream', async () => {
      const whole = {
        id: 'chatcmpl-x',
        object: 'chat.completion',
        created: 1,
        model: CHAT,
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
      };
      mock.setBehavior({ rawReply: { contentType: 'application/json', body: JSON.stringify(whole) } });
      const u = await seedUser(t, { balance: FUNDS });
      const r = await call(t, u.apiKey, '/v1/chat/completions', { model: CHAT, messages, stream: true });
      assert.equal(r.status, 200);
      const row = await requestLogRow(t, r.requestId);
      assert.equal(row.usage_source, 'upstream');
      assert.equal(Number(row.completion_tokens), 7);
      assert.equal(toBig(row.charged_amount), computeCost(price, { promptTokens: 11, completionTokens: 7, cachedTokens: 0 }, ONE_X));
      // The same body without usage: its text is counted.
      const noUsage = {
        ...whole,
        usage: undefined,
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from a body that forgot its usage' }, finish_reason: 'stop' }],
      };
      mock.setBehavior({ rawReply: { contentType: 'application/json', body: JSON.stringify(noUsage) } });
      const body = { model: CHAT, messages, stream: true };
      const r2 = await call(t, u.apiKey, '/v1/chat/completions', body);
      const row2 = await requestLogRow(t, r2.requestId);
      assert.equal(row2.usage_source, 'counted');
      assert.equal(Number(row2.completion_tokens), countText('Hello from a body that forgot its usage'));
      assert.equal(Number(row2.prompt_tokens), await tallyPromptCount(body));
    });

    test('special-token text in a prompt ("<|endoftext|>") is counted as text, not a 500', async () => {
      mock.setBehavior({ omitUsage: true });
      const u = await seedUser(t, { balance: FUNDS });
      const body = { model: CHAT, messages: [{ role: 'user', content: 'What does <|endoftext|> mean? And <|fim_prefix|>?' }] };
      const r = await call(t, u.apiKey, '/v1/chat/completions', body);
      assert.equal(r.status, 200, r.text);
      const row = await requestLogRow(t, r.requestId);
      assert.equal(Number(row.prompt_tokens), await tallyPromptCount(body));
      assert.ok(Number(row.prompt_tokens) > 10);
    });
  });
}
