// Channel selection, failover, the circuit breaker and "needs attention",
// against mock upstreams that fail in each way a real one does. The client
// (the official openai SDK, no retries of its own) must see one clean success
// whenever another channel could serve it before the first byte; a request
// nothing served is never charged.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import {
  startMockOpenAI,
  refusedPort,
  mockUsageFor,
  mockReplyText,
  toUsage,
  DEFAULT_REPLY_WORDS,
  type MockBehavior,
  type MockOpenAI,
} from '../helpers/mockOpenAI.ts';
import { createChannel, type Channel } from '../../src/gateway/channels.ts';
import { setModelPrice, computeCost, type ModelPrice } from '../../src/gateway/pricing.ts';
import { toBig } from '../../src/ledger/index.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';
import { relaySdk as sdk, requestLogRow as logRow, settledWallet as balance } from '../helpers/relay.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';
const ONE_X = 1_000_000n;
const BREAKER_COOLDOWN_MS = 1500;
const messages = [{ role: 'user' as const, content: 'Route me somewhere healthy' }];

const relay = (t: TestTally) => t.ctx.relay;
const catalog = (t: TestTally) => t.ctx.catalog;

async function channelStatus(t: TestTally, id: string): Promise<string> {
  const r = await t.ctx.db.selectFrom('channels').select(['status']).where('id', '=', id).executeTakeFirstOrThrow();
  return r.status as string;
}

interface RouteSpec {
  /** A mock behaviour (a fresh mock is started), or a URL for a channel with no mock behind it. */
  behavior?: MockBehavior;
  baseUrl?: string;
  priority?: number;
  weight?: number;
  apiKey?: string;
  firstByteTimeoutMs?: number;
  connectTimeoutMs?: number;
}

