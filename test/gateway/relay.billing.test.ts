// Hold and settle at the edges: disconnects mid-stream (either side), wallets
// too small for the default bound (max_tokens capped) or for anything at all
// (402), key spend limits, usage above the hold (uncollected), Tally's own
// per-key rate limit. After each: the wallet is never negative and the ledger
// verifies.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, mockUsageFor, mockReplyText, requestedMaxTokens, toUsage, DEFAULT_REPLY_WORDS, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice, computeCost, type ModelPrice } from '../../src/gateway/pricing.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { getAccount, toBig, SYSTEM_ACCOUNTS } from '../../src/ledger/index.ts';
import { relaySdk as sdk, requestLogRow as logRow, settledWallet as wallet, verifyThenClose } from '../helpers/relay.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';
const CHAT = 'gpt-4o-mini';
const ONE_X = 1_000_000n;
const messages = [{ role: 'user' as const, content: 'Tell me a long story about double entry bookkeeping' }];

const relay = (t: TestTally) => t.ctx.relay;
const catalog = (t: TestTally) => t.ctx.catalog;

/** The settled row is self-consistent: cost = charged + uncollected, and the wallet moved by exactly charged. */
function assertRowConsistent(row: any) {
  assert.equal(toBig(row.cost), toBig(row.charged_amount) + toBig(row.uncollected), 'cost = charged + uncollected');
  assert.equal(Number(row.charged), toBig(row.charged_amount) > 0n ? 1 : 0);
}

