import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startPayWorld, customer, order, json, balance, admin, epayNotify, paymentTransfers, assertLedgerOk, type PayWorld } from './helpers.ts';
import { epaySign } from '../../src/payments/providers/epay.ts';

for (const dialect of testDialects()) {
  describe(`EPay (易支付) on ${dialect}`, () => {
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

    test('the order carries a signed submit.php URL; CNY is credited at the snapshotted rate', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '100.00', currency: 'CNY', provider: 'epay' });
      assert.equal(o.credit_amount, '14.00');
      assert.equal(o.exchange_rate, '0.14');
      const u = new URL(o.checkout_url);
      assert.equal(u.pathname, '/submit.php');
      const p = Object.fromEntries(u.searchParams);
      for (const k of ['pid', 'type', 'out_trade_no', 'notify_url', 'return_url', 'name', 'money', 'sign', 'sign_type']) assert.ok(p[k], k);
      assert.equal(p.out_trade_no, o.id);
      assert.equal(p.money, '100.00');
      assert.equal(p.sign_type, 'MD5');
      assert.match(p.notify_url, /\/api\/payments\/epay\/notify$/);
      assert.equal(p.sign, epaySign(p, w.epay.key));
      const res = await epayNotify(w.t.url, w.epay.notify(o.id, '100.00'), 'GET');
      assert.equal(await res.text(), 'success');
      assert.equal(await balance(w.t, c.userId), '14.00');
    });

    test('50 concurrent deliveries of the same success credit exactly once, and every one is answered success', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '50.00', currency: 'CNY', provider: 'epay' });
      const params = w.epay.notify(o.id, '50.00', { tradeNo: 'T-CONCURRENT-1' });
      const replies = await Promise.all(
        Array.from({ length: 50 }, (_, i) => epayNotify(w.t.url, params, i % 2 ? 'GET' : 'POST').then(async (r) => [r.status, await r.text()])),
      );
      assert.deepEqual(new Set(replies.map((r) => r.join(' '))), new Set(['200 success']));
      assert.equal(await balance(w.t, c.userId), '7.00');
      assert.equal((await paymentTransfers(w.t, o.id)).length, 1);
    });

    test('tampered notifies (amount, order, signature) are refused with 400 and change nothing', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '20.00', currency: 'CNY', provider: 'epay' });
      const other = await order(c, { amount: '20.00', currency: 'CNY', provider: 'epay' });
      const good = w.epay.notify(o.id, '20.00');
      for (const bad of [
        { ...good, money: '2000.00' },
        { ...good, out_trade_no: other.id },
        { ...good, sign: good.sign.replace(/^./, (ch) => (ch === 'a' ? 'b' : 'a')) },
        { ...good, sign: '' },
      ]) {
        const res = await epayNotify(w.t.url, bad);
        assert.equal(res.status, 400);
        assert.equal(await res.text(), 'fail');
      }
      assert.equal(await balance(w.t, c.userId), '0.00');
      for (const id of [o.id, other.id]) assert.equal((await json(await c.f(`/api/orders/${id}`))).status, 'pending');
    });

    test('a correctly signed notify with another amount flags the order instead of crediting it', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '30.00', currency: 'CNY', provider: 'epay' });
      const res = await epayNotify(w.t.url, w.epay.notify(o.id, '0.01'));
      assert.equal(await res.text(), 'success'); // recorded; EPay must not keep retrying
      const after = await json(await c.f(`/api/orders/${o.id}`));
      assert.equal(after.status, 'flagged');
      assert.match(after.explanation.en, /support/);
      assert.equal(await balance(w.t, c.userId), '0.00');
      const flagged = await json(await admin(w.t, 'GET', '/api/admin/orders?view=flagged'));
      assert.ok(flagged.data.some((x: any) => x.id === o.id));
    });

    test('a notify for an unknown order is answered fail and changes nothing; a non-success status changes nothing', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '10.00', currency: 'CNY', provider: 'epay' });
      const res = await epayNotify(w.t.url, w.epay.notify('ord_doesnotexist0000000000000', '10.00'));
      assert.equal(await res.text(), 'fail');
      const waiting = await epayNotify(w.t.url, w.epay.notify(o.id, '10.00', { status: 'WAIT_BUYER_PAY' }));
      assert.equal(await waiting.text(), 'success');
      assert.equal((await json(await c.f(`/api/orders/${o.id}`))).status, 'pending');
    });

    test('reconcile asks EPay (act=order) and credits a paid order whose notify never came', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '10.00', currency: 'CNY', provider: 'epay' });
      w.epay.trades.set(o.id, { trade_no: 'T-RECON-1', money: '10.00', status: 1 });
      const rec = await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/reconcile`));
      assert.equal(rec.result, 'credited');
      assert.equal(await balance(w.t, c.userId), '1.40');
      // The notify arriving afterwards is acknowledged and credits nothing.
      assert.equal(await (await epayNotify(w.t.url, w.epay.notify(o.id, '10.00', { tradeNo: 'T-RECON-1' }))).text(), 'success');
      assert.equal(await balance(w.t, c.userId), '1.40');
    });

    test('an EPay refund the merchant API refuses is recorded as a manual refund', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '10.00', currency: 'CNY', provider: 'epay' });
      await epayNotify(w.t.url, w.epay.notify(o.id, '10.00'));
      w.epay.refundSupported = false;
      const r = await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { reason: 'requested_by_customer' }));
      w.epay.refundSupported = true;
      assert.equal(r.refund.status, 'manual');
      assert.equal(r.order.status, 'refunded');
      assert.equal(await balance(w.t, c.userId), '0.00');
    });
  });
}
