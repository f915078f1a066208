// Every error the relay returns, as the official `openai` SDK (v6) sees it:
// the OpenAI error shape, a stable code, the SDK's error class, x-request-id on
// every response and x-should-retry: false where a retry cannot help. Nothing
// here may charge anyone.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, type MockBehavior, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel, setChannelStatus, type Channel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { upsertGroup } from '../../src/gateway/groups.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { getAccount, walletAccountId } from '../../src/ledger/index.ts';
import { relaySdk as sdk, verifyThenClose } from '../helpers/relay.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';
const CHAT = 'gpt-4o-mini';
const EMBED = 'text-embedding-3-small';
const messages = [{ role: 'user' as const, content: 'Hello there' }];

const relay = (t: TestTally) => t.ctx.relay;
const catalog = (t: TestTally) => t.ctx.catalog;

/** Runs `fn`, expects it to throw an SDK error of `cls` with this status and code, and returns the error. */
async function expectSdkError(fn: () => Promise<unknown>, cls: any, status: number, code: string | RegExp): Promise<any> {
  let err: any;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${status} ${code}, but the call succeeded`);
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, status, err.message);
  if (typeof code === 'string') assert.equal(err.code, code, err.message);
  else assert.match(String(err.code), code, err.message);
  assert.equal(typeof err.type, 'string', 'the error has a type');
  assert.ok(typeof err.error?.message === 'string' && err.error.message.length > 10, `a message a person can act on: ${JSON.stringify(err.error)}`);
  assert.ok(err.headers?.get('x-request-id'), 'errors carry x-request-id too');
  return err;
}

/** A raw request; returns status, headers and the parsed body, asserting the OpenAI error shape when it is an error. */
async function raw(t: TestTally, path: string, init: RequestInit) {
  const res = await fetch(`${t.url}${path}`, init);
  const text = await res.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  if (res.status >= 400) {
    assert.ok(body?.error, `error bodies are {error:{...}}: ${text}`);
    assert.deepEqual(
      Object.keys(body.error)
        .filter((k) => ['message', 'type', 'param', 'code'].includes(k))
        .sort(),
      ['code', 'message', 'param', 'type'],
      text,
    );
  }
  assert.ok(res.headers.get('x-request-id'), `x-request-id on ${res.status}`);
  return { status: res.status, headers: res.headers, body, text };
}

for (const dialect of testDialects()) {
  describe(`relay errors on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    const extraMocks: MockOpenAI[] = [];
    let seq = 0;

    /** A fresh model served by its own channel and mock, so breaker state never leaks between tests. */
    async function route(
      behavior: MockBehavior,
      channel: { firstByteTimeoutMs?: number } = {},
    ): Promise<{ model: string; mock: MockOpenAI; channel: Channel }> {
      const model = `err-model-${++seq}`;
      const m = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null, behavior });
      extraMocks.push(m);
      const ch = await createChannel(t.ctx.db, t.config.secret, {
        name: `err-${seq}`,
        type: 'openai',
        baseUrl: m.url,
        apiKey: UPSTREAM_KEY,
        models: [model],
        ...channel,
      });
      await setModelPrice(t.ctx.db, { model, inputPer1M: 1_000_000n, outputPer1M: 2_000_000n });
      await catalog(t).reload();
      return { model, mock: m, channel: ch };
    }

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: [CHAT, EMBED, 'gpt-4o'] });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'primary',
        type: 'openai',
        baseUrl: mock.url,
        apiKey: UPSTREAM_KEY,
        models: [CHAT, EMBED, 'gpt-4o'],
      });
      await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n });
      await setModelPrice(t.ctx.db, { model: EMBED, inputPer1M: 20_000n, outputPer1M: 0n, kind: 'embedding' });
      await upsertGroup(t.ctx.db, { name: 'chat-only', multiplierPpm: 1_000_000n, models: [CHAT] });
      await catalog(t).reload();
    });
    after(() => verifyThenClose(t, mock, ...extraMocks));

    test('401 invalid_api_key: unknown key, malformed key, no key', async () => {
      const before = mock.requests.length;
      const err = await expectSdkError(
        () => sdk(t, 'sk-' + 'x'.repeat(48)).chat.completions.create({ model: CHAT, messages }),
        OpenAI.AuthenticationError,
        401,
        'invalid_api_key',
      );
      assert.equal(err.headers.get('x-should-retry'), 'false');
      await expectSdkError(() => sdk(t, 'not-a-key').models.list(), OpenAI.AuthenticationError, 401, 'invalid_api_key');
      const r = await raw(t, '/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: CHAT, messages }),
      });
      assert.equal(r.status, 401);
      assert.match(r.body.error.code, /^(invalid_api_key|missing_api_key)$/);
      assert.equal(mock.requests.length, before, 'nothing reached the upstream');
    });

    test('401 api_key_revoked after the user deletes the key in the console, effective at once', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      await sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages });
      const f = await signIn(t, u.email, u.password);
      const del = await f(`/api/keys/${u.key.id}`, { method: 'DELETE' });
      assert.equal(del.status, 200);
      const err = await expectSdkError(
        () => sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages }),
        OpenAI.AuthenticationError,
        401,
        'api_key_revoked',
      );
      assert.equal(err.headers.get('x-should-retry'), 'false');
    });

    test('402 insufficient_balance from an empty wallet: an APIError with status 402, saying it is the wallet, logged and not charged', async () => {
      const u = await seedUser(t);
      const before = mock.requests.length;
      const err = await expectSdkError(() => sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages }), OpenAI.APIError, 402, 'insufficient_balance');
      assert.equal(Object.getPrototypeOf(err), OpenAI.APIError.prototype, 'the SDK has no subclass for 402');
      assert.match(err.error.message, /wallet|balance/i);
      assert.equal(err.headers.get('x-should-retry'), 'false');
      assert.equal(mock.requests.length, before, 'nothing reached the upstream');
      await relay(t).flush();
      const rows = await t.ctx.db.selectFrom('request_logs').selectAll().where('user_id', '=', u.user.id).execute();
      assert.equal(rows.length, 1, 'a refused request is logged too');
      assert.equal(Number(rows[0].status), 402);
      assert.equal(rows[0].error_code, 'insufficient_balance');
      assert.equal(Number(rows[0].charged), 0);
      assert.equal(rows[0].id, err.headers.get('x-request-id'));
      // Streams are refused the same way, before any byte is streamed.
      await expectSdkError(
        () => sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages, stream: true }),
        OpenAI.APIError,
        402,
        'insufficient_balance',
      );
    });

    test("402 insufficient_balance from a key's spend limit names the key limit, not the wallet", async () => {
      const u = await seedUser(t, { balance: 10_000_000n });
      const { secret } = await createApiKey(t.ctx.db, { userId: u.user.id, name: 'tiny limit', spendLimit: 1n });
      const err = await expectSdkError(() => sdk(t, secret).chat.completions.create({ model: CHAT, messages }), OpenAI.APIError, 402, 'insufficient_balance');
      assert.match(err.error.message, /key/i, err.error.message);
      assert.equal((await getAccount(t.ctx.db, walletAccountId(u.user.id))).balance, 10_000_000n);
    });

    test('403 model_not_allowed: a key limited to other models, and a group limited to other models', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const { secret } = await createApiKey(t.ctx.db, { userId: u.user.id, name: 'embeddings only', models: [EMBED] });
      const e1 = await expectSdkError(
        () => sdk(t, secret).chat.completions.create({ model: CHAT, messages }),
        OpenAI.PermissionDeniedError,
        403,
        'model_not_allowed',
      );
      assert.equal(e1.headers.get('x-should-retry'), 'false');
      const ok = await sdk(t, secret).embeddings.create({ model: EMBED, input: 'allowed' });
      assert.equal(ok.data.length, 1);

      const g = await seedUser(t, { balance: 1_000_000n, group: 'chat-only' });
      await expectSdkError(
        () => sdk(t, g.apiKey).embeddings.create({ model: EMBED, input: 'not for this group' }),
        OpenAI.PermissionDeniedError,
        403,
        'model_not_allowed',
      );
    });

    test('404 model_not_found suggests the close match', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const err = await expectSdkError(
        () => sdk(t, u.apiKey).chat.completions.create({ model: 'gpt-4o-mnii', messages }),
        OpenAI.NotFoundError,
        404,
        'model_not_found',
      );
      assert.match(err.error.message, /did you mean/i);
      assert.ok(err.error.message.includes(CHAT), err.error.message);
      assert.equal(err.headers.get('x-should-retry'), 'false');
      await expectSdkError(
        () => sdk(t, u.apiKey).chat.completions.create({ model: 'completely-unknown-model', messages, stream: true }),
        OpenAI.NotFoundError,
        404,
        'model_not_found',
      );
    });

    test('a model with a channel but no price is not served (no free ride)', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const before = mock.requests.length;
      await assert.rejects(
        sdk(t, u.apiKey).chat.completions.create({ model: 'gpt-4o', messages }),
        (e: any) => e instanceof OpenAI.APIError && e.status! >= 400 && e.status! < 600,
      );
      assert.equal(mock.requests.length, before);
      await relay(t).flush();
      assert.equal((await getAccount(t.ctx.db, walletAccountId(u.user.id))).balance, 1_000_000n);
    });

    test('400 invalid_json and invalid_request', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const auth = { authorization: `Bearer ${u.apiKey}`, 'content-type': 'application/json' };
      const r = await raw(t, '/v1/chat/completions', { method: 'POST', headers: auth, body: '{"model": "gpt-4o-mini", "messages": [' });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'invalid_json');
      assert.equal(r.headers.get('x-should-retry'), 'false');
      const r2 = await raw(t, '/v1/chat/completions', { method: 'POST', headers: auth, body: '[1,2,3]' });
      assert.equal(r2.status, 400);
      assert.match(r2.body.error.code, /^invalid_(json|request)$/);
      await expectSdkError(() => sdk(t, u.apiKey).chat.completions.create({ messages } as any), OpenAI.BadRequestError, 400, 'invalid_request');
      await expectSdkError(() => sdk(t, u.apiKey).chat.completions.create({ model: 42, messages } as any), OpenAI.BadRequestError, 400, 'invalid_request');
      await relay(t).flush();
      assert.equal((await getAccount(t.ctx.db, walletAccountId(u.user.id))).balance, 1_000_000n);
    });

    test('429 from the upstream with no other channel: RateLimitError with retry-after, not charged', async () => {
      const r = await route({ fail: 429, retryAfter: 3 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const err = await expectSdkError(() => sdk(t, u.apiKey).chat.completions.create({ model: r.model, messages }), OpenAI.RateLimitError, 429, /rate_limit/);
      assert.ok(err.headers.get('retry-after'), 'a 429 says when to retry');
      await relay(t).flush();
      assert.equal((await getAccount(t.ctx.db, walletAccountId(u.user.id))).balance, 1_000_000n);
    });

    test('502 upstream_error keeps the upstream message and strips the upstream secret', async () => {
      const r = await route({ fail: 500, failMessage: `Internal failure while using credential ${UPSTREAM_KEY} for org-42` });
      const u = await seedUser(t, { balance: 1_000_000n });
      const err = await expectSdkError(
        () => sdk(t, u.apiKey).chat.completions.create({ model: r.model, messages }),
        OpenAI.InternalServerError,
        502,
        'upstream_error',
      );
      assert.match(err.error.message, /Internal failure while using credential/, 'the upstream message is kept');
      assert.equal(JSON.stringify(err.error).includes(UPSTREAM_KEY), false, 'the upstream key is not');
      assert.equal(JSON.stringify(err.error).includes('0123456789'), false, 'nor enough of it to matter');
      await relay(t).flush();
      const row = await t.ctx.db.selectFrom('request_logs').selectAll().where('id', '=', err.headers.get('x-request-id')).executeTakeFirstOrThrow();
      assert.equal(Number(row.charged), 0);
      assert.equal(Number(row.status), 502);
      assert.equal(row.error_code, 'upstream_error');
      assert.equal(row.channel_id, r.channel.id);
      assert.equal(JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)).includes(UPSTREAM_KEY), false, 'nor in the log');
      assert.equal((await getAccount(t.ctx.db, walletAccountId(u.user.id))).balance, 1_000_000n);
    });

    test("an upstream 400 (the request itself is wrong) is the caller's 400 with the upstream message, not retried elsewhere", async () => {
      const r = await route({ fail: 400 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const err = await expectSdkError(
        () => sdk(t, u.apiKey).chat.completions.create({ model: r.model, messages, temperature: 5 }),
        OpenAI.BadRequestError,
        400,
        /./,
      );
      assert.match(err.error.message, /temperature/);
      assert.equal(r.mock.requests.length, 1);
    });

    test('503 no_channel_available when the only channel is disabled, or there is none', async () => {
      const r = await route({});
      const u = await seedUser(t, { balance: 1_000_000n });
      await sdk(t, u.apiKey).chat.completions.create({ model: r.model, messages });
      await setChannelStatus(t.ctx.db, { id: r.channel.id, status: 'disabled', reason: 'test' });
      await catalog(t).reload();
      await expectSdkError(
        () => sdk(t, u.apiKey).chat.completions.create({ model: r.model, messages }),
        OpenAI.InternalServerError,
        503,
        'no_channel_available',
      );
      assert.equal(r.mock.requests.length, 1);

      await setModelPrice(t.ctx.db, { model: 'priced-but-unrouted', inputPer1M: 1n, outputPer1M: 1n });
      await catalog(t).reload();
      await expectSdkError(
        () => sdk(t, u.apiKey).chat.completions.create({ model: 'priced-but-unrouted', messages }),
        OpenAI.InternalServerError,
        503,
        'no_channel_available',
      );
    });

    test('504 upstream_timeout when the upstream does not answer within the channel timeout', async () => {
      const r = await route({ hang: true }, { firstByteTimeoutMs: 300 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const t0 = Date.now();
      await expectSdkError(() => sdk(t, u.apiKey).chat.completions.create({ model: r.model, messages }), OpenAI.InternalServerError, 504, 'upstream_timeout');
      assert.ok(Date.now() - t0 < 5000, `timed out after ${Date.now() - t0}ms`);
      const hung = r.mock.requests.at(-1)!;
      for (let i = 0; i < 50 && !hung.outcome; i++) await new Promise((res) => setTimeout(res, 20));
      assert.equal(hung.outcome, 'client_closed', 'Tally gave up on the upstream request instead of leaving it open');
      await relay(t).flush();
      assert.equal((await getAccount(t.ctx.db, walletAccountId(u.user.id))).balance, 1_000_000n);
      const stream = await route({ hang: true }, { firstByteTimeoutMs: 300 });
      await expectSdkError(
        () => sdk(t, u.apiKey).chat.completions.create({ model: stream.model, messages, stream: true }),
        OpenAI.InternalServerError,
        504,
        'upstream_timeout',
      );
    });

    test('the same errors under the /api/v1 prefix', async () => {
      await expectSdkError(
        () => sdk(t, 'sk-' + 'y'.repeat(48), '/api/v1').chat.completions.create({ model: CHAT, messages }),
        OpenAI.AuthenticationError,
        401,
        'invalid_api_key',
      );
      const u = await seedUser(t, { balance: 1_000_000n });
      await expectSdkError(
        () => sdk(t, u.apiKey, '/api/v1').chat.completions.create({ model: 'gpt-4o-mnii', messages }),
        OpenAI.NotFoundError,
        404,
        'model_not_found',
      );
    });
  });

  // Its own Tally (a smaller body limit), started after the suite above closed
  // its own: one PostgreSQL test schema alive at a time per file.
  describe(`body size limit on ${dialect}`, () => {
    let mock: MockOpenAI;
    before(async () => {
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY });
    });
    after(async () => {
      await mock?.close();
    });
    test('413 body_too_large above the configured limit', async () => {
      const small = await startTestTally(dialect, {}, { TALLY_MAX_BODY_BYTES: '4096' });
      try {
        await createChannel(small.ctx.db, small.config.secret, { name: 'primary', type: 'openai', baseUrl: mock.url, apiKey: UPSTREAM_KEY, models: [CHAT] });
        await setModelPrice(small.ctx.db, { model: CHAT, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n });
        await small.ctx.catalog.reload();
        const u = await seedUser(small, { balance: 1_000_000n });
        const big = [{ role: 'user' as const, content: 'word '.repeat(2000) }];
        const r = await raw(small, '/v1/chat/completions', {
          method: 'POST',
          headers: { authorization: `Bearer ${u.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: CHAT, messages: big }),
        });
        assert.equal(r.status, 413);
        assert.equal(r.body.error.code, 'body_too_large');
        assert.equal(r.headers.get('x-should-retry'), 'false');
        await expectSdkError(() => sdk(small, u.apiKey).chat.completions.create({ model: CHAT, messages: big }), OpenAI.APIError, 413, 'body_too_large');
        const fine = await sdk(small, u.apiKey).chat.completions.create({ model: CHAT, messages });
        assert.equal(fine.object, 'chat.completion');
      } finally {
        await small.close();
      }
    });
  });
}
