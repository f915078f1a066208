// The Responses API passed through to an openai channel that declares
// responses_api (the mock Responses-native upstream): the official openai SDK
// (responses.create, responses.stream, function tools and a
// function_call_output round trip), previous_response_id pinned to the
// channel and user that stored the response, the upstream breaking off, the
// client leaving. Each charge equals computeCost on the usage the mock
// reported (reasoning inside output_tokens, cached inside input_tokens), to
// the micro-unit, on SQLite and PostgreSQL; the ledger verifies.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import {
  startMockResponses,
  mockResponsesInputTokens,
  mockReplyText,
  mockSchemaArguments,
  countWords,
  RESPONSES_DEFAULT_REPLY_WORDS,
  RESPONSES_DEFAULT_REASONING_WORDS,
  type MockResponses,
} from '../helpers/mockResponses.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel, setChannelStatus, setKeyNeedsAttention, updateChannel } from '../../src/gateway/channels.ts';
import { computeCost, setModelPrice, type ModelPrice } from '../../src/gateway/pricing.ts';
import { requestLogRow, settledWallet as wallet, verifyThenClose } from '../helpers/relay.ts';
import { assertChargedRow, assertNotChargedRow } from '../helpers/anthropicRelay.ts';
import { billedUsage, responsesSdk } from './responses.helpers.ts';
import { toBig } from '../../src/ledger/index.ts';

const UP_KEY = 'sk-openai-upstream-secret-0123456789';
const CODEX = 'gpt-5.1-codex';
const MAPPED = 'house-codex';
const CHAT_ONLY = 'gpt-4.1-mini';
/** Served by both channels, the native one first (priority). */
const SHARED = 'gpt-5.1';
/** Served by a channel with three upstream keys (think: three OpenAI projects). */
const MULTI = 'gpt-5-mini';
const MULTI_KEYS = ['sk-project-a-0123456789', 'sk-project-b-0123456789', 'sk-project-c-0123456789'];
const ONE_X = 1_000_000n;
const shellTool = {
  type: 'function' as const,
  name: 'shell',
  description: 'Runs a shell command',
  strict: false,
  parameters: { type: 'object', properties: { command: { type: 'string' }, workdir: { type: 'string' } }, required: ['command'] },
};

