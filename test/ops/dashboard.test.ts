// The operator dashboard against real traffic: top-ups through the sandbox
// provider, a redeem code, requests relayed through the official openai SDK to
// the mock upstream, a refund, a compensation and a manual credit. The
// dashboard's figures for the day must equal what the ledger's system accounts
// moved (read here from the stored transfers, not through src/ops); each
// breakdown must add up to the totals; the request search filters, pages and
// masks for support; the public price list applies the group multiplier.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startPayWorld, customer, order, json, admin, sandboxPay, assertLedgerOk, type PayWorld, type Customer } from '../payments/helpers.ts';
import { seedUser, signIn } from '../helpers/tally.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { relaySdk, requestLogRow } from '../helpers/relay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { SYSTEM_ACCOUNTS, formatMoney, parseMoney, toBig } from '../../src/ledger/index.ts';

const UPSTREAM_KEY = 'sk-upstream-dashboard-0123456789ab';
const PRICED = 'gpt-4o-mini'; // has an upstream cost: its margin is known
const UNPRICED = 'gpt-4o'; // has none: its margin is unknown, not zero
const today = () => new Date().toISOString().slice(0, 10); // TALLY_TIMEZONE is UTC here

/** What one system account moved in a window, straight from the transfers: credits − debits. */
async function netFlow(w: PayWorld, account: string, lo: number, hi: number): Promise<bigint> {
  const rows = await w.t.ctx.db
    .selectFrom('ledger_transfers')
    .select(['debit_account_id', 'credit_account_id', 'amount'])
    .where('created_at', '>=', lo)
    .where('created_at', '<', hi)
    .execute();
  let net = 0n;
  for (const r of rows) {
    if (r.credit_account_id === account) net += toBig(r.amount);
    if (r.debit_account_id === account) net -= toBig(r.amount);
  }
  return net;
}