for (const dialect of testDialects()) {
  describe(`hold and settle on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let price: ModelPrice;

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null });
      await createChannel(t.ctx.db, t.config.secret, { name: 'primary', type: 'openai', baseUrl: mock.url, apiKey: UPSTREAM_KEY, models: [CHAT] });
      // $2.50 / $10 per 1M tokens, at most 4096 output tokens by default: the default bound is about 41,000 micro-units.
      price = await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n, maxOutputTokens: 4096 });
      await catalog(t).reload();
    });
    after(() => verifyThenClose(t, mock));

    test('client disconnects mid-stream: charged for what was produced, more than nothing and less than the whole', async () => {
      mock.setBehavior({ chunkDelayMs: 60 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data: s, response } = await sdk(t, u.apiKey)
        .chat.completions.create({ model: CHAT, messages, stream: true, stream_options: { include_usage: true } })
        .withResponse();
      let contentChunks = 0;
      for await (const ch of s) {
        if (ch.choices[0]?.delta?.content) contentChunks++;
        if (contentChunks === 3) break; // leaving the loop aborts the request
      }
      const full = computeCost(price, toUsage(mockUsageFor(mock.requests.at(-1)!.body)), ONE_X);
      const row = await logRow(t, response.headers.get('x-request-id'));
      assert.ok(row, 'the abandoned request is settled and logged');
      assertRowConsistent(row);
      assert.equal(Number(row.charged), 1, row.charge_reason);
      assert.ok(Number(row.completion_tokens) > 0 && Number(row.completion_tokens) < DEFAULT_REPLY_WORDS, `completion tokens ${row.completion_tokens}`);
      const charged = toBig(row.charged_amount);
      assert.ok(charged > 0n && charged < full, `charged ${charged} of a full ${full}`);
      assert.equal(
        toBig(row.cost),
        computeCost(
          price,
          { promptTokens: Number(row.prompt_tokens), completionTokens: Number(row.completion_tokens), cachedTokens: Number(row.cached_tokens) },
          ONE_X,
        ),
      );
      const w = await wallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n - charged);
      assert.equal(w.available, w.balance, 'nothing stays reserved');
      // Tally hung up on the upstream too (it does not keep generating on the user's money).
      const upstream = mock.requests.at(-1)!;
      for (let i = 0; i < 100 && !upstream.outcome; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(upstream.outcome, 'client_closed', 'Tally aborted the upstream request');
      mock.setBehavior({});
    });

    test('upstream disconnects mid-stream: the client gets what was produced and is charged for that (counted)', async () => {
      mock.setBehavior({ disconnectAfterChunks: 4, chunkDelayMs: 5 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data: s, response } = await sdk(t, u.apiKey)
        .chat.completions.create({ model: CHAT, messages, stream: true, stream_options: { include_usage: true } })
        .withResponse();
      let text = '';
      let sawUsage = false;
      try {
        for await (const ch of s) {
          text += ch.choices.map((x) => x.delta.content ?? '').join('');
          if (ch.usage) sawUsage = true;
        }
      } catch {
        /* the stream broke, as it should */
      }
      const produced = mockReplyText(DEFAULT_REPLY_WORDS).split(' ').slice(0, 12).join(' ');
      assert.equal(text, produced);
      assert.equal(sawUsage, false, 'no invented usage chunk');
      const full = computeCost(price, toUsage(mockUsageFor(mock.requests.at(-1)!.body)), ONE_X);
      const row = await logRow(t, response.headers.get('x-request-id'));
      assertRowConsistent(row);
      assert.equal(row.usage_source, 'counted');
      assert.equal(Number(row.charged), 1, row.charge_reason);
      assert.ok(Number(row.completion_tokens) >= 6 && Number(row.completion_tokens) <= 24, `12 words produced, ${row.completion_tokens} tokens counted`);
      const charged = toBig(row.charged_amount);
      assert.ok(charged > 0n && charged < full, `charged ${charged} of a full ${full}`);
      assert.ok(
        row.error_code ||
          Number(row.status) !== 200 ||
          /disconnect|incomplete|closed|broke|interrupt/i.test(String(row.charge_reason) + String(row.error_message)),
        `the log says the stream broke: ${row.status} ${row.error_code} ${row.charge_reason}`,
      );
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n - charged);
      mock.setBehavior({});
    });

    test('upstream breaks the stream before any content: not charged', async () => {
      mock.setBehavior({ disconnectAfterChunks: 0 });
      const u = await seedUser(t, { balance: 1_000_000n });
      let rid: string | null = null;
      try {
        const { data: s, response } = await sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages, stream: true }).withResponse();
        rid = response.headers.get('x-request-id');
        for await (const _ of s) {
          /* drain */
        }
      } catch (e: any) {
        rid ??= e?.headers?.get?.('x-request-id') ?? null;
      }
      await relay(t).flush();
      const rows = await t.ctx.db.selectFrom('request_logs').selectAll().where('user_id', '=', u.user.id).execute();
      assert.equal(rows.length, 1);
      if (rid) assert.equal(rows[0].id, rid);
      assert.equal(Number(rows[0].charged), 0, `nothing was produced, yet: ${JSON.stringify(rows[0], (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n);
      mock.setBehavior({});
    });

    test('a wallet that cannot cover the default bound gets max_tokens capped to what it can pay, and never goes negative', async () => {
      // 3,000 micro-units pay for about 290 output tokens after the prompt; the default bound is 4096.
      mock.setBehavior({ replyWords: 5000 }); // the upstream would write far more than the wallet can pay
      const u = await seedUser(t, { balance: 3_000n });
      const { data, response } = await sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages }).withResponse();
      assert.equal(data.object, 'chat.completion');
      const seen = mock.requests.at(-1)!.body;
      const cap = requestedMaxTokens(seen);
      assert.ok(cap !== undefined && cap > 0 && cap < 300, `the upstream was asked for at most ${cap} tokens`);
      assert.equal(data.choices[0].finish_reason, 'length');
      const expected = computeCost(price, toUsage(mockUsageFor(seen, { replyWords: 5000 })), ONE_X);
      assert.ok(expected <= 3_000n, `the capped request costs ${expected}, within the wallet`);
      const row = await logRow(t, response.headers.get('x-request-id'));
      assertRowConsistent(row);
      assert.equal(toBig(row.charged_amount), expected);
      assert.equal(toBig(row.uncollected), 0n);
      const w = await wallet(t, u.user.id);
      assert.equal(w.balance, 3_000n - expected);
      assert.ok(w.balance >= 0n);

      // A client's own max_tokens above what it can pay is capped the same way; one it can pay is left alone.
      const rich = await seedUser(t, { balance: 1_000_000n });
      await sdk(t, rich.apiKey).chat.completions.create({ model: CHAT, messages, max_tokens: 20 });
      assert.equal(mock.requests.at(-1)!.body.max_tokens, 20, 'an affordable max_tokens is passed through untouched');
      const poor = await seedUser(t, { balance: 2_000n });
      await sdk(t, poor.apiKey).chat.completions.create({ model: CHAT, messages, max_completion_tokens: 4000 });
      const capped = mock.requests.at(-1)!.body;
      assert.ok(capped.max_completion_tokens < 200, `max_completion_tokens capped to ${capped.max_completion_tokens}`);
      assert.ok((await wallet(t, poor.user.id)).balance >= 0n);
      mock.setBehavior({});
    });

    test('402 when the wallet cannot pay for the prompt plus a minimal output; nothing reaches the upstream', async () => {
      const u = await seedUser(t, { balance: 20n });
      const before = mock.requests.length;
      const long = [{ role: 'user' as const, content: 'Please summarise this ledger entry in detail. '.repeat(60) }];
      let err: any;
      try {
        await sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages: long });
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof OpenAI.APIError, String(err));
      assert.equal(err.status, 402);
      assert.equal(err.code, 'insufficient_balance');
      assert.match(err.error.message, /wallet|balance/i);
      assert.match(err.error.message, /\d/, 'the message says how much was needed');
      assert.equal(mock.requests.length, before);
      assert.equal((await wallet(t, u.user.id)).balance, 20n);
    });

    test("a key's spend limit: requests are capped to it, then refused with 402 naming the key limit; the key's spend equals its charges", async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 10_000_000n });
      const limit = 2_000n;
      const { key, secret } = await createApiKey(t.ctx.db, { userId: u.user.id, name: 'limited', spendLimit: limit });
      const c = sdk(t, secret);
      let ok = 0;
      let refusal: any = null;
      for (let i = 0; i < 20 && !refusal; i++) {
        try {
          await c.chat.completions.create({ model: CHAT, messages });
          ok++;
        } catch (e) {
          refusal = e;
        }
      }
      assert.ok(ok >= 1, 'some requests fit under the limit');
      assert.ok(refusal, 'the limit was reached');
      assert.equal(refusal.status, 402);
      assert.equal(refusal.code, 'insufficient_balance');
      assert.match(refusal.error.message, /key/i);
      await relay(t).flush();
      const rows = await t.ctx.db.selectFrom('request_logs').selectAll().where('key_id', '=', key.id).execute();
      const charged = rows.reduce((a, r) => a + toBig(r.charged_amount), 0n);
      assert.ok(charged <= limit, `the key spent ${charged} of ${limit}`);
      const k = await t.ctx.db.selectFrom('api_keys').select(['spent']).where('id', '=', key.id).executeTakeFirstOrThrow();
      assert.equal(toBig(k.spent), charged, "the key's spend is exactly what it was charged");
      assert.equal((await wallet(t, u.user.id)).balance, 10_000_000n - charged);
      // The wallet itself still works through another key.
      const other = await sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages });
      assert.equal(other.object, 'chat.completion');
    });

    test('usage reported above the hold: the wallet pays what it can, the rest is booked as uncollected, never a negative wallet', async () => {
      mock.setBehavior({ usageOverride: { prompt_tokens: 50, completion_tokens: 1_000_000 } }); // $10 of output from a $0.005 wallet
      const u = await seedUser(t, { balance: 5_000n });
      const uncollectedBefore = (await getAccount(t.ctx.db, SYSTEM_ACCOUNTS.uncollected)).balance;
      const { response } = await sdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages }).withResponse();
      const row = await logRow(t, response.headers.get('x-request-id'));
      const cost = computeCost(price, { promptTokens: 50, completionTokens: 1_000_000, cachedTokens: 0 }, ONE_X);
      assert.equal(toBig(row.cost), cost, 'the log records the full cost the upstream reported');
      assertRowConsistent(row);
      assert.ok(toBig(row.charged_amount) <= 5_000n);
      assert.ok(toBig(row.uncollected) > 0n);
      const w = await wallet(t, u.user.id);
      assert.ok(w.balance >= 0n, `wallet ${w.balance}`);
      assert.equal(w.balance, 5_000n - toBig(row.charged_amount));
      const uncollectedAfter = (await getAccount(t.ctx.db, SYSTEM_ACCOUNTS.uncollected)).balance;
      assert.equal(uncollectedBefore - uncollectedAfter, toBig(row.uncollected), 'the operator sees it in system:uncollected');
      mock.setBehavior({});
    });
  });

  describe(`per-key rate limit on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_KEY_RPM: '3' });
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY });
      await createChannel(t.ctx.db, t.config.secret, { name: 'primary', type: 'openai', baseUrl: mock.url, apiKey: UPSTREAM_KEY, models: [CHAT] });
      await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n });
      await catalog(t).reload();
    });
    after(() => verifyThenClose(t, mock));

    test('429 rate_limited with retry-after once a key exceeds its requests per minute; not charged', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const c = sdk(t, u.apiKey);
      for (let i = 0; i < 3; i++) await c.chat.completions.create({ model: CHAT, messages });
      const before = mock.requests.length;
      let err: any;
      try {
        await c.chat.completions.create({ model: CHAT, messages });
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof OpenAI.RateLimitError, String(err));
      assert.equal(err.code, 'rate_limited');
      assert.ok(Number(err.headers.get('retry-after')) > 0, 'retry-after in seconds');
      assert.ok(err.headers.get('x-request-id'));
      assert.equal(mock.requests.length, before, 'nothing reached the upstream');
      // Another key is not affected.
      const v = await seedUser(t, { balance: 1_000_000n });
      assert.equal((await sdk(t, v.apiKey).chat.completions.create({ model: CHAT, messages })).object, 'chat.completion');
      await relay(t).flush();
      const charged = await t.ctx.db.selectFrom('request_logs').select(['charged_amount']).where('user_id', '=', u.user.id).execute();
      const w = await wallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n - charged.reduce((a, r) => a + toBig(r.charged_amount), 0n));
    });
  });
}
