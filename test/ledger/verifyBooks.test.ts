// `tally ledger verify` checks more than the ledger: request logs against
// usage transfers, orders against their credits, refunds against their
// bookings. Real books from real flows verify; each kind of disagreement,
// made by hand in the stored rows, is caught and named.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startPayWorld, customer, order, json, admin, sandboxPay, type PayWorld } from '../payments/helpers.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { relaySdk, requestLogRow } from '../helpers/relay.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';

const MODEL = 'gpt-4o-mini';

for (const dialect of testDialects()) {
  describe(`verifying the books on ${dialect}`, () => {
    let w: PayWorld;
    let mock: MockOpenAI;
    before(async () => {
      w = await startPayWorld(dialect);
      mock = await startMockOpenAI({ apiKey: 'sk-upstream-verify-0123456789', models: null });
      await createChannel(w.t.ctx.db, w.t.config.secret, {
        name: 'up',
        type: 'openai',
        baseUrl: mock.url,
        apiKey: 'sk-upstream-verify-0123456789',
        models: [MODEL],
      });
      await setModelPrice(w.t.ctx.db, { model: MODEL, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n });
      await w.t.ctx.catalog.reload();
    });
    after(async () => {
      await w?.close();
      await mock?.close();
    });

    test('books made by real flows verify; each disagreement is caught by the check that names it', async () => {
      const db = w.t.ctx.db;
      const c = await customer(w.t);
      const o = await order(c, { amount: '10.00' });
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      const refund = (await json(await admin(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { amount: '2.00', reason: 'requested_by_customer' }))).refund;
      const { secret } = await createApiKey(db, { userId: c.userId, name: 'verify' });
      const { response } = await relaySdk(w.t, secret)
        .chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hello there' }] })
        .withResponse();
      const rid = response.headers.get('x-request-id');
      const log = await requestLogRow(w.t, rid);
      assert.equal(Number(log.charged), 1);

      const failing = async () =>
        (await verifyBooks(db)).checks
          .filter((x) => !x.ok)
          .map((x) => x.name)
          .sort();
      assert.deepEqual(await failing(), [], 'the books agree');

      const cases: Array<[string, () => Promise<unknown>, () => Promise<unknown>, string[]]> = [
        [
          'a log row charging a micro-unit more than its transfer',
          () =>
            db
              .updateTable('request_logs')
              .set({ charged_amount: BigInt(log.charged_amount) + 1n })
              .where('id', '=', log.id)
              .execute(),
          () =>
            db
              .updateTable('request_logs')
              .set({ charged_amount: BigInt(log.charged_amount) })
              .where('id', '=', log.id)
              .execute(),
          ['each charged request has its usage transfer'],
        ],
        [
          'a usage transfer whose log row is gone',
          () => db.deleteFrom('request_logs').where('id', '=', log.id).execute(),
          () => db.insertInto('request_logs').values(log).execute(),
          ['each usage entry has its request log row'],
        ],
        [
          'an order back to created although its credit stands',
          () => db.updateTable('payment_orders').set({ status: 'created' }).where('id', '=', o.id).execute(),
          () => db.updateTable('payment_orders').set({ status: 'partially_refunded' }).where('id', '=', o.id).execute(),
          ['each credited order has its one credit transfer'],
        ],
        [
          'a refund marked failed while its booking stands',
          () => db.updateTable('payment_refunds').set({ status: 'failed' }).where('id', '=', refund.id).execute(),
          () => db.updateTable('payment_refunds').set({ status: 'succeeded' }).where('id', '=', refund.id).execute(),
          ["each order's refunded totals equal its standing refunds", 'each refund is booked as its status says'],
        ],
        [
          'an order whose refunded total is off by a cent',
          () => db.updateTable('payment_orders').set({ refunded_amount: 2_010_000n }).where('id', '=', o.id).execute(),
          () => db.updateTable('payment_orders').set({ refunded_amount: 2_000_000n }).where('id', '=', o.id).execute(),
          ["each order's refunded totals equal its standing refunds"],
        ],
      ];
      for (const [what, tamper, restore, expected] of cases) {
        await tamper();
        try {
          assert.deepEqual(await failing(), expected, what);
        } finally {
          await restore();
        }
        assert.deepEqual(await failing(), [], `restored after: ${what}`);
      }
    });
  });
}