for (const dialect of testDialects()) {
  describe(`failover and channel health on ${dialect}`, () => {
    let t: TestTally;
    const mocks: MockOpenAI[] = [];
    let seq = 0;

    /** A fresh model with its own channels (each on its own mock), so breaker state never leaks between tests. */
    async function route(specs: RouteSpec[]): Promise<{ model: string; price: ModelPrice; channels: Channel[]; mocks: (MockOpenAI | null)[] }> {
      const model = `fo-model-${++seq}`;
      const price = await setModelPrice(t.ctx.db, { model, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n });
      const channels: Channel[] = [];
      const ms: (MockOpenAI | null)[] = [];
      for (const [i, s] of specs.entries()) {
        let url = s.baseUrl;
        let m: MockOpenAI | null = null;
        if (!url) {
          m = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null, behavior: s.behavior ?? {} });
          mocks.push(m);
          url = m.url;
        }
        ms.push(m);
        channels.push(
          await createChannel(t.ctx.db, t.config.secret, {
            name: `${model}-${String.fromCharCode(65 + i)}`,
            type: 'openai',
            baseUrl: url,
            apiKey: s.apiKey ?? UPSTREAM_KEY,
            models: [model],
            priority: s.priority,
            weight: s.weight,
            firstByteTimeoutMs: s.firstByteTimeoutMs,
            connectTimeoutMs: s.connectTimeoutMs,
          }),
        );
      }
      await catalog(t).reload();
      return { model, price, channels, mocks: ms };
    }

    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_BREAKER_COOLDOWN_MS: String(BREAKER_COOLDOWN_MS) });
    });
    after(async () => {
      try {
        if (t) {
          await relay(t).flush();
          const r = await verifyBooks(t.ctx.db);
          assert.ok(
            r.ok,
            JSON.stringify(
              r.checks.filter((c) => !c.ok),
              null,
              2,
            ),
          );
        }
      } finally {
        await t?.close();
        for (const m of mocks) await m.close();
      }
    });

    /** Channel A (priority 10) fails in some way, B (priority 0) is healthy: the client sees one success, charged once from B's usage. */
    async function expectFailover(a: RouteSpec, opts: { stream?: boolean } = {}) {
      const r = await route([{ priority: 10, ...a }, { priority: 0 }]);
      const [A, B] = r.mocks;
      const u = await seedUser(t, { balance: 1_000_000n });
      const c = sdk(t, u.apiKey);
      let rid: string | null;
      if (opts.stream) {
        const { data: s, response } = await c.chat.completions
          .create({ model: r.model, messages, stream: true, stream_options: { include_usage: true } })
          .withResponse();
        let text = '';
        for await (const ch of s) text += ch.choices.map((x) => x.delta.content ?? '').join('');
        assert.equal(text, mockReplyText(DEFAULT_REPLY_WORDS));
        rid = response.headers.get('x-request-id');
      } else {
        const { data, response } = await c.chat.completions.create({ model: r.model, messages }).withResponse();
        assert.equal(data.choices[0].message.content, mockReplyText(DEFAULT_REPLY_WORDS));
        rid = response.headers.get('x-request-id');
      }
      if (A) assert.equal(A.requestsTo('/chat/completions').length, 1, 'A was tried once');
      assert.equal(B!.requestsTo('/chat/completions').length, 1, 'B served it');
      const expected = computeCost(r.price, toUsage(mockUsageFor(B!.requests.at(-1)!.body)), ONE_X);
      const row = await logRow(t, rid);
      assert.equal(Number(row.attempts), 2);
      assert.equal(row.channel_id, r.channels[1].id, 'the log names the channel that served it');
      assert.equal(Number(row.status), 200);
      assert.equal(Number(row.charged), 1);
      assert.equal(toBig(row.charged_amount), expected, 'charged once, from the usage of the channel that answered');
      assert.equal((await balance(t, u.user.id)).balance, 1_000_000n - expected);
      return { r, row };
    }

    test('A answers 500: B serves, the client sees success, attempts=2', async () => {
      await expectFailover({ behavior: { fail: 500 } });
    });

    test('A answers 502 or 503: B serves', async () => {
      await expectFailover({ behavior: { fail: 502 } });
      await expectFailover({ behavior: { fail: 503 } });
    });

    test('A answers 429: B serves', async () => {
      await expectFailover({ behavior: { fail: 429, retryAfter: 30 } });
    });

    test('A refuses the connection: B serves', async () => {
      await expectFailover({ baseUrl: `http://127.0.0.1:${await refusedPort()}/v1` });
    });

    test('A resets the connection before answering: B serves', async () => {
      await expectFailover({ behavior: { disconnectBeforeResponse: true } });
    });

    test('A does not answer within its first-byte timeout: B serves, quickly', async () => {
      const t0 = Date.now();
      await expectFailover({ behavior: { hang: true }, firstByteTimeoutMs: 300 });
      assert.ok(Date.now() - t0 < 4000, `took ${Date.now() - t0}ms`);
    });

    test('a stream fails over too when A fails before the first byte', async () => {
      await expectFailover({ behavior: { fail: 500 } }, { stream: true });
      await expectFailover({ behavior: { fail: 429 } }, { stream: true });
    });

    test("upstream 401 (Tally's upstream key is wrong): the channel is marked needs_attention, B serves, A is not used again", async () => {
      const { r } = await expectFailover({ apiKey: 'sk-wrong-upstream-key-000000wxyz' });
      const A = r.mocks[0]!;
      assert.equal(A.requests[0].headers.authorization, 'Bearer sk-wrong-upstream-key-000000wxyz');
      assert.equal(await channelStatus(t, r.channels[0].id), 'needs_attention');
      const row = await t.ctx.db.selectFrom('channels').select(['status_reason']).where('id', '=', r.channels[0].id).executeTakeFirstOrThrow();
      assert.ok(row.status_reason, 'the channel says why it needs attention');
      assert.equal(String(row.status_reason).includes('sk-wrong-upstream-key-000000wxyz'), false, 'without printing the key');
      const u = await seedUser(t, { balance: 1_000_000n });
      for (let i = 0; i < 3; i++) await sdk(t, u.apiKey).chat.completions.create({ model: r.model, messages });
      assert.equal(A.requests.length, 1, 'a channel that needs attention is skipped');
      // A catalog reload (another instance, the periodic refresh) keeps it out.
      await catalog(t).reload();
      await sdk(t, u.apiKey).chat.completions.create({ model: r.model, messages });
      assert.equal(A.requests.length, 1);
    });

    test('upstream 403 also marks the channel needs_attention', async () => {
      const { r } = await expectFailover({ behavior: { fail: 403 } });
      assert.equal(await channelStatus(t, r.channels[0].id), 'needs_attention');
    });

    test('the breaker opens after repeated failures, skips the channel, then probes it back after the cooldown', async () => {
      const r = await route([{ priority: 10, behavior: { fail: 500 } }, { priority: 0 }]);
      const [A, B] = r.mocks as MockOpenAI[];
      const u = await seedUser(t, { balance: 10_000_000n });
      const c = sdk(t, u.apiKey);
      const t0 = Date.now();
      for (let i = 0; i < 12; i++) {
        const res = await c.chat.completions.create({ model: r.model, messages });
        assert.equal(res.object, 'chat.completion', 'every request succeeds through B');
      }
      assert.ok(Date.now() - t0 < BREAKER_COOLDOWN_MS, 'the loop ran inside one cooldown (else this test proves nothing)');
      const triedA = A.requests.length;
      assert.ok(triedA >= 1 && triedA < 12, `A was tried ${triedA} times out of 12`);
      assert.equal(B.requests.length, 12);
      assert.equal(await channelStatus(t, r.channels[0].id), 'enabled', 'a 5xx is not "needs attention": the breaker handles it');
      await relay(t).flush();
      const rows = await t.ctx.db.selectFrom('request_logs').select(['attempts']).where('user_id', '=', u.user.id).execute();
      assert.equal(
        rows.reduce((a, x) => a + Number(x.attempts), 0),
        12 + triedA,
        'attempts in the log add up to what the upstreams saw',
      );

      // After the cooldown one probe goes to A; A is healthy again, so it takes the traffic back.
      A.setBehavior({});
      await new Promise((res) => setTimeout(res, BREAKER_COOLDOWN_MS + 200));
      for (let i = 0; i < 3; i++) await c.chat.completions.create({ model: r.model, messages });
      assert.equal(A.requests.length, triedA + 3, 'the probe succeeded and A (priority 10) serves again');
      assert.equal(B.requests.length, 12);
    });

    test('the highest priority tier is used while healthy; weights spread load inside a tier', async () => {
      const r = await route([{ priority: 10 }, { priority: 10 }, { priority: 0 }]);
      const [A, B, C] = r.mocks as MockOpenAI[];
      const u = await seedUser(t, { balance: 10_000_000n });
      const c = sdk(t, u.apiKey);
      await Promise.all(Array.from({ length: 40 }, () => c.chat.completions.create({ model: r.model, messages })));
      assert.equal(C.requests.length, 0, 'the lower tier is not used while the top tier is healthy');
      assert.equal(A.requests.length + B.requests.length, 40);
      assert.ok(A.requests.length > 0 && B.requests.length > 0, `both equal-weight channels serve (A ${A.requests.length}, B ${B.requests.length})`);

      const w = await route([
        { priority: 5, weight: 9 },
        { priority: 5, weight: 1 },
      ]);
      const [H, L] = w.mocks as MockOpenAI[];
      for (let i = 0; i < 10; i++) await Promise.all(Array.from({ length: 10 }, () => c.chat.completions.create({ model: w.model, messages })));
      assert.ok(H.requests.length > L.requests.length * 2, `weight 9 vs 1: ${H.requests.length} vs ${L.requests.length}`);
    });

    test('when every channel fails before any output the request is not charged, and attempts are bounded', async () => {
      const r = await route([
        { priority: 9, behavior: { fail: 500 } },
        { priority: 8, behavior: { fail: 503 } },
        { priority: 7, behavior: { fail: 500 } },
        { priority: 6, behavior: { fail: 502 } },
        { priority: 5, behavior: { fail: 500 } },
        { priority: 4, behavior: { fail: 500 } },
      ]);
      const u = await seedUser(t, { balance: 1_000_000n });
      let err: any;
      try {
        await sdk(t, u.apiKey).chat.completions.create({ model: r.model, messages });
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof OpenAI.APIError && err.status! >= 500, `a 5xx: ${err}`);
      const row = await logRow(t, err.headers.get('x-request-id'));
      const tried = r.mocks.reduce((a, m) => a + m!.requests.length, 0);
      assert.equal(Number(row.attempts), tried, 'the log counts every attempt');
      assert.ok(tried >= 2 && tried < 6, `failover is bounded: ${tried} of 6 channels tried`);
      assert.equal(Number(row.charged), 0);
      assert.equal(toBig(row.charged_amount), 0n);
      assert.ok(row.charge_reason, 'the log says why it was not charged');
      const w = await balance(t, u.user.id);
      assert.equal(w.balance, 1_000_000n, 'not charged');
      assert.equal(w.available, 1_000_000n, 'and nothing stays reserved');

      // The same for a stream: the error arrives as an HTTP status, not charged.
      const s = await route([{ behavior: { fail: 500 } }]);
      await assert.rejects(
        sdk(t, u.apiKey).chat.completions.create({ model: s.model, messages, stream: true }),
        (e: any) => e instanceof OpenAI.APIError && e.status! >= 500,
      );
      assert.equal((await balance(t, u.user.id)).balance, 1_000_000n);
    });

    test('a channel that dies mid-stream is not failed over (bytes already reached the client) and the log says so', async () => {
      const r = await route([{ priority: 10, behavior: { disconnectAfterChunks: 4, chunkDelayMs: 5 } }, { priority: 0 }]);
      const [A, B] = r.mocks as MockOpenAI[];
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data: s, response } = await sdk(t, u.apiKey).chat.completions.create({ model: r.model, messages, stream: true }).withResponse();
      let text = '';
      try {
        for await (const ch of s) text += ch.choices.map((x) => x.delta.content ?? '').join('');
      } catch {
        /* a broken stream is what the client must see */
      }
      assert.equal(text, mockReplyText(DEFAULT_REPLY_WORDS).split(' ').slice(0, 12).join(' '), 'the client got exactly what A produced');
      assert.equal(A.requests.length, 1);
      assert.equal(B.requests.length, 0, 'no second answer spliced into the first');
      const row = await logRow(t, response.headers.get('x-request-id'));
      assert.equal(row.channel_id, r.channels[0].id);
      assert.equal(Number(row.attempts), 1);
    });
  });
}
