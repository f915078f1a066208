// One scenario per case class, each built from real records through the
// public paths (orders and the sandbox provider, redeem, relay requests
// against the mock upstream), asserting the class, the cause and the evidence.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { testDialects } from '../helpers/db.ts';
import { seedUser, signIn } from '../helpers/tally.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { signSandbox, SANDBOX_SIGNATURE_HEADER } from '../../src/payments/providers/sandbox.ts';
import { listAudit } from '../../src/support/audit.ts';
import { verifyLedger } from '../../src/ledger/verify.ts';
import { startPayWorld, customer, order, json, balance, admin, sandboxPay, type PayWorld } from '../payments/helpers.ts';

const CHAT = 'gpt-4o-mini';
const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';

for (const dialect of testDialects()) {
  describe(`billing doctor on ${dialect}`, () => {
    let w: PayWorld;
    let mock: MockOpenAI;
    const diagnose = async (c: { f: (p: string) => Promise<Response> }, q = '') => json(await c.f(`/api/support/diagnose${q}`));
    const ofClass = (d: any, cls: string) => d.cases.filter((c: any) => c.class === cls);

    before(async () => {
      w = await startPayWorld(dialect);
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null });
      await createChannel(w.t.ctx.db, w.t.config.secret, { name: 'primary', type: 'openai', baseUrl: mock.url, apiKey: UPSTREAM_KEY, models: [CHAT] });
      await setModelPrice(w.t.ctx.db, { model: CHAT, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n, maxOutputTokens: 4096 });
      await w.t.ctx.catalog.reload();
    });
    after(async () => {
      try {
        await w.t.ctx.relay.flush();
        const r = await verifyLedger(w.t.ctx.db, { graceMs: 60_000 });
        assert.ok(r.ok, JSON.stringify(r.checks.filter((c) => !c.ok)));
      } finally {
        await w?.close();
        await mock?.close();
      }
    });

    test('payment_failed: a declined payment is classified with its reason, and nothing was credited', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '3.00', provider: 'sandbox' });
      await json(await sandboxPay(w.t, o.id, 'fail'));
      const d = await diagnose(c);
      const [k] = ofClass(d, 'payment_failed');
      assert.ok(k, JSON.stringify(d.cases));
      assert.match(k.cause.en, /declined/);
      assert.match(k.cause.zh, /支付渠道/);
      assert.equal(k.records.orders[0].id, o.id);
      assert.ok(k.records.orders[0].timeline.some((e: any) => e.to === 'failed'));
      assert.equal(k.help.url, '/help/payment-order-refund-redeem');
      assert.equal(d.balance.balance, '0.00');
    });

    test('order_processing: the provider has not confirmed; "check with the provider now" credits it exactly once, audited', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '5.00', provider: 'sandbox' });
      await json(await sandboxPay(w.t, o.id, 'never')); // the provider took the money, the callback never came
      const d = await diagnose(c);
      const [k] = ofClass(d, 'order_processing');
      assert.ok(k, JSON.stringify(d.cases));
      assert.match(k.cause.en, /not confirmed/);
      assert.equal(k.fix.action, 'check_with_provider');
      assert.equal(k.fix.path, `/api/support/orders/${o.id}/check`);
      const r1 = await json(await c.f(k.fix.path, { method: 'POST' } as any));
      assert.equal(r1.result, 'credited');
      const r2 = await json(await c.f(k.fix.path, { method: 'POST' } as any));
      assert.equal(r2.result, 'nothing_to_check');
      assert.equal(await balance(w.t, c.userId), '5.00');
      const audit = await listAudit(w.t.ctx.db, { target: o.id, action: 'payment.check_with_provider' });
      assert.equal(audit.length, 1);
      assert.deepEqual([audit[0].before.status, audit[0].after.status], ['pending', 'credited']);
      assert.equal(ofClass(await diagnose(c), 'order_processing').length, 0);
    });

    test('paid_not_credited: the callback arrived but the amount did not match, so the order was flagged', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '20.00', provider: 'sandbox' });
      // The provider's notice says 2.00 for a 20.00 order (signed as the sandbox provider signs).
      const body = JSON.stringify({ order_id: o.id, trade_id: 'sbt_mismatch0000000001', status: 'paid', amount: '2.00', currency: o.currency });
      const res = await fetch(`${w.t.url}/api/payments/sandbox/notify`, { method: 'POST', headers: { 'content-type': 'application/json', [SANDBOX_SIGNATURE_HEADER]: signSandbox(w.t.config.secret, body) }, body });
      assert.ok(res.status < 500, await res.text());
      const d = await diagnose(c, `?amount=20.00`);
      const [k] = ofClass(d, 'paid_not_credited');
      assert.ok(k, JSON.stringify(d.cases));
      assert.match(k.cause.en, /amount did not match/);
      assert.match(k.cause.zh, /金额与订单不符/);
      assert.ok(k.evidence.some((e: string) => /flagged/.test(e) || /2\.00/.test(e)), JSON.stringify(k.evidence));
      assert.equal(await balance(w.t, c.userId), '0.00');
    });

    test('paid_not_credited: the order belongs to another of the person\'s accounts (masked email)', async () => {
      const payer = await customer(w.t);
      const o = await order(payer, { amount: '6.00', provider: 'sandbox' });
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      const other = await customer(w.t);
      const d = await diagnose(other, `?reference=${o.id.slice(-8)}&problem=paid_not_credited`);
      const [k] = ofClass(d, 'paid_not_credited');
      assert.ok(k, JSON.stringify(d.cases));
      assert.equal(k.identity.order_account.split('@')[1], payer.email.split('@')[1]);
      assert.match(k.identity.order_account, /\*\*\*/);
      assert.ok(!JSON.stringify(d).includes(payer.email), 'the other account is only shown masked');
      assert.ok(!JSON.stringify(d).includes(o.id), 'the other account\'s order id is only shown by its tail');
    });

    test('duplicate_payment: a second payment for a credited order is not credited and waits for a refund decision', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '8.00', provider: 'sandbox' });
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      await json(await sandboxPay(w.t, o.id, 'pay_again'));
      const d = await diagnose(c);
      const [k] = ofClass(d, 'duplicate_payment');
      assert.ok(k, JSON.stringify(d.cases));
      assert.match(k.cause.en, /second payment/);
      assert.ok(k.evidence.some((e: string) => /duplicate trade/.test(e)));
      assert.equal(await balance(w.t, c.userId), '8.00');
    });

    test('refund_or_compensation: a refund and a compensation are both explained from the records', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '9.00', provider: 'sandbox' });
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { reason: 'requested_by_customer' }));
      await json(await admin(w.t, 'POST', `/api/admin/users/${c.userId}/compensate`, { amount: '1.00', reason: 'slow refund', ticket: 'tkt_demo' }));
      const d = await diagnose(c, '?problem=refund_or_compensation');
      const cases = ofClass(d, 'refund_or_compensation');
      assert.equal(cases.length, 2, JSON.stringify(d.cases));
      assert.ok(cases.some((k: any) => /original payment method/.test(k.cause.en) && k.records.refunds.length === 1));
      assert.ok(cases.some((k: any) => k.evidence.some((e: string) => /slow refund/.test(e) && /tkt_demo/.test(e))));
    });

    test('redeem_not_credited: the code was already redeemed by another account at a time (masked email)', async () => {
      const g = await json(await admin(w.t, 'POST', '/api/admin/redeem/batches', { count: 1, amount: '2.00' }), 201);
      const first = await customer(w.t);
      await json(await first.f('/api/redeem', { method: 'POST', body: JSON.stringify({ code: g.codes[0].code }) } as any));
      const late = await customer(w.t);
      const res = await late.f('/api/redeem', { method: 'POST', body: JSON.stringify({ code: g.codes[0].code }) } as any);
      assert.equal(res.status, 409);
      const d = await diagnose(late);
      const [k] = ofClass(d, 'redeem_not_credited');
      assert.ok(k, JSON.stringify(d.cases));
      assert.match(k.cause.en, /already redeemed by another account/);
      assert.match(k.identity.code_redeemed_by, /\*\*\*/);
      assert.ok(!JSON.stringify(d).includes(g.codes[0].code));
      // A mistyped code is told apart from a missing one.
      const typo = g.codes[0].code.slice(0, -1) + (g.codes[0].code.endsWith('A') ? 'B' : 'A');
      await late.f('/api/redeem', { method: 'POST', body: JSON.stringify({ code: typo }) } as any);
      const d2 = await diagnose(late);
      assert.ok(ofClass(d2, 'redeem_not_credited').some((c: any) => /mistyped/.test(c.cause.en)), JSON.stringify(d2.cases));
    });

    test('charged_for_failed_request: an upstream failure before any output was not charged (charged: false)', async () => {
      const u = await seedUser(w.t, { balance: 1_000_000n });
      const c = { f: await signIn(w.t, u.email, u.password) };
      mock.setBehavior({ fail: 500 });
      const sdk = new OpenAI({ baseURL: `${w.t.url}/v1`, apiKey: u.apiKey, maxRetries: 0 });
      await assert.rejects(sdk.chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'hi there' }] }));
      mock.setBehavior({});
      await w.t.ctx.relay.flush();
      const d = await diagnose(c, '?problem=charged_for_failed_request');
      const [k] = ofClass(d, 'charged_for_failed_request');
      assert.ok(k, JSON.stringify(d.cases));
      assert.match(k.cause.en, /not charged \(charged: false\)/);
      assert.equal(k.records.requests[0].charged, false);
      assert.equal(await balance(w.t, u.user.id), '1.00');
    });

    test('insufficient_balance: a 402 says which limit refused it (wallet)', async () => {
      const u = await seedUser(w.t);
      const c = { f: await signIn(w.t, u.email, u.password) };
      const sdk = new OpenAI({ baseURL: `${w.t.url}/v1`, apiKey: u.apiKey, maxRetries: 0 });
      await assert.rejects(sdk.chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'hi' }] }), (e: any) => e.status === 402);
      await w.t.ctx.relay.flush();
      const d = await diagnose(c);
      const [k] = ofClass(d, 'insufficient_balance');
      assert.ok(k, JSON.stringify(d.cases));
      assert.ok(k.evidence.includes('limit: wallet'));
      assert.equal(k.help.url, '/help/insufficient-balance-402');
    });

    test('unexpected_balance_drop: identical requests in a burst are shown as retries or a duplicate submission', async () => {
      const u = await seedUser(w.t, { balance: 2_000_000n });
      const c = { f: await signIn(w.t, u.email, u.password) };
      const sdk = new OpenAI({ baseURL: `${w.t.url}/v1`, apiKey: u.apiKey, maxRetries: 0 });
      for (let i = 0; i < 3; i++) await sdk.chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'same question again' }], max_tokens: 20 });
      await w.t.ctx.relay.flush();
      const d = await diagnose(c);
      const [k] = ofClass(d, 'unexpected_balance_drop');
      assert.ok(k, JSON.stringify(d.cases));
      assert.ok(k.evidence.some((e: string) => /3 identical requests/.test(e)), JSON.stringify(k.evidence));
    });

    test('a user cannot see another user\'s cases; support sees them with the IP masked', async () => {
      const a = await customer(w.t);
      const o = await order(a, { amount: '4.00', provider: 'sandbox' });
      await json(await sandboxPay(w.t, o.id, 'fail'));
      const b = await customer(w.t);
      assert.equal(ofClass(await diagnose(b), 'payment_failed').length, 0);
      const staff = await json(await admin(w.t, 'GET', `/api/admin/users/${a.userId}/diagnose`));
      assert.equal(ofClass(staff, 'payment_failed')[0].records.orders[0].id, o.id);
      assert.match(staff.user.account, /\*\*\*/);
      assert.equal((await b.f(`/api/admin/users/${a.userId}/diagnose`)).status, 403);
    });
  });
}
