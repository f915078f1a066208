import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { listAudit } from '../../src/audit/index.ts';
import { REFUND_LEASE_MS } from '../../src/payments/duplicates.ts';
import {
  startPayWorld,
  customer,
  order,
  json,
  balance,
  admin,
  sandboxPay,
  stripeWebhook,
  epayNotify,
  paymentTransfers,
  assertLedgerOk,
  type PayWorld,
  type Customer,
} from './helpers.ts';

// Duplicate payments (a second successful trade on a credited order): refunded
// to the payer through the provider without touching the wallet, or kept as
// credit; exactly once, audited. And: every admin action on an order leaves
// exactly one audit row.

for (const dialect of testDialects()) {
  describe(`duplicate payments and audited order actions on ${dialect}`, () => {
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

    const detail = (id: string) => admin(w.t, 'GET', `/api/admin/orders/${id}`).then((r) => json(r));
    const dupTrade = async (orderId: string) => (await detail(orderId)).trades.find((t: any) => t.outcome === 'duplicate_payment');
    const audits = (orderId: string, action: string) => listAudit(w.t.ctx.db, { target: orderId, action });

    async function sandboxDuplicate(c: Customer, amount: string) {
      const o = await order(c, { amount });
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      const again = await json(await sandboxPay(w.t, o.id, 'pay_again'));
      return { o, tradeId: again.trade_id as string };
    }

    test('sandbox: concurrent refunds of a duplicate refund it once; the wallet and the order do not move; one event, one audit row', async () => {
      const c = await customer(w.t);
      const { o, tradeId } = await sandboxDuplicate(c, '6.00');
      assert.equal(await balance(w.t, c.userId), '6.00');
      const replies = await Promise.all(
        Array.from({ length: 6 }, () => admin(w.t, 'POST', `/api/admin/payments/trades/${tradeId}/refund`, { reason: 'paid twice, ticket TCK-31' })),
      );
      const bodies = await Promise.all(replies.map(async (r) => ({ status: r.status, body: (await r.json()) as any })));
      const done = bodies.filter((b) => b.status === 200 && b.body.replayed === false);
      assert.equal(done.length, 1, JSON.stringify(bodies));
      for (const b of bodies) assert.ok(b.status === 200 || (b.status === 409 && b.body.error.code === 'refund_in_progress'), JSON.stringify(b));
      const r = done[0].body;
      assert.equal(r.trade.decision, 'refunded');
      assert.equal(r.refund.origin, 'duplicate');
      assert.equal(r.refund.amount, '6.00');
      assert.equal(r.refund.credit_taken_back, '0.00');
      assert.equal(r.refund.status, 'succeeded');
      assert.equal(r.order.status, 'credited');
      // A retry afterwards answers from the record and sends nothing.
      const again = await json(await admin(w.t, 'POST', `/api/admin/payments/trades/${tradeId}/refund`, { reason: 'retry' }));
      assert.equal(again.replayed, true);
      assert.equal(again.refund.id, r.refund.id);
      assert.equal(await balance(w.t, c.userId), '6.00');
      assert.equal((await paymentTransfers(w.t, o.id)).length, 1);
      const d = await detail(o.id);
      assert.equal(d.status, 'credited');
      assert.equal(d.trades.find((t: any) => t.trade_id === tradeId).decision, 'refunded');
      assert.equal(d.timeline.filter((e: any) => /refunded to the payer/.test(e.reason ?? '')).length, 1);
      assert.equal(d.refunds.filter((x: any) => x.origin === 'duplicate').length, 1);
      const a = await audits(o.id, 'payment.refund_duplicate');
      assert.equal(a.length, 1);
      assert.deepEqual([a[0].before.decision, a[0].after.decision, a[0].reason], ['pending', 'refunded', 'paid twice, ticket TCK-31']);
      // Decided: it cannot also be kept as credit; a credited trade is not a duplicate.
      const keep = await admin(w.t, 'POST', `/api/admin/payments/trades/${tradeId}/keep`, { reason: 'x' });
      assert.equal(keep.status, 409);
      const first = d.trades.find((t: any) => t.outcome === 'credited');
      assert.equal((await admin(w.t, 'POST', `/api/admin/payments/trades/${first.id}/refund`, { reason: 'x' })).status, 409);
      assert.equal((await admin(w.t, 'POST', `/api/admin/payments/trades/trd_nope/refund`, { reason: 'x' })).status, 404);
    });

    test('sandbox: keeping a duplicate as credit credits it once at the order rate, audited', async () => {
      const c = await customer(w.t);
      const { o, tradeId } = await sandboxDuplicate(c, '4.00');
      const replies = await Promise.all(
        Array.from({ length: 5 }, () =>
          admin(w.t, 'POST', `/api/admin/payments/trades/${tradeId}/keep`, { reason: 'customer prefers balance' }).then((r) => json(r)),
        ),
      );
      assert.equal(replies.filter((r) => r.replayed === false).length, 1);
      assert.equal(new Set(replies.map((r) => r.transfer_id)).size, 1);
      assert.equal(replies[0].credit, '4.00');
      assert.equal(await balance(w.t, c.userId), '8.00');
      const t = await w.t.ctx.db
        .selectFrom('ledger_transfers')
        .selectAll()
        .where('idempotency_key', '=', `duplicate:${(await dupTrade(o.id)).id}`)
        .execute();
      assert.equal(t.length, 1);
      assert.equal(t[0].debit_account_id, 'system:payments_in');
      assert.equal((await dupTrade(o.id)).decision, 'kept');
      assert.equal((await audits(o.id, 'payment.keep_duplicate')).length, 1);
      assert.equal((await admin(w.t, 'POST', `/api/admin/payments/trades/${tradeId}/refund`, { reason: 'changed mind' })).status, 409);
    });

    test('Stripe: the duplicate payment intent is refunded at Stripe; a refusal leaves it pending; charge.refunded for it does not touch the credit', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '7.00', provider: 'stripe' });
      const sessionId = [...w.stripe.sessions.values()].find((s) => s.client_reference_id === o.id)!.id;
      const paid = w.stripe.pay(sessionId);
      assert.deepEqual((await json(await stripeWebhook(w.t.url, w.stripe.event('checkout.session.completed', paid)))).outcomes, ['credited']);
      // The customer paid again (another payment intent for the same order).
      const second = { ...paid, payment_intent: 'pi_test_second_payment_0001' };
      assert.deepEqual((await json(await stripeWebhook(w.t.url, w.stripe.event('checkout.session.completed', second)))).outcomes, ['duplicate_payment']);
      assert.equal(await balance(w.t, c.userId), '7.00');
      w.stripe.failRefunds = true;
      const refused = await admin(w.t, 'POST', `/api/admin/payments/trades/${second.payment_intent}/refund`, { reason: 'paid twice' });
      w.stripe.failRefunds = false;
      assert.equal(refused.status, 502);
      assert.equal((await dupTrade(o.id)).decision, 'pending');
      assert.equal((await audits(o.id, 'payment.refund_duplicate')).length, 0);
      const r = await json(await admin(w.t, 'POST', `/api/admin/payments/trades/${second.payment_intent}/refund`, { reason: 'paid twice' }));
      assert.equal(r.refund.status, 'succeeded');
      assert.match(r.refund.provider_refund_id, /^re_/);
      const sent = w.stripe.refunds.filter((x) => x.payment_intent === second.payment_intent);
      assert.deepEqual(
        sent.map((x) => x.amount),
        [700],
      );
      assert.equal(w.stripe.refunds.filter((x) => x.payment_intent === paid.payment_intent).length, 0);
      // Stripe then reports the refund of that charge: the order's credit stays.
      const reported = await json(await stripeWebhook(w.t.url, w.stripe.event('charge.refunded', w.stripe.charge(second as any, 700))));
      assert.deepEqual(reported.outcomes, ['nothing_to_do']);
      assert.equal(await balance(w.t, c.userId), '7.00');
      const d = await detail(o.id);
      assert.equal(d.status, 'credited');
      assert.deepEqual(d.refunds.map((x: any) => [x.origin, x.status]).sort(), [
        ['duplicate', 'failed'],
        ['duplicate', 'succeeded'],
      ]);
      assert.equal((await audits(o.id, 'payment.refund_duplicate')).length, 1);
    });

    test('Stripe gives no definite answer to a duplicate refund: it stays in progress, and asking again later sends the same refund id once', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '4.00', provider: 'stripe' });
      const sessionId = [...w.stripe.sessions.values()].find((s) => s.client_reference_id === o.id)!.id;
      const paid = w.stripe.pay(sessionId);
      await stripeWebhook(w.t.url, w.stripe.event('checkout.session.completed', paid));
      const second = { ...paid, payment_intent: 'pi_test_second_payment_0002' };
      await stripeWebhook(w.t.url, w.stripe.event('checkout.session.completed', second));
      w.stripe.dropRefunds = true;
      const unknown = await admin(w.t, 'POST', `/api/admin/payments/trades/${second.payment_intent}/refund`, { reason: 'paid twice' });
      w.stripe.dropRefunds = false;
      assert.equal(unknown.status, 502);
      assert.equal(((await unknown.json()) as any).error.code, 'refund_outcome_unknown');
      assert.equal((await dupTrade(o.id)).decision, 'refunding', 'still in progress: Stripe may have refunded');
      assert.equal((await admin(w.t, 'POST', `/api/admin/payments/trades/${second.payment_intent}/refund`, { reason: 'paid twice' })).status, 409);
      await w.t.ctx.db
        .updateTable('payment_refunds')
        .set({ updated_at: w.t.ctx.now() - REFUND_LEASE_MS - 1000 })
        .where('order_id', '=', o.id)
        .where('status', '=', 'pending')
        .execute();
      const r = await json(await admin(w.t, 'POST', `/api/admin/payments/trades/${second.payment_intent}/refund`, { reason: 'paid twice' }));
      assert.equal(r.refund.status, 'succeeded');
      assert.equal(w.stripe.refunds.filter((x) => x.payment_intent === second.payment_intent).length, 1);
      assert.equal(await balance(w.t, c.userId), '4.00');
    });

    test('EPay: a duplicate trade_no is refunded with act=refund, or recorded as a manual refund when the merchant API refuses', async () => {
      const c = await customer(w.t);
      const a = await order(c, { amount: '20.00', currency: 'CNY', provider: 'epay' });
      await epayNotify(w.t.url, w.epay.notify(a.id, '20.00', { tradeNo: `TA1-${a.id}` }));
      assert.equal(await (await epayNotify(w.t.url, w.epay.notify(a.id, '20.00', { tradeNo: `TA2-${a.id}` }))).text(), 'success');
      assert.equal(await balance(w.t, c.userId), '2.80');
      const r = await json(await admin(w.t, 'POST', `/api/admin/payments/trades/TA2-${a.id}/refund`, { reason: 'paid twice' }));
      assert.equal(r.refund.status, 'succeeded');
      assert.deepEqual(
        w.epay.refunds.filter((x) => x.out_trade_no === a.id),
        [{ out_trade_no: a.id, trade_no: `TA2-${a.id}`, money: '20.00' }],
      );
      const b = await order(c, { amount: '10.00', currency: 'CNY', provider: 'epay' });
      await epayNotify(w.t.url, w.epay.notify(b.id, '10.00', { tradeNo: `TB1-${b.id}` }));
      await epayNotify(w.t.url, w.epay.notify(b.id, '10.00', { tradeNo: `TB2-${b.id}` }));
      w.epay.refundSupported = false;
      const m = await json(await admin(w.t, 'POST', `/api/admin/payments/trades/TB2-${b.id}/refund`, { reason: 'paid twice' }));
      w.epay.refundSupported = true;
      assert.equal(m.refund.status, 'manual');
      assert.equal(m.trade.decision, 'refunded');
      assert.equal(await balance(w.t, c.userId), '4.20');
      assert.ok((await detail(b.id)).timeline.some((e: any) => /recorded as manual/.test(e.reason ?? '')));
    });

    /** The state a refund of a duplicate is left in when Tally stops while the provider is being asked: claimed, a pending refund row, no answer. */
    async function interruptedDuplicateRefund(orderId: string, tradeId: string) {
      const trade = await w.t.ctx.db
        .selectFrom('payment_trades')
        .selectAll()
        .where('order_id', '=', orderId)
        .where('trade_id', '=', tradeId)
        .executeTakeFirstOrThrow();
      const long = w.t.ctx.now() - REFUND_LEASE_MS - 1000;
      await w.t.ctx.db.updateTable('payment_trades').set({ decision: 'refunding' }).where('id', '=', trade.id).execute();
      await w.t.ctx.db
        .insertInto('payment_refunds')
        .values({
          id: `rfd_dup_${trade.id}_1`,
          order_id: orderId,
          amount: trade.amount,
          credit_amount: 0n,
          from_wallet: 0n,
          uncollected: 0n,
          reason: 'duplicate',
          note: `duplicate payment ${tradeId}: paid twice`,
          origin: 'duplicate',
          status: 'pending',
          provider_refund_id: null,
          forced: 0,
          actor: 'admin:test',
          created_at: long,
          updated_at: long,
        })
        .execute();
      return `rfd_dup_${trade.id}_1`;
    }

    test('taking over an interrupted duplicate refund: sent again with the same id where the provider recognises it (sandbox), handed over as manual where it cannot (EPay)', async () => {
      const c = await customer(w.t);
      const { o, tradeId } = await sandboxDuplicate(c, '6.00');
      const sid = await interruptedDuplicateRefund(o.id, tradeId);
      const again = await json(await admin(w.t, 'POST', `/api/admin/payments/trades/${tradeId}/refund`, { reason: 'paid twice' }));
      assert.equal(again.refund.id, sid, 'the same refund id');
      assert.equal(again.refund.status, 'succeeded');

      const e = await order(c, { amount: '10.00', currency: 'CNY', provider: 'epay' });
      await epayNotify(w.t.url, w.epay.notify(e.id, '10.00', { tradeNo: `TE1-${e.id}` }));
      await epayNotify(w.t.url, w.epay.notify(e.id, '10.00', { tradeNo: `TE2-${e.id}` }));
      const eid = await interruptedDuplicateRefund(e.id, `TE2-${e.id}`);
      const before = w.epay.refunds.length;
      const m = await json(await admin(w.t, 'POST', `/api/admin/payments/trades/TE2-${e.id}/refund`, { reason: 'paid twice' }));
      assert.equal(m.refund.id, eid);
      assert.equal(m.refund.status, 'manual');
      assert.match(m.refund.note ?? '', /cannot tell a repeated refund from a new one/);
      assert.equal(w.epay.refunds.length, before, 'act=refund was not sent a second time');
      assert.equal(m.trade.decision, 'refunded');
    });

    test('mark failed and reconcile each write exactly one audit row with before/after; a refused action writes none', async () => {
      const c = await customer(w.t);
      const f = await order(c, { amount: '3.00' });
      const failed = await json(await admin(w.t, 'POST', `/api/admin/orders/${f.id}/fail`, { reason: 'customer abandoned, ticket TCK-5' }));
      assert.equal(failed.status, 'failed');
      assert.equal((await admin(w.t, 'POST', `/api/admin/orders/${f.id}/fail`, { reason: 'again' })).status, 400);
      const fa = await audits(f.id, 'payment.fail');
      assert.equal(fa.length, 1);
      assert.deepEqual(
        [fa[0].before.status, fa[0].after.status, fa[0].reason, fa[0].actor],
        ['pending', 'failed', 'customer abandoned, ticket TCK-5', 'admin_token'],
      );

      const p = await order(c, { amount: '2.00' });
      await json(await sandboxPay(w.t, p.id, 'never'));
      const u = await order(c, { amount: '1.00' });
      const r1 = await json(await admin(w.t, 'POST', `/api/admin/orders/${p.id}/reconcile`, { reason: 'customer says paid' }));
      assert.equal(r1.result, 'credited');
      const r2 = await json(await admin(w.t, 'POST', `/api/admin/orders/${p.id}/reconcile`));
      assert.equal(r2.result, 'already_credited');
      const ru = await json(await admin(w.t, 'POST', `/api/admin/orders/${u.id}/reconcile`));
      assert.equal(ru.result, 'still_unpaid');
      const pa = (await audits(p.id, 'payment.reconcile')).reverse();
      assert.deepEqual(
        pa.map((x) => [x.before.status, x.after.status, x.data.result]),
        [
          ['pending', 'credited', 'credited'],
          ['credited', 'credited', 'already_credited'],
        ],
      );
      assert.equal(pa[0].reason, 'customer says paid');
      const ua = await audits(u.id, 'payment.reconcile');
      assert.deepEqual(
        ua.map((x) => [x.before.status, x.after.status, x.data.result]),
        [['pending', 'pending', 'still_unpaid']],
      );
      assert.equal(await balance(w.t, c.userId), '2.00');

      const before = (await listAudit(w.t.ctx.db, { action: 'payment.reconcile_all' })).length;
      await json(await admin(w.t, 'POST', '/api/admin/payments/reconcile'));
      assert.equal((await listAudit(w.t.ctx.db, { action: 'payment.reconcile_all' })).length, before + 1);

      // Support's "check with the provider" on an order with nothing to check still leaves its row.
      const chk = await json(await admin(w.t, 'POST', `/api/admin/support/orders/${p.id}/check`, { reason: 'double-check' }));
      assert.equal(chk.result, 'nothing_to_check');
      assert.equal((await audits(p.id, 'payment.check_with_provider')).length, 1);
    });
  });
}
