// Rate limits through the relay, one instance (limits in memory), on SQLite
// and PostgreSQL: RPM exact under concurrent callers, 429s that charge and
// hold nothing, the x-ratelimit-* headers, each protocol's 429 shape, TPM
// correction at settlement, concurrency slots, and which scope counts (key,
// user, group).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { ApiError } from '@google/genai';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { testDialects } from '../helpers/db.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { relaySdk, requestLogRow, settledWallet, verifyThenClose } from '../helpers/relay.ts';
import { claudeSdk } from '../helpers/anthropicRelay.ts';
import { genai } from '../helpers/geminiRelay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { createApiKey, setKeyLimits } from '../../src/accounts/apiKeys.ts';
import { setUserLimits } from '../../src/accounts/users.ts';
import { upsertGroup } from '../../src/gateway/groups.ts';
import { toBig } from '../../src/ledger/money.ts';

const CHAT = 'gpt-4o-mini';
const messages = [{ role: 'user' as const, content: 'hello there' }];

/** The status of each settled call: 200, or the error's status. */
async function statuses(calls: Promise<unknown>[]): Promise<{ ok: number; limited: any[]; other: unknown[] }> {
  const out = await Promise.allSettled(calls);
  const limited: any[] = [];
  const other: unknown[] = [];
  let ok = 0;
  for (const r of out) {
    if (r.status === 'fulfilled') ok++;
    else if ((r.reason as any)?.status === 429) limited.push(r.reason);
    else other.push(r.reason);
  }
  return { ok, limited, other };
}

