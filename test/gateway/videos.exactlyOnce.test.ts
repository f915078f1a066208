// A video task's money moves exactly once, however many pollers, webhooks and
// ticks race to end it (new-api #6074: failed tasks refunded twice; #163:
// failed tasks never refunded). With the background worker off, the test
// drives every path itself: many concurrent worker.pollOne(id), signed
// webhooks and worker.tick() over the same completed, failed and lost tasks,
// then finishTask itself called concurrently with conflicting outcomes. On
// SQLite and PostgreSQL; the books are verified at the end.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { testDialects } from '../helpers/db.ts';
import { startMockVideo, type MockVideo } from '../helpers/mockVideo.ts';
import { relaySdk, verifyThenClose } from '../helpers/relay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { findTask, finishTask } from '../../src/gateway/tasks/index.ts';
import { TERMINAL_EVENTS, WEBHOOK_SECRET, eventTypes, keySpent, postVideoWebhook, taskHold, taskTransfers, upstreamIdOf, walletRow } from './videos.helpers.ts';

const SORA = 'sora-2';

for (const dialect of testDialects()) {
  describe(`video tasks end exactly once (${dialect})`, () => {
    let t: TestTally;
    let mock: MockVideo;

    before(async () => {
      t = await startTestTally(
        dialect,
        {},
        {
          TALLY_TASK_WORKER: 'off',
          TALLY_TASK_POLL_MS: '10',
          TALLY_TASK_POLL_MAX_MS: '10',
          TALLY_TASK_LEASE_MS: '500',
          TALLY_VIDEO_WEBHOOK_SECRET: WEBHOOK_SECRET,
        },
      );
      mock = await startMockVideo({ apiKey: 'sk-video' });
      await createChannel(t.ctx.db, t.config.secret, { name: 'video', type: 'openai', baseUrl: mock.baseUrl, apiKey: 'sk-video', models: [SORA] });
      await setModelPrice(t.ctx.db, { model: SORA, kind: 'video', perSecond: 100_000n });
      await t.ctx.catalog.reload();
      mock.setPromptBehavior('HOLD', { outcome: 'never' });
      // The upstream forgets the video: every poll is a 404, so the task fails (upstream_lost) and must be released.
      mock.setPromptBehavior('GONE', { outcome: 'never', pollStatus: 404 });
    });
    after(() => verifyThenClose(t, mock));

    test('concurrent pollOne × 8, webhooks × 3 and ticks over 12 tasks: one resolution, one terminal event, one transfer per charged task', async () => {
      const u = await seedUser(t, { balance: 10_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      const make = (prompt: string) => sdk.videos.create({ model: SORA, prompt, seconds: '4' }).then((v) => v.id);
      const completed = await Promise.all(Array.from({ length: 5 }, (_, i) => make(`HOLD complete ${i}`)));
      const failed = await Promise.all(Array.from({ length: 5 }, (_, i) => make(`HOLD fail ${i}`)));
      const lost = await Promise.all(Array.from({ length: 2 }, (_, i) => make(`GONE lost ${i}`)));
      const all = [...completed, ...failed, ...lost];
      // 12 holds of 4 s × 100,000 = 400,000: 4,800,000 pending.
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 10_000_000n, pending: 4_800_000n });
      for (const id of completed) mock.complete(await upstreamIdOf(t.ctx.db, id));
      for (const id of failed) mock.fail(await upstreamIdOf(t.ctx.db, id), 'moderation_blocked');
      await new Promise((r) => setTimeout(r, 15)); // every task is due for a poll (10 ms after its submit)

      const storm: Promise<unknown>[] = [];
      for (const id of all) {
        const uid = (await findTask(t.ctx.db, id))!.upstreamId!;
        for (let i = 0; i < 8; i++) storm.push(t.ctx.tasks.worker.pollOne(id));
        for (let i = 0; i < 3; i++) storm.push(postVideoWebhook(t.url, uid, { type: completed.includes(id) ? 'video.completed' : 'video.failed' }));
      }
      for (let i = 0; i < 4; i++) storm.push(t.ctx.tasks.worker.tick());
      const results = await Promise.allSettled(storm);
      for (const r of results) assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason));
      for (const r of results) {
        const v = (r as PromiseFulfilledResult<unknown>).value;
        if (v instanceof Response) assert.equal(v.status, 200, await v.text());
      }
      // A pollOne that lost every race leaves a task live only if no one polled it: poll the stragglers once more.
      for (const id of all) if (!['completed', 'failed'].includes((await findTask(t.ctx.db, id))!.status)) await t.ctx.tasks.worker.pollOne(id);

      for (const id of all) {
        const task = (await findTask(t.ctx.db, id))!;
        const hold = await taskHold(t.ctx.db, id);
        const transfers = await taskTransfers(t.ctx.db, id);
        const terminal = (await eventTypes(t.ctx.db, id)).filter((e) => TERMINAL_EVENTS.includes(e));
        assert.equal(terminal.length, 1, `${id}: ${terminal.join()}`);
        if (completed.includes(id)) {
          assert.equal(task.status, 'completed');
          assert.deepEqual([hold.status, hold.posted], ['posted', 400_000n]);
          assert.deepEqual(
            transfers.map((x) => x.amount),
            [400_000n],
          );
          assert.equal(transfers[0].holdId, hold.id);
        } else {
          assert.equal(task.status, 'failed', id);
          assert.equal(task.errorCode, failed.includes(id) ? 'moderation_blocked' : 'upstream_lost');
          assert.equal(hold.status, 'voided', `${id}: a failed task's hold is released`);
          assert.deepEqual(transfers, []);
        }
      }
      // Charged 5 × 400,000 = 2,000,000; nothing left pending (no failed task kept its hold).
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 8_000_000n, pending: 0n });
      assert.equal(await keySpent(t.ctx.db, u.key.id), 2_000_000n);
      const pendingHolds = await t.ctx.db
        .selectFrom('ledger_holds')
        .select('id')
        .where('debit_account_id', '=', `user:${u.user.id}`)
        .where('status', '=', 'pending')
        .execute();
      assert.deepEqual(pendingHolds, []);
      // And once more, after the fact: every path again moves nothing.
      await Promise.all(all.map((id) => t.ctx.tasks.worker.pollOne(id)));
      await t.ctx.tasks.worker.tick();
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 8_000_000n, pending: 0n });
      const count = await t.ctx.db
        .selectFrom('ledger_transfers')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('kind', '=', 'task')
        .where('debit_account_id', '=', `user:${u.user.id}`)
        .executeTakeFirstOrThrow();
      assert.equal(Number(count.n), 5);
    });

    test('finishTask raced with conflicting outcomes (complete, fail, cancel, expire): exactly one wins and the money follows it', async () => {
      const u = await seedUser(t, { balance: 10_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      const ids = await Promise.all(
        Array.from({ length: 6 }, (_, i) => sdk.videos.create({ model: SORA, prompt: `HOLD race ${i}`, seconds: '8' }).then((v) => v.id)),
      );
      // Each holds 8 × 100,000 = 800,000; a completed one is charged 300,000 (a partial video, say), the rest released.
      const now = Date.now();
      const outcomes = ['completed', 'failed', 'cancelled', 'expired'] as const;
      const winners = await Promise.all(
        ids.map(async (id) => {
          const calls = Array.from({ length: 12 }, (_, i) => {
            const status = outcomes[i % 4];
            return finishTask(t.ctx.db, id, { status, charge: status === 'completed' ? 300_000n : 0n, by: 'test', instance: `racer-${i}`, now });
          });
          const res = await Promise.allSettled(calls);
          for (const r of res) assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason));
          const won = res.map((r) => (r as PromiseFulfilledResult<unknown>).value).filter((v) => v !== null);
          assert.equal(won.length, 1, `${id}: ${won.length} callers ended it`);
          return won[0] as { status: string };
        }),
      );
      let charged = 0n;
      for (const [i, id] of ids.entries()) {
        const task = (await findTask(t.ctx.db, id))!;
        assert.equal(task.status, winners[i].status);
        const hold = await taskHold(t.ctx.db, id);
        const transfers = await taskTransfers(t.ctx.db, id);
        const terminal = (await eventTypes(t.ctx.db, id)).filter((e) => TERMINAL_EVENTS.includes(e));
        assert.deepEqual(terminal, [task.status]);
        if (task.status === 'completed') {
          charged += 300_000n;
          assert.deepEqual([hold.status, hold.posted, task.charged], ['posted', 300_000n, 300_000n]);
          assert.deepEqual(
            transfers.map((x) => x.amount),
            [300_000n],
          );
        } else {
          assert.deepEqual([hold.status, task.charged], ['voided', 0n]);
          assert.deepEqual(transfers, []);
        }
      }
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 10_000_000n - charged, pending: 0n });
      assert.equal(await keySpent(t.ctx.db, u.key.id), charged);
      // The mock still runs them (outcome never); Tally is done with them.
      for (const id of ids) await upstreamIdOf(t.ctx.db, id);
    });
  });
}
