import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects, whileNoSchemaIsDropped } from '../helpers/db.ts';
import { loadConfig } from '../../src/config/index.ts';
import { startTally, type RunningTally } from '../../src/app/start.ts';
import { startPayWorld, customer, order, balance, epayNotify, stripeWebhook, sandboxPay, paymentTransfers, assertLedgerOk, type PayWorld } from './helpers.ts';
import { reconcilePayments } from '../../src/payments/index.ts';

for (const dialect of testDialects()) {
  describe(`two Tally instances on one ${dialect} database`, () => {
    let w: PayWorld;
    let second: RunningTally;
    before(async () => {
      w = await startPayWorld(dialect);
      const config = loadConfig({
        ...process.env,
        ...w.env,
        TALLY_DATABASE_URL: w.t.testDb.connectionUrl,
        TALLY_PORT: '0',
        TALLY_HOST: '127.0.0.1',
        TALLY_SECRET: w.t.config.secret,
        TALLY_LOG_LEVEL: 'silent',
        TALLY_DEMO: 'off',
      });
      second =
        dialect === 'postgres' ? await whileNoSchemaIsDropped(() => startTally(config, { bootstrap: false })) : await startTally(config, { bootstrap: false });
    });
    after(async () => {
      await second?.stop();
      await w?.close();
    });

    test('the same callbacks delivered to both instances credit once', async () => {
      const c = await customer(w.t);
      const e = await order(c, { amount: '40.00', currency: 'CNY', provider: 'epay' });
      const params = w.epay.notify(e.id, '40.00', { tradeNo: 'T-TWO-INSTANCES' });
      const s = await order(c, { amount: '3.00', provider: 'stripe' });
      const session = [...w.stripe.sessions.values()].find((x) => x.client_reference_id === s.id)!;
      const ev = w.stripe.event('checkout.session.completed', w.stripe.pay(session.id));
      const urls = [w.t.url, second.url];
      const replies = await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => epayNotify(urls[i % 2], params).then((r) => r.text())),
        ...Array.from({ length: 10 }, (_, i) => stripeWebhook(urls[i % 2], ev).then((r) => r.status)),
      ]);
      assert.deepEqual(new Set(replies.slice(0, 20)), new Set(['success']));
      assert.deepEqual(new Set(replies.slice(20)), new Set([200]));
      assert.equal(await balance(w.t, c.userId), '8.60');
      assert.equal((await paymentTransfers(w.t, e.id)).length, 1);
      assert.equal((await paymentTransfers(w.t, s.id)).length, 1);
      await assertLedgerOk(w.t);
    });

    test('reconcile passes running on both instances at once credit a silent payment once', async () => {
      const c = await customer(w.t);
      const orders = await Promise.all(Array.from({ length: 5 }, () => order(c, { amount: '2.00' })));
      for (const o of orders) await sandboxPay(w.t, o.id, 'never');
      const [a, b] = await Promise.all([reconcilePayments(w.t.ctx, { all: true }), reconcilePayments(second.ctx, { all: true })]);
      const credited = [...a.checked, ...b.checked].filter((x) => x.result === 'credited').length;
      assert.equal(credited, 5);
      assert.equal(await balance(w.t, c.userId), '10.00');
      await assertLedgerOk(w.t);
    });
  });
}