for (const dialect of testDialects()) {
  describe(`rate limits through the relay (${dialect})`, () => {
    let t: TestTally;
    let mock: MockOpenAI;

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockOpenAI();
      await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 1_000_000n, outputPer1M: 2_000_000n, maxOutputTokens: 4096 });
      await createChannel(t.ctx.db, t.config.secret, { name: 'm', type: 'openai', baseUrl: mock.url, apiKey: 'sk-up-xxxxxxxx', models: [CHAT] });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock));

    /** A funded user whose key has these limits (the key cache forgets the key so they apply at once). */
    async function limitedUser(limits: { rpm?: number; tpm?: number; concurrency?: number }) {
      const u = await seedUser(t, { balance: 5_000_000n });
      await setKeyLimits(t.ctx.db, u.key.id, limits);
      t.ctx.keys.clear();
      return u;
    }

    test('a key limited to N rpm gets exactly N of N+k concurrent requests; the rest are 429 with retry-after and headers, charge nothing and hold nothing', async () => {
      const N = 3;
      const K = 5;
      const u = await limitedUser({ rpm: N });
      const before = await settledWallet(t, u.user.id);
      const upstreamBefore = mock.requestsTo('/chat/completions').length;
      const sdk = relaySdk(t, u.apiKey);
      const r = await statuses(Array.from({ length: N + K }, () => sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 8 })));
      assert.deepEqual(r.other, []);
      assert.equal(r.ok, N);
      assert.equal(r.limited.length, K);
      assert.equal(mock.requestsTo('/chat/completions').length - upstreamBefore, N, 'a refused request never reaches the upstream');
      for (const e of r.limited) {
        assert.ok(e instanceof OpenAI.RateLimitError);
        assert.equal(e.code, 'rate_limited');
        assert.match(e.message, /limited to 3 requests per minute/);
        const ra = Number(e.headers.get('retry-after'));
        assert.ok(ra >= 1 && ra <= 20, `retry-after ${ra}: one request every 20 s`);
        assert.equal(e.headers.get('x-ratelimit-limit-requests'), '3');
        assert.equal(e.headers.get('x-ratelimit-remaining-requests'), '0');
        assert.match(e.headers.get('x-ratelimit-reset-requests')!, /^(\d+s|1m0s)$/);
        const row = await requestLogRow(t, e.headers.get('x-request-id'));
        assert.ok(row, 'the refusal is logged');
        assert.equal(Number(row.status), 429);
        assert.equal(row.error_code, 'rate_limited');
        assert.equal(Number(row.charged), 0);
        assert.equal(toBig(row.charged_amount), 0n);
        assert.equal(toBig(row.cost), 0n);
        assert.equal(row.key_id, u.key.id);
      }
      const after = await settledWallet(t, u.user.id);
      const rows = await t.ctx.db.selectFrom('request_logs').selectAll().where('user_id', '=', u.user.id).execute();
      const charged = rows.filter((x) => Number(x.status) === 200);
      assert.equal(charged.length, N);
      const spent = charged.reduce((s, x) => s + toBig(x.charged_amount), 0n);
      assert.ok(spent > 0n);
      assert.equal(before.balance - after.balance, spent, 'only the N answered requests were charged');
      assert.equal(after.pendingDebits, 0n, 'nothing is held');
    });

    test('x-ratelimit-* headers on 200 answers, stream and non-stream; none on a key nobody limited', async () => {
      const u = await limitedUser({ rpm: 100, tpm: 100_000 });
      const sdk = relaySdk(t, u.apiKey);
      const { response } = await sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 8 }).withResponse();
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-ratelimit-limit-requests'), '100');
      assert.equal(response.headers.get('x-ratelimit-remaining-requests'), '99');
      assert.equal(response.headers.get('x-ratelimit-reset-requests'), '600ms');
      assert.equal(response.headers.get('x-ratelimit-limit-tokens'), '100000');
      const remTokens = Number(response.headers.get('x-ratelimit-remaining-tokens'));
      assert.ok(remTokens < 100_000 - 8 && remTokens > 100_000 - 200, `remaining tokens ${remTokens}: the bound (prompt + 8) taken`);
      assert.match(response.headers.get('x-ratelimit-reset-tokens')!, /^\d+ms$/);

      const { data: stream, response: sres } = await sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 8, stream: true }).withResponse();
      for await (const _ of stream) void _;
      assert.equal(sres.status, 200);
      assert.equal(sres.headers.get('x-ratelimit-limit-requests'), '100');
      assert.equal(sres.headers.get('x-ratelimit-remaining-requests'), '98');
      assert.equal(sres.headers.get('x-ratelimit-limit-tokens'), '100000');
      assert.ok(sres.headers.get('x-ratelimit-remaining-tokens'));

      const free = await seedUser(t, { balance: 1_000_000n });
      const { response: fres } = await relaySdk(t, free.apiKey).chat.completions.create({ model: CHAT, messages, max_tokens: 8 }).withResponse();
      assert.equal(fres.status, 200);
      for (const h of ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-limit-tokens']) assert.equal(fres.headers.get(h), null, h);
    });

    test('Anthropic and Gemini callers get the 429 in their own shapes', async () => {
      const u = await limitedUser({ rpm: 1 });
      await relaySdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages, max_tokens: 8 }); // the one allowed

      await assert.rejects(claudeSdk(t, u.apiKey).messages.create({ model: 'claude-sonnet-4-5', max_tokens: 16, messages }), (e: any) => {
        assert.ok(e instanceof Anthropic.RateLimitError, String(e));
        assert.equal(e.status, 429);
        const body = e.error as any;
        assert.equal(body.type, 'error');
        assert.equal(body.error.type, 'rate_limit_error');
        assert.equal(body.error.details.error_code, 'rate_limited');
        assert.ok(Number(e.headers.get('retry-after')) >= 1);
        assert.equal(e.headers.get('x-ratelimit-limit-requests'), '1');
        return true;
      });

      await assert.rejects(genai(t, u.apiKey).models.generateContent({ model: 'gemini-2.5-flash', contents: 'hello there' }), (e: any) => {
        assert.ok(e instanceof ApiError, String(e));
        assert.equal(e.status, 429);
        assert.match(e.message, /RESOURCE_EXHAUSTED/);
        return true;
      });
      const res = await fetch(`${t.url}/v1beta/models/gemini-2.5-flash:generateContent`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-goog-api-key': u.apiKey },
        body: JSON.stringify({ contents: [{ parts: [{ text: 'hello there' }] }] }),
      });
      assert.equal(res.status, 429);
      assert.ok(Number(res.headers.get('retry-after')) >= 1);
      const body = (await res.json()) as any;
      assert.equal(body.error.code, 429);
      assert.equal(body.error.status, 'RESOURCE_EXHAUSTED');
      assert.ok(body.error.details.some((d: any) => d.reason === 'rate_limited'));
      assert.ok(body.error.details.some((d: any) => d['@type'] === 'type.googleapis.com/google.rpc.RetryInfo' && /^\d+s$/.test(d.retryDelay)));
    });

    test('TPM: taken on the bound, refused past it without reaching the upstream, and corrected at settlement to the tokens used', async () => {
      const u = await limitedUser({ tpm: 4000 });
      const sdk = relaySdk(t, u.apiKey);
      mock.setBehavior({ replyWords: 5 });
      try {
        // The bound: the prompt's bound + 3000 output tokens; it uses about 15 tokens.
        const first = await sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 3000 }).withResponse();
        const remaining = Number(first.response.headers.get('x-ratelimit-remaining-tokens'));
        assert.ok(remaining < 1000, `after the first, ${remaining} tokens remain: not enough for another 3000 without the correction`);
        assert.ok(first.data.usage!.total_tokens < 20);
        // Settled (and so corrected) once the log row exists.
        await requestLogRow(t, first.response.headers.get('x-request-id'));
        const second = await sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 3000 }).withResponse();
        assert.equal(second.response.status, 200, 'the unused part of the first bound came back');
        const rem2 = Number(second.response.headers.get('x-ratelimit-remaining-tokens'));
        assert.ok(rem2 < 1000 && rem2 > 4000 - 3000 - 200 - 40, `remaining ${rem2}: only the first's used tokens still count`);

        // Two at once while neither has settled (a slow upstream): one bound fits, the other is 429 tpm, never sent upstream, not charged.
        mock.setBehavior({ replyWords: 5, latencyMs: 400 });
        const upstream = mock.requestsTo('/chat/completions').length;
        const chargedSum = async () =>
          (await t.ctx.db.selectFrom('request_logs').select('charged_amount').where('user_id', '=', u.user.id).execute()).reduce(
            (x, y) => x + toBig(y.charged_amount),
            0n,
          );
        const before = await settledWallet(t, u.user.id);
        const chargedBefore = await chargedSum();
        const r = await statuses([0, 1].map(() => sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 3000 })));
        assert.deepEqual(r.other, []);
        assert.equal(r.ok, 1);
        assert.equal(r.limited.length, 1);
        const e = r.limited[0];
        assert.match(e.message, /limited to 4000 tokens per minute/);
        assert.equal(e.headers.get('x-ratelimit-limit-tokens'), '4000');
        assert.ok(Number(e.headers.get('retry-after')) >= 1);
        assert.equal(mock.requestsTo('/chat/completions').length, upstream + 1);
        const row = await requestLogRow(t, e.headers.get('x-request-id'));
        assert.equal(row.error_code, 'rate_limited');
        assert.equal(Number(row.charged), 0);
        const after = await settledWallet(t, u.user.id);
        const charged = (await chargedSum()) - chargedBefore;
        assert.ok(charged > 0n);
        assert.equal(before.balance - after.balance, charged, 'only the one answered was charged');
        assert.equal(after.pendingDebits, 0n);
      } finally {
        mock.setBehavior({});
      }
    });

    test('concurrency: C in flight at once, the rest 429; the slots come back when they finish (errors included)', async () => {
      const C = 2;
      const u = await limitedUser({ concurrency: C });
      const sdk = relaySdk(t, u.apiKey);
      mock.setBehavior({ latencyMs: 400 });
      try {
        const r = await statuses(Array.from({ length: 3 * C }, () => sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 8 })));
        assert.deepEqual(r.other, []);
        assert.equal(r.ok, C);
        assert.equal(r.limited.length, 2 * C);
        for (const e of r.limited) assert.match(e.message, /limited to 2 requests at a time/);
        // Finished: new ones pass, again C at once.
        const again = await statuses(Array.from({ length: C }, () => sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 8 })));
        assert.equal(again.ok, C);
        // An upstream failure gives its slot back too.
        mock.setBehavior({ fail: 400 });
        for (let i = 0; i < C + 1; i++)
          await assert.rejects(sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 8 }), (e: any) => e.status !== 429);
        mock.setBehavior({});
        const last = await statuses(Array.from({ length: C }, () => sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 8 })));
        assert.equal(last.ok, C);
      } finally {
        mock.setBehavior({});
      }
    });

    test("a user's limit is shared by all their keys; a key's own limit overrides it", async () => {
      const u = await seedUser(t, { balance: 5_000_000n });
      const second = await createApiKey(t.ctx.db, { userId: u.user.id, name: 'second' });
      await setUserLimits(t.ctx.db, { userId: u.user.id, limits: { rpm: 2 }, actor: { type: 'system' } });
      t.ctx.keys.clear();
      const a = relaySdk(t, u.apiKey);
      const b = relaySdk(t, second.secret);
      await a.chat.completions.create({ model: CHAT, messages, max_tokens: 8 });
      await b.chat.completions.create({ model: CHAT, messages, max_tokens: 8 });
      for (const sdk of [a, b])
        await assert.rejects(sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 8 }), (e: any) => {
          assert.equal(e.status, 429);
          assert.match(e.message, /this account is limited to 2 requests per minute/);
          assert.equal(e.error.details.scope, 'user');
          return true;
        });
      // A third key with its own (higher) limit is counted on its own.
      const own = await createApiKey(t.ctx.db, { userId: u.user.id, name: 'own', limits: { rpm: 3 } });
      const c = relaySdk(t, own.secret);
      for (let i = 0; i < 3; i++) await c.chat.completions.create({ model: CHAT, messages, max_tokens: 8 });
      await assert.rejects(
        c.chat.completions.create({ model: CHAT, messages, max_tokens: 8 }),
        (e: any) => e.status === 429 && e.error.details.scope === 'key',
      );
    });

    test("a group's limit counts each of its users separately; the user's own limit wins over the group's", async () => {
      await upsertGroup(t.ctx.db, { name: 'slow', multiplierPpm: 1_000_000n, models: null, limits: { rpm: 1 } });
      await t.ctx.catalog.reload();
      const x = await seedUser(t, { balance: 5_000_000n, group: 'slow' });
      const y = await seedUser(t, { balance: 5_000_000n, group: 'slow' });
      for (const u of [x, y]) {
        const sdk = relaySdk(t, u.apiKey);
        await sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 8 });
        await assert.rejects(sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 8 }), (e: any) => {
          assert.equal(e.status, 429);
          assert.equal(e.error.details.scope, 'group');
          assert.match(e.message, /group is limited to 1 requests per minute/);
          return true;
        });
      }
      // A second key of x shares x's group count.
      const k2 = await createApiKey(t.ctx.db, { userId: x.user.id, name: 'k2' });
      await assert.rejects(relaySdk(t, k2.secret).chat.completions.create({ model: CHAT, messages, max_tokens: 8 }), (e: any) => e.status === 429);
      // y's own account limit replaces the group's.
      await setUserLimits(t.ctx.db, { userId: y.user.id, limits: { rpm: 5 }, actor: { type: 'system' } });
      t.ctx.keys.clear();
      await relaySdk(t, y.apiKey).chat.completions.create({ model: CHAT, messages, max_tokens: 8 });
    });
  });
}
