import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { listAudit } from '../../src/audit/index.ts';
import { startPayWorld, customer, order, json, balance, admin, assertLedgerOk, type PayWorld, type Customer } from './helpers.ts';

// The return page and "check with the provider" ask the provider only for the
// order's owner, and only as often as the order's reconcile backoff allows;
// the fake providers count the queries that reach them.

for (const dialect of testDialects()) {
  describe(`provider queries from the return page and the check button on ${dialect}`, () => {
    let w: PayWorld;
    before(async () => {
      w = await startPayWorld(dialect);
    });
    afterEach(async () => {
      await assertLedgerOk(w.t);
    });
    after(async () => {
      await w?.close();
    });

    const stripeOrder = async (c: Customer, amount = '5.00') => {
      const o = await order(c, { amount, provider: 'stripe' });
      const s = [...w.stripe.sessions.values()].find((x) => x.client_reference_id === o.id)!;
      return { o, sessionId: s.id };
    };
    const backoffRunsOut = (orderId: string) =>
      w.t.ctx.db
        .updateTable('payment_orders')
        .set({ next_check_at: Date.now() - 1 })
        .where('id', '=', orderId)
        .execute();

    test('30 loads of the return page by the owner ask Stripe at most once; after the backoff, once more', async () => {
      const c = await customer(w.t);
      const { o } = await stripeOrder(c);
      const before = w.stripe.sessionQueries;
      const concurrent = await Promise.all(Array.from({ length: 15 }, () => c.f(`/api/orders/${o.id}/return`).then((r) => json(r))));
      for (let i = 0; i < 15; i++) await json(await c.f(`/api/orders/${o.id}/return`));
      assert.ok(w.stripe.sessionQueries - before <= 1, `${w.stripe.sessionQueries - before} Stripe queries for 30 loads`);
      assert.ok(concurrent.every((r) => r.status === 'pending'));
      const last = await json(await c.f(`/api/orders/${o.id}/return`));
      assert.equal(last.checked_with_provider, false);
      assert.ok(Date.parse(last.next_check_at) > Date.now(), `says when the next check is: ${last.next_check_at}`);
      await backoffRunsOut(o.id);
      const again = await json(await c.f(`/api/orders/${o.id}/return`));
      assert.equal(again.checked_with_provider, true);
      assert.equal(w.stripe.sessionQueries - before, 2);
    });

    test('30 "check with the provider" clicks ask EPay (whose query carries the merchant key) at most once, and write no row per click', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '20.00', currency: 'CNY', provider: 'epay' });
      const before = w.epay.orderQueries;
      const answers = await Promise.all(Array.from({ length: 30 }, () => c.f(`/api/support/orders/${o.id}/check`, { method: 'POST' }).then((r) => json(r))));
      assert.ok(w.epay.orderQueries - before <= 1, `${w.epay.orderQueries - before} EPay queries for 30 clicks`);
      // One click asked; the others were answered from the stored state: `not_due` (with the next check time), or `locked` while that one was still asking.
      const held = answers.filter((a) => a.result === 'not_due' || a.result === 'locked');
      assert.ok(held.length >= 29, JSON.stringify(answers.map((a) => a.result)));
      assert.ok(held.every((a) => a.status === 'pending'));
      const notDue = answers.filter((a) => a.result === 'not_due');
      assert.ok(
        notDue.every((a) => Date.parse(a.next_check_at) > Date.now() && /next check/.test(a.detail)),
        JSON.stringify(notDue[0]),
      );
      const later = await json(await c.f(`/api/support/orders/${o.id}/check`, { method: 'POST' }));
      assert.equal(later.result, 'not_due');
      assert.ok(Date.parse(later.next_check_at) > Date.now());
      assert.ok((await listAudit(w.t.ctx.db, { target: o.id, action: 'payment.check_with_provider' })).length <= 2);
      await backoffRunsOut(o.id);
      const due = await json(await c.f(`/api/support/orders/${o.id}/check`, { method: 'POST' }));
      assert.notEqual(due.result, 'not_due');
      assert.equal(w.epay.orderQueries - before, 2);
    });

    test("another user's order: the return page and the check answer 404 and ask no provider", async () => {
      const owner = await customer(w.t);
      const other = await customer(w.t);
      const { o } = await stripeOrder(owner);
      const before = w.stripe.sessionQueries;
      for (const res of [await other.f(`/api/orders/${o.id}/return`), await other.f(`/api/support/orders/${o.id}/check`, { method: 'POST' })]) {
        assert.equal(res.status, 404);
        assert.equal(((await res.json()) as any).error.code, 'order_not_found');
      }
      assert.equal(w.stripe.sessionQueries, before);
    });

    test('without a session the return page asks no provider: an API client gets 401, a browser goes to the console to sign in', async () => {
      const c = await customer(w.t);
      const { o, sessionId } = await stripeOrder(c);
      w.stripe.pay(sessionId);
      const before = w.stripe.sessionQueries;
      const api = await fetch(`${w.t.url}/api/orders/${o.id}/return`);
      assert.equal(api.status, 401);
      const browser = await fetch(`${w.t.url}/api/orders/${o.id}/return?session_id=${sessionId}`, { headers: { accept: 'text/html' }, redirect: 'manual' });
      assert.equal(browser.status, 303);
      assert.equal(browser.headers.get('location'), `/console/orders/${o.id}`);
      assert.equal(w.stripe.sessionQueries, before);
      assert.equal(await balance(w.t, c.userId), '0.00');
      // The owner coming back after paying is credited at once (the first check is always allowed), then sent to the order page.
      const back = await c.f(`/api/orders/${o.id}/return?session_id=${sessionId}`, { headers: { accept: 'text/html' }, redirect: 'manual' });
      assert.equal(back.status, 303);
      assert.equal(w.stripe.sessionQueries, before + 1);
      assert.equal((await json(await c.f(`/api/orders/${o.id}`))).status, 'credited');
      assert.equal(await balance(w.t, c.userId), '5.00');
    });

    test('staff checks are not held back by the backoff', async () => {
      const c = await customer(w.t);
      const { o } = await stripeOrder(c);
      await json(await c.f(`/api/orders/${o.id}/return`));
      const before = w.stripe.sessionQueries;
      await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/reconcile`));
      await json(await admin(w.t, 'POST', `/api/admin/support/orders/${o.id}/check`, { reason: 'customer on the phone' }));
      assert.equal(w.stripe.sessionQueries - before, 2);
    });
  });
}
