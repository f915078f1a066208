import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { seedUser, signIn } from '../helpers/tally.ts';
import { runTally as tally, type Run } from '../helpers/cli.ts';
import { listAudit } from '../../src/audit/index.ts';
import { startPayWorld, customer, order, json, balance, assertLedgerOk, type PayWorld } from '../payments/helpers.ts';

// The operator's side of issue 11 item 3 from the host: `tally admin approvals
// | approve | reject | permissions`, and `tally payments credit-order` asking
// the provider first. The CLI is the operator (audited as `cli`).
const out = (r: Run) => {
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one JSON line expected; stdout: ${r.stdout} stderr: ${r.stderr}`);
  return JSON.parse(lines[0]);
};

for (const dialect of testDialects()) {
  describe(`tally admin approvals and credit-order's provider check on ${dialect}`, () => {
    let w: PayWorld;
    let env: NodeJS.ProcessEnv;
    before(async () => {
      w = await startPayWorld(dialect);
      const base: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TALLY_') && !k.startsWith('NODE_TEST')) base[k] = v;
      env = { ...base, ...w.env, TALLY_DATABASE_URL: w.t.testDb.connectionUrl, TALLY_SECRET: w.t.config.secret, TALLY_LOG_LEVEL: 'silent', TALLY_DEMO: 'off' };
    });
    after(async () => {
      if (!w) return;
      try {
        await assertLedgerOk(w.t);
      } finally {
        await w.close();
      }
    });

    test('support asks, the operator lists, approves one (it runs once) and rejects the other; credit-order refuses "not paid" unless --force', async () => {
      const s = await seedUser(w.t, { role: 'support' });
      const sf = await signIn(w.t, s.email, s.password);
      const c = await customer(w.t);
      const ask = async (amount: string) =>
        json(
          await sf(`/api/admin/users/${c.userId}/compensate`, { method: 'POST', body: JSON.stringify({ amount, reason: 'outage', ticket: 'TCK-60' }) }),
          202,
        );
      const [a, b] = [(await ask('15.00')).approval.id, (await ask('16.00')).approval.id];
      const unpaid = await order(c, { amount: '7.00' });

      const [list, table, refused] = await Promise.all([
        tally(env, 'admin', 'approvals', '--json'),
        tally(env, 'admin', 'permissions'),
        tally(env, 'payments', 'credit-order', '--order', unpaid.id, '--provider-reference', 'made-up-123', '--reason', 'trust me', '--json'),
      ]);
      assert.deepEqual(
        out(list)
          .approvals.map((x: any) => x.id)
          .sort(),
        [a, b].sort(),
      );
      assert.match(table.stdout, /\| `POST \/api\/admin\/users\/:id\/compensate` \|/);
      assert.notEqual(refused.code, 0);
      assert.equal(out(refused).error.code, 'provider_says_not_paid');

      const [approved, rejected, forced] = await Promise.all([
        tally(env, 'admin', 'approve', '--id', a, '--reason', 'outage confirmed', '--json'),
        tally(env, 'admin', 'reject', '--id', b, '--reason', 'already compensated', '--json'),
        tally(
          env,
          'payments',
          'credit-order',
          '--order',
          unpaid.id,
          '--provider-reference',
          'bank-wire-1',
          '--reason',
          'paid by bank wire',
          '--force',
          '--json',
        ),
      ]);
      assert.equal(approved.code, 0, approved.stdout + approved.stderr);
      assert.deepEqual([out(approved).approval.status, out(approved).approval.decided_by], ['executed', 'cli']);
      assert.equal(out(rejected).approval.status, 'rejected');
      assert.deepEqual([out(forced).outcome, out(forced).provider_check], ['credited', 'not_paid_forced']);
      const again = out(await tally(env, 'admin', 'approve', '--id', a, '--reason', 'again', '--json'));
      assert.equal(again.replayed, true);
      assert.equal(await balance(w.t, c.userId), '22.00');
      assert.deepEqual(
        (await listAudit(w.t.ctx.db, { target: a, action: 'approval.approve' })).map((x) => x.actor),
        ['cli'],
      );
      assert.deepEqual(
        (await listAudit(w.t.ctx.db, { target: unpaid.id, action: 'payment.credit_order' })).map((x) => [x.actor, x.data.provider_check]),
        [['cli', 'not_paid_forced']],
      );
    });
  });
}