for (const dialect of testDialects()) {
  describe(`Responses passthrough to a responses_api channel on ${dialect}`, () => {
    let t: TestTally;
    let up: MockResponses;
    let chat: MockOpenAI;
    let multi: MockResponses;
    let price: ModelPrice;

    before(async () => {
      t = await startTestTally(dialect);
      up = await startMockResponses({ apiKey: UP_KEY, models: null });
      chat = await startMockOpenAI({ apiKey: UP_KEY, models: null });
      multi = await startMockResponses({ models: null });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'multi',
        type: 'openai',
        baseUrl: multi.url,
        apiKeys: MULTI_KEYS,
        models: [MULTI],
        responsesApi: true,
      });
      await setModelPrice(t.ctx.db, { model: MULTI, inputPer1M: 250_000n, outputPer1M: 2_000_000n });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'native',
        type: 'openai',
        baseUrl: up.url,
        apiKey: UP_KEY,
        models: [CODEX, MAPPED, SHARED],
        modelMap: { [MAPPED]: CODEX },
        responsesApi: true,
        priority: 10,
      });
      await createChannel(t.ctx.db, t.config.secret, { name: 'chat', type: 'openai', baseUrl: chat.url, apiKey: UP_KEY, models: [CHAT_ONLY, SHARED] });
      price = await setModelPrice(t.ctx.db, { model: CODEX, inputPer1M: 1_250_000n, outputPer1M: 10_000_000n, cachedInputPer1M: 125_000n });
      await setModelPrice(t.ctx.db, { model: MAPPED, inputPer1M: 1_250_000n, outputPer1M: 10_000_000n, cachedInputPer1M: 125_000n });
      await setModelPrice(t.ctx.db, { model: CHAT_ONLY, inputPer1M: 400_000n, outputPer1M: 1_600_000n });
      await setModelPrice(t.ctx.db, { model: SHARED, inputPer1M: 1_250_000n, outputPer1M: 10_000_000n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, up, chat, multi));

    test('responses.create: the body reaches <base>/responses byte for byte with the upstream key; reasoning tokens are billed inside output_tokens', async () => {
      up.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client } = responsesSdk(t, u.apiKey);
      const params = { model: CODEX, instructions: 'Be brief.', input: 'What is a ledger?', reasoning: { effort: 'low' as const }, store: false };
      const r = await client.responses.create(params);
      assert.equal(r.object, 'response');
      assert.equal(r.output_text, mockReplyText(RESPONSES_DEFAULT_REPLY_WORDS));
      const seen = up.requestsTo('/responses').at(-1)!;
      assert.equal(seen.path, '/v1/responses');
      assert.equal(seen.headers.authorization, `Bearer ${UP_KEY}`);
      assert.deepEqual(seen.body, params, 'nothing added or changed');
      const usage = { input_tokens: mockResponsesInputTokens(seen.body), output_tokens: RESPONSES_DEFAULT_REASONING_WORDS + RESPONSES_DEFAULT_REPLY_WORDS };
      assert.equal(r.usage?.output_tokens, usage.output_tokens);
      assert.equal(r.usage?.output_tokens_details.reasoning_tokens, RESPONSES_DEFAULT_REASONING_WORDS);
      await assertChargedRow(t, r._request_id ?? null, computeCost(price, billedUsage(usage), ONE_X), {
        endpoint: 'responses',
        usage_source: 'upstream',
        prompt_tokens: usage.input_tokens,
        completion_tokens: usage.output_tokens,
        reasoning_tokens: 0,
        stream: 0,
      });
    });

    test('responses.stream with a function tool, then the function_call_output round trip (stateless): both charged from response.completed', async () => {
      up.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client, lastId } = responsesSdk(t, u.apiKey);
      const input: OpenAI.Responses.ResponseInput = [{ role: 'user', content: 'Please call a tool to list the files' }];
      const s = client.responses.stream({ model: CODEX, input, tools: [shellTool], store: false });
      let args = '';
      s.on('response.function_call_arguments.delta', (e) => {
        args += e.delta;
      });
      const first = await s.finalResponse();
      const rid1 = lastId();
      const call = first.output.find((o) => o.type === 'function_call');
      assert.ok(call && call.type === 'function_call');
      assert.equal(call.name, 'shell');
      assert.equal(args, mockSchemaArguments(shellTool.parameters));
      assert.equal(call.arguments, args);
      const seen1 = up.requestsTo('/responses').at(-1)!;
      assert.equal(seen1.body.stream, true);
      const usage1 = { input_tokens: mockResponsesInputTokens(seen1.body), output_tokens: countWords(args) };
      assert.equal(first.usage?.input_tokens, usage1.input_tokens);
      await assertChargedRow(t, rid1, computeCost(price, billedUsage(usage1), ONE_X), { stream: 1, usage_source: 'upstream' });

      const next: OpenAI.Responses.ResponseInput = [
        ...input,
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: 'README.md src test' },
      ];
      const second = await client.responses.create({ model: CODEX, input: next, tools: [shellTool], store: false });
      assert.equal(second.output_text, mockReplyText(RESPONSES_DEFAULT_REPLY_WORDS));
      const seen2 = up.requestsTo('/responses').at(-1)!;
      assert.deepEqual(seen2.body.input, next);
      const usage2 = { input_tokens: mockResponsesInputTokens(seen2.body), output_tokens: RESPONSES_DEFAULT_REPLY_WORDS };
      await assertChargedRow(t, second._request_id ?? null, computeCost(price, billedUsage(usage2), ONE_X));
    });

    test('max_output_tokens reached (response.incomplete, reasoning counted in the cap): the usage it reports is charged, streamed and not', async () => {
      up.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client, lastId } = responsesSdk(t, u.apiKey);
      const params = { model: CODEX, input: 'Write an essay', reasoning: { effort: 'high' as const }, max_output_tokens: 20, store: false };
      const r = await client.responses.create(params);
      assert.equal(r.status, 'incomplete');
      assert.equal(r.incomplete_details?.reason, 'max_output_tokens');
      assert.equal(r.usage?.output_tokens, 20, '12 reasoning + 8 text');
      const input = mockResponsesInputTokens(up.requestsTo('/responses').at(-1)!.body);
      await assertChargedRow(t, r._request_id ?? null, computeCost(price, billedUsage({ input_tokens: input, output_tokens: 20 }), ONE_X));

      let status = '';
      for await (const e of await client.responses.create({ ...params, stream: true })) if (e.type === 'response.incomplete') status = e.response.status ?? '';
      assert.equal(status, 'incomplete');
      const row = await assertChargedRow(t, lastId(), computeCost(price, billedUsage({ input_tokens: input, output_tokens: 20 }), ONE_X), {
        usage_source: 'upstream',
      });
      assert.equal(row.error_code, null, 'an incomplete answer is a complete stream');
    });

    test('a cached prompt is billed at the cached price; the model alias is renamed upstream and max_output_tokens kept', async () => {
      const cached = { input_tokens: 2_000, output_tokens: 300, cached_tokens: 1_536, reasoning_tokens: 100 };
      up.setBehavior({ usageOverride: cached });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client } = responsesSdk(t, u.apiKey);
      const r = await client.responses.create({ model: MAPPED, input: 'hello', max_output_tokens: 500, store: false });
      const seen = up.requestsTo('/responses').at(-1)!;
      assert.equal(seen.body.model, CODEX);
      assert.equal(seen.body.max_output_tokens, 500);
      // (2000 - 1536) x 1.25 + 1536 x 0.125 + 300 x 10 = 580 + 192 + 3000 = 3772 micro-units
      assert.equal(computeCost(price, billedUsage(cached), ONE_X), 3772n);
      await assertChargedRow(t, r._request_id ?? null, 3772n, { cached_tokens: 1_536, prompt_tokens: 2_000, completion_tokens: 300 });
      up.setBehavior({});
    });

    test('previous_response_id: pinned to the channel and user that stored it; another user, an unknown id and an unstored one get a 400 and pay nothing', async () => {
      up.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client } = responsesSdk(t, u.apiKey);
      const first = await client.responses.create({ model: CODEX, input: 'Remember the number 7.' });
      assert.ok(up.stored.has(first.id), 'the upstream stored it');
      const second = await client.responses.create({ model: CODEX, input: 'Which number?', previous_response_id: first.id });
      assert.equal(second.previous_response_id, first.id);
      const seen = up.requestsTo('/responses').at(-1)!;
      assert.equal(seen.body.previous_response_id, first.id);
      const prior = first.usage!.input_tokens + first.usage!.output_tokens;
      const usage = { input_tokens: mockResponsesInputTokens(seen.body) + prior, output_tokens: RESPONSES_DEFAULT_REPLY_WORDS };
      assert.equal(second.usage?.input_tokens, usage.input_tokens, 'the stored conversation is input again');
      await assertChargedRow(t, second._request_id ?? null, computeCost(price, billedUsage(usage), ONE_X));

      // A stream names it too, and its own response.created id is pinned.
      const s = client.responses.stream({ model: CODEX, input: 'And doubled?', previous_response_id: second.id });
      const third = await s.finalResponse();
      const fourth = await client.responses.create({ model: CODEX, input: 'Thanks', previous_response_id: third.id });
      assert.equal(fourth.previous_response_id, third.id);

      const before = up.requests.length;
      const other = await seedUser(t, { balance: 1_000_000n });
      const { client: otherClient, lastId } = responsesSdk(t, other.apiKey);
      for (const id of [first.id, 'resp_never_seen_here']) {
        const err = await otherClient.responses.create({ model: CODEX, input: 'hi', previous_response_id: id }).catch((e) => e);
        assert.ok(err instanceof OpenAI.BadRequestError, String(err));
        assert.equal(err.code, 'previous_response_not_found');
        assert.equal(err.param, 'previous_response_id');
        assert.match(err.message, /whole conversation/);
        await assertNotChargedRow(t, lastId());
      }
      const unstored = await client.responses.create({ model: CODEX, input: 'ephemeral', store: false });
      const err = await client.responses.create({ model: CODEX, input: 'hi', previous_response_id: unstored.id }).catch((e) => e);
      assert.equal(err.code, 'previous_response_not_found');
      assert.equal(up.requests.length, before + 1, 'only the store:false request reached the upstream');
      const w = await wallet(t, other.user.id);
      assert.equal(toBig(w.balance), 1_000_000n, 'the other user paid nothing');
    });

    test('a wallet that cannot pay the whole output cap: max_output_tokens is lowered in the passed-through body, and the answer charged', async () => {
      up.setBehavior({ replyWords: 10 });
      const u = await seedUser(t, { balance: 20_000n }); // 4096 output tokens at 10/1M would need 40,960
      const { client } = responsesSdk(t, u.apiKey);
      const r = await client.responses.create({ model: CODEX, input: 'hi', store: false });
      const seen = up.requestsTo('/responses').at(-1)!;
      assert.equal(typeof seen.body.max_output_tokens, 'number');
      assert.ok(seen.body.max_output_tokens >= 16 && seen.body.max_output_tokens < 2_000, String(seen.body.max_output_tokens));
      const usage = { input_tokens: mockResponsesInputTokens({ ...seen.body, max_output_tokens: undefined }), output_tokens: 10 };
      const row = await assertChargedRow(t, r._request_id ?? null, computeCost(price, billedUsage(usage), ONE_X));
      assert.match(row.charge_reason, /wallet/);
      up.setBehavior({});
    });

    test('previous_response_id whose channel was disabled since (the model still served by a chat channel): 400 previous_response_not_found; enabled again: it works', async () => {
      up.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client, lastId } = responsesSdk(t, u.apiKey);
      const first = await client.responses.create({ model: SHARED, input: 'Remember 7.' });
      assert.equal(up.requestsTo('/responses').at(-1)!.body.model, SHARED);
      const native = t.ctx.catalog.channelsFor(SHARED).find((c) => c.name === 'native')!;
      await setChannelStatus(t.ctx.db, { id: native.id, status: 'disabled' });
      await t.ctx.catalog.reload();
      try {
        const err = await client.responses.create({ model: SHARED, input: 'Which?', previous_response_id: first.id }).catch((e) => e);
        assert.equal(err.code, 'previous_response_not_found', String(err));
        assert.match(err.message, /no longer serves "gpt-5\.1" natively/);
        await assertNotChargedRow(t, lastId());
        assert.equal(chat.requests.length, 0, 'not sent to the chat channel either');
      } finally {
        await setChannelStatus(t.ctx.db, { id: native.id, status: 'enabled' });
        await t.ctx.catalog.reload();
      }
      const again = await client.responses.create({ model: SHARED, input: 'Which?', previous_response_id: first.id });
      assert.equal(again.previous_response_id, first.id);
    });

    test('previous_response_id on a channel with several keys goes out with the key that stored the response; that key out of rotation: 400', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client } = responsesSdk(t, u.apiKey);
      const first = await client.responses.create({ model: MULTI, input: 'Remember 7.' });
      const storedWith = multi.requests.at(-1)!.headers.authorization;
      let prev = first.id;
      for (let i = 0; i < MULTI_KEYS.length; i++) {
        const next = await client.responses.create({ model: MULTI, input: `Again ${i}`, previous_response_id: first.id });
        assert.equal(multi.requests.at(-1)!.headers.authorization, storedWith, 'the key whose project holds the response');
        prev = next.id;
      }
      // Unpinned requests still rotate over every key.
      const seen = new Set<string>();
      for (let i = 0; i < MULTI_KEYS.length; i++) {
        await client.responses.create({ model: MULTI, input: 'hi', store: false });
        seen.add(String(multi.requests.at(-1)!.headers.authorization));
      }
      assert.equal(seen.size, MULTI_KEYS.length);

      const ch = t.ctx.catalog.channelsFor(MULTI)[0];
      const index = MULTI_KEYS.findIndex((k) => `Bearer ${k}` === storedWith);
      await setKeyNeedsAttention(t.ctx.db, { id: ch.id, index, keyCount: MULTI_KEYS.length });
      await t.ctx.catalog.reload();
      const err = await client.responses.create({ model: MULTI, input: 'Which?', previous_response_id: prev }).catch((e) => e);
      assert.equal(err.code, 'previous_response_not_found', String(err));
      assert.match(err.message, /key .* taken out of rotation/);
    });

    test('a pin follows its key, not its position: after an edit removes an earlier key, the follow-up still goes with the storing key', async () => {
      const keys = ['sk-edit-a-0123456789', 'sk-edit-b-0123456789', 'sk-edit-c-0123456789'];
      const model = 'gpt-5-edited';
      const ch = await createChannel(t.ctx.db, t.config.secret, {
        name: 'edited',
        type: 'openai',
        baseUrl: multi.url,
        apiKeys: keys,
        responsesApi: true,
        models: [model],
      });
      await setModelPrice(t.ctx.db, { model, inputPer1M: 1_000_000n, outputPer1M: 2_000_000n });
      await t.ctx.catalog.reload();
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client } = responsesSdk(t, u.apiKey);
      // Round-robin: the third request goes out with the third key.
      let first = await client.responses.create({ model, input: 'Remember 7.' });
      while (multi.requests.at(-1)!.headers.authorization !== `Bearer ${keys[2]}`) first = await client.responses.create({ model, input: 'Remember 7.' });
      await t.ctx.relay.flush();
      await updateChannel(t.ctx.db, t.config.secret, ch.id, { removeApiKeys: [0] });
      await t.ctx.catalog.reload();
      await client.responses.create({ model, input: 'Which?', previous_response_id: first.id });
      assert.equal(multi.requests.at(-1)!.headers.authorization, `Bearer ${keys[2]}`, 'the key that stored it, now at index 1');
      // Replacing every key: the storing key is gone, so the follow-up is refused rather than sent with another project's key.
      await updateChannel(t.ctx.db, t.config.secret, ch.id, { apiKeys: ['sk-edit-d-0123456789'] });
      await t.ctx.catalog.reload();
      const err = await client.responses.create({ model, input: 'Which?', previous_response_id: first.id }).catch((e) => e);
      assert.equal(err.code, 'previous_response_not_found', String(err));
    });

    test('previous_response_id on a model served only by a chat channel: 400 previous_response_not_found', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client, lastId } = responsesSdk(t, u.apiKey);
      const first = await client.responses.create({ model: CODEX, input: 'Remember 7.' });
      const err = await client.responses.create({ model: CHAT_ONLY, input: 'Which?', previous_response_id: first.id }).catch((e) => e);
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.equal(err.code, 'previous_response_not_found');
      assert.match(err.message, /no longer serves "gpt-4\.1-mini" natively/);
      await assertNotChargedRow(t, lastId());
      assert.equal(chat.requests.length, 0);
    });

    test('bad input: a 400 in OpenAI shape naming the field, with a stable code; nothing reaches the upstream, nothing is charged', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const before = up.requests.length;
      const cases: Array<[unknown, string]> = [
        [{ input: 'hi' }, 'model'],
        [{ model: CODEX }, 'input'],
        [{ model: CODEX, input: 42 }, 'input'],
        [{ model: CODEX, input: [1] }, 'input[0]'],
        [{ model: CODEX, input: [{ role: 'user', content: 5 }] }, 'input[0].content'],
        [{ model: CODEX, input: 'hi', stream: 'true' }, 'stream'],
        [{ model: CODEX, input: 'hi', max_output_tokens: -1 }, 'max_output_tokens'],
        [{ model: CODEX, input: 'hi', max_output_tokens: '100' }, 'max_output_tokens'],
        [{ model: CODEX, input: 'hi', tools: {} }, 'tools'],
        [{ model: CODEX, input: 'hi', tools: [{ type: 'function' }] }, 'tools[0].name'],
        [{ model: CODEX, input: 'hi', background: true }, 'background'],
        [{ model: CODEX, input: 'hi', previous_response_id: 7 }, 'previous_response_id'],
        [{ model: CODEX, input: 'hi', include: 'reasoning.encrypted_content' }, 'include'],
        [{ model: CODEX, input: 'hi', conversation: 'conv_123' }, 'conversation'],
        [{ model: CODEX, input: [{ type: 'item_reference', id: 'msg_abc' }] }, 'input[0]'],
        [[], ''],
      ];
      for (const [body, param] of cases) {
        const res = await fetch(`${t.url}/v1/responses`, {
          method: 'POST',
          headers: { authorization: `Bearer ${u.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        assert.equal(res.status, 400, JSON.stringify(body));
        const j = (await res.json()) as any;
        assert.equal(j.error.code, 'invalid_request', JSON.stringify(j));
        assert.equal(j.error.type, 'invalid_request_error');
        assert.equal(j.error.param ?? '', param, JSON.stringify(j));
        await assertNotChargedRow(t, res.headers.get('x-request-id'));
      }
      const noKey = await fetch(`${t.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"x"}' });
      assert.equal(noKey.status, 401);
      assert.equal(((await noKey.json()) as any).error.code, 'missing_api_key');
      assert.equal(up.requests.length, before);
      const w = await wallet(t, u.user.id);
      assert.equal(toBig(w.balance), 1_000_000n);
    });

    test('every API prefix (TALLY_API_PREFIXES) serves /responses', async () => {
      up.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      assert.ok(t.config.apiPrefixes.length >= 2);
      for (const prefix of t.config.apiPrefixes) {
        const res = await fetch(`${t.url}${prefix}/responses`, {
          method: 'POST',
          headers: { authorization: `Bearer ${u.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: CODEX, input: 'hi', store: false }),
        });
        assert.equal(res.status, 200, `${prefix}: ${await res.clone().text()}`);
        assert.equal(((await res.json()) as any).object, 'response');
      }
    });

    test('the upstream breaks off mid-stream: the client gets an error event (the SDK throws), and pays for the text produced', async () => {
      up.setBehavior({ disconnectAfterEvents: 7 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { client, lastId } = responsesSdk(t, u.apiKey);
      let text = '';
      const err = await (async () => {
        const s = await client.responses.create({ model: CODEX, input: 'Tell me a story', stream: true, store: false });
        for await (const e of s) if (e.type === 'response.output_text.delta') text += e.delta;
      })().catch((e) => e);
      assert.ok(err instanceof OpenAI.APIError, String(err));
      assert.match(err.message, /closed the stream/);
      assert.ok(text.length > 0);
      const row = await requestLogRow(t, lastId());
      assert.equal(row.error_code, 'upstream_disconnected');
      assert.equal(row.usage_source, 'counted');
      assert.ok(Number(row.completion_tokens) > 0);
      assert.equal(Number(row.charged), 1);
      up.setBehavior({});
    });

    test('response.failed from the upstream is forwarded; the text it produced before is charged, counted', async () => {
      up.setBehavior({ failAfterEvents: 6 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await fetch(`${t.url}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: CODEX, input: 'Tell me a story', stream: true, store: false }),
      });
      const body = await res.text();
      assert.match(body, /event: response\.failed/);
      assert.doesNotMatch(body, /upstream_disconnected/, 'the upstream said why itself: no second error event');
      const row = await requestLogRow(t, res.headers.get('x-request-id'));
      assert.equal(row.error_code, 'upstream_disconnected');
      assert.equal(Number(row.charged), 1);
      up.setBehavior({});
    });

    test('a client that disconnects mid-stream is charged for what was produced', async () => {
      up.setBehavior({ eventDelayMs: 30 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const ac = new AbortController();
      const res = await fetch(`${t.url}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: CODEX, input: 'Tell me a long story', stream: true, store: false }),
        signal: ac.signal,
      });
      const rid = res.headers.get('x-request-id');
      const reader = res.body!.getReader();
      let seen = '';
      while (!seen.includes('response.output_text.delta')) seen += Buffer.from((await reader.read()).value!).toString();
      ac.abort();
      const row = await requestLogRow(t, rid);
      assert.equal(row.error_code, 'client_disconnected');
      assert.equal(row.usage_source, 'counted');
      assert.ok(Number(row.completion_tokens) > 0 && Number(row.completion_tokens) < RESPONSES_DEFAULT_REPLY_WORDS);
      assert.equal(Number(row.charged), 1);
      up.setBehavior({});
    });
  });
}
