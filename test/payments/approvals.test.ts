import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { listAudit } from '../../src/audit/index.ts';
import { APPROVAL_LEASE_MS } from '../../src/support/approvals.ts';
import { compensateUser } from '../../src/payments/compensation.ts';
import { parseMoney } from '../../src/ledger/money.ts';
import { startPayWorld, customer, order, json, balance, admin, sandboxPay, paymentTransfers, assertLedgerOk, type PayWorld, type Customer } from './helpers.ts';

// Issue 11, item 3: "the support role can create money". A support user
// compensated their own account 999,999.00 and marked their own unpaid order
// paid with a made-up provider reference. Now: nobody acts on their own
// account; support acts alone only up to TALLY_SUPPORT_APPROVAL_ABOVE (10.00
// by default), above it a request waits for a different admin, whose approval
// runs the action exactly once; credit by hand asks the provider first.

type Staff = Customer;

for (const dialect of testDialects()) {
  describe(`support money actions: limits, approvals, one's own account on ${dialect}`, () => {
    let w: PayWorld;
    let sup: Staff;
    let adm: Staff;
    let adm2: Staff;
    before(async () => {
      w = await startPayWorld(dialect);
      // Staff are customers too (their own orders are paid through the sandbox as the owner), given a role.
      const mk = async (role: 'support' | 'admin') => {
        const c = await customer(w.t);
        await w.t.ctx.db.updateTable('users').set({ role }).where('id', '=', c.userId).execute();
        return c;
      };
      [sup, adm, adm2] = [await mk('support'), await mk('admin'), await mk('admin')];
    });
    afterEach(async () => {
      await assertLedgerOk(w.t);
    });
    after(async () => {
      await w?.close();
    });

    const post = (s: Staff, path: string, body: unknown) => s.f(path, { method: 'POST', body: JSON.stringify(body) });
    const errorOf = async (res: Response, status: number, code: string) => {
      const text = await res.text();
      assert.equal(res.status, status, text);
      const e = JSON.parse(text).error;
      assert.equal(e.code, code, text);
      assert.ok(e.message.length > 10, text);
      return e;
    };
    const forgetSession = (orderId: string) => {
      const s = [...w.stripe.sessions.values()].find((x) => x.metadata.order_id === orderId);
      assert.ok(s, `no Stripe session for ${orderId}`);
      w.stripe.sessions.delete(s.id);
    };
    const compensationTransfers = (userId: string) =>
      w.t.ctx.db.selectFrom('ledger_transfers').selectAll().where('credit_account_id', '=', `user:${userId}`).where('kind', '=', 'compensation').execute();

    /** Five approvals at once from two admins and the admin token: exactly one runs it; the others answer from the record or say it is running. */
    async function approveConcurrently(id: string) {
      const replies = await Promise.all([
        post(adm, `/api/admin/approvals/${id}/approve`, { reason: 'checked the evidence' }),
        post(adm2, `/api/admin/approvals/${id}/approve`, { reason: 'checked the evidence' }),
        admin(w.t, 'POST', `/api/admin/approvals/${id}/approve`, { reason: 'checked the evidence' }),
        post(adm, `/api/admin/approvals/${id}/approve`, { reason: 'checked the evidence' }),
        post(adm2, `/api/admin/approvals/${id}/approve`, { reason: 'checked the evidence' }),
      ]);
      const bodies = await Promise.all(replies.map(async (r) => ({ status: r.status, body: (await r.json()) as any })));
      for (const b of bodies) assert.ok(b.status === 200 || (b.status === 409 && b.body.error.code === 'approval_in_progress'), JSON.stringify(b));
      const ran = bodies.filter((b) => b.status === 200 && b.body.replayed === false);
      assert.equal(ran.length, 1, JSON.stringify(bodies));
      assert.equal(ran[0].body.approval.status, 'executed', JSON.stringify(ran[0].body));
      // Asked again afterwards: the record, nothing more.
      const again = await json(await post(adm, `/api/admin/approvals/${id}/approve`, { reason: 'again' }));
      assert.deepEqual([again.replayed, again.approval.status], [true, 'executed']);
      return ran[0].body.approval;
    }

    test('a support user cannot compensate their own account (999,999.00 or 1.00), nor credit, refund or approve for it; neither can an admin', async () => {
      for (const amount of ['999999.00', '1.00']) {
        await errorOf(
          await post(sup, `/api/admin/users/${sup.userId}/compensate`, { amount, reason: 'for me', ticket: 'TCK-0' }),
          403,
          'self_action_forbidden',
        );
        await errorOf(
          await post(adm, `/api/admin/users/${adm.userId}/compensate`, { amount, reason: 'for me', ticket: 'TCK-0' }),
          403,
          'self_action_forbidden',
        );
        await errorOf(await post(adm, `/api/admin/users/${adm.userId}/credit`, { amount, reason: 'for me' }), 403, 'self_action_forbidden');
      }
      await errorOf(
        await post(adm, `/api/admin/users/${adm.userId}/credit`, { amount: '-1.00', reason: 'a debit is still my own account' }),
        403,
        'self_action_forbidden',
      );
      await errorOf(await post(adm, `/api/admin/users/${adm.userId}/reveal`, { field: 'client_ips', reason: 'just looking' }), 403, 'self_action_forbidden');
      assert.equal(await balance(w.t, sup.userId), '0.00');
      assert.equal(await balance(w.t, adm.userId), '0.00');
      assert.equal((await listAudit(w.t.ctx.db, { target: sup.userId, action: 'balance.' })).length, 0);
      assert.equal((await json(await admin(w.t, 'GET', `/api/admin/approvals?user=${sup.userId}`))).data.length, 0, 'not even a request is recorded');
      // The admin token is the operator, not a person with an account: it may, audited as admin_token.
      const op = await json(
        await admin(w.t, 'POST', `/api/admin/users/${sup.userId}/compensate`, { amount: '0.50', reason: 'operator goodwill', ticket: 'TCK-OP' }),
      );
      assert.equal(op.kind, 'compensation');
      const audit = await listAudit(w.t.ctx.db, { target: sup.userId, action: 'balance.compensate' });
      assert.deepEqual(
        audit.map((a) => [a.actor, a.before.balance, a.after.balance]),
        [['admin_token', '0.00', '0.50']],
      );
    });

    test('a support user cannot mark their own unpaid order paid with a made-up reference; on another user\'s order the provider says "not paid" (409) unless an admin forces it', async () => {
      const mine = await order(sup, { amount: '50.00' });
      await errorOf(
        await post(sup, `/api/admin/orders/${mine.id}/credit`, { provider_reference: 'made-up-123', reason: 'trust me' }),
        403,
        'self_action_forbidden',
      );
      await errorOf(
        await post(adm, `/api/admin/orders/${(await order(adm, { amount: '50.00' })).id}/credit`, {
          provider_reference: 'made-up-123',
          reason: 'trust me',
          force: true,
        }),
        403,
        'self_action_forbidden',
      );
      assert.equal((await paymentTransfers(w.t, mine.id)).length, 0);
      assert.equal((await json(await sup.f(`/api/orders/${mine.id}`))).status, 'pending');

      const c = await customer(w.t);
      const o = await order(c, { amount: '20.00' });
      const e = await errorOf(
        await post(sup, `/api/admin/orders/${o.id}/credit`, { provider_reference: 'made-up-123', reason: 'receipt' }),
        409,
        'provider_says_not_paid',
      );
      assert.match(e.message, /admin can force/);
      await errorOf(
        await post(sup, `/api/admin/orders/${o.id}/credit`, { provider_reference: 'made-up-123', reason: 'receipt', force: true }),
        409,
        'provider_says_not_paid',
      );
      await errorOf(
        await post(adm, `/api/admin/orders/${o.id}/credit`, { provider_reference: 'made-up-123', reason: 'receipt' }),
        409,
        'provider_says_not_paid',
      );
      assert.equal(await balance(w.t, c.userId), '0.00');
      assert.equal((await listAudit(w.t.ctx.db, { target: o.id, action: 'payment.credit_order' })).length, 0);

      const forced = await json(
        await post(adm, `/api/admin/orders/${o.id}/credit`, {
          provider_reference: 'bank-wire-7781',
          reason: 'paid by bank wire, receipt in TCK-12',
          force: true,
        }),
      );
      assert.deepEqual([forced.outcome, forced.provider_check], ['credited', 'not_paid_forced']);
      assert.equal(await balance(w.t, c.userId), '20.00');
      const [a] = await listAudit(w.t.ctx.db, { target: o.id, action: 'payment.credit_order' });
      assert.equal(a.actor, `user:${adm.userId}`);
      assert.deepEqual(
        [a.data.provider_check, a.before.status, a.after.status, a.before.wallet.balance, a.after.wallet.balance],
        ['not_paid_forced', 'pending', 'credited', '0.00', '20.00'],
      );
    });

    test("credit by hand that the provider confirms: support may do it alone, with the provider's own trade id", async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '50.00' });
      const paid = await json(await sandboxPay(w.t, o.id, 'never')); // paid at the sandbox; its callback never came
      const r = await json(
        await post(sup, `/api/admin/orders/${o.id}/credit`, { provider_reference: 'typo-in-the-receipt', reason: 'customer sent the receipt' }),
      );
      assert.deepEqual([r.outcome, r.provider_check], ['credited', 'confirmed']);
      assert.equal(await balance(w.t, c.userId), '50.00');
      const [a] = await listAudit(w.t.ctx.db, { target: o.id, action: 'payment.credit_order' });
      assert.deepEqual([a.data.provider_check, a.data.trade_id, a.data.provider_reference], ['confirmed', paid.trade_id, 'typo-in-the-receipt']);
      assert.equal((await paymentTransfers(w.t, o.id)).length, 1);
    });

    test('credit by hand when the provider cannot be asked: support\'s request waits; five concurrent approvals credit it once, audited provider_check "unavailable"', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '3.00', provider: 'stripe' });
      forgetSession(o.id); // Stripe no longer knows the session: it cannot confirm or deny
      const req = await json(
        await post(sup, `/api/admin/orders/${o.id}/credit`, { provider_reference: 'pi_from_receipt', reason: 'customer sent a bank statement' }),
        202,
      );
      assert.equal(req.status, 'approval_pending');
      assert.deepEqual(
        [req.approval.action, req.approval.status, req.approval.params.provider_check, req.approval.amount],
        ['orders.credit', 'pending', 'unavailable', '3.00'],
      );
      assert.equal(await balance(w.t, c.userId), '0.00');
      // Asking twice makes one request.
      const again = await json(
        await post(sup, `/api/admin/orders/${o.id}/credit`, { provider_reference: 'pi_from_receipt', reason: 'customer sent a bank statement' }),
        202,
      );
      assert.deepEqual([again.approval.id, again.replayed], [req.approval.id, true]);
      await errorOf(await post(sup, `/api/admin/approvals/${req.approval.id}/approve`, { reason: 'me' }), 403, 'forbidden');

      const done = await approveConcurrently(req.approval.id);
      assert.deepEqual([done.result.outcome, done.result.provider_check], ['credited', 'unavailable']);
      assert.equal(await balance(w.t, c.userId), '3.00');
      assert.equal((await paymentTransfers(w.t, o.id)).length, 1);
      const [a] = await listAudit(w.t.ctx.db, { target: o.id, action: 'payment.credit_order' });
      assert.deepEqual([a.data.provider_check, a.data.approval_id, a.data.requested_by], ['unavailable', req.approval.id, `user:${sup.userId}`]);
      assert.ok([`user:${adm.userId}`, `user:${adm2.userId}`, 'admin_token'].includes(a.actor));

      // An admin acting directly on such an order proceeds, and the audit row says the provider was not asked successfully.
      const o2 = await order(c, { amount: '2.00', provider: 'stripe' });
      forgetSession(o2.id);
      const direct = await json(await post(adm, `/api/admin/orders/${o2.id}/credit`, { provider_reference: 'pi_statement', reason: 'bank statement checked' }));
      assert.deepEqual([direct.outcome, direct.provider_check], ['credited', 'unavailable']);
    });

    test('support compensates up to the limit alone; above it the request waits, and five concurrent approvals pay it once', async () => {
      const c = await customer(w.t);
      const small = await json(await post(sup, `/api/admin/users/${c.userId}/compensate`, { amount: '10.00', reason: 'outage', ticket: 'TCK-20' }));
      assert.equal(small.kind, 'compensation');
      const big = await json(
        await post(sup, `/api/admin/users/${c.userId}/compensate`, { amount: '10.01', reason: 'long outage', ticket: 'TCK-21', idempotency_key: 'tck-21' }),
        202,
      );
      assert.deepEqual(
        [big.status, big.approval.status, big.approval.amount, big.approval.requested_by],
        ['approval_pending', 'pending', '10.01', `user:${sup.userId}`],
      );
      assert.equal(await balance(w.t, c.userId), '10.00');
      const requested = await listAudit(w.t.ctx.db, { target: big.approval.id, action: 'approval.request' });
      assert.deepEqual(
        requested.map((a) => a.actor),
        [`user:${sup.userId}`],
      );
      const pending = await json(await sup.f('/api/admin/approvals?status=pending'));
      assert.ok(pending.data.some((a: any) => a.id === big.approval.id));

      const done = await approveConcurrently(big.approval.id);
      assert.equal(done.result.amount, '10.01');
      assert.equal(await balance(w.t, c.userId), '20.01');
      const transfers = await compensationTransfers(c.userId);
      assert.equal(transfers.filter((x) => x.idempotency_key === `approval:${big.approval.id}`).length, 1);
      assert.equal(transfers.length, 2);
      const grants = await listAudit(w.t.ctx.db, { target: c.userId, action: 'balance.compensate' });
      const approved = grants.find((g) => g.data.approval_id === big.approval.id)!;
      assert.deepEqual(
        [approved.data.requested_by, approved.before.balance, approved.after.balance, approved.reason],
        [`user:${sup.userId}`, '10.00', '20.01', 'long outage'],
      );
      assert.equal((await listAudit(w.t.ctx.db, { target: big.approval.id, action: 'approval.approve' })).length, 1);
      await errorOf(await post(adm, `/api/admin/approvals/${big.approval.id}/reject`, { reason: 'too late' }), 409, 'approval_already_decided');
    });

    test('an approval cannot be approved by its requester (even promoted to admin), nor by an admin for their own account; a rejected one moves nothing', async () => {
      const c = await customer(w.t);
      const r = await json(await post(sup, `/api/admin/users/${c.userId}/compensate`, { amount: '25.00', reason: 'outage', ticket: 'TCK-30' }), 202);
      await w.t.ctx.db.updateTable('users').set({ role: 'admin' }).where('id', '=', sup.userId).execute();
      try {
        await errorOf(await post(sup, `/api/admin/approvals/${r.approval.id}/approve`, { reason: 'looks right to me' }), 403, 'self_approval_forbidden');
      } finally {
        await w.t.ctx.db.updateTable('users').set({ role: 'support' }).where('id', '=', sup.userId).execute();
      }
      // Support asks for a compensation of an admin's own account: that admin may not approve it; another may.
      const forAdm = await json(
        await post(sup, `/api/admin/users/${adm.userId}/compensate`, { amount: '11.00', reason: 'outage', ticket: 'TCK-31', idempotency_key: 'tck-31' }),
        202,
      );
      await errorOf(await post(adm, `/api/admin/approvals/${forAdm.approval.id}/approve`, { reason: 'fine' }), 403, 'self_action_forbidden');
      await errorOf(await post(adm, `/api/admin/approvals/${forAdm.approval.id}/reject`, { reason: 'fine' }), 403, 'self_action_forbidden');
      const rej = await json(await post(adm2, `/api/admin/approvals/${forAdm.approval.id}/reject`, { reason: 'not covered by the outage policy' }));
      assert.deepEqual(
        [rej.approval.status, rej.approval.decided_by, rej.approval.decision_reason],
        ['rejected', `user:${adm2.userId}`, 'not covered by the outage policy'],
      );
      await errorOf(await post(adm2, `/api/admin/approvals/${forAdm.approval.id}/approve`, { reason: 'changed my mind' }), 409, 'approval_already_decided');
      // Rejected, the request frees its idempotency key: asking again is a new request.
      const anew = await json(
        await post(sup, `/api/admin/users/${adm.userId}/compensate`, {
          amount: '11.00',
          reason: 'outage, with the status page link',
          ticket: 'TCK-31',
          idempotency_key: 'tck-31',
        }),
        202,
      );
      assert.notEqual(anew.approval.id, forAdm.approval.id);
      await json(await post(adm2, `/api/admin/approvals/${anew.approval.id}/reject`, { reason: 'still not covered' }));
      assert.equal(await balance(w.t, adm.userId), '0.00');
      assert.equal((await listAudit(w.t.ctx.db, { target: forAdm.approval.id, action: 'approval.reject' })).length, 1);
      await errorOf(await post(adm, `/api/admin/approvals/${r.approval.id}/approve`, { reason: '' }), 400, 'invalid_request');
      await json(await post(adm, `/api/admin/approvals/${r.approval.id}/approve`, { reason: 'outage confirmed' }));
      assert.equal(await balance(w.t, c.userId), '25.00');
    });

    test('a support refund above the limit waits; approved concurrently it refunds once, under a refund id derived from the approval', async () => {
      const c = await customer(w.t);
      const small = await order(c, { amount: '5.00' });
      await json(await sandboxPay(w.t, small.id, 'succeed'));
      const big = await order(c, { amount: '30.00' });
      await json(await sandboxPay(w.t, big.id, 'succeed'));
      const direct = await json(await post(sup, `/api/admin/orders/${small.id}/refund`, { reason: 'requested_by_customer', note: 'TCK-40' }));
      assert.equal(direct.order.status, 'refunded');
      await errorOf(await post(sup, `/api/admin/orders/${big.id}/refund`, { reason: 'requested_by_customer', force: true }), 403, 'forbidden'); // was 400: one code, one status
      const req = await json(await post(sup, `/api/admin/orders/${big.id}/refund`, { reason: 'requested_by_customer', note: 'TCK-41' }), 202);
      assert.deepEqual([req.approval.action, req.approval.amount, req.approval.params.amount], ['orders.refund', '30.00', '30.00']);
      const twice = await json(await post(sup, `/api/admin/orders/${big.id}/refund`, { reason: 'requested_by_customer', note: 'TCK-41' }), 202);
      assert.deepEqual([twice.approval.id, twice.replayed], [req.approval.id, true], 'a double click is one request');
      assert.equal(await balance(w.t, c.userId), '30.00');
      const done = await approveConcurrently(req.approval.id);
      assert.equal(done.result.refund_id, `rfd_${req.approval.id}`);
      assert.equal(done.result.order_status, 'refunded');
      assert.equal(await balance(w.t, c.userId), '0.00');
      const refunds = await w.t.ctx.db.selectFrom('payment_refunds').selectAll().where('order_id', '=', big.id).execute();
      assert.deepEqual(
        refunds.map((r) => [r.id, r.status]),
        [[`rfd_${req.approval.id}`, 'succeeded']],
      );
      const [a] = await listAudit(w.t.ctx.db, { target: big.id, action: 'payment.refund' });
      assert.deepEqual([a.data.approval_id, a.before.wallet.balance, a.after.wallet.balance, a.after.status], [req.approval.id, '30.00', '0.00', 'refunded']);
    });

    test('duplicate payments above the limit: keeping one as credit or refunding it waits for approval and then happens once', async () => {
      const c = await customer(w.t);
      const o = await order(c, { amount: '12.00' });
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      const keepTrade = (await json(await sandboxPay(w.t, o.id, 'pay_again'))).trade_id;
      const refundTrade = (await json(await sandboxPay(w.t, o.id, 'pay_again'))).trade_id;
      const keep = await json(await post(sup, `/api/admin/payments/trades/${keepTrade}/keep`, { reason: 'customer keeps it as balance' }), 202);
      const refund = await json(await post(sup, `/api/admin/payments/trades/${refundTrade}/refund`, { reason: 'customer wants it back' }), 202);
      assert.deepEqual([keep.approval.action, keep.approval.amount, refund.approval.action], ['trades.keep', '12.00', 'trades.refund']);
      assert.equal(await balance(w.t, c.userId), '12.00');
      const kept = await approveConcurrently(keep.approval.id);
      assert.equal(kept.result.credit, '12.00');
      const refunded = await approveConcurrently(refund.approval.id);
      assert.equal(refunded.result.refund_status, 'succeeded');
      assert.equal(await balance(w.t, c.userId), '24.00');
      assert.equal((await paymentTransfers(w.t, o.id)).length, 2);
      const detail = await json(await admin(w.t, 'GET', `/api/admin/orders/${o.id}`));
      assert.deepEqual(
        detail.trades
          .filter((t: any) => t.outcome === 'duplicate_payment')
          .map((t: any) => t.decision)
          .sort(),
        ['kept', 'refunded'],
      );
      assert.equal((await listAudit(w.t.ctx.db, { target: o.id, action: 'payment.keep_duplicate' }))[0].data.approval_id, keep.approval.id);
    });

    test('an approval interrupted by a crash (claimed, or run but not recorded) is finished by approving it again after the lease, and still pays once', async () => {
      const c = await customer(w.t);
      const ask = async (amount: string) =>
        (await json(await post(sup, `/api/admin/users/${c.userId}/compensate`, { amount, reason: 'outage', ticket: 'TCK-50' }), 202)).approval.id as string;
      const stale = () => w.t.ctx.now() - APPROVAL_LEASE_MS - 1000;
      // 1. Claimed (pending → approved), then the process died before the action ran.
      const a1 = await ask('11.00');
      await w.t.ctx.db
        .updateTable('support_approvals')
        .set({ status: 'approved', decided_by: 'admin_token', decided_at: stale(), updated_at: stale() })
        .where('id', '=', a1)
        .execute();
      // 2. Claimed and run (the transfer exists), then the process died before recording the outcome.
      const a2 = await ask('12.00');
      await w.t.ctx.db
        .updateTable('support_approvals')
        .set({ status: 'approved', decided_by: 'admin_token', decided_at: stale(), updated_at: stale() })
        .where('id', '=', a2)
        .execute();
      await compensateUser(w.t.ctx.db, {
        userId: c.userId,
        amount: parseMoney('12.00'),
        reason: 'outage',
        ticket: 'TCK-50',
        actor: { type: 'admin_token' },
        idempotencyKey: `approval:${a2}`,
        approval: { approvalId: a2, requestedBy: `user:${sup.userId}` },
      });
      assert.equal(await balance(w.t, c.userId), '12.00');
      // 3. Approved a moment ago and still running: not taken over.
      const a3 = await ask('13.00');
      await w.t.ctx.db
        .updateTable('support_approvals')
        .set({ status: 'approved', decided_by: 'admin_token', decided_at: w.t.ctx.now(), updated_at: w.t.ctx.now() })
        .where('id', '=', a3)
        .execute();
      await errorOf(await post(adm, `/api/admin/approvals/${a3}/approve`, { reason: 'again' }), 409, 'approval_in_progress');

      for (const id of [a1, a2]) await approveConcurrently(id);
      assert.equal(await balance(w.t, c.userId), '23.00');
      for (const id of [a1, a2]) {
        assert.equal((await compensationTransfers(c.userId)).filter((x) => x.idempotency_key === `approval:${id}`).length, 1);
        assert.equal((await listAudit(w.t.ctx.db, { target: id, action: 'approval.resume' })).length, 1);
      }
    });
  });
}
