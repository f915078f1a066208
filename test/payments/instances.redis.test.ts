import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { POSTGRES_URL, whileNoSchemaIsDropped } from '../helpers/db.ts';
import { loadConfig } from '../../src/config/index.ts';
import { startTally, type RunningTally } from '../../src/app/start.ts';
import { reconcilePayments } from '../../src/payments/index.ts';
import type { Order } from '../../src/payments/orders.ts';
import { startPayWorld, customer, order, balance, sandboxPay, paymentTransfers, assertLedgerOk, type PayWorld } from './helpers.ts';

// Two Tally instances on one PostgreSQL schema, both with Redis, run reconcile
// passes at the same moment: each order is polled by one instance at a time
// (the Redis lock is held during every poll) and a paid order is credited once.
const REDIS_URL = process.env.TALLY_TEST_REDIS_URL;

describe('reconcile on two instances with Redis', {
  skip: !POSTGRES_URL || !REDIS_URL ? 'needs TALLY_TEST_POSTGRES_URL and TALLY_TEST_REDIS_URL' : false,
}, () => {
  let w: PayWorld;
  let second: RunningTally;
  let third: RunningTally;
  let redis: Redis;
  before(async () => {
    w = await startPayWorld('postgres');
    // w.t runs without Redis and only serves the HTTP side; two more instances with Redis share its schema and reconcile.
    const cfg = () =>
      loadConfig({
        ...w.env,
        TALLY_DATABASE_URL: w.t.testDb.connectionUrl,
        TALLY_REDIS_URL: REDIS_URL!,
        TALLY_PORT: '0',
        TALLY_HOST: '127.0.0.1',
        TALLY_SECRET: w.t.config.secret,
        TALLY_LOG_LEVEL: 'silent',
        TALLY_DEMO: 'off',
      });
    second = await whileNoSchemaIsDropped(() => startTally(cfg(), { bootstrap: false }));
    third = await whileNoSchemaIsDropped(() => startTally(cfg(), { bootstrap: false }));
    redis = new Redis(REDIS_URL!);
  });
  after(async () => {
    redis?.disconnect();
    await second?.stop();
    await third?.stop();
    await w?.close();
  });

  test('each order is polled by one instance at a time, under the Redis lock, and credited once', async () => {
    assert.ok(second.ctx.events.redis && third.ctx.events.redis, 'both instances use Redis');
    const polls: Array<{ order: string; inst: string; start: number; end: number; lock: string | null }> = [];
    for (const [inst, t] of [
      ['A', second],
      ['B', third],
    ] as const) {
      const p = t.ctx.payments.provider('sandbox');
      const query = p.queryOrder.bind(p);
      p.queryOrder = async (o: Order) => {
        const start = performance.now();
        const lock = await redis.get(`tally:payments:reconcile:${o.id}`);
        await new Promise((r) => setTimeout(r, 25)); // a provider round trip, long enough for overlaps to show
        const res = await query(o);
        polls.push({ order: o.id, inst, start, end: performance.now(), lock });
        return res;
      };
    }
    const c = await customer(w.t);
    const paid = await Promise.all(Array.from({ length: 6 }, () => order(c, { amount: '2.00' })));
    for (const o of paid) await sandboxPay(w.t, o.id, 'never');
    const unpaid = await Promise.all(Array.from({ length: 4 }, () => order(c, { amount: '1.00' })));
    const results = [];
    for (let round = 0; round < 3; round++) {
      results.push(
        ...(await Promise.all([
          reconcilePayments(second.ctx, { all: true }),
          reconcilePayments(third.ctx, { all: true }),
          reconcilePayments(second.ctx, { all: true }),
          reconcilePayments(third.ctx, { all: true }),
        ])),
      );
    }
    const checked = results.flatMap((r) => r.checked);
    assert.equal(checked.filter((x) => x.result === 'credited').length, 6);
    assert.ok(
      checked.some((x) => x.result === 'locked'),
      'the passes did contend for the same orders',
    );
    // No two polls of one order overlap in time, and every poll ran under a Redis lock.
    const byOrder = new Map<string, typeof polls>();
    for (const p of polls) byOrder.set(p.order, [...(byOrder.get(p.order) ?? []), p]);
    for (const [id, ps] of byOrder) {
      ps.sort((a, b) => a.start - b.start);
      for (let i = 1; i < ps.length; i++) assert.ok(ps[i].start >= ps[i - 1].end, `order ${id} polled by ${ps[i - 1].inst} and ${ps[i].inst} at once`);
      for (const p of ps) assert.ok(p.lock, `order ${id} polled by ${p.inst} without the Redis lock`);
    }
    for (const o of paid) assert.equal((await paymentTransfers(w.t, o.id)).length, 1);
    for (const o of unpaid) assert.ok((byOrder.get(o.id) ?? []).length >= 1);
    assert.ok(new Set(polls.map((p) => p.inst)).size === 2, 'both instances polled');
    assert.equal(await balance(w.t, c.userId), '12.00');
    // Locks are released after each poll.
    for (const o of [...paid, ...unpaid]) assert.equal(await redis.get(`tally:payments:reconcile:${o.id}`), null);
    await assertLedgerOk(w.t);
  });
});
