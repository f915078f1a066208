// 500 concurrent requests from one wallet that can pay for about 200 of them.
// Whatever the interleaving: the wallet never goes negative, every request
// either succeeded and was charged or got 402 and was not, the charges in the
// request log equal the wallet's usage debits in the ledger, and the ledger
// verifies; on SQLite and on PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, toUsage, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice, computeCost, type ModelPrice } from '../../src/gateway/pricing.ts';
import { getAccount, walletAccountId, toBig, SYSTEM_ACCOUNTS } from '../../src/ledger/index.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';
const CHAT = 'gpt-4o-mini';
const N = 500;
const MAX_TOKENS = 48;

const relay = (t: TestTally) => t.ctx.relay;

for (const dialect of testDialects()) {
  describe(`500 concurrent requests against one wallet on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let price: ModelPrice;

    before(async () => {
      t = await startTestTally(dialect);
      // A little upstream latency so that the requests really overlap.
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, behavior: { latencyMs: 20 } });
      await createChannel(t.ctx.db, t.config.secret, { name: 'primary', type: 'openai', baseUrl: mock.url, apiKey: UPSTREAM_KEY, models: [CHAT] });
      price = await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n });
      await t.ctx.catalog.reload();
    });
    after(async () => {
      await t?.close();
      await mock?.close();
    });

    test('the wallet never goes negative and every charge is in both the log and the ledger', async (ctx) => {
      // Each request: 4 words + 3 = 7 prompt tokens, 48 output tokens: ceil(7 x 2.5 + 48 x 10) = 498 micro-units.
      const perRequest = computeCost(price, { promptTokens: 7, completionTokens: MAX_TOKENS, cachedTokens: 0 }, 1_000_000n);
      assert.equal(perRequest, 498n);
      const funding = perRequest * 200n;
      const u = await seedUser(t, { balance: funding });
      const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: u.apiKey, maxRetries: 0, timeout: 60_000 });

      let minSeen = funding;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const a = await getAccount(t.ctx.db, walletAccountId(u.user.id));
          if (a.balance < minSeen) minSeen = a.balance;
          await new Promise((r) => setTimeout(r, 5));
        }
      })();

      const results = await Promise.all(
        Array.from({ length: N }, async (_, i) => {
          try {
            const { data, response } = await client.chat.completions
              .create({ model: CHAT, messages: [{ role: 'user', content: `count to ${i} please` }], max_tokens: MAX_TOKENS })
              .withResponse();
            return { ok: true as const, rid: response.headers.get('x-request-id')!, usage: data.usage! };
          } catch (e: any) {
            return { ok: false as const, status: e?.status, code: e?.code, rid: e?.headers?.get?.('x-request-id') ?? null, message: String(e?.message ?? e) };
          }
        }),
      );
      sampling = false;
      await sampler;
      await relay(t).flush();

      const ok = results.filter((r) => r.ok);
      const refused = results.filter((r) => !r.ok);
      ctx.diagnostic(`${ok.length} served and charged, ${refused.length} refused with 402`);
      for (const r of refused) {
        assert.equal(r.status, 402, `every failure is a 402: ${JSON.stringify(r)}`);
        assert.equal(r.code, 'insufficient_balance');
      }
      assert.ok(ok.length >= 150, `about 200 requests fit (got ${ok.length}; refused ${refused.length})`);
      assert.ok(ok.length <= 260, `no more than the wallet could pay for (got ${ok.length})`);
      assert.equal(new Set(results.map((r) => r.rid)).size, N, 'every response has its own x-request-id');

      const rows = await t.ctx.db.selectFrom('request_logs').selectAll().where('user_id', '=', u.user.id).execute();
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const r of ok) {
        const row: any = byId.get(r.rid);
        assert.ok(row, `the log has the successful request ${r.rid}`);
        assert.equal(Number(row.status), 200);
        assert.equal(Number(row.charged), 1, `a success is charged: ${row.charge_reason}`);
        assert.equal(
          toBig(row.cost),
          computeCost(price, toUsage({ prompt_tokens: r.usage.prompt_tokens, completion_tokens: r.usage.completion_tokens }), 1_000_000n),
          'at the upstream usage',
        );
      }
      for (const r of refused) {
        const row: any = r.rid ? byId.get(r.rid) : null;
        if (row) {
          assert.equal(Number(row.charged), 0);
          assert.equal(toBig(row.charged_amount), 0n);
        }
      }
      assert.equal(rows.filter((r) => Number(r.charged) === 1).length, ok.length, 'charged rows = successes');

      const loggedCharges = rows.reduce((a, r) => a + toBig(r.charged_amount), 0n);
      const loggedCosts = rows.reduce((a, r) => a + toBig(r.cost), 0n);
      const loggedUncollected = rows.reduce((a, r) => a + toBig(r.uncollected), 0n);
      assert.equal(loggedCosts, loggedCharges + loggedUncollected);
      const transfers = await t.ctx.db
        .selectFrom('ledger_transfers')
        .select(['amount'])
        .where('debit_account_id', '=', walletAccountId(u.user.id))
        .where('credit_account_id', '=', SYSTEM_ACCOUNTS.usageRevenue)
        .execute();
      const ledgerDebits = transfers.reduce((a, r) => a + toBig(r.amount), 0n);
      assert.equal(transfers.length, ok.length, 'one usage transfer per charged request');
      assert.equal(ledgerDebits, loggedCharges, 'the request log and the ledger agree to the micro-unit');

      const w = await getAccount(t.ctx.db, walletAccountId(u.user.id));
      assert.ok(w.balance >= 0n, `wallet ${w.balance}`);
      assert.ok(minSeen >= 0n, `the wallet was never seen below zero (min ${minSeen})`);
      assert.equal(w.balance, funding - ledgerDebits);
      assert.equal(w.available, w.balance, 'no reservation survives its request');
      assert.equal(loggedUncollected, 0n, 'every request was covered by its hold: nothing uncollected');
      const upstreamCalls = mock.requestsTo('/chat/completions').length;
      assert.equal(upstreamCalls, ok.length, 'a refused request never reached the upstream');

      const report = await verifyBooks(t.ctx.db);
      assert.ok(
        report.ok,
        JSON.stringify(
          report.checks.filter((c) => !c.ok),
          null,
          2,
        ),
      );
    });
  });
}
