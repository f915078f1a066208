import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { runTally as tally, type Run } from '../helpers/cli.ts';
import { listAudit } from '../../src/audit/index.ts';
import { startPayWorld, customer, order, json, balance, sandboxPay, paymentTransfers, assertLedgerOk, type PayWorld } from '../payments/helpers.ts';

// `tally payments …` in a child process against a database a running Tally
// is using (orders made and paid through its HTTP API and the sandbox). Each
// spawn costs about a second, so independent commands run side by side.
function oneJson(r: Run): any {
  const out = r.stdout.trim();
  assert.ok(out.length > 0, `no output; stderr: ${r.stderr}`);
  assert.equal(out.includes('\n'), false, `more than one line on stdout:\n${r.stdout}`);
  return JSON.parse(out);
}
function ok(r: Run): any {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const v = oneJson(r);
  assert.notEqual(v.ok, false, r.stdout);
  return v;
}
function refused(r: Run, code: string) {
  assert.notEqual(r.code, 0, `expected a failure, got exit 0: ${r.stdout}`);
  const v = oneJson(r);
  assert.equal(v.ok, false);
  assert.equal(v.error.code, code, r.stdout);
}

for (const dialect of testDialects()) {
  describe(`tally payments CLI on ${dialect}`, () => {
    let w: PayWorld;
    let env: NodeJS.ProcessEnv;
    before(async () => {
      w = await startPayWorld(dialect);
      const base: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TALLY_') && !k.startsWith('NODE_TEST')) base[k] = v;
      env = { ...base, ...w.env, TALLY_DATABASE_URL: w.t.testDb.connectionUrl, TALLY_SECRET: w.t.config.secret, TALLY_LOG_LEVEL: 'silent', TALLY_DEMO: 'off' };
    });
    after(async () => {
      await w?.close();
    });

    test('reconcile, list, refund, compensate, credit-order, refund-duplicate and keep-duplicate: exactly once, each audited as the CLI', async () => {
      const c = await customer(w.t);
      const silent = await order(c, { amount: '2.00' });
      await json(await sandboxPay(w.t, silent.id, 'never')); // paid; the callback never came
      const refundMe = await order(c, { amount: '5.00' });
      await json(await sandboxPay(w.t, refundMe.id, 'succeed'));
      const dup = await order(c, { amount: '3.00' });
      await json(await sandboxPay(w.t, dup.id, 'succeed'));
      const dupTrade = (await json(await sandboxPay(w.t, dup.id, 'pay_again'))).trade_id as string;
      const keep = await order(c, { amount: '1.50' });
      await json(await sandboxPay(w.t, keep.id, 'succeed'));
      const keepTrade = (await json(await sandboxPay(w.t, keep.id, 'pay_again'))).trade_id as string;
      assert.equal(await balance(w.t, c.userId), '9.50');

      // Round 1: commands on different orders, side by side.
      const [rec, list, refund, comp, dupA, dupB, kept, ghost] = await Promise.all([
        tally(env, 'payments', 'reconcile', '--all', '--json'),
        tally(env, 'payments', 'list', '--view', 'duplicate', '--user', c.email, '--json'),
        tally(env, 'payments', 'refund', '--order', refundMe.id, '--reason', 'requested_by_customer', '--amount', '2.00', '--note', 'TCK-77', '--json'),
        tally(
          env,
          'payments',
          'compensate',
          '--user',
          c.email,
          '--amount',
          '0.75',
          '--reason',
          'slow callback',
          '--ticket',
          'TCK-78',
          '--idempotency-key',
          'tck-78',
          '--json',
        ),
        tally(env, 'payments', 'refund-duplicate', '--trade', dupTrade, '--reason', 'paid twice, TCK-79', '--json'),
        tally(env, 'payments', 'refund-duplicate', '--trade', dupTrade, '--reason', 'paid twice, TCK-79', '--json'),
        tally(env, 'payments', 'keep-duplicate', '--trade', keepTrade, '--reason', 'keeps it as balance', '--json'),
        tally(env, 'payments', 'refund-duplicate', '--trade', 'trd_doesnotexist', '--reason', 'x', '--json'),
      ]);
      const r = ok(rec);
      assert.deepEqual(
        r.checked.filter((x: any) => x.orderId === silent.id).map((x: any) => x.result),
        ['credited'],
      );
      assert.deepEqual(
        ok(list)
          .orders.map((o: any) => o.id)
          .sort(),
        [dup.id, keep.id].sort(),
      );
      const rf = ok(refund);
      assert.deepEqual([rf.refund.amount, rf.refund.credit_taken_back, rf.refund.status, rf.order.status], ['2.00', '2.00', 'succeeded', 'partially_refunded']);
      assert.equal(ok(comp).replayed, false);
      // Two concurrent refund-duplicate runs: one refunds; the other is told it is in progress or answers from the record.
      const dups = [dupA, dupB].map((x) => (x.code === 0 ? ok(x) : (refused(x, 'refund_in_progress'), null)));
      assert.equal(dups.filter((x) => x && x.replayed === false).length, 1, JSON.stringify([dupA.stdout, dupB.stdout]));
      const done = dups.find((x) => x && x.replayed === false)!;
      assert.deepEqual([done.trade.decision, done.refund.amount, done.refund.status, done.order.status], ['refunded', '3.00', 'succeeded', 'credited']);
      const k = ok(kept);
      assert.deepEqual([k.replayed, k.credit, k.trade.decision], [false, '1.50', 'kept']);
      refused(ghost, 'trade_not_found');
      // 9.50 + 2.00 (reconciled) − 2.00 (refund) + 0.75 (compensation) + 1.50 (kept duplicate); the refunded duplicate moves nothing.
      assert.equal(await balance(w.t, c.userId), '11.75');

      // Round 2: a late order credited by hand, and every decision repeated.
      const late = await order(c, { amount: '4.00' });
      const lateTrade = (await json(await sandboxPay(w.t, late.id, 'never'))).trade_id as string;
      const [byHand, dupAgain, keepAgain, compAgain, human] = await Promise.all([
        tally(env, 'payments', 'credit-order', '--order', late.id, '--provider-reference', lateTrade, '--reason', 'receipt checked, TCK-80', '--json'),
        tally(env, 'payments', 'refund-duplicate', '--trade', dupTrade, '--reason', 'again', '--json'),
        tally(env, 'payments', 'keep-duplicate', '--trade', keepTrade, '--reason', 'again', '--json'),
        tally(
          env,
          'payments',
          'compensate',
          '--user',
          c.email,
          '--amount',
          '0.75',
          '--reason',
          'slow callback',
          '--ticket',
          'TCK-78',
          '--idempotency-key',
          'tck-78',
          '--json',
        ),
        tally(env, 'payments', 'list', '--user', c.userId, '--status', 'partially_refunded'),
      ]);
      assert.equal(ok(byHand).outcome, 'credited');
      assert.equal(ok(dupAgain).replayed, true);
      assert.equal(ok(keepAgain).replayed, true);
      assert.equal(ok(compAgain).replayed, true);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, new RegExp(`${refundMe.id}\\s+partially_refunded`));
      assert.equal(await balance(w.t, c.userId), '15.75');

      for (const id of [silent.id, late.id, dup.id, keep.id]) assert.equal((await paymentTransfers(w.t, id)).length, id === keep.id ? 2 : 1);
      const cli = async (target: string, action: string) => (await listAudit(w.t.ctx.db, { target, action })).map((a) => a.actor);
      assert.deepEqual(await cli(refundMe.id, 'payment.refund'), ['cli']);
      assert.deepEqual(await cli(c.userId, 'balance.compensate'), ['cli']);
      assert.deepEqual(await cli(late.id, 'payment.credit_order'), ['cli']);
      assert.deepEqual(await cli(dup.id, 'payment.refund_duplicate'), ['cli']);
      assert.deepEqual(await cli(keep.id, 'payment.keep_duplicate'), ['cli']);
      assert.ok((await listAudit(w.t.ctx.db, { action: 'payment.reconcile_all', actor: 'cli' })).length >= 1);
      await assertLedgerOk(w.t);
    });
  });
}
