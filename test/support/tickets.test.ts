import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { seedUser, signIn } from '../helpers/tally.ts';
import { listAudit } from '../../src/audit/index.ts';
import { verifyLedger } from '../../src/ledger/verify.ts';
import { startPayWorld, customer, json, admin, type PayWorld } from '../payments/helpers.ts';

for (const dialect of testDialects()) {
  describe(`support tickets, audit and help on ${dialect}`, () => {
    let w: PayWorld;
    before(async () => {
      w = await startPayWorld(dialect);
    });
    after(async () => {
      try {
        const r = await verifyLedger(w.t.ctx.db, { graceMs: 60_000 });
        assert.ok(r.ok);
      } finally {
        await w?.close();
      }
    });

    test('a ticket is stored only after redaction; the user is told what was removed; the diagnosis is attached', async () => {
      const c = await customer(w.t);
      const r = await json(
        await c.f('/api/tickets', {
          method: 'POST',
          body: JSON.stringify({
            subject: 'paid but not credited',
            message: 'I paid with card 4111 1111 1111 1111, my 密码: hunter2, key sk-abcdefghijklmnopqrstuvwx1234',
            amount: '10.00',
            payment_method: 'alipay',
            submitted_twice: false,
            reference: '…ab12',
            page_message: '支付成功',
          }),
        } as any),
        201,
      );
      assert.equal(r.ticket.status, 'open');
      const stored = (await w.t.ctx.db.selectFrom('support_ticket_messages').select('body').where('ticket_id', '=', r.ticket.id).execute())
        .map((m) => m.body)
        .join('\n');
      assert.ok(!stored.includes('4111 1111 1111 1111') && !stored.includes('hunter2') && !stored.includes('sk-abcdefghijklmnopqrstuvwx1234'), stored);
      assert.deepEqual(r.redactions.map((x: any) => x.kind).sort(), ['api_key', 'card_number', 'password']);
      assert.match(r.notice.en, /public channel/);
      assert.ok(r.ticket.diagnosis && Array.isArray(r.ticket.diagnosis.cases));
      assert.equal((await listAudit(w.t.ctx.db, { target: r.ticket.id, action: 'ticket.open' })).length, 1);
    });

    test('states: open → waiting_on_user → waiting_on_support → resolved → closed, each support action one audit row with before/after', async () => {
      const c = await customer(w.t);
      const { ticket } = await json(await c.f('/api/tickets', { method: 'POST', body: JSON.stringify({ subject: 's', message: 'm' }) } as any), 201);
      const reply = await json(await admin(w.t, 'POST', `/api/admin/tickets/${ticket.id}/messages`, { message: 'which order?' }), 201);
      assert.equal(reply.ticket.status, 'waiting_on_user');
      const back = await json(
        await c.f(`/api/tickets/${ticket.id}/messages`, { method: 'POST', body: JSON.stringify({ message: 'the 10.00 one' }) } as any),
        201,
      );
      assert.equal(back.ticket.status, 'waiting_on_support');
      const handoff = await admin(w.t, 'PUT', `/api/admin/tickets/${ticket.id}/handoff`, {
        owner: 'alice',
        environment: 'prod',
        capability: 'payments',
        last_known_good: 'order credited 09:00',
        observed_symptom: 'no credit',
        evidence_collected: 'order timeline',
        next_review_at: '2030-01-01T00:00:00Z',
      });
      assert.equal((await json(handoff)).handoff.owner, 'alice');
      assert.equal(
        (await json(await admin(w.t, 'POST', `/api/admin/tickets/${ticket.id}/status`, { status: 'resolved', reason: 'credited' }))).status,
        'resolved',
      );
      assert.equal((await json(await admin(w.t, 'POST', `/api/admin/tickets/${ticket.id}/status`, { status: 'closed' }))).status, 'closed');
      assert.equal((await admin(w.t, 'POST', `/api/admin/tickets/${ticket.id}/status`, { status: 'open' })).status, 409);
      const audit = await listAudit(w.t.ctx.db, { target: ticket.id, action: 'ticket.' });
      assert.deepEqual(audit.map((a) => a.action).reverse(), ['ticket.open', 'ticket.reply', 'ticket.handoff', 'ticket.status', 'ticket.status']);
      const resolved = audit.find((a) => a.after?.status === 'resolved')!;
      assert.equal(resolved.before.status, 'waiting_on_support');
      assert.equal(resolved.reason, 'credited');
      const view = await json(await c.f(`/api/tickets/${ticket.id}`));
      assert.equal(view.handoff, undefined, 'handoff notes are support-only');
      const filtered = await json(await admin(w.t, 'GET', `/api/admin/audit?target=${ticket.id}&action=ticket.status`));
      assert.equal(filtered.data.length, 2);
    });

    test("a user cannot see or write to another user's tickets", async () => {
      const a = await customer(w.t);
      const b = await customer(w.t);
      const { ticket } = await json(await a.f('/api/tickets', { method: 'POST', body: JSON.stringify({ subject: 's', message: 'm' }) } as any), 201);
      assert.equal((await b.f(`/api/tickets/${ticket.id}`)).status, 404);
      assert.equal((await b.f(`/api/tickets/${ticket.id}/messages`, { method: 'POST', body: JSON.stringify({ message: 'x' }) } as any)).status, 404);
      assert.equal((await json(await b.f('/api/tickets'))).data.length, 0);
      assert.equal((await b.f('/api/admin/tickets')).status, 403);
    });

    test("support can't reveal; an admin reveals with a reason, audited once", async () => {
      const target = await customer(w.t);
      const s = await seedUser(w.t, { role: 'support' });
      const sf = await signIn(w.t, s.email, s.password);
      assert.equal(
        (await sf(`/api/admin/users/${target.userId}/reveal`, { method: 'POST', body: JSON.stringify({ field: 'email', reason: 'verify identity' }) })).status,
        403,
      );
      assert.equal((await listAudit(w.t.ctx.db, { target: target.userId, action: 'user.reveal' })).length, 0);
      const a = await seedUser(w.t, { role: 'admin' });
      const af = await signIn(w.t, a.email, a.password);
      const r = await json(
        await af(`/api/admin/users/${target.userId}/reveal`, {
          method: 'POST',
          body: JSON.stringify({ field: 'email', reason: 'verify identity for ticket' }),
        }),
      );
      assert.equal(r.value, target.email);
      const audit = await listAudit(w.t.ctx.db, { target: target.userId, action: 'user.reveal' });
      assert.equal(audit.length, 1);
      assert.equal(audit[0].reason, 'verify identity for ticket');
      // Support's ticket list shows the user masked.
      const tickets = await json(await sf('/api/admin/tickets'));
      assert.ok(Array.isArray(tickets.data));
    });

    test('help center: pages in Chinese and English, index.json and llms.txt', async () => {
      const idx = await json(await fetch(`${w.t.url}/help/index.json`));
      const slugs = idx.pages.map((p: any) => p.slug);
      for (const s of ['payment-order-refund-redeem', 'model-not-found', 'insufficient-balance-402', 'base-url-setup', 'charged-for-failed-request'])
        assert.ok(slugs.includes(s), s);
      const page = await fetch(`${w.t.url}/help/insufficient-balance-402`);
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /余额不足/);
      assert.match(html, /insufficient balance/);
      assert.ok(html.indexOf('class="answer"') < html.indexOf('适用情况'), 'short answer first');
      assert.equal((await fetch(`${w.t.url}/help`)).status, 200);
      const llms = await (await fetch(`${w.t.url}/llms.txt`)).text();
      assert.match(llms, /^# Tally/);
      assert.match(llms, /\/help\/base-url-setup/);
      assert.equal((await fetch(`${w.t.url}/help/nope`)).status, 404);
    });
  });
}
