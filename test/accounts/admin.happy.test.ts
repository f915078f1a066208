import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, ADMIN_TOKEN, type TestTally } from '../helpers/tally.ts';
import { listAudit } from '../../src/audit/index.ts';
import { asAdminToken, call, send, login, expectJson, assertLedgerOk } from './http.ts';

async function transfersOf(t: TestTally, userId: string) {
  return t.ctx.db
    .selectFrom('ledger_transfers')
    .selectAll()
    .where((eb) => eb.or([eb('credit_account_id', '=', `user:${userId}`), eb('debit_account_id', '=', `user:${userId}`)]))
    .execute();
}

for (const dialect of testDialects()) {
  describe(`operators managing users and balances on ${dialect}`, () => {
    let t: TestTally;
    before(async () => {
      t = await startTestTally(dialect);
    });
    after(async () => {
      if (!t) return;
      try {
        await assertLedgerOk(t.ctx.db);
      } finally {
        await t.close();
      } // close (and drop the schema) even when the check fails
    });

    test('with the admin token an operator creates a user; the generated password is shown once and works', async () => {
      const email = `new-${Date.now()}@test.io`;
      const created = await expectJson(await asAdminToken(t, 'POST', '/api/admin/users', { email, nickname: 'Newbie' }), 201);
      assert.match(created.id, /^usr_/);
      assert.equal(created.email, email);
      assert.equal(created.nickname, 'Newbie');
      assert.equal(created.role, 'user');
      assert.equal(created.status, 'active');
      assert.equal(typeof created.password, 'string');
      assert.ok(created.password.length >= 12);
      await expectJson(await login(t, email, created.password));
      const audit = await listAudit(t.ctx.db, { target: created.id, action: 'user.create' });
      assert.equal(audit.length, 1);
      assert.equal(audit[0].actor, 'admin_token');
      assert.equal(JSON.stringify(audit).includes(created.password), false, 'the password never reaches the audit log');
    });

    test('a user created with a chosen password gets no password echoed back', async () => {
      const created = await expectJson(
        await asAdminToken(t, 'POST', '/api/admin/users', { email: `chosen-${Date.now()}@test.io`, password: 'a long enough pass', role: 'support' }),
        201,
      );
      assert.equal('password' in created, false);
      assert.equal(created.role, 'support');
    });

    test('the admin token also works as "Authorization: Bearer <token>"', async () => {
      const res = await call(t, 'GET', '/api/admin/users', undefined, { authorization: `Bearer ${ADMIN_TOKEN}` });
      assert.ok(Array.isArray((await expectJson(res)).data));
    });

    test('operators find users by email fragment and look one up by id or email with the balance', async () => {
      const u = await seedUser(t, { email: `findme-${Date.now()}@test.io`, balance: 4_250_000n });
      const { data } = await expectJson(await asAdminToken(t, 'GET', '/api/admin/users?q=findme-'));
      assert.ok(data.some((x: { id: string }) => x.id === u.user.id));
      for (const ref of [u.user.id, encodeURIComponent(u.email.toUpperCase())]) {
        const one = await expectJson(await asAdminToken(t, 'GET', `/api/admin/users/${ref}`));
        assert.equal(one.id, u.user.id);
        assert.equal(one.balance, '4.25');
        assert.equal(one.available, '4.25');
        assert.equal(one.pending, '0.00');
        assert.equal(one.currency, 'USD');
        assert.equal('password_hash' in one, false);
      }
    });

    test("a manual credit moves the balance, shows on the user's statement with its reason, and writes an audit row", async () => {
      const u = await seedUser(t);
      const r = await expectJson(
        await asAdminToken(t, 'POST', `/api/admin/users/${u.user.id}/credit`, { amount: '10.00', reason: 'paid by bank transfer, order 1234' }),
      );
      assert.match(r.transfer_id, /^trf_/);
      assert.equal(r.replayed, false);
      assert.equal(r.amount, '10.00');
      assert.equal(r.balance, '10.00');

      const f = await signIn(t, u.email, u.password);
      assert.equal((await expectJson(await f('/api/me'))).balance, '10.00');
      const line = (await expectJson(await f('/api/ledger'))).data[0];
      assert.deepEqual([line.id, line.kind, line.amount, line.reason], [r.transfer_id, 'manual_credit', '10.00', 'paid by bank transfer, order 1234']);

      const rows = await t.ctx.db.selectFrom('audit_log').selectAll().where('target', '=', u.user.id).where('action', '=', 'balance.credit').execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0].actor, 'admin_token');
      assert.equal(rows[0].reason, 'paid by bank transfer, order 1234');
      assert.deepEqual(JSON.parse(rows[0].data!), { amount: '10.00', transferId: r.transfer_id });
    });

    test('a credit retried with the same idempotency_key credits once and says it was replayed', async () => {
      const u = await seedUser(t);
      const body = { amount: '7.50', reason: 'goodwill for ticket 77', idempotency_key: `ticket-77-${u.user.id}` };
      const first = await expectJson(await asAdminToken(t, 'POST', `/api/admin/users/${u.user.id}/credit`, body));
      const second = await expectJson(await asAdminToken(t, 'POST', `/api/admin/users/${u.user.id}/credit`, body));
      assert.equal(first.replayed, false);
      assert.equal(second.replayed, true);
      assert.equal(second.transfer_id, first.transfer_id);
      assert.equal(second.balance, '7.50');
      assert.equal((await transfersOf(t, u.user.id)).length, 1);
      const audits = await t.ctx.db.selectFrom('audit_log').selectAll().where('target', '=', u.user.id).where('action', '=', 'balance.credit').execute();
      assert.equal(audits.length, 1, 'one credit, one audit row');
    });

    test('concurrent retries of one credit (a double-clicked button) still credit once', async () => {
      const u = await seedUser(t);
      const body = { amount: '3.00', reason: 'double click', idempotency_key: `dbl-${u.user.id}` };
      const results = await Promise.all(
        Array.from({ length: 8 }, () => asAdminToken(t, 'POST', `/api/admin/users/${u.user.id}/credit`, body).then((r) => expectJson(r))),
      );
      assert.equal(new Set(results.map((r) => r.transfer_id)).size, 1);
      assert.equal(results.filter((r) => !r.replayed).length, 1);
      const one = await expectJson(await asAdminToken(t, 'GET', `/api/admin/users/${u.user.id}`));
      assert.equal(one.balance, '3.00');
    });

    test('a negative amount is a manual debit with its own audit action', async () => {
      const u = await seedUser(t, { balance: 5_000_000n });
      const r = await expectJson(
        await asAdminToken(t, 'POST', `/api/admin/users/${u.user.id}/credit`, { amount: '-1.25', reason: 'duplicate credit reversed' }),
      );
      assert.equal(r.amount, '-1.25');
      assert.equal(r.balance, '3.75');
      const audits = await listAudit(t.ctx.db, { target: u.user.id, action: 'balance.debit' });
      assert.equal(audits.length, 1);
      assert.equal(audits[0].data.amount, '-1.25');
    });

    test('an admin signed in to the console can credit; the audit row names that admin', async () => {
      const admin = await seedUser(t, { role: 'admin' });
      const u = await seedUser(t);
      const f = await signIn(t, admin.email, admin.password);
      const r = await expectJson(await send(f, 'POST', `/api/admin/users/${u.email}/credit`, { amount: '2.00', reason: 'console credit' }));
      assert.equal(r.balance, '2.00');
      const audits = await listAudit(t.ctx.db, { target: u.user.id, action: 'balance.credit' });
      assert.equal(audits[0].actor, `user:${admin.user.id}`);
    });

    test('support staff can look users up (but see the security suite: not credit them)', async () => {
      const staff = await seedUser(t, { role: 'support' });
      const u = await seedUser(t, { balance: 1_000_000n });
      const f = await signIn(t, staff.email, staff.password);
      assert.equal((await expectJson(await f(`/api/admin/users/${u.user.id}`))).balance, '1.00');
      assert.ok(Array.isArray((await expectJson(await f('/api/admin/users'))).data));
    });

    test('the ledger check reports every invariant as ok', async () => {
      // Money of its own to check, so the test does not rely on the ones before it.
      await seedUser(t, { balance: 1_000_000n });
      const report = await expectJson(await asAdminToken(t, 'GET', '/api/admin/ledger/verify'));
      assert.equal(report.ok, true);
      assert.ok(report.checks.length >= 5);
      for (const c of report.checks) assert.equal(c.ok, true, `${c.name}: ${c.detail}`);
      assert.ok(report.transfers > 0);
    });
  });
}
