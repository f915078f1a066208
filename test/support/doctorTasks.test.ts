// The billing doctor on video tasks, each case built through the real API
// (POST /v1/videos against the mock video upstream, the task worker polling
// it): a running task's reserve is explained with its status and deadline; a
// failed task's hold is explained as released, citing the release event; and
// a 'task' transfer for a task that did not complete is an open case.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { verifyBooks } from '../../src/verifyBooks.ts';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { startMockVideo, type MockVideo } from '../helpers/mockVideo.ts';
import { relaySdk, verifyThenClose } from '../helpers/relay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { createTransfer, walletAccountId, SYSTEM_ACCOUNTS } from '../../src/ledger/index.ts';

const MODEL = 'sora-2';
const VIDEO_KEY = 'sk-video-upstream';

for (const dialect of testDialects()) {
  describe(`billing doctor on video tasks, on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockVideo;
    let staff: Awaited<ReturnType<typeof signIn>>;

    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_TASK_POLL_MS: '30', TALLY_TASK_POLL_MAX_MS: '60', TALLY_TASK_LEASE_MS: '500' });
      mock = await startMockVideo({ apiKey: VIDEO_KEY });
      await createChannel(t.ctx.db, t.config.secret, { name: 'video', type: 'openai', baseUrl: mock.baseUrl, apiKey: VIDEO_KEY, models: [MODEL] });
      await setModelPrice(t.ctx.db, { model: MODEL, kind: 'video', perSecond: 100_000n }); // $0.10 a second
      await t.ctx.catalog.reload();
      const s = await seedUser(t, { role: 'support' });
      staff = await signIn(t, s.email, s.password);
    });
    after(async () => verifyThenClose(t, mock));

    async function person() {
      const u = await seedUser(t, { balance: 5_000_000n });
      return { ...u, f: await signIn(t, u.email, u.password), sdk: relaySdk(t, u.apiKey) };
    }
    const json = async (res: Response) => {
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      return body as any;
    };
    async function until(f: Awaited<ReturnType<typeof signIn>>, id: string, statuses: string[]) {
      for (let i = 0; i < 200; i++) {
        const task = await json(await f(`/api/tasks/${id}`));
        if (statuses.includes(task.status)) return task;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`task ${id} never reached ${statuses.join('|')}`);
    }
    const ofClass = (d: any, cls: string) => d.cases.filter((c: any) => c.class === cls);

    test('task_running_reserved: a running task is explained with its reserve, status, progress and deadline, charged only on completion', async () => {
      const p = await person();
      const v = await p.sdk.videos.create({ model: MODEL, prompt: 'NEVER ends', seconds: '8' });
      const task = await until(p.f, v.id, ['in_progress']);
      const d = await json(await p.f('/api/support/diagnose'));
      const [k] = ofClass(d, 'task_running_reserved');
      assert.ok(k, JSON.stringify(d.cases));
      assert.equal(k.state, 'explained');
      assert.match(k.cause.en, /1 task\(s\) are still running, and 0\.80 is reserved/);
      assert.match(k.cause.en, new RegExp(`${v.id} ${MODEL} 8s in_progress \\d+%: reserved 0\\.80, deadline ${task.deadline_at}`));
      assert.match(k.cause.en, /charged only when it completes, for the seconds it produced/);
      assert.match(k.cause.zh, /预留了 0\.80/);
      assert.match(k.cause.zh, /只在完成时按实际生成的秒数扣费/);
      assert.ok(
        k.evidence.some((e: string) => e.includes(`${v.id} submitted submitting held 0.80`)),
        k.evidence.join('\n'),
      );
      assert.ok(
        k.evidence.some((e: string) => e.includes(`${v.id} accepted queued`)),
        k.evidence.join('\n'),
      );
      assert.equal(k.records.tasks[0].hold_status, 'pending');
      assert.deepEqual(k.records.tasks[0].timeline.map((e: any) => e.type).slice(0, 2), ['submitted', 'accepted']);
      assert.ok(!JSON.stringify(k).includes('"channel"'), 'the user is not told which channel served the task');
      assert.equal(k.help.url, '/help/video-task-billing');
      assert.equal(ofClass(d, 'charged_for_failed_task').length, 0);
      // A hint from the page's words narrows it to this class.
      const hinted = await json(await p.f(`/api/support/diagnose?page_message=${encodeURIComponent('视频一直在生成中,余额被预留')}`));
      assert.deepEqual(
        hinted.cases.map((c: any) => c.class),
        ['task_running_reserved'],
      );
      // Cancelled: the reserve is released and the case moves to the failed-task class.
      await p.sdk.videos.delete(v.id);
      const after = await json(await p.f('/api/support/diagnose'));
      assert.equal(ofClass(after, 'task_running_reserved').length, 0);
      assert.equal(ofClass(after, 'charged_for_failed_task')[0].state, 'explained');
    });

    test('charged_for_failed_task: a failed task is explained as released in full, citing the release event and the voided hold', async () => {
      const p = await person();
      const v = await p.sdk.videos.create({ model: MODEL, prompt: 'FAIL please', seconds: '4' });
      await until(p.f, v.id, ['failed']);
      const d = await json(await p.f('/api/support/diagnose?problem=charged_for_failed_task'));
      assert.deepEqual(
        d.cases.map((c: any) => c.class),
        ['charged_for_failed_task'],
      );
      const [k] = d.cases;
      assert.equal(k.state, 'explained');
      assert.match(k.cause.en, /1 task\(s\) ended without completing .* released \(voided\) when it ended, 0\.40 in all; no charge/);
      assert.match(k.cause.zh, /预留的金额已在结束时释放/);
      const release = k.evidence.find((e: string) => e.includes(`${v.id} failed`));
      assert.ok(release, k.evidence.join('\n'));
      assert.match(release, /held 0\.40, charged 0\.00, released 0\.40, error moderation_blocked/);
      assert.ok(k.evidence.includes(`${v.id} hold ${k.records.tasks[0].hold_id} voided; 'task' transfers: none`), k.evidence.join('\n'));
      assert.equal(k.records.tasks[0].charged, '0.00');
      assert.deepEqual(k.records.tasks[0].task_transfers, []);
      // Staff see the same case for this user (support: the admin diagnose route).
      const s = await json(await staff(`/api/admin/users/${p.user.id}/diagnose`));
      const [sk] = ofClass(s, 'charged_for_failed_task');
      assert.equal(sk.state, 'explained');
      assert.ok(sk.records.tasks[0].timeline.find((e: any) => e.type === 'accepted').detail.channel, 'staff see the channel');
      // The statement agrees: no 'task' line at all.
      const ledger = await json(await p.f('/api/ledger'));
      assert.equal(ledger.data.filter((l: any) => l.kind === 'task').length, 0);
    });

    test("charged_for_failed_task: a 'task' transfer for a task that did not complete is OPEN, whatever wrote it", async () => {
      const p = await person();
      const v = await p.sdk.videos.create({ model: MODEL, prompt: 'FAIL again', seconds: '4' });
      await until(p.f, v.id, ['failed']);
      // What must never happen, written straight into the ledger: a charge for the failed task.
      const { transfer } = await createTransfer(t.ctx.db, {
        debitAccountId: walletAccountId(p.user.id),
        creditAccountId: SYSTEM_ACCOUNTS.usageRevenue,
        amount: 400_000n,
        kind: 'task',
        reference: v.id,
        idempotencyKey: `forged:${v.id}`,
      });
      const d = await json(await p.f('/api/support/diagnose'));
      const [k] = ofClass(d, 'charged_for_failed_task');
      assert.equal(k.state, 'open');
      assert.equal(d.cases[0].class, 'charged_for_failed_task', 'open cases come first');
      assert.match(k.cause.en, new RegExp(`${v.id} failed\\) have a charge in the ledger \\(${transfer.id} 0\\.40\\)`));
      assert.match(k.cause.zh, /这笔扣费是错误的/);
      assert.match(k.next_step.en, /refund/);
      assert.deepEqual(
        k.records.tasks[0].task_transfers.map((x: any) => x.id),
        [transfer.id],
      );
      // `tally ledger verify` reports it too (a task charge no task records); then the forgery is taken out again.
      const report = await verifyBooks(t.ctx.db);
      assert.ok(
        report.checks.some((c) => !c.ok && (c.violations ?? []).some((x) => x.includes(transfer.id))),
        JSON.stringify(report.checks.filter((c) => !c.ok)),
      );
      await t.ctx.db.deleteFrom('ledger_transfers').where('id', '=', transfer.id).execute();
      await t.ctx.db
        .updateTable('ledger_accounts')
        .set({ balance: sql`balance + ${400_000n}` })
        .where('id', '=', walletAccountId(p.user.id))
        .execute();
      await t.ctx.db
        .updateTable('ledger_accounts')
        .set({ balance: sql`balance - ${400_000n}` })
        .where('id', '=', SYSTEM_ACCOUNTS.usageRevenue)
        .execute();
    });

    test('a completed task is neither case: charged for what it produced, nothing reserved', async () => {
      const p = await person();
      const v = await p.sdk.videos.create({ model: MODEL, prompt: 'a cat', seconds: '4' });
      await until(p.f, v.id, ['completed']);
      const d = await json(await p.f('/api/support/diagnose'));
      assert.equal(ofClass(d, 'task_running_reserved').length + ofClass(d, 'charged_for_failed_task').length, 0, JSON.stringify(d.cases));
    });
  });
}