for (const dialect of testDialects()) {
  describe(`operator dashboard on ${dialect}`, () => {
    let w: PayWorld;
    let mock: MockOpenAI;
    let a: Customer;
    let b: Customer;
    let aKey: { secret: string; display: string };
    const requestIds: string[] = [];

    before(async () => {
      w = await startPayWorld(dialect);
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null });
      await createChannel(w.t.ctx.db, w.t.config.secret, {
        name: 'mock-primary',
        type: 'openai',
        baseUrl: mock.url,
        apiKey: UPSTREAM_KEY,
        models: [PRICED, UNPRICED],
      });
      await setModelPrice(w.t.ctx.db, { model: UNPRICED, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n });
      // The priced model and its upstream cost through the admin API, as an operator sets them.
      await json(
        await admin(w.t, 'POST', '/api/admin/models', { model: PRICED, input: '0.60', output: '2.40', upstream_input: '0.15', upstream_output: '0.60' }),
      );
      await w.t.ctx.catalog.reload();

      // Top-ups: A pays 10.00 in the sandbox; B redeems a 5.00 code.
      a = await customer(w.t, { email: 'alice.dashboard@example.com' });
      b = await customer(w.t, { email: 'bob.dashboard@example.com' });
      const o = await order(a, { amount: '10.00' });
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      const batch = await json(await admin(w.t, 'POST', '/api/admin/redeem/batches', { count: 1, amount: '5.00' }), 201);
      await json(await b.f('/api/redeem', { method: 'POST', body: JSON.stringify({ code: batch.codes[0].code }) }));

      // Traffic through the official SDK: both models, stream and not.
      const ka = await createApiKey(w.t.ctx.db, { userId: a.userId, name: 'dash-a' });
      aKey = { secret: ka.secret, display: ka.key.display };
      const kb = await createApiKey(w.t.ctx.db, { userId: b.userId, name: 'dash-b' });
      const messages = [{ role: 'user' as const, content: 'Summarise double-entry bookkeeping in a few words' }];
      for (const [key, model, stream] of [
        [ka.secret, PRICED, false],
        [ka.secret, PRICED, true],
        [ka.secret, UNPRICED, false],
        [kb.secret, PRICED, false],
        [kb.secret, UNPRICED, true],
      ] as const) {
        const sdk = relaySdk(w.t, key);
        if (stream) {
          const { data, response } = await sdk.chat.completions
            .create({ model, messages, stream: true, stream_options: { include_usage: true } })
            .withResponse();
          for await (const _ of data);
          requestIds.push(response.headers.get('x-request-id')!);
        } else {
          const { response } = await sdk.chat.completions.create({ model, messages }).withResponse();
          requestIds.push(response.headers.get('x-request-id')!);
        }
      }
      // One request the upstream refuses: logged with its status, charged nothing.
      mock.setBehavior({ fail: 500, failFirstN: 1 });
      const failed = await relaySdk(w.t, kb.secret)
        .chat.completions.create({ model: PRICED, messages })
        .catch((e) => e);
      assert.ok(failed instanceof Error);
      mock.setBehavior({});
      for (const id of requestIds) assert.ok(await requestLogRow(w.t, id));
      await w.t.ctx.relay.flush();

      // A refund of part of A's order, a compensation to B, a manual credit to A.
      await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { amount: '2.00', reason: 'requested_by_customer' }));
      await json(await admin(w.t, 'POST', `/api/admin/users/${b.userId}/compensate`, { amount: '1.50', reason: 'outage credit', ticket: 'TCK-9' }));
      await json(await admin(w.t, 'POST', `/api/admin/users/${a.userId}/credit`, { amount: '3.00', reason: 'goodwill' }));
    });
    after(async () => {
      if (w) await assertLedgerOk(w.t);
      await w?.close();
      await mock?.close();
    });

    test("the day's totals equal what the ledger's system accounts moved that day", async () => {
      const s = await json(await admin(w.t, 'GET', `/api/admin/stats?from=${today()}&to=${today()}&by=day`));
      assert.equal(s.timezone, 'UTC');
      assert.equal(s.rows.length, 1);
      const lo = Date.parse(`${today()}T00:00:00Z`);
      const hi = lo + 86_400_000;
      const expect = {
        topups: -(await netFlow(w, SYSTEM_ACCOUNTS.paymentsIn, lo, hi)),
        redemptions: -(await netFlow(w, SYSTEM_ACCOUNTS.redeem, lo, hi)),
        spend: await netFlow(w, SYSTEM_ACCOUNTS.usageRevenue, lo, hi),
        uncollected: -(await netFlow(w, SYSTEM_ACCOUNTS.uncollected, lo, hi)),
        refunds: await netFlow(w, SYSTEM_ACCOUNTS.refundsOut, lo, hi),
        compensation: -(await netFlow(w, SYSTEM_ACCOUNTS.compensation, lo, hi)),
        manual: -(await netFlow(w, SYSTEM_ACCOUNTS.manual, lo, hi)),
      };
      for (const [k, v] of Object.entries(expect)) {
        assert.equal(s.totals[k], formatMoney(v), `${k}: dashboard ${s.totals[k]}, ledger ${formatMoney(v)}`);
        assert.equal(s.rows[0][k], formatMoney(v), `${k} of the day`);
      }
      // And the business events themselves, so an empty ledger could not pass.
      assert.equal(s.totals.topups, '10.00');
      assert.equal(s.totals.redemptions, '5.00');
      assert.equal(s.totals.refunds, '2.00');
      assert.equal(s.totals.compensation, '1.50');
      assert.equal(s.totals.manual, '3.00');
      const logs = await w.t.ctx.db.selectFrom('request_logs').select(['cost', 'model', 'status']).execute();
      assert.equal(logs.length, requestIds.length + 1);
      assert.equal(s.totals.spend, formatMoney(logs.reduce((x, r) => x + toBig(r.cost), 0n)));
      assert.ok(toBig(expect.spend) > 0n);
      assert.equal(s.totals.requests, requestIds.length + 1);
    });

    for (const by of ['model', 'channel', 'group', 'user'] as const) {
      test(`by=${by}: the rows add up to the totals`, async () => {
        const s = await json(await admin(w.t, 'GET', `/api/admin/stats?from=${today()}&to=${today()}&by=${by}`));
        const sum = s.rows.reduce((x: bigint, r: any) => x + parseMoney(r.spend), 0n);
        assert.equal(formatMoney(sum), s.totals.spend, `${by} rows sum to the spend`);
        assert.equal(s.unattributed_spend, '0.00');
        assert.equal(
          s.rows.reduce((x: number, r: any) => x + r.requests, 0),
          s.totals.requests,
        );
        if (by === 'channel')
          assert.deepEqual(
            s.rows.map((r: any) => r.label),
            ['mock-primary'],
          );
        if (by === 'group')
          assert.deepEqual(
            s.rows.map((r: any) => r.key),
            ['default'],
          );
        if (by === 'user') assert.deepEqual(new Set(s.rows.map((r: any) => r.label)), new Set([a.email, b.email]));
      });
    }

    test('margin: known for the model with an upstream cost, unknown (not zero) for the one without', async () => {
      const s = await json(await admin(w.t, 'GET', `/api/admin/stats?from=${today()}&to=${today()}&by=model`));
      const row = (m: string) => s.rows.find((r: any) => r.key === m);
      const logs = await w.t.ctx.db.selectFrom('request_logs').selectAll().where('model', '=', PRICED).execute();
      const prompt = logs.reduce((x, r) => x + toBig(r.prompt_tokens), 0n);
      const completion = logs.reduce((x, r) => x + toBig(r.completion_tokens), 0n);
      const spend = logs.reduce((x, r) => x + toBig(r.cost), 0n);
      const upstream = (prompt * 150_000n + completion * 600_000n + 999_999n) / 1_000_000n;
      assert.ok(prompt > 0n && completion > 0n);
      assert.equal(row(PRICED).upstream_cost, formatMoney(upstream));
      assert.equal(row(PRICED).margin, formatMoney(spend - upstream));
      assert.equal(row(UNPRICED).margin, null);
      assert.equal(row(UNPRICED).upstream_cost, null);
      // The totals' margin covers the priced part and says how much spend it does not cover.
      assert.equal(s.totals.margin, formatMoney(spend - upstream));
      assert.equal(s.totals.unpriced_spend, row(UNPRICED).spend);
    });

    test('top spenders come from the ledger, largest first, named', async () => {
      const s = await json(await admin(w.t, 'GET', `/api/admin/stats?from=${today()}&to=${today()}`));
      const spent = async (userId: string) =>
        (await w.t.ctx.db.selectFrom('request_logs').select('charged_amount').where('user_id', '=', userId).execute()).reduce(
          (x, r) => x + toBig(r.charged_amount),
          0n,
        );
      const expected = [
        { label: a.email, spend: await spent(a.userId) },
        { label: b.email, spend: await spent(b.userId) },
      ].sort((x, y) => (x.spend > y.spend ? -1 : 1));
      assert.deepEqual(
        s.top_spenders.map((t: any) => ({ label: t.label, spend: t.spend })),
        expected.map((e) => ({ label: e.label, spend: formatMoney(e.spend) })),
      );
    });

    test('bad ranges are refused with a code that says what to fix', async () => {
      for (const [qs, code] of [
        ['', 'invalid_stats_range'],
        ['from=2026-01-01&to=2026-12-31', 'invalid_stats_range'],
        ['from=2026-02-30&to=2026-03-01', 'invalid_stats_range'],
        ['from=2026-03-02&to=2026-03-01', 'invalid_stats_range'],
        [`from=${today()}&to=${today()}&by=week`, 'invalid_stats_grouping'],
      ]) {
        const r = await json(await admin(w.t, 'GET', `/api/admin/stats?${qs}`), 400);
        assert.equal(r.error.code, code, qs);
      }
    });

    test('request search: by id, key tail, model, status, user; keyset pages cover every row once', async () => {
      const q = async (qs: string) => json(await admin(w.t, 'GET', `/api/admin/requests?${qs}`));
      const one = await q(`request_id=${requestIds[2]}`);
      assert.deepEqual(
        one.data.map((r: any) => r.id),
        [requestIds[2]],
      );
      assert.equal(one.data[0].model, UNPRICED);
      assert.equal(one.data[0].user_email, a.email, 'admins see the e-mail whole');
      assert.equal('client_ip' in one.data[0], false, 'client IPs are left out');
      const tail = aKey.display.slice(-4);
      const byKey = await q(`key_tail=${tail}`);
      assert.deepEqual(
        byKey.data.map((r: any) => r.id),
        requestIds.slice(0, 3).reverse(),
      );
      const byModel = await q(`model=${UNPRICED}`);
      assert.deepEqual(new Set(byModel.data.map((r: any) => r.id)), new Set([requestIds[2], requestIds[4]]));
      const errors = await q('status=error');
      assert.equal(errors.data.length, 1);
      assert.ok(errors.data[0].status >= 500 && errors.data[0].charged === false);
      const byUser = await q(`user=${encodeURIComponent(b.email)}&status=200`);
      assert.deepEqual(
        byUser.data.map((r: any) => r.id),
        requestIds.slice(3).reverse(),
      );
      const all = (await q('limit=200')).data.map((r: any) => r.id);
      assert.equal(all.length, requestIds.length + 1);
      const paged: string[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < 10; i++) {
        const p: any = await q(`limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        paged.push(...p.data.map((r: any) => r.id));
        cursor = p.next_cursor;
        if (!cursor) break;
      }
      assert.deepEqual(paged, all, 'pages in order, no row twice, none missed');
      for (const [qs, code] of [
        ['cursor=nope', 'invalid_cursor'],
        ['status=777', 'invalid_status'],
        ['from=yesterday', 'invalid_time'],
        ['from=2026-01-01&to=2026-12-31', 'invalid_time'],
      ])
        assert.equal((await json(await admin(w.t, 'GET', `/api/admin/requests?${qs}`), 400)).error.code, code, qs);
    });

    test('support searches with e-mails masked and no client IPs, and may not see the money dashboard', async () => {
      const s = await seedUser(w.t, { role: 'support' });
      const f = await signIn(w.t, s.email, s.password);
      const r = await json(await f(`/api/admin/requests?request_id=${requestIds[0]}`));
      assert.equal(r.data.length, 1);
      assert.notEqual(r.data[0].user_email, a.email);
      assert.ok(!r.data[0].user_email.includes('alice.dashboard'), r.data[0].user_email);
      assert.equal('client_ip' in r.data[0], false);
      assert.equal((await json(await f(`/api/admin/stats?from=${today()}&to=${today()}`), 403)).error.code, 'forbidden');
      const u = await seedUser(w.t);
      const fu = await signIn(w.t, u.email, u.password);
      assert.equal((await fu('/api/admin/requests')).status, 403);
      assert.equal((await fetch(`${w.t.url}/api/admin/requests`)).status, 401);
    });

    test("the price list: the default group's prices for a visitor, the signed-in user's group's prices with its multiplier", async () => {
      const anon = await json(await fetch(`${w.t.url}/api/pricing`));
      assert.equal(anon.signed_in, false);
      assert.equal(anon.group.name, 'default');
      const line = (l: any, m: string) => l.models.find((x: any) => x.model === m);
      assert.equal(line(anon, UNPRICED).input_per_1m, '2.50');
      assert.equal(line(anon, PRICED).output_per_1m, '2.40');
      assert.equal('upstream_input_per_1m' in line(anon, PRICED), false, 'upstream costs are the operator’s, never public');
      await json(await admin(w.t, 'POST', '/api/admin/groups', { name: 'vip', multiplier: '0.8' }));
      await w.t.ctx.catalog.reload();
      const v = await seedUser(w.t, { group: 'vip' });
      const fv = await signIn(w.t, v.email, v.password);
      const vip = await json(await fv('/api/pricing'));
      assert.equal(vip.signed_in, true);
      assert.deepEqual(vip.group, { name: 'vip', multiplier: '0.8' });
      assert.equal(line(vip, UNPRICED).input_per_1m, '2.00');
      assert.equal(line(vip, UNPRICED).output_per_1m, '8.00');
      assert.equal(line(vip, PRICED).input_per_1m, '0.48');
      const html = await (await fv('/pricing')).text();
      assert.match(html, /vip/);
      assert.match(html, /<code>gpt-4o<\/code><\/th><td>chat<\/td><td>2\.00<\/td><td>8\.00<\/td>/);
      const page = await fetch(`${w.t.url}/pricing`);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      const text = await page.text();
      assert.doesNotMatch(text, /<script/i, 'the page needs no JavaScript');
      assert.match(text, /模型价格/);
      assert.match(text, /Model prices/);
      assert.match(text, /<code>gpt-4o<\/code><\/th><td>chat<\/td><td>2\.50<\/td><td>10\.00<\/td>/);
    });
  });
}
