import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import { testDialects } from '../helpers/db.ts';
import {
  startPayWorld,
  customer,
  order,
  json,
  balance,
  admin,
  stripeWebhook,
  paymentTransfers,
  assertLedgerOk,
  type PayWorld,
  type Customer,
} from './helpers.ts';

for (const dialect of testDialects()) {
  describe(`Stripe Checkout and webhooks on ${dialect}`, () => {
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

    const stripeOrder = async (c: Customer, amount: string) => {
      const o = await order(c, { amount, provider: 'stripe' });
      const ref = [...w.stripe.sessions.values()].find((s) => s.client_reference_id === o.id)!;
      return { o, sessionId: ref.id };
    };
    const status = async (c: Customer, id: string) => (await json(await c.f(`/api/orders/${id}`))).status;

    test('checkout.session.completed (paid) credits once; repeated deliveries of the event are dropped', async () => {
      const c = await customer(w.t);
      const { o, sessionId } = await stripeOrder(c, '25.00');
      assert.match(o.checkout_url, /checkout\.stripe\.test/);
      assert.equal(w.stripe.sessions.get(sessionId)!.amount_total, 2500);
      const ev = w.stripe.event('checkout.session.completed', w.stripe.pay(sessionId));
      const first = await json(await stripeWebhook(w.t.url, ev));
      assert.deepEqual(first.outcomes, ['credited']);
      const again = await Promise.all([1, 2, 3].map(() => stripeWebhook(w.t.url, ev).then((r) => json(r))));
      assert.ok(again.every((r) => r.duplicate === true || r.outcomes[0] === 'already_credited'));
      assert.equal(await balance(w.t, c.userId), '25.00');
      assert.equal((await paymentTransfers(w.t, o.id)).length, 1);
    });

    test('out-of-order events: expired and completed(unpaid) arriving after the success cannot undo the credit', async () => {
      const c = await customer(w.t);
      const { o, sessionId } = await stripeOrder(c, '12.00');
      w.stripe.pay(sessionId, { async: true });
      const succeeded = w.stripe.event('checkout.session.async_payment_succeeded', w.stripe.settleAsync(sessionId, true));
      const completedUnpaid = w.stripe.event('checkout.session.completed', { ...w.stripe.sessions.get(sessionId)!, payment_status: 'unpaid' });
      const expired = w.stripe.event('checkout.session.expired', { ...w.stripe.sessions.get(sessionId)!, status: 'expired', payment_status: 'unpaid' });
      assert.deepEqual((await json(await stripeWebhook(w.t.url, succeeded))).outcomes, ['credited']);
      assert.deepEqual((await json(await stripeWebhook(w.t.url, completedUnpaid))).outcomes, ['pending']);
      assert.deepEqual((await json(await stripeWebhook(w.t.url, expired))).outcomes, ['refused']);
      assert.equal(await status(c, o.id), 'credited');
      assert.equal(await balance(w.t, c.userId), '12.00');
      const detail = await json(await admin(w.t, 'GET', `/api/admin/orders/${o.id}`));
      assert.ok(detail.timeline.some((e: any) => e.kind === 'refused' && e.to === 'expired'));
    });

    test('async_payment_failed fails the order; expired closes an unpaid one', async () => {
      const c = await customer(w.t);
      const a = await stripeOrder(c, '5.00');
      w.stripe.pay(a.sessionId, { async: true });
      assert.deepEqual(
        (await json(await stripeWebhook(w.t.url, w.stripe.event('checkout.session.async_payment_failed', w.stripe.settleAsync(a.sessionId, false))))).outcomes,
        ['failed'],
      );
      assert.equal(await status(c, a.o.id), 'failed');
      const b = await stripeOrder(c, '5.00');
      assert.deepEqual((await json(await stripeWebhook(w.t.url, w.stripe.event('checkout.session.expired', w.stripe.expire(b.sessionId))))).outcomes, [
        'expired',
      ]);
      assert.equal(await status(c, b.o.id), 'expired');
      assert.equal(await balance(w.t, c.userId), '0.00');
    });

    test('a webhook with a bad signature, another secret or a stale timestamp is refused with 400 and changes nothing', async () => {
      const c = await customer(w.t);
      const { o, sessionId } = await stripeOrder(c, '9.00');
      const paid = w.stripe.pay(sessionId);
      const forged = w.stripe.event('checkout.session.completed', paid, { secret: 'whsec_someone_else' });
      const stale = w.stripe.event('checkout.session.completed', paid, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
      const good = w.stripe.event('checkout.session.completed', paid);
      const tampered = { body: good.body.replace('"amount_total":900', '"amount_total":90000'), header: good.header };
      for (const ev of [forged, stale, tampered]) assert.equal((await stripeWebhook(w.t.url, ev)).status, 400);
      assert.equal(await status(c, o.id), 'pending');
      assert.equal(await balance(w.t, c.userId), '0.00');
    });

    test('reconcile retrieves the session from the Stripe API and credits a paid order whose webhook was lost', async () => {
      const c = await customer(w.t);
      const { o, sessionId } = await stripeOrder(c, '15.00');
      w.stripe.pay(sessionId);
      const rec = await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/reconcile`));
      assert.equal(rec.result, 'credited');
      const late = w.stripe.event('checkout.session.completed', w.stripe.sessions.get(sessionId)!);
      assert.deepEqual((await json(await stripeWebhook(w.t.url, late))).outcomes, ['already_credited']);
      assert.equal(await balance(w.t, c.userId), '15.00');
    });

    test('support refunds part then the rest through the Stripe API; the credit comes back proportionally; charge.refunded books nothing twice', async () => {
      const c = await customer(w.t);
      const { o, sessionId } = await stripeOrder(c, '20.00');
      await stripeWebhook(w.t.url, w.stripe.event('checkout.session.completed', w.stripe.pay(sessionId)));
      const p1 = await json(
        await admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { amount: '5.00', reason: 'requested_by_customer', note: 'ticket TCK-9' }),
      );
      assert.equal(p1.order.status, 'partially_refunded');
      assert.equal(p1.refund.status, 'succeeded');
      assert.equal(await balance(w.t, c.userId), '15.00');
      const s = w.stripe.sessions.get(sessionId)!;
      assert.deepEqual((await json(await stripeWebhook(w.t.url, w.stripe.event('charge.refunded', w.stripe.charge(s, 500))))).outcomes, ['nothing_to_do']);
      const p2 = await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { reason: 'requested_by_customer' }));
      assert.equal(p2.order.status, 'refunded');
      assert.equal(await balance(w.t, c.userId), '0.00');
      assert.deepEqual(
        w.stripe.refunds.filter((r) => r.payment_intent === s.payment_intent).map((r) => r.amount),
        [500, 1500],
      );
      const over = await admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { amount: '1.00', reason: 'other' });
      assert.equal(over.status, 409);
    });

    test('a refund larger than the remaining balance is refused with an explanation; an admin can force it, booked to uncollected', async () => {
      const c = await customer(w.t);
      const { o, sessionId } = await stripeOrder(c, '10.00');
      await stripeWebhook(w.t.url, w.stripe.event('checkout.session.completed', w.stripe.pay(sessionId)));
      // The user spends 7.00 of the 10.00 credit.
      await json(await admin(w.t, 'POST', `/api/admin/users/${c.userId}/credit`, { amount: '-7.00', reason: 'usage (simulated)' }));
      const refused = await admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { reason: 'requested_by_customer' });
      assert.equal(refused.status, 409);
      const err = ((await refused.json()) as any).error;
      assert.equal(err.code, 'refund_exceeds_balance');
      assert.match(err.message, /already spent 7\.00/);
      assert.equal(await balance(w.t, c.userId), '3.00');
      assert.equal(w.stripe.refunds.filter((r) => r.payment_intent === w.stripe.sessions.get(sessionId)!.payment_intent).length, 0);
      const forced = await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { reason: 'requested_by_customer', force: true }));
      assert.equal(forced.refund.from_wallet, '3.00');
      assert.equal(forced.refund.uncollected, '7.00');
      assert.equal(await balance(w.t, c.userId), '0.00'); // never negative
    });

    test('a refund Stripe refuses is reversed in the ledger and the order goes back to credited', async () => {
      const c = await customer(w.t);
      const { o, sessionId } = await stripeOrder(c, '4.00');
      await stripeWebhook(w.t.url, w.stripe.event('checkout.session.completed', w.stripe.pay(sessionId)));
      w.stripe.failRefunds = true;
      const res = await admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { reason: 'duplicate' });
      w.stripe.failRefunds = false;
      assert.equal(res.status, 502);
      assert.equal(await status(c, o.id), 'credited');
      assert.equal(await balance(w.t, c.userId), '4.00');
    });

    test('provider-initiated refunds and disputes are booked once, even when replayed', async () => {
      const c = await customer(w.t);
      const a = await stripeOrder(c, '10.00');
      await stripeWebhook(w.t.url, w.stripe.event('checkout.session.completed', w.stripe.pay(a.sessionId)));
      const refunded = w.stripe.event('charge.refunded', w.stripe.charge(w.stripe.sessions.get(a.sessionId)!, 400));
      assert.deepEqual((await json(await stripeWebhook(w.t.url, refunded))).outcomes, ['refund_booked']);
      assert.equal((await json(await stripeWebhook(w.t.url, refunded))).duplicate, true);
      assert.equal(await status(c, a.o.id), 'partially_refunded');
      assert.equal(await balance(w.t, c.userId), '6.00');
      const b = await stripeOrder(c, '10.00');
      await stripeWebhook(w.t.url, w.stripe.event('checkout.session.completed', w.stripe.pay(b.sessionId)));
      const dispute = w.stripe.dispute(w.stripe.sessions.get(b.sessionId)!, 1000);
      assert.deepEqual((await json(await stripeWebhook(w.t.url, w.stripe.event('charge.dispute.created', dispute)))).outcomes, ['dispute_booked']);
      assert.deepEqual((await json(await stripeWebhook(w.t.url, w.stripe.event('charge.dispute.created', dispute)))).outcomes, ['nothing_to_do']);
      assert.equal(await status(c, b.o.id), 'disputed');
      assert.equal(await balance(w.t, c.userId), '6.00');
    });

    test('a won dispute gives the credit back once, however often Stripe says so; a lost one keeps it taken back', async () => {
      const c = await customer(w.t);
      const won = await stripeOrder(c, '10.00');
      await stripeWebhook(w.t.url, w.stripe.event('checkout.session.completed', w.stripe.pay(won.sessionId)));
      const d1 = w.stripe.dispute(w.stripe.sessions.get(won.sessionId)!, 1000);
      await stripeWebhook(w.t.url, w.stripe.event('charge.dispute.created', d1));
      assert.equal(await balance(w.t, c.userId), '0.00');
      // The user spends nothing meanwhile; the bank sides with the merchant.
      const closedWon = { ...d1, status: 'won' };
      const outcomes = await Promise.all([1, 2, 3].map(() => stripeWebhook(w.t.url, w.stripe.event('charge.dispute.closed', closedWon)).then((r) => json(r))));
      assert.deepEqual(outcomes.flatMap((o: any) => o.outcomes).sort(), ['dispute_won', 'nothing_to_do', 'nothing_to_do']);
      assert.equal(await balance(w.t, c.userId), '10.00', 'the credit came back once');
      assert.equal(await status(c, won.o.id), 'credited');
      const detail = await json(await admin(w.t, 'GET', `/api/admin/orders/${won.o.id}`));
      assert.equal(detail.refunds[0].status, 'reversed');
      assert.ok(detail.timeline.some((e: any) => /dispute .* was won/.test(e.reason ?? '')));

      const lost = await stripeOrder(c, '5.00');
      await stripeWebhook(w.t.url, w.stripe.event('checkout.session.completed', w.stripe.pay(lost.sessionId)));
      const d2 = w.stripe.dispute(w.stripe.sessions.get(lost.sessionId)!, 500);
      await stripeWebhook(w.t.url, w.stripe.event('charge.dispute.created', d2));
      assert.deepEqual((await json(await stripeWebhook(w.t.url, w.stripe.event('charge.dispute.closed', { ...d2, status: 'lost' })))).outcomes, [
        'dispute_lost',
      ]);
      assert.equal(await balance(w.t, c.userId), '10.00');
      assert.equal(await status(c, lost.o.id), 'disputed');
    });
    test('an event with a valid signature but an unexpected shape is answered 400, changes nothing, and is noted on its order once', async () => {
      const c = await customer(w.t);
      const { o, sessionId } = await stripeOrder(c, '25.00');
      const paid = w.stripe.pay(sessionId);
      const { currency: _c, ...noCurrency } = paid;
      const signer = new Stripe('sk_test_signer');
      const signed = (body: string) => ({ body, header: signer.webhooks.generateTestHeaderString({ payload: body, secret: w.stripe.webhookSecret }) });
      const envelope = (rest: Record<string, unknown>) =>
        JSON.stringify({ id: `evt_test_shape_${Math.random().toString(36).slice(2)}`, object: 'event', type: 'checkout.session.completed', ...rest });
      const noCurrencyEvent = w.stripe.event('checkout.session.completed', noCurrency); // paid, but in what currency?
      const malformed = [
        noCurrencyEvent,
        w.stripe.event('checkout.session.completed', { ...paid, amount_total: '2500' }),
        w.stripe.event('checkout.session.async_payment_succeeded', { ...paid, amount_total: null }),
        w.stripe.event('charge.refunded', { ...w.stripe.charge(paid, 2500), amount_refunded: undefined }),
        w.stripe.event('charge.dispute.created', { ...w.stripe.dispute(paid, 2500), currency: 7 }),
        signed(envelope({ data: {} })),
        signed(envelope({ data: { object: null } })),
        signed(envelope({ data: { object: 'cs_test' } })),
        signed(envelope({ type: undefined, data: { object: paid } })),
        signed('not json at all'),
      ];
      for (const ev of malformed) {
        const res = await stripeWebhook(w.t.url, ev);
        const text = await res.text();
        assert.equal(res.status, 400, `${ev.body.slice(0, 120)} → ${res.status} ${text}`);
        assert.equal(JSON.parse(text).error.code, 'invalid_event');
        assert.ok(!text.includes(w.stripe.webhookSecret));
      }
      // Stripe retries: the same event again is refused again, and noted once.
      assert.equal((await stripeWebhook(w.t.url, noCurrencyEvent)).status, 400);
      assert.equal(await status(c, o.id), 'pending');
      assert.equal(await balance(w.t, c.userId), '0.00');
      const detail = await json(await admin(w.t, 'GET', `/api/admin/orders/${o.id}`));
      const notes = detail.timeline.filter((e: any) => e.kind === 'note' && /unexpected shape/.test(e.reason ?? ''));
      assert.equal(notes.filter((e: any) => e.reason.includes(noCurrencyEvent.id)).length, 1, JSON.stringify(notes));
      assert.match(notes[0].reason, /checkout\.session\.completed/);
      assert.match(notes[0].reason, /data\.object\.currency/);
      // The well-formed event still credits.
      assert.deepEqual((await json(await stripeWebhook(w.t.url, w.stripe.event('checkout.session.completed', paid)))).outcomes, ['credited']);
      assert.equal(await balance(w.t, c.userId), '25.00');
    });
  });
}
