// Two Tally instances on one PostgreSQL database with Redis between them, both
// polling video tasks (short poll and lease) while the upstream's webhooks go
// to one of them: 20 tasks, half completing and half failing, each charged or
// released exactly once. Skipped unless TALLY_TEST_POSTGRES_URL and
// TALLY_TEST_REDIS_URL are set, as multiInstance.test.ts is.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { RunningTally } from '../../src/app/start.ts';
import { createTestDb, POSTGRES_URL, type TestDb } from '../helpers/db.ts';
import { startMockVideo, type MockVideo } from '../helpers/mockVideo.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { createUser } from '../../src/accounts/users.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { adjustBalanceManually } from '../../src/accounts/manualCredit.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';
import { findTask } from '../../src/gateway/tasks/index.ts';
import { TERMINAL_EVENTS, WEBHOOK_SECRET, keySpent, taskHold, taskTransfers, waitTask, walletRow } from './videos.helpers.ts';
import { startSharedInstance } from '../helpers/tally.ts';

const REDIS_URL = process.env.TALLY_TEST_REDIS_URL;
const SECRET = 'multi-instance-secret-0123456789';
const SORA = 'sora-2';

describe('video tasks on two instances sharing one PostgreSQL with Redis', {
  skip: !POSTGRES_URL || !REDIS_URL ? 'needs TALLY_TEST_POSTGRES_URL and TALLY_TEST_REDIS_URL' : false,
}, () => {
  let db: TestDb;
  let mock: MockVideo;
  let a: RunningTally;
  let b: RunningTally;

  const start = () =>
    startSharedInstance(db, { TALLY_TASK_POLL_MS: '20', TALLY_TASK_POLL_MAX_MS: '40', TALLY_TASK_LEASE_MS: '300', TALLY_VIDEO_WEBHOOK_SECRET: WEBHOOK_SECRET });

  before(async () => {
    db = await createTestDb('postgres');
    await setModelPrice(db.db, { model: SORA, kind: 'video', perSecond: 100_000n });
    [a, b] = await Promise.all([start(), start()]);
    // The upstream announces every ended video to instance A, while A and B both poll.
    mock = await startMockVideo({ apiKey: 'sk-video', webhook: { url: `${a.url}/api/webhooks/videos`, secret: WEBHOOK_SECRET } });
    await createChannel(db.db, SECRET, { name: 'video', type: 'openai', baseUrl: mock.baseUrl, apiKey: 'sk-video', models: [SORA] });
    await Promise.all([a.ctx.catalog.reload(), b.ctx.catalog.reload()]);
  });
  after(async () => {
    try {
      if (db) {
        const report = await verifyBooks(db.db);
        assert.ok(report.ok, JSON.stringify(report.checks.filter((c) => !c.ok)));
      }
    } finally {
      await a?.stop();
      await b?.stop();
      await mock?.close();
      await db?.cleanup();
    }
  });

  test('20 tasks (10 complete, 10 fail) submitted through both: each charged or released exactly once', async () => {
    const { user } = await createUser(db.db, { email: 'videos@multi.io', password: 'correct horse battery' });
    await adjustBalanceManually(db.db, { userId: user.id, amount: 10_000_000n, reason: 'test funding', actor: { type: 'system' } });
    const { key, secret } = await createApiKey(db.db, { userId: user.id, name: 'videos' });
    const clients = [a, b].map((t) => new OpenAI({ baseURL: `${t.url}/v1`, apiKey: secret, maxRetries: 0 }));
    const made = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        clients[i % 2].videos
          .create({ model: SORA, prompt: i % 4 < 2 ? `complete ${i}` : `FAIL ${i}`, seconds: '4' })
          .then((v) => ({ id: v.id, fail: i % 4 >= 2 })),
      ),
    );
    for (const m of made) await waitTask(db.db, m.id, undefined, 15_000);

    const enders = new Map<string, number>();
    for (const m of made) {
      const task = (await findTask(db.db, m.id))!;
      assert.equal(task.status, m.fail ? 'failed' : 'completed', m.id);
      const hold = await taskHold(db.db, m.id);
      const transfers = await taskTransfers(db.db, m.id);
      const events = await db.db.selectFrom('task_events').select(['type', 'instance']).where('task_id', '=', m.id).execute();
      const terminal = events.filter((e) => TERMINAL_EVENTS.includes(e.type));
      assert.equal(terminal.length, 1, `${m.id}: ${terminal.map((e) => e.type).join()}`);
      enders.set(terminal[0].instance!, (enders.get(terminal[0].instance!) ?? 0) + 1);
      if (m.fail) {
        assert.equal(hold.status, 'voided');
        assert.deepEqual(transfers, []);
      } else {
        // 4 s × 100,000 = 400,000.
        assert.deepEqual([hold.status, hold.posted], ['posted', 400_000n]);
        assert.deepEqual(
          transfers.map((x) => x.amount),
          [400_000n],
        );
      }
    }
    const all = await db.db
      .selectFrom('ledger_transfers')
      .select(['reference'])
      .where('kind', '=', 'task')
      .where('debit_account_id', '=', `user:${user.id}`)
      .execute();
    assert.equal(all.length, 10, 'ten charges');
    assert.equal(new Set(all.map((r) => r.reference)).size, 10, 'one per completed task');
    // 10,000,000 − 10 × 400,000 = 6,000,000; no hold left pending.
    assert.deepEqual(await walletRow(db.db, user.id), { balance: 6_000_000n, pending: 0n });
    assert.equal(await keySpent(db.db, key.id), 4_000_000n);
    const pending = await db.db
      .selectFrom('ledger_holds')
      .select('id')
      .where('debit_account_id', '=', `user:${user.id}`)
      .where('status', '=', 'pending')
      .execute();
    assert.deepEqual(pending, []);
    // Which instance ended how many (informational: either may end any task).
    assert.ok([...enders.values()].reduce((s, n) => s + n, 0) === 20, JSON.stringify([...enders]));
  });
});
