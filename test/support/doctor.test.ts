// One scenario per case class, each built from real records through the
// public paths (orders and the sandbox provider, redeem, relay requests
// against the mock upstream), asserting the class, the cause and the evidence.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { testDialects } from '../helpers/db.ts';
import { seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { signSandbox, SANDBOX_SIGNATURE_HEADER } from '../../src/payments/providers/sandbox.ts';
import { listAudit } from '../../src/audit/index.ts';
import { maskEmail } from '../../src/accounts/users.ts';
import { DOCTOR_LIMITS } from '../../src/support/doctor/index.ts';
import { verifyLedger } from '../../src/ledger/verify.ts';
import { startRedeemTally, person, type Person } from '../redeem/helpers.ts';
import { startPayWorld, customer, order, json, balance, admin, sandboxPay, type PayWorld } from '../payments/helpers.ts';

const CHAT = 'gpt-4o-mini';
const ELSEWHERE = 'elsewhere.test';
const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';

for (const dialect of testDialects()) {
  describe(`billing doctor on ${dialect}`, () => {
    let w: PayWorld;
    let mock: MockOpenAI;
    const diagnose = async (c: { f: (p: string) => Promise<Response> }, q = '') => json(await c.f(`/api/support/diagnose${q}`));
    const ofClass = (d: any, cls: string) => d.cases.filter((c: any) => c.class === cls);
    // The other account in the cases below has an email at a domain of its own: a masked email keeps the
    // domain, so the domain appearing anywhere in a user's view would be a leak.
    // A customer at another domain (so a leak check cannot collide with the viewer's own masked e-mail),
    // signed in through customer() so the sandbox pay helper can act as the owner of their orders.
    const elsewhere = () => customer(w.t, { email: `p${Math.random().toString(36).slice(2, 10)}@${ELSEWHERE}` });

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
      const res = await fetch(`${w.t.url}/api/payments/sandbox/notify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SANDBOX_SIGNATURE_HEADER]: signSandbox(w.t.config.secret, body) },
        body,
      });
      assert.ok(res.status < 500, await res.text());
      const d = await diagnose(c, `?amount=20.00`);
      const [k] = ofClass(d, 'paid_not_credited');
      assert.ok(k, JSON.stringify(d.cases));
      assert.match(k.cause.en, /amount did not match/);
      assert.match(k.cause.zh, /金额与订单不符/);
      assert.ok(
        k.evidence.some((e: string) => /flagged/.test(e) || /2\.00/.test(e)),
        JSON.stringify(k.evidence),
      );
      assert.equal(await balance(w.t, c.userId), '0.00');
    });

    test("a user's reference to another account's order shows only that it belongs to another account", async () => {
      const payer = await elsewhere();
      const o = await order(payer, { amount: '6.00', provider: 'sandbox' });
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      const other = await customer(w.t);
      const d = await diagnose(other, `?reference=${o.id.slice(-8)}&problem=paid_not_credited`);
      const [k] = ofClass(d, 'paid_not_credited');
      assert.ok(k, JSON.stringify(d.cases));
      assert.equal(d.cases.length, 1, JSON.stringify(d.cases));
      assert.match(k.title.en, /belongs to another account/);
      assert.equal(k.identity.order_account, 'another_account');
      assert.deepEqual(k.records, {});
      assert.equal(k.fix, undefined);
      const text = JSON.stringify(d);
      for (const secret of [
        payer.email,
        maskEmail(payer.email),
        ELSEWHERE,
        '6.00 USD',
        '"6.00"',
        '"credited"',
        ', credited',
        'credited at',
        '"status"',
        'sandbox',
        o.created_at,
        o.id,
        o.id.slice(-9),
      ]) {
        assert.ok(!text.includes(secret), `the user's view shows nothing of the other account's order (${secret}): ${text}`);
      }
      // The whole id says the same, and no other hint changes the answer: it cannot confirm a guessed amount.
      const full = await diagnose(other, `?reference=${o.id}&problem=paid_not_credited`);
      assert.match(ofClass(full, 'paid_not_credited')[0].title.en, /belongs to another account/);
      const right = await diagnose(other, `?reference=${o.id.slice(-8)}&amount=6.00`);
      const wrong = await diagnose(other, `?reference=${o.id.slice(-8)}&amount=7.00`);
      assert.deepEqual(right.cases, wrong.cases);
      assert.equal(right.cases.length, 1);
      // A short tail (4 to 7 characters) is matched against the user's own records only.
      for (const n of [4, 6, 7]) {
        const s = await diagnose(other, `?reference=${o.id.slice(-n)}&amount=6.00&problem=paid_not_credited`);
        assert.deepEqual(s.cases, [], `a ${n}-character tail says nothing about other accounts`);
        assert.match(s.summary.en, /at least its last 8 characters/);
      }
    });

    test("a user's key tail is checked against their own keys only; staff see which account owns the key", async () => {
      const owner = await seedUser(w.t, { email: `k${Math.random().toString(36).slice(2, 10)}@${ELSEWHERE}` });
      const c = await customer(w.t);
      const [mine] = (await json(await c.f('/api/keys'))).data;
      const tail4 = owner.apiKey.slice(-4);
      const d = await diagnose(c, `?key=${tail4}&problem=insufficient_balance`);
      const [k] = ofClass(d, 'insufficient_balance');
      assert.ok(k, JSON.stringify(d.cases));
      assert.match(k.title.en, /not one of this account's keys/);
      assert.equal(k.identity.key_account, 'not_this_account');
      assert.ok(!JSON.stringify(d).includes(ELSEWHERE), JSON.stringify(d));
      // The same answer for a tail no key has: the doctor says nothing about other accounts' keys.
      const none = await diagnose(c, '?key=zzzz&problem=insufficient_balance');
      assert.equal(ofClass(none, 'insufficient_balance')[0].cause.en, k.cause.en.replaceAll(tail4, 'zzzz'));
      assert.deepEqual(
        (await diagnose(c, `?key=${mine.display.slice(-4)}&problem=insufficient_balance`)).cases,
        [],
        "a key of this account is not another account's",
      );
      const staff = await json(await admin(w.t, 'GET', `/api/admin/users/${c.userId}/diagnose?key=${tail4}&problem=insufficient_balance`));
      assert.equal(ofClass(staff, 'insufficient_balance')[0].identity.key_account, maskEmail(owner.email));
    });

    test("staff see another account's order in full, the email masked for support", async () => {
      const payer = await customer(w.t);
      const o = await order(payer, { amount: '6.50', provider: 'sandbox' });
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      const other = await customer(w.t);
      const q = `?reference=${o.id.slice(-6)}&problem=paid_not_credited`;
      const d = await json(await admin(w.t, 'GET', `/api/admin/users/${other.userId}/diagnose${q}`));
      const [k] = ofClass(d, 'paid_not_credited');
      assert.ok(k, JSON.stringify(d.cases));
      assert.equal(k.identity.order_account, maskEmail(payer.email));
      assert.match(k.cause.en, /6\.50/);
      assert.match(k.cause.en, /credited/);
      assert.equal(k.records.orders[0].status, 'credited');
      assert.ok(!JSON.stringify(d).includes(payer.email), 'the other account is only shown masked');
      assert.ok(!JSON.stringify(d).includes(o.id), "the other account's order id is only shown by its tail");
      const s = await seedUser(w.t, { role: 'support' });
      const sup = await signIn(w.t, s.email, s.password);
      const bySupport = await json(await sup(`/api/admin/users/${other.userId}/diagnose${q}`));
      assert.equal(ofClass(bySupport, 'paid_not_credited')[0].identity.order_account, maskEmail(payer.email));
      assert.ok(!JSON.stringify(bySupport).includes(payer.email));
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
      const first = await elsewhere();
      await json(await first.f('/api/redeem', { method: 'POST', body: JSON.stringify({ code: g.codes[0].code }) } as any));
      const late = await customer(w.t);
      const res = await late.f('/api/redeem', { method: 'POST', body: JSON.stringify({ code: g.codes[0].code }) } as any);
      assert.equal(res.status, 409);
      const d = await diagnose(late);
      const [k] = ofClass(d, 'redeem_not_credited');
      assert.ok(k, JSON.stringify(d.cases));
      assert.match(k.cause.en, /already redeemed by another account/);
      // The user is told that much and no more: not which account, when or how much.
      assert.equal(k.identity.code_redeemed_by, 'another_account');
      const redeemedAt = (await w.t.ctx.db.selectFrom('redeem_redemptions').select('created_at').where('user_id', '=', first.userId).executeTakeFirstOrThrow())
        .created_at;
      for (const secret of [g.codes[0].code, maskEmail(first.email), ELSEWHERE, new Date(Number(redeemedAt)).toISOString(), 'for 2.00', 'the 2.00', '"2.00"'])
        assert.ok(!JSON.stringify(d).includes(secret), secret);
      // Staff see which account, masked.
      const staff = await json(await admin(w.t, 'GET', `/api/admin/users/${late.userId}/diagnose?problem=redeem_not_credited`));
      assert.equal(ofClass(staff, 'redeem_not_credited')[0].identity.code_redeemed_by, maskEmail(first.email));
      // Someone who never typed the code learns nothing of it from its last 4 characters.
      const third = await customer(w.t);
      const d3 = await diagnose(third, `?reference=${g.codes[0].code.slice(-4)}&problem=redeem_not_credited`);
      assert.ok(!JSON.stringify(d3).includes(ELSEWHERE) && !JSON.stringify(d3).includes('code_redeemed_by'), JSON.stringify(d3));
      assert.match(ofClass(d3, 'redeem_not_credited')[0].cause.en, /No code ending .* on this account/);
      // A mistyped code is told apart from a missing one.
      const typo = g.codes[0].code.slice(0, -1) + (g.codes[0].code.endsWith('A') ? 'B' : 'A');
      await late.f('/api/redeem', { method: 'POST', body: JSON.stringify({ code: typo }) } as any);
      const d2 = await diagnose(late);
      assert.ok(
        ofClass(d2, 'redeem_not_credited').some((c: any) => /mistyped/.test(c.cause.en)),
        JSON.stringify(d2.cases),
      );
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
      for (let i = 0; i < 3; i++)
        await sdk.chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'same question again' }], max_tokens: 20 });
      await w.t.ctx.relay.flush();
      const d = await diagnose(c);
      const [k] = ofClass(d, 'unexpected_balance_drop');
      assert.ok(k, JSON.stringify(d.cases));
      assert.ok(
        k.evidence.some((e: string) => /3 identical requests/.test(e)),
        JSON.stringify(k.evidence),
      );
    });

    test('request records carry each count billed, the prices and the arithmetic of the charge', async () => {
      const u = await seedUser(w.t, { balance: 2_000_000n });
      const c = { f: await signIn(w.t, u.email, u.password) };
      const sdk = new OpenAI({ baseURL: `${w.t.url}/v1`, apiKey: u.apiKey, maxRetries: 0 });
      mock.setBehavior({ usageOverride: { prompt_tokens: 1001, completion_tokens: 7, cached_tokens: 600 } });
      try {
        for (let i = 0; i < 3; i++) await sdk.chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'the cached question' }] });
      } finally {
        mock.setBehavior({});
      }
      await w.t.ctx.relay.flush();
      const [k] = ofClass(await diagnose(c, '?problem=unexpected_balance_drop'), 'unexpected_balance_drop');
      assert.ok(k, 'the burst is a case');
      const r = k.records.requests[0];
      assert.deepEqual([r.prompt_tokens, r.cached_tokens, r.cache_write_tokens, r.cache_write_1h_tokens, r.completion_tokens], [1001, 600, 0, 0, 7]);
      assert.equal(r.pricing.input_per_1m, '2.50');
      assert.equal(r.pricing.cached_input_per_1m, null, 'no cached price: reads were billed at the input price');
      assert.equal(r.pricing.cache_write_per_1m, null);
      assert.equal(r.explanation, '(401 input x 2.50/1M + 600 cached x 2.50/1M + 7 output x 10.00/1M) x 1.00 = 0.002573 (rounded up to the micro-unit)');
      assert.equal(r.cost, '0.002573');
    });

    test("a user cannot see another user's cases; support sees them with the IP masked", async () => {
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

    /** A paid order of another account, the newest of all and the only one with its amount: what a wildcard probe would find. */
    const victimOrder = async (amount: string) => {
      const v = await elsewhere();
      const o = await order(v, { amount, provider: 'sandbox' });
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      return { v, o };
    };
    const refused = async (res: Response, code: string) => {
      const body = await json(res, 400);
      assert.equal(body.error.code, code);
      return body;
    };

    test("a reference of four underscores with an amount finds nothing of another user's order (400 invalid_reference)", async () => {
      const { o } = await victimOrder('13.37');
      const probe = await customer(w.t);
      for (const q of [
        '?reference=____&amount=13.37',
        '?reference=____',
        `?reference=${'_'.repeat(8)}&amount=13.37&problem=paid_not_credited`,
        '?reference=ord_____&amount=13.37',
      ]) {
        const body = await refused(await probe.f(`/api/support/diagnose${q}`), 'invalid_reference');
        assert.match(body.error.message, /letters and digits/);
        assert.ok(!JSON.stringify(body).includes(ELSEWHERE) && !JSON.stringify(body).includes(o.id.slice(-6)));
      }
      // Staff hints are read the same way.
      await refused(await admin(w.t, 'GET', `/api/admin/users/${probe.userId}/diagnose?reference=____&amount=13.37`), 'invalid_reference');
    });

    test("a reference with % finds nothing of another user's order either; other junk is refused with a clear code", async () => {
      await victimOrder('13.38');
      const probe = await customer(w.t);
      for (const ref of ['%25%25%25%25', 'ab%25', '%2512', '1234%25', 'hello%20world', 'abcu', 'ab%5Ccd', 'TALLY-7K3M-Q9XD-2VHT-A8NP-R4C6']) {
        const body = await refused(await probe.f(`/api/support/diagnose?reference=${ref}&amount=13.38`), 'invalid_reference');
        assert.ok(!JSON.stringify(body).includes(ELSEWHERE));
      }
      await refused(await probe.f('/api/support/diagnose?key=a%25_b'), 'invalid_key_hint');
      // What people copy from a receipt or a card is still read: a masked tail, a code's display form, I/L/O for 1/0.
      for (const ref of ['%E2%80%A6ab12cd', '***ab12', '...ab12', 'TALLY-****-****-****-****-R4C6', 'AB1O', 'ord_01jv0000000000000000000000']) {
        await json(await probe.f(`/api/support/diagnose?reference=${ref}`));
      }
      const d = await diagnose(probe, '?reference=%E2%80%A6AbIo');
      assert.equal(d.hints.reference, 'ab10');
    });

    test("a ticket created by a user stores no detail of another account's order", async () => {
      const { o } = await victimOrder('14.41');
      const c = await customer(w.t);
      const leaks = (t: string) => [ELSEWHERE, '14.41 USD', '"14.41"', o.created_at].filter((s) => t.includes(s));
      // Four underscores and the amount: on the original code the doctor found the newest order with that amount.
      const t1 = await json(
        await c.f('/api/tickets', {
          method: 'POST',
          body: JSON.stringify({ subject: 'not credited', message: 'help', reference: '____', amount: '14.41' }),
        } as any),
        201,
      );
      // The whole id: the user's view, "belongs to another account" and no more.
      const t2 = await json(
        await c.f('/api/tickets', { method: 'POST', body: JSON.stringify({ subject: 'not credited', message: 'help', reference: o.id }) } as any),
        201,
      );
      for (const id of [t1.ticket.id, t2.ticket.id]) {
        const row = await w.t.ctx.db.selectFrom('support_tickets').select('diagnosis').where('id', '=', id).executeTakeFirstOrThrow();
        assert.deepEqual(leaks(row.diagnosis ?? ''), [], row.diagnosis ?? '');
        assert.deepEqual(
          leaks(JSON.stringify((await json(await admin(w.t, 'GET', `/api/admin/tickets/${id}`))).diagnosis)),
          [],
          'nor does the ticket support reads',
        );
      }
      assert.ok(
        t2.ticket.diagnosis.cases.some((k: any) => /belongs to another account/.test(k.title.en)),
        JSON.stringify(t2.ticket.diagnosis.cases),
      );
    });
  });

  describe(`billing doctor limits on ${dialect}`, () => {
    // Each person comes from an address of their own (X-Forwarded-For from loopback is trusted here).
    let t: TestTally;
    before(async () => {
      t = await startRedeemTally(dialect);
    });
    after(async () => {
      await t?.close();
    });
    const run = (p: Person, q = '') => p.f(`/api/support/diagnose${q}`);

    test('the doctor is rate-limited per user: past the limit it answers 429 rate_limited with retry-after; staff are not limited', async () => {
      const p = await person(t);
      // Refused hints count too: a malformed guess is still a guess.
      for (let i = 0; i < DOCTOR_LIMITS.perUserPerMinute; i++) await json(await run(p, i % 2 ? '?reference=abcd' : '?reference=____'), i % 2 ? 200 : 400);
      const res = await run(p, '?reference=abcd');
      const body = await json(res, 429);
      assert.equal(body.error.code, 'rate_limited');
      const wait = Number(res.headers.get('retry-after'));
      assert.ok(wait >= 1 && wait <= 60, `retry-after ${wait}`);
      assert.match(body.error.message, /try again in \d+ s/);
      // Another account at the same address still runs it; staff look at the limited user freely.
      await json(await run(await person(t, p.ip)));
      for (let i = 0; i < 3; i++) await json(await admin(t, 'GET', `/api/admin/users/${p.userId}/diagnose`));
    });

    test('the doctor is rate-limited per address too: many accounts from one address are refused together', async () => {
      const ip = '198.51.100.23';
      const users = Math.ceil(DOCTOR_LIMITS.perIpPerMinute / DOCTOR_LIMITS.perUserPerMinute);
      for (let u = 0; u < users; u++) {
        const p = await person(t, ip);
        for (let i = 0; i < DOCTOR_LIMITS.perUserPerMinute; i++) await json(await run(p));
      }
      const fresh = await person(t, ip);
      const body = await json(await run(fresh), 429);
      assert.equal(body.error.code, 'rate_limited');
      await json(await run(await person(t)), 200);
    });
  });
}
