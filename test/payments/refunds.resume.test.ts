// A support refund is booked in the ledger (credit taken back) before the
// provider is asked. If Tally stops in between, the refund is left `pending`
// with no provider answer: the user's credit is gone but their money has not
// been returned. The reconcile pass finishes such refunds exactly once.
import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startPayWorld, customer, order, json, balance, admin, stripeWebhook, epayNotify, assertLedgerOk, type PayWorld, type Customer } from './helpers.ts';
import { resumeInterruptedRefunds, checkPendingProviderRefunds, REFUND_RESUME_AFTER_MS, PENDING_REFUND_CHECK_AFTER_MS } from '../../src/payments/refunds.ts';
import { reconcilePayments } from '../../src/payments/reconcile.ts';
import { providerUnavailable } from '../../src/payments/errors.ts';

for (const dialect of testDialects()) {
  describe(`interrupted support refunds on ${dialect}`, () => {
    let w: PayWorld;
    before(async () => {
      w = await startPayWorld(dialect);
    });
    afterEach(async () => {
      w.stripe.holdRefunds = false;
      w.stripe.releaseHeld();
      await assertLedgerOk(w.t);
    });
    after(async () => {
      await w?.close();
    });

    const refundRow = (id: string) => w.t.ctx.db.selectFrom('payment_refunds').selectAll().where('order_id', '=', id).executeTakeFirst();

    async function paidStripeOrder(c: Customer, amount: string) {
      const o = await order(c, { amount, provider: 'stripe' });
      const sessionId = [...w.stripe.sessions.values()].find((s) => s.client_reference_id === o.id)!.id;
      await stripeWebhook(w.t.url, w.stripe.event('checkout.session.completed', w.stripe.pay(sessionId)));
      return { o, pi: w.stripe.sessions.get(sessionId)!.payment_intent! };
    }

    /** Starts a support refund whose provider call never returns, waits until it is booked, then ages it as if Tally had stopped long ago. */
    async function interruptedRefund(orderId: string) {
      const inFlight = admin(w.t, 'POST', `/api/admin/orders/${orderId}/refund`, { reason: 'requested_by_customer', note: 'ticket TCK-77' }).then(
        (r) => r.status,
        () => 0,
      );
      for (let i = 0; i < 200 && !(await refundRow(orderId)); i++) await new Promise((r) => setTimeout(r, 10));
      const row = await refundRow(orderId);
      assert.ok(row, 'the refund is booked before the provider answers');
      assert.equal(row.status, 'pending');
      assert.equal(row.provider_refund_id, null);
      await w.t.ctx.db
        .updateTable('payment_refunds')
        .set({ updated_at: w.t.ctx.now() - REFUND_RESUME_AFTER_MS - 1000 })
        .where('id', '=', row.id)
        .execute();
      return { refundId: row.id as string, inFlight };
    }

    for (const mode of ['after', 'before'] as const) {
      test(`Stripe ${mode === 'after' ? 'processed the refund but the answer was lost' : 'never received the refund'}: two passes racing send it again with the same idempotency key; the money goes back once, the credit is taken once`, async () => {
        const c = await customer(w.t);
        const { o, pi } = await paidStripeOrder(c, '10.00');
        assert.equal(await balance(w.t, c.userId), '10.00');
        w.stripe.holdRefunds = mode;
        const { refundId, inFlight } = await interruptedRefund(o.id);
        for (let i = 0; i < 200 && w.stripe.heldCount === 0; i++) await new Promise((r) => setTimeout(r, 10));
        assert.equal(w.stripe.heldCount, 1, 'the refund call reached Stripe and is waiting');
        assert.equal(await balance(w.t, c.userId), '0.00', 'the credit was taken back when the refund was booked');
        assert.equal(w.stripe.refunds.filter((r) => r.payment_intent === pi).length, mode === 'after' ? 1 : 0);

        w.stripe.holdRefunds = false;
        const passes = await Promise.all([
          resumeInterruptedRefunds(w.t.ctx),
          resumeInterruptedRefunds(w.t.ctx),
          reconcilePayments(w.t.ctx).then((r) => r.refunds),
        ]);
        const outcomes = passes.flat().filter((x) => x.refundId === refundId);
        assert.deepEqual(
          outcomes.map((x) => x.outcome),
          ['succeeded'],
          'one pass finished it; the others found it claimed',
        );
        const stripeRefunds = w.stripe.refunds.filter((r) => r.payment_intent === pi);
        assert.equal(stripeRefunds.length, 1, 'Stripe refunded once');
        assert.equal(stripeRefunds[0].idempotencyKey, `tally-refund-${refundId}`);
        const row = (await refundRow(o.id))!;
        assert.equal(row.status, 'succeeded');
        assert.equal(row.provider_refund_id, stripeRefunds[0].id);

        // The original call, still waiting, now fails or gets Stripe's replayed answer: either way nothing changes.
        w.stripe.releaseHeld();
        await inFlight;
        assert.equal((await refundRow(o.id))!.status, 'succeeded');
        assert.equal(await balance(w.t, c.userId), '0.00');
        const detail = await json(await admin(w.t, 'GET', `/api/admin/orders/${o.id}`));
        assert.equal(detail.status, 'refunded');
        assert.equal(detail.refunds[0].status, 'succeeded');
        assert.ok(
          detail.timeline.some((e: any) => /interrupted: Tally stopped before the provider answered; sent again with the same refund id/.test(e.reason)),
          'the timeline says what happened',
        );
        // Later passes leave it alone.
        assert.deepEqual(await resumeInterruptedRefunds(w.t.ctx, { olderThanMs: 0 }), []);
      });
    }

    test('no definite answer from Stripe (connection reset): the booking is kept, not undone, and the next pass finishes the refund once', async () => {
      const c = await customer(w.t);
      const { o, pi } = await paidStripeOrder(c, '7.00');
      w.stripe.dropRefunds = true;
      let r;
      try {
        r = await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { reason: 'requested_by_customer' }));
      } finally {
        w.stripe.dropRefunds = false;
      }
      assert.equal(r.refund.status, 'pending', 'the outcome is unknown, so the refund stays pending');
      assert.equal(await balance(w.t, c.userId), '0.00', 'and the credit stays taken back');
      assert.equal(w.stripe.refunds.filter((x) => x.payment_intent === pi).length, 0);
      const detail = await json(await admin(w.t, 'GET', `/api/admin/orders/${o.id}`));
      assert.ok(detail.timeline.some((e: any) => /stays pending and is sent again with the same refund id/.test(e.reason ?? '')));
      const pass = await resumeInterruptedRefunds(w.t.ctx, { olderThanMs: 0 });
      assert.deepEqual(
        pass.filter((x) => x.orderId === o.id).map((x) => x.outcome),
        ['succeeded'],
      );
      assert.equal(w.stripe.refunds.filter((x) => x.payment_intent === pi).length, 1);
      assert.equal(await balance(w.t, c.userId), '0.00');
    });

    test('a refund still in flight (younger than the threshold) is left alone', async () => {
      const c = await customer(w.t);
      const { o } = await paidStripeOrder(c, '3.00');
      w.stripe.holdRefunds = 'before';
      const inFlight = admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { reason: 'other' }).then(
        (r) => r.status,
        () => 0,
      );
      for (let i = 0; i < 200 && !(await refundRow(o.id)); i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(
        (await resumeInterruptedRefunds(w.t.ctx)).filter((x) => x.orderId === o.id),
        [],
      );
      w.stripe.holdRefunds = false;
      w.stripe.releaseHeld(); // the SDK retries with the same key and gets its answer
      assert.equal(await inFlight, 200);
      assert.equal((await refundRow(o.id))!.status, 'succeeded');
    });

    test('Stripe still not answering: the booking stays and the refund is tried again on a later pass', async () => {
      const c = await customer(w.t);
      const { o, pi } = await paidStripeOrder(c, '2.00');
      w.stripe.holdRefunds = 'before';
      const { refundId, inFlight } = await interruptedRefund(o.id);
      for (let i = 0; i < 200 && w.stripe.heldCount === 0; i++) await new Promise((r) => setTimeout(r, 10));
      // The original call stays without an answer (Tally "stopped"); new calls get an error after which the outcome is unknown.
      w.stripe.holdRefunds = false;
      w.stripe.failRefunds = true;
      const first = await resumeInterruptedRefunds(w.t.ctx);
      w.stripe.failRefunds = false;
      assert.deepEqual(
        first.filter((x) => x.refundId === refundId).map((x) => x.outcome),
        ['retry_later'],
      );
      assert.equal((await refundRow(o.id))!.status, 'pending');
      assert.equal(await balance(w.t, c.userId), '0.00');
      assert.deepEqual(
        (await resumeInterruptedRefunds(w.t.ctx)).filter((x) => x.refundId === refundId),
        [],
        'not again before the threshold',
      );
      const second = await resumeInterruptedRefunds(w.t.ctx, { olderThanMs: 0 });
      assert.deepEqual(
        second.filter((x) => x.refundId === refundId).map((x) => x.outcome),
        ['succeeded'],
      );
      assert.equal(w.stripe.refunds.filter((r) => r.payment_intent === pi).length, 1);
      w.stripe.releaseHeld(); // the original call's retry now gets Stripe's stored answer: nothing changes
      await inFlight;
      assert.equal((await refundRow(o.id))!.status, 'succeeded');
      assert.equal(await balance(w.t, c.userId), '0.00');
    });

    test('Stripe accepts a refund as pending and it fails later: the webhook gives the credit back once, replays and a racing check do nothing', async () => {
      const c = await customer(w.t);
      const { o } = await paidStripeOrder(c, '8.00');
      w.stripe.refundStatus = 'pending';
      try {
        const r = await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { reason: 'requested_by_customer' }));
        assert.equal(r.refund.status, 'pending');
        assert.equal(await balance(w.t, c.userId), '0.00');
        const row = (await refundRow(o.id))!;
        const failed = w.stripe.setRefundStatus(row.provider_refund_id!, 'failed', 'expired_or_canceled_card');
        const ev1 = w.stripe.event('charge.refund.updated', failed);
        const ev2 = w.stripe.event('refund.failed', failed); // a second event about the same change
        await w.t.ctx.db.updateTable('payment_refunds').set({ updated_at: 0 }).where('id', '=', row.id).execute();
        const [a, b, c2, checks] = await Promise.all([
          stripeWebhook(w.t.url, ev1).then((x) => json(x)),
          stripeWebhook(w.t.url, ev1).then((x) => json(x)),
          stripeWebhook(w.t.url, ev2).then((x) => json(x)),
          checkPendingProviderRefunds(w.t.ctx, { olderThanMs: 0 }),
        ]);
        const outcomes = [a, b, c2].flatMap((x: any) => x.outcomes ?? []).concat(checks.filter((x) => x.orderId === o.id).map((x) => x.outcome));
        assert.equal(outcomes.filter((x) => x === 'refund_failed').length, 1, JSON.stringify(outcomes));
        assert.equal(await balance(w.t, c.userId), '8.00', 'the credit came back once');
        const after = (await refundRow(o.id))!;
        assert.equal(after.status, 'failed');
        assert.match(String(after.note), /expired_or_canceled_card/);
        const detail = await json(await admin(w.t, 'GET', `/api/admin/orders/${o.id}`));
        assert.equal(detail.status, 'credited');
        assert.equal(detail.refunded_amount ?? '0.00', '0.00');
      } finally {
        w.stripe.refundStatus = 'succeeded';
      }
    });

    test('a pending Stripe refund whose webhook never comes is checked by the reconcile pass and marked succeeded', async () => {
      const c = await customer(w.t);
      const { o } = await paidStripeOrder(c, '6.00');
      w.stripe.refundStatus = 'pending';
      try {
        await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { amount: '2.00', reason: 'requested_by_customer' }));
        const row = (await refundRow(o.id))!;
        assert.equal(row.status, 'pending');
        assert.deepEqual(
          (await reconcilePayments(w.t.ctx)).refunds.filter((x) => x.orderId === o.id),
          [],
          'not checked again right away',
        );
        w.stripe.setRefundStatus(row.provider_refund_id!, 'succeeded');
        await w.t.ctx.db
          .updateTable('payment_refunds')
          .set({ updated_at: w.t.ctx.now() - PENDING_REFUND_CHECK_AFTER_MS - 1000 })
          .where('id', '=', row.id)
          .execute();
        const pass = await reconcilePayments(w.t.ctx);
        assert.deepEqual(
          pass.refunds.filter((x) => x.orderId === o.id).map((x) => x.outcome),
          ['succeeded'],
        );
        assert.equal((await refundRow(o.id))!.status, 'succeeded');
        assert.equal(await balance(w.t, c.userId), '4.00');
      } finally {
        w.stripe.refundStatus = 'succeeded';
      }
    });

    test('EPay cannot recognise a repeated refund, so an interrupted one is never sent again: it is handed to the operator as manual', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '50.00', currency: 'CNY', provider: 'epay' });
      assert.equal(await (await epayNotify(w.t.url, w.epay.notify(o.id, '50.00'))).text(), 'success');
      assert.equal(await balance(w.t, c.userId), '7.00');
      const epay = w.t.ctx.payments.provider('epay');
      const realRefund = epay.refund.bind(epay);
      let stop = () => {};
      epay.refund = () =>
        new Promise((_, reject) => {
          stop = () => reject(providerUnavailable('epay', 'the refund request did not get an answer'));
        }); // Tally stops while EPay is being asked
      let inFlight: Promise<number> = Promise.resolve(0);
      try {
        const started = await interruptedRefund(o.id);
        const refundId = started.refundId;
        inFlight = started.inFlight;
        const before = w.epay.refunds.length;
        const r = await resumeInterruptedRefunds(w.t.ctx);
        assert.deepEqual(
          r.filter((x) => x.refundId === refundId).map((x) => x.outcome),
          ['handed_to_operator'],
        );
        assert.equal(w.epay.refunds.length, before, 'nothing was sent to EPay');
        const row = (await refundRow(o.id))!;
        assert.equal(row.status, 'manual');
        assert.match(String(row.note), /epay cannot tell a repeated refund from a new one/);
        assert.match(String(row.note), /return the money by hand/);
        assert.equal(await balance(w.t, c.userId), '0.00', 'the credit stays taken back: the money goes back by hand');
        // The original call failing late does not undo what the operator now owns; it answers with the refund as it stands.
        stop();
        assert.equal(await inFlight, 200);
        assert.equal((await refundRow(o.id))!.status, 'manual');
        assert.equal(await balance(w.t, c.userId), '0.00');
      } finally {
        stop();
        await inFlight;
        epay.refund = realRefund;
      }
    });
  });
}
