// `tally ledger verify` checks every task against its hold and its charge
// (src/gateway/tasks/verify.ts): clean after real tasks end, and each way a
// task could disagree with the ledger is reported (tampered rows, on SQLite
// and PostgreSQL).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockVideo, type MockVideo } from '../helpers/mockVideo.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';
import { relaySdk } from '../helpers/relay.ts';
import { runTally } from '../helpers/cli.ts';

async function ended(t: TestTally, id: string) {
  for (let i = 0; i < 200; i++) {
    const r = await t.ctx.db.selectFrom('tasks').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    if (!['submitting', 'queued', 'in_progress'].includes(r.status)) return r.status;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error(`task ${id} never ended`);
}

const failing = async (t: TestTally) => (await verifyBooks(t.ctx.db)).checks.filter((c) => !c.ok).flatMap((c) => c.violations ?? [c.detail]);

for (const dialect of testDialects()) {
  describe(`ledger verify reads tasks on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockVideo;
    const ids: Record<string, string> = {};

    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_TASK_POLL_MS: '20', TALLY_TASK_POLL_MAX_MS: '40', TALLY_TASK_LEASE_MS: '1000' });
      mock = await startMockVideo({ apiKey: 'sk-video-verify' });
      await createChannel(t.ctx.db, t.config.secret, { name: 'v', type: 'openai', baseUrl: mock.baseUrl, apiKey: 'sk-video-verify', models: ['sora-2'] });
      await setModelPrice(t.ctx.db, { model: 'sora-2', kind: 'video', perSecond: 100_000n });
      await t.ctx.catalog.reload();
      const u = await seedUser(t, { balance: 10_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      ids.done = (await sdk.videos.create({ model: 'sora-2', prompt: 'a boat', seconds: '4' })).id;
      ids.failed = (await sdk.videos.create({ model: 'sora-2', prompt: 'FAIL this one' })).id;
      ids.running = (await sdk.videos.create({ model: 'sora-2', prompt: 'NEVER ends' })).id;
      assert.equal(await ended(t, ids.done), 'completed');
      assert.equal(await ended(t, ids.failed), 'failed');
      await t.ctx.tasks.worker.stop(); // the rows below are tampered with; no poll may repair or move them
    });
    after(async () => {
      await mock?.close();
      await t?.close();
    });

    test('real tasks (completed, failed, running) verify clean, in-process and through `tally ledger verify`', async () => {
      assert.deepEqual(await failing(t), []);
      const r = await runTally({ TALLY_DATABASE_URL: t.testDb.connectionUrl, TALLY_SECRET: t.config.secret, TALLY_LOG_LEVEL: 'silent' }, 'ledger', 'verify');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /3 task\(s\) agree with the ledger/);
    });

    test('a failed task marked as charged, a completed one charged other than its hold posted, a running one without its hold: each reported', async () => {
      const db = t.ctx.db;
      const done = await db.selectFrom('tasks').selectAll().where('id', '=', ids.done).executeTakeFirstOrThrow();
      await db.updateTable('tasks').set({ charged: 1n }).where('id', '=', ids.failed).execute();
      await db.updateTable('tasks').set({ charged: 300_000n }).where('id', '=', ids.done).execute();
      const running = await db.selectFrom('tasks').select('hold_id').where('id', '=', ids.running).executeTakeFirstOrThrow();
      await db.updateTable('tasks').set({ hold_id: 'hld_missing' }).where('id', '=', ids.running).execute();
      try {
        const v = await failing(t);
        assert.ok(
          v.some((x) => x.startsWith(`${ids.failed}: failed, yet charged`)),
          v.join('\n'),
        );
        assert.ok(
          v.some((x) => x.startsWith(`${ids.done}: completed and charged 0.30`)),
          v.join('\n'),
        );
        assert.ok(
          v.some((x) => x.startsWith(`${ids.running}: its hold hld_missing does not exist`)),
          v.join('\n'),
        );
      } finally {
        await db.updateTable('tasks').set({ charged: 0n }).where('id', '=', ids.failed).execute();
        await db.updateTable('tasks').set({ charged: done.charged }).where('id', '=', ids.done).execute();
        await db.updateTable('tasks').set({ hold_id: running.hold_id }).where('id', '=', ids.running).execute();
      }
      assert.deepEqual(await failing(t), [], 'restored rows verify again');
    });

    test('a task transfer no task records is reported', async () => {
      const db = t.ctx.db;
      await db.updateTable('tasks').set({ transfer_id: null }).where('id', '=', ids.done).execute();
      const v = await failing(t);
      assert.ok(
        v.some((x) => /is a task charge no task records/.test(x)),
        v.join('\n'),
      );
    });
  });
}
