import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { listAudit } from '../../src/audit/index.ts';
import { startPayWorld, customer, order, json, balance, admin, sandboxPay, paymentTransfers, assertLedgerOk, type PayWorld } from './helpers.ts';

for (const dialect of testDialects()) {
  describe(`sandbox top-ups on ${dialect}`, () => {
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

    test('a user pays in the sandbox: the order is credited once and explains itself in English and Chinese', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '10.00', provider: 'sandbox' });
      assert.match(o.id, /^ord_/);
      assert.equal(o.status, 'pending');
      assert.match(o.checkout_url, /\/api\/payments\/sandbox\/pay\/ord_/);
      assert.match(o.explanation.en, /Waiting for your payment/);
      assert.match(o.explanation.zh, /等待/);
      const page = await c.f(new URL(o.checkout_url).pathname); // the pay page is the owner's
      assert.equal(page.status, 200);
      assert.match(await page.text(), /Sandbox payment/);
      const paid = await json(await sandboxPay(w.t, o.id, 'succeed'));
      assert.deepEqual(paid.callbacks, [200]);
      const after = await json(await c.f(`/api/orders/${o.id}`));
      assert.equal(after.status, 'credited');
      assert.match(after.explanation.en, /credited/);
      assert.match(after.explanation.zh, /入账/);
      assert.equal(await balance(w.t, c.userId), '10.00');
      const transfers = await paymentTransfers(w.t, o.id);
      assert.equal(transfers.length, 1);
      assert.equal(transfers[0].idempotency_key, `order:${o.id}`);
      assert.equal(transfers[0].debit_account_id, 'system:payments_in');
      const list = await json(await c.f('/api/orders'));
      assert.equal(list.data[0].id, o.id);
    });

    test('a callback delivered twice credits once', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '7.50' });
      const r = await json(await sandboxPay(w.t, o.id, 'twice'));
      assert.deepEqual(r.callbacks, [200, 200]);
      assert.equal(await balance(w.t, c.userId), '7.50');
      assert.equal((await paymentTransfers(w.t, o.id)).length, 1);
    });

    test('a failed payment fails the order and credits nothing', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '3.00' });
      await json(await sandboxPay(w.t, o.id, 'fail'));
      const after = await json(await c.f(`/api/orders/${o.id}`));
      assert.equal(after.status, 'failed');
      assert.equal(await balance(w.t, c.userId), '0.00');
    });

    test('a success after expiry still credits and records why', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '4.00' });
      await w.t.ctx.db
        .updateTable('payment_orders')
        .set({ expires_at: Date.now() - 1000 })
        .where('id', '=', o.id)
        .execute();
      await json(await sandboxPay(w.t, o.id, 'late'), 202);
      for (let i = 0; i < 100 && (await balance(w.t, c.userId)) === '0.00'; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await balance(w.t, c.userId), '4.00');
      const detail = await json(await admin(w.t, 'GET', `/api/admin/orders/${o.id}`));
      assert.equal(detail.status, 'credited');
      assert.ok(
        detail.timeline.some((e: any) => e.to === 'paid' && /after the order expired/.test(e.reason)),
        JSON.stringify(detail.timeline),
      );
    });

    test('an order expired by reconcile is still credited when the payment arrives later', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '2.00' });
      await w.t.ctx.db
        .updateTable('payment_orders')
        .set({ expires_at: Date.now() - 1000, next_check_at: 0 })
        .where('id', '=', o.id)
        .execute();
      await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/reconcile`));
      assert.equal((await json(await c.f(`/api/orders/${o.id}`))).status, 'expired');
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      assert.equal((await json(await c.f(`/api/orders/${o.id}`))).status, 'credited');
      assert.equal(await balance(w.t, c.userId), '2.00');
    });

    test('a payment that never calls back is found by reconcile and credited once, whoever asks', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '6.00' });
      const r = await json(await sandboxPay(w.t, o.id, 'never'));
      assert.deepEqual(r.callbacks, []);
      assert.equal((await json(await c.f(`/api/orders/${o.id}`))).status, 'pending');
      const rec = await json(await admin(w.t, 'POST', '/api/admin/payments/reconcile'));
      assert.ok(
        rec.checked.some((x: any) => x.orderId === o.id && x.result === 'credited'),
        JSON.stringify(rec),
      );
      // The return page and a second pass change nothing more.
      await json(await c.f(`/api/orders/${o.id}/return`)); // the owner's session: the return page asks no one without it
      await json(await admin(w.t, 'POST', '/api/admin/payments/reconcile'));
      assert.equal(await balance(w.t, c.userId), '6.00');
      assert.equal((await paymentTransfers(w.t, o.id)).length, 1);
    });

    test('a second payment for a credited order is a duplicate_payment: recorded, not credited, refundable', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '5.00' });
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      await json(await sandboxPay(w.t, o.id, 'pay_again'));
      assert.equal(await balance(w.t, c.userId), '5.00');
      const dups = await json(await admin(w.t, 'GET', '/api/admin/orders?view=duplicate'));
      assert.ok(dups.data.some((x: any) => x.id === o.id));
      const detail = await json(await admin(w.t, 'GET', `/api/admin/orders/${o.id}`));
      assert.deepEqual(detail.trades.map((t: any) => t.outcome).sort(), ['credited', 'duplicate_payment']);
      assert.ok(detail.timeline.some((e: any) => /duplicate_payment/.test(e.reason ?? '')));
    });

    test('two paid orders for the same amount within the window are marked as possible duplicates', async () => {
      const c = await customer(w.t);
      const a = await order(c, { amount: '8.00' });
      const b = await order(c, { amount: '8.00' });
      await json(await sandboxPay(w.t, a.id, 'succeed'));
      await json(await sandboxPay(w.t, b.id, 'succeed'));
      assert.equal(await balance(w.t, c.userId), '16.00');
      const second = await json(await c.f(`/api/orders/${b.id}`));
      assert.equal(second.possible_duplicate_of, a.id);
      const view = await json(await admin(w.t, 'GET', '/api/admin/orders?view=possible_duplicate'));
      assert.ok(view.data.some((x: any) => x.id === b.id));
    });

    test("a user cancels an unpaid order; a paid one, someone else's, or a second cancel is refused with the reason", async () => {
      const a = await customer(w.t);
      const b = await customer(w.t);
      const o = await order(a, { amount: '3.00' });
      const canceled = await json(await a.f(`/api/orders/${o.id}/cancel`, { method: 'POST' }));
      assert.equal(canceled.status, 'canceled');
      assert.match(canceled.explanation.en, /canceled/);
      const again = await a.f(`/api/orders/${o.id}/cancel`, { method: 'POST' });
      assert.equal(again.status, 409);
      assert.equal(((await again.json()) as any).error.code, 'order_not_cancelable');
      assert.equal((await b.f(`/api/orders/${o.id}/cancel`, { method: 'POST' })).status, 404);
      const paid = await order(a, { amount: '1.00' });
      await json(await sandboxPay(w.t, paid.id, 'succeed'));
      const refused = await a.f(`/api/orders/${paid.id}/cancel`, { method: 'POST' });
      assert.equal(refused.status, 409);
      assert.match(((await refused.json()) as any).error.message, /credited.*refund/);
      assert.equal(await balance(w.t, a.userId), '1.00');
    });

    test('a payment that went through before the user canceled is found by reconcile and credited', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '5.00' });
      await json(await sandboxPay(w.t, o.id, 'never')); // the money is taken, the callback never comes
      assert.equal((await json(await c.f(`/api/orders/${o.id}/cancel`, { method: 'POST' }))).status, 'canceled');
      await json(await admin(w.t, 'POST', '/api/admin/payments/reconcile'));
      assert.equal((await json(await c.f(`/api/orders/${o.id}`))).status, 'credited');
      assert.equal(await balance(w.t, c.userId), '5.00');
      const detail = await json(await admin(w.t, 'GET', `/api/admin/orders/${o.id}`));
      assert.ok(
        detail.timeline.some((e: any) => /canceled but the provider confirms/.test(e.reason ?? '')),
        JSON.stringify(detail.timeline),
      );
    });

    test("a user cannot see another user's order", async () => {
      const a = await customer(w.t);
      const b = await customer(w.t);
      const o = await order(a, { amount: '1.00' });
      const res = await b.f(`/api/orders/${o.id}`);
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as any).error.code, 'order_not_found');
      assert.equal((await json(await b.f('/api/orders'))).data.length, 0);
    });

    test('orders outside the limits or in an unknown currency are refused with the reason', async () => {
      const c = await customer(w.t);
      for (const [body, code] of [
        [{ amount: '0.50' }, 'amount_too_small'],
        [{ amount: '9000' }, 'amount_too_large'],
        [{ amount: '10', currency: 'EUR' }, 'unsupported_currency'],
        [{ amount: 10 }, 'invalid_amount'],
        [{ amount: '10.001' }, 'invalid_amount'],
        [{ amount: '10', provider: 'paypal' }, 'unknown_provider'],
      ] as const) {
        const res = await c.f('/api/orders', { method: 'POST', body: JSON.stringify(body) });
        assert.equal(res.status, 400);
        assert.equal(((await res.json()) as any).error.code, code, JSON.stringify(body));
      }
    });

    test('support compensates a user with a reason and ticket: kind compensation, audited', async () => {
      const c = await customer(w.t);
      const r = await json(
        await admin(w.t, 'POST', `/api/admin/users/${c.userId}/compensate`, { amount: '2.50', reason: 'callback outage on 3 May', ticket: 'TCK-1042' }),
      );
      assert.equal(r.kind, 'compensation');
      assert.equal(await balance(w.t, c.userId), '2.50');
      const audit = await listAudit(w.t.ctx.db, { target: c.userId, action: 'balance.compensate' });
      assert.equal(audit.length, 1);
      assert.equal(audit[0].data.ticket, 'TCK-1042');
      const line = (await json(await c.f('/api/ledger'))).data[0];
      assert.equal(line.kind, 'compensation');
      const missing = await admin(w.t, 'POST', `/api/admin/users/${c.userId}/compensate`, { amount: '1.00', reason: 'x' });
      assert.equal(missing.status, 400);
    });

    test('support credits a paid order by hand with the provider reference; a later callback credits nothing more', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '9.00' });
      const r = await json(await sandboxPay(w.t, o.id, 'never'));
      const byHand = await json(
        await admin(w.t, 'POST', `/api/admin/orders/${o.id}/credit`, { provider_reference: r.trade_id, reason: 'customer sent the receipt, ticket TCK-7' }),
      );
      assert.equal(byHand.outcome, 'credited');
      await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/reconcile`));
      assert.equal(await balance(w.t, c.userId), '9.00');
      assert.equal((await listAudit(w.t.ctx.db, { target: o.id, action: 'payment.credit_order' })).length, 1);
    });
  });
}
