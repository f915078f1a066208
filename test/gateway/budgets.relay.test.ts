// Budgets through the relay (src/gateway/budgets.ts, reservations.ts,
// ledger/usagePost.ts): a key's budget refuses the request that would cross
// it, with concurrent requests racing for the last of it (in-flight requests
// count); the 402 budget_exceeded names the budget and when it resets, in
// each caller protocol's error shape; `cap` lowers max_tokens to what the
// budget can pay; the period rolls over at local midnight in TALLY_TIMEZONE
// (the context's clock, moved by the test); a team member's budget counts the
// same way; keys get budgets through the API and the CLI. On SQLite and
// PostgreSQL, with the official clients, and the ledger verified at the end.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { relaySdk, requestLogRow, verifyThenClose } from '../helpers/relay.ts';
import { claudeSdk } from '../helpers/anthropicRelay.ts';
import { genai } from '../helpers/geminiRelay.ts';
import { runTally, type Run } from '../helpers/cli.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { periodKey } from '../../src/gateway/budgets.ts';
import { toBig } from '../../src/ledger/index.ts';
import { commitSettlementItemOnce, type SettlementItem } from '../../src/gateway/settlementCommit.ts';
import { parseDeadLetters } from '../../src/gateway/deadLetters.ts';
import { newId } from '../../src/lib/ids.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';
// A price that makes the arithmetic plain: the prompt is free, each output token costs 1000 micro-units (0.001).
const MODEL = 'gpt-4o';
const PER_TOKEN = 1000n;
const TZ = 'Asia/Shanghai';
const at = (iso: string) => Date.parse(iso);

async function spentIn(t: TestTally, ref: string, pk: string): Promise<bigint> {
  await t.ctx.relay.flush();
  const r = await t.ctx.db.selectFrom('budget_spend').select('spent').where('budget_ref', '=', ref).where('period_key', '=', pk).executeTakeFirst();
  return r ? toBig(r.spent) : 0n;
}

function cliEnv(databaseUrl: string, secret: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TALLY_') && !k.startsWith('NODE_TEST')) env[k] = v;
  return { ...env, TALLY_DATABASE_URL: databaseUrl, TALLY_SECRET: secret, TALLY_LOG_LEVEL: 'silent', TALLY_DEMO: 'off' };
}

const json = (r: Run): any => {
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return JSON.parse(r.stdout);
};

for (const dialect of testDialects()) {
  describe(`budgets on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let offset = 0;

    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_TIMEZONE: TZ });
      // The context's clock is the book's: the test moves it; everything else keeps real time flowing.
      t.ctx.now = () => Date.now() + offset;
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, behavior: { latencyMs: 20 } });
      await createChannel(t.ctx.db, t.config.secret, { name: 'primary', type: 'openai', baseUrl: mock.url, apiKey: UPSTREAM_KEY, models: [MODEL] });
      await setModelPrice(t.ctx.db, { model: MODEL, inputPer1M: 0n, outputPer1M: PER_TOKEN * 1_000_000n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock));

    test('concurrent requests race for the last of a budget: never more than the budget is spent, in-flight requests count', async () => {
      offset = 0;
      const u = await seedUser(t, { balance: 10_000_000n });
      const budget = 500n * PER_TOKEN; // 0.50: ten requests of 48 tokens, and 20 tokens more
      const { key, secret } = await createApiKey(t.ctx.db, { userId: u.user.id, name: 'raced', budget, budgetPeriod: 'day' });
      const client = relaySdk(t, secret);
      const upstreamBefore = mock.requestsTo('/chat/completions').length;
      const results = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          try {
            const { response } = await client.chat.completions
              .create({ model: MODEL, messages: [{ role: 'user', content: `race ${i}` }], max_tokens: 48 })
              .withResponse();
            return { ok: true as const, rid: response.headers.get('x-request-id') };
          } catch (e: any) {
            return { ok: false as const, status: e?.status, code: e?.code, message: String(e?.message) };
          }
        }),
      );
      const ok = results.filter((r) => r.ok);
      const refused = results.filter((r) => !r.ok);
      for (const r of refused) {
        assert.equal(r.status, 402, JSON.stringify(r));
        assert.equal(r.code, 'budget_exceeded', JSON.stringify(r));
      }
      assert.ok(ok.length >= 10 && ok.length <= 11, `ten full requests and at most one capped one fit (got ${ok.length})`);
      const pk = periodKey('day', t.ctx.now(), TZ);
      const spent = await spentIn(t, `key:${key.id}`, pk);
      assert.ok(spent <= budget, `spent ${spent} of ${budget}`);
      assert.ok(spent >= 480n * PER_TOKEN, `spent ${spent}`);
      const rows = await t.ctx.db.selectFrom('request_logs').select(['charged_amount', 'status']).where('key_id', '=', key.id).execute();
      assert.equal(
        rows.reduce((s, r) => s + toBig(r.charged_amount), 0n),
        spent,
        'the budget spent exactly what the log charged',
      );
      const k = await t.ctx.db.selectFrom('api_keys').select('spent').where('id', '=', key.id).executeTakeFirstOrThrow();
      assert.equal(toBig(k.spent), spent, "the key's lifetime spend and the period's agree");
      assert.equal(mock.requestsTo('/chat/completions').length - upstreamBefore, ok.length, 'a refused request never reached the upstream');
    });

    test('the 402 names the budget and its reset, in every protocol; cap lowers max_tokens to the budget; the day rolls over at midnight in TALLY_TIMEZONE', async () => {
      // 23:59 on 1 December in Shanghai (UTC+8).
      offset = at('2026-12-01T15:59:00Z') - Date.now();
      const u = await seedUser(t, { balance: 1_000_000n });
      const { key, secret } = await createApiKey(t.ctx.db, { userId: u.user.id, name: 'daily', budget: 100n * PER_TOKEN, budgetPeriod: 'day' });
      const client = relaySdk(t, secret);
      const first = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'one' }], max_tokens: 48 });
      assert.equal(first.usage?.completion_tokens, 48);
      // 52 tokens' worth left: a request for 100 is capped to 50 (pricing.ts affordableOutputTokens keeps a token of margin; the mock answers 48 words).
      const { data: second, response } = await client.chat.completions
        .create({ model: MODEL, messages: [{ role: 'user', content: 'two' }], max_tokens: 100 })
        .withResponse();
      assert.equal(second.usage?.completion_tokens, 48);
      const sent = mock.requestsTo('/chat/completions').at(-1)!;
      assert.equal(sent.body.max_tokens, 50, 'max_tokens lowered to what the budget can pay');
      const row = await requestLogRow(t, response.headers.get('x-request-id'));
      assert.match(row.charge_reason, /max_tokens capped to 50 by the budget/);
      assert.equal(await spentIn(t, `key:${key.id}`, '2026-12-01'), 96n * PER_TOKEN);

      // 4 tokens' worth left, below TALLY_MIN_OUTPUT_TOKENS: refused, naming the budget and its reset.
      const refused = await client.chat.completions
        .create({ model: MODEL, messages: [{ role: 'user', content: 'three' }], max_tokens: 48 })
        .then(() => null)
        .catch((e) => e);
      assert.equal(refused?.status, 402);
      assert.equal(refused.code, 'budget_exceeded');
      assert.equal(refused.type, 'insufficient_balance');
      assert.match(refused.message, /this API key's budget \(0\.10 per day\)/);
      assert.match(refused.message, /resets at 2026-12-01T16:00:00\.000Z/);
      assert.match(refused.message, /Asia\/Shanghai/);
      const details = refused.error?.details;
      assert.equal(details?.budget, `key:${key.id}`);
      assert.equal(details?.period, 'day');
      assert.equal(details?.period_key, '2026-12-01');
      assert.equal(details?.resets_at, '2026-12-01T16:00:00.000Z');
      const refusedRow = await requestLogRow(t, refused.headers?.get?.('x-request-id'));
      assert.equal(Number(refusedRow.charged), 0);
      assert.equal(refusedRow.charge_reason, 'not charged: budget exceeded');

      // The same refusal through the Anthropic and Gemini clients, in their shapes.
      const claude = await claudeSdk(t, secret)
        .messages.create({ model: MODEL, max_tokens: 48, messages: [{ role: 'user', content: 'three' }] })
        .then(() => null)
        .catch((e) => e);
      assert.equal(claude?.status, 402);
      assert.equal(claude.error?.type, 'error');
      assert.equal(claude.error?.error?.type, 'billing_error');
      assert.match(claude.error?.error?.message, /this API key's budget .* resets at 2026-12-01T16:00:00\.000Z/);
      const gemini = await genai(t, secret)
        .models.generateContent({ model: MODEL, contents: [{ role: 'user', parts: [{ text: 'three' }] }], config: { maxOutputTokens: 48 } })
        .then(() => null)
        .catch((e) => e);
      assert.ok(gemini, 'the Gemini client throws');
      assert.match(String(gemini.message), /402|FAILED_PRECONDITION/);
      assert.match(String(gemini.message), /this API key's budget/);

      // One second past midnight in Shanghai: a new day, a new budget.
      offset = at('2026-12-01T16:00:01Z') - Date.now();
      const next = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'four' }], max_tokens: 48 });
      assert.equal(next.usage?.completion_tokens, 48);
      assert.equal(await spentIn(t, `key:${key.id}`, '2026-12-01'), 96n * PER_TOKEN, 'the old day keeps what it spent');
      assert.equal(await spentIn(t, `key:${key.id}`, '2026-12-02'), 48n * PER_TOKEN, 'the new day counts from zero');
    });

    test("a team member's budget counts like the key's own, and its 402 names it", async () => {
      offset = at('2026-12-02T04:00:00Z') - Date.now(); // Wednesday, week 2026-W49
      const u = await seedUser(t, { balance: 1_000_000n });
      // TEAMS sets memberBudget on team keys' principals; here it is set on the cached principal of a plain key.
      const principal = await t.ctx.keys.authenticate(u.apiKey, '127.0.0.1');
      const ref = `member:team_demo:${u.user.id}`;
      principal.memberBudget = { ref, amount: 50n * PER_TOKEN, period: 'week' };
      const client = relaySdk(t, u.apiKey);
      await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'one' }], max_tokens: 48 });
      const refused = await client.chat.completions
        .create({ model: MODEL, messages: [{ role: 'user', content: 'two' }], max_tokens: 48 })
        .then(() => null)
        .catch((e) => e);
      assert.equal(refused?.status, 402);
      assert.equal(refused.code, 'budget_exceeded');
      assert.match(refused.message, /your budget as a member of team team_demo \(0\.05 per week\)/);
      assert.equal(refused.error?.details?.resets_at, '2026-12-06T16:00:00.000Z', "Monday's midnight in Shanghai");
      assert.equal(await spentIn(t, ref, '2026-W49'), 48n * PER_TOKEN);
      principal.memberBudget = null;
      t.ctx.keys.clear();
    });

    test('a settlement replayed (per-item retry, dead letters) adds to the budget once', async () => {
      offset = 0;
      const u = await seedUser(t, { balance: 1_000_000n });
      const { key, secret } = await createApiKey(t.ctx.db, { userId: u.user.id, name: 'replayed', budget: 1_000_000n, budgetPeriod: 'total' });
      const { response } = await relaySdk(t, secret)
        .chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'one' }], max_tokens: 16 })
        .withResponse();
      const row = await requestLogRow(t, response.headers.get('x-request-id'));
      const ref = `key:${key.id}`;
      assert.equal(await spentIn(t, ref, 'total'), 16n * PER_TOKEN);
      // The same request's settlement as a dead letter holds it (written, then read back), replayed twice.
      const id = newId('req');
      const item: SettlementItem = {
        requestId: id,
        walletId: `user:${u.user.id}`,
        keyId: key.id,
        keyLimited: false,
        budgets: [{ ref, periodKey: 'total' }],
        cost: 5n * PER_TOKEN,
        log: { ...row, id, cost: 5n * PER_TOKEN, held: toBig(row.held), charged_amount: 0n, uncollected: 0n, charged: 0, transfer_id: null },
      };
      const line = JSON.stringify({ item, error: 'test' }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
      const [replayed] = parseDeadLetters(`${line}\n`);
      assert.deepEqual(replayed.budgets, [{ ref, periodKey: 'total' }]);
      const once = await commitSettlementItemOnce(t.ctx.db, t.ctx.dialect, replayed);
      const twice = await commitSettlementItemOnce(t.ctx.db, t.ctx.dialect, { ...replayed, log: { ...replayed.log } });
      assert.equal(once.budgetSpent?.get(`${ref}\u0000total`), 21n * PER_TOKEN);
      assert.equal(twice.budgetSpent?.get(`${ref}\u0000total`), 21n * PER_TOKEN, 'the second replay is skipped and reads the spend back');
      assert.equal(await spentIn(t, ref, 'total'), 21n * PER_TOKEN);
    });

    test('keys get budgets through the API (create, change, remove) and the CLI', async () => {
      offset = 0;
      const u = await seedUser(t, { balance: 1_000_000n });
      const api = await signIn(t, u.email, u.password);
      const bad = await api('/api/keys', { method: 'POST', body: JSON.stringify({ name: 'b', budget: '1.00' }) });
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as any).error.code, 'invalid_budget');
      const created = await api('/api/keys', { method: 'POST', body: JSON.stringify({ name: 'b', budget: '0.02', budget_period: 'month' }) });
      assert.equal(created.status, 201);
      const k: any = await created.json();
      assert.equal(k.budget, '0.02');
      assert.equal(k.budget_period, 'month');
      assert.equal(k.budget_status.period_key, periodKey('month', Date.now(), TZ));
      const client = relaySdk(t, k.key);
      await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 16 });
      const refused = await client.chat.completions
        .create({ model: MODEL, messages: [{ role: 'user', content: 'again' }], max_tokens: 16 })
        .then(() => null)
        .catch((e) => e);
      assert.equal(refused?.code, 'budget_exceeded', 'the second request does not fit 0.02');
      // Raised: what the month spent stays counted against the new amount.
      await t.ctx.relay.flush();
      const patched = await api(`/api/keys/${k.id}`, { method: 'PATCH', body: JSON.stringify({ budget: '0.05', budget_period: 'month' }) });
      assert.equal(patched.status, 200);
      const p: any = await patched.json();
      assert.equal(p.budget, '0.05');
      assert.equal(p.budget_status.spent, '0.016000');
      await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'again' }], max_tokens: 16 });
      const removed = await api(`/api/keys/${k.id}`, { method: 'PATCH', body: JSON.stringify({ budget: null, budget_period: null }) });
      assert.equal(((await removed.json()) as any).budget, null);
      const list: any = await (await api('/api/keys')).json();
      assert.equal(list.data.find((x: any) => x.id === k.id).budget_status, null);

      const env = cliEnv(t.testDb.connectionUrl, t.config.secret);
      const made = json(await runTally(env, 'key', 'create', '--user', u.email, '--budget', '5.00', '--budget-period', 'day', '--json'));
      assert.equal(made.budget, '5.00');
      assert.equal(made.budget_period, 'day');
      const set = json(await runTally(env, 'key', 'set-budget', '--key', made.id, '--budget', '2.50', '--budget-period', 'total', '--json'));
      assert.equal(set.budget, '2.50');
      assert.equal(set.budget_period, 'total');
      const wrong = await runTally(env, 'key', 'create', '--user', u.email, '--budget', '5.00', '--budget-period', 'fortnight', '--json');
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stdout + wrong.stderr, /invalid_budget|budget_period/);
    });
  });
}
