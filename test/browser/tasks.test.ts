// Video tasks in the console: a user with a running task sees its hold as
// reserved (dashboard and Tasks page); once it completes, the charge and the
// timeline; staff see the task timeline in the user's 360° view and the
// billing doctor's answer about the user's failed task.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SKIP, startConsoleEnv, newPage, signInUi, seedUser, problemsOf, shot, type ConsoleEnv } from './browser.ts';
import { startMockVideo, type MockVideo } from '../helpers/mockVideo.ts';
import { relaySdk } from '../helpers/relay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { findTask } from '../../src/gateway/tasks/index.ts';

const MODEL = 'sora-2';
const VIDEO_KEY = 'sk-video-browser';

describe('video tasks in the console, in Chromium', { skip: SKIP }, () => {
  let env: ConsoleEnv;
  let mock: MockVideo;
  before(async () => {
    env = await startConsoleEnv();
    mock = await startMockVideo({ apiKey: VIDEO_KEY });
    await createChannel(env.t.ctx.db, env.t.config.secret, { name: 'video', type: 'openai', baseUrl: mock.baseUrl, apiKey: VIDEO_KEY, models: [MODEL] });
    await setModelPrice(env.t.ctx.db, { model: MODEL, kind: 'video', perSecond: 100_000n }); // $0.10 a second
    await env.t.ctx.catalog.reload();
  });
  after(async () => {
    await mock?.close();
    await env?.close();
  });

  /** Polls the task now (the worker backs off between polls) until it reaches `status`. */
  async function settle(id: string, status: string) {
    for (let i = 0; i < 200; i++) {
      await env.t.ctx.tasks.worker.pollOne(id);
      if ((await findTask(env.t.ctx.db, id))?.status === status) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`task ${id} never reached ${status}`);
  }

  test('reserved while running, charged with its timeline once completed; staff see the timeline and the doctor', async () => {
    const user = await seedUser(env.t, { email: 'video@console.test', balance: 5_000_000n });
    const sdk = relaySdk(env.t, user.apiKey);
    const running = await sdk.videos.create({ model: MODEL, prompt: 'NEVER ends: a lighthouse', seconds: '8' });
    await settle(running.id, 'in_progress');

    const { ctx, page } = await newPage(env);
    await signInUi(page, user.email, user.password);
    // The dashboard: the hold shows as reserved for running tasks.
    const reserved = page.getByTestId('tasks-reserved');
    await reserved.waitFor();
    assert.match((await reserved.textContent()) ?? '', /Reserved for running tasks: 0\.80 USD · 1 running/);
    assert.match((await page.getByTestId('available').textContent()) ?? '', /4\.20/);

    // The Tasks page: the running task with its progress and its reserve.
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Tasks' }).click();
    const row = page.getByRole('row', { name: new RegExp(running.id) });
    await row.waitFor();
    const cells = await row.getByRole('cell').allTextContents();
    assert.equal(cells[3], '8');
    assert.deepEqual(cells.slice(4, 7), ['0.80', '0.80', '—'], `held, reserved, charged: ${cells.join(' | ')}`);
    assert.match(cells[2], /^Running \d+%$/);
    await shot(page, 'tasks-running');

    // Its detail: the timeline so far, refreshed while it runs; then it completes upstream.
    await row.click();
    const timeline = page.getByTestId('task-timeline');
    await timeline.getByText('Submitted, 0.80 held').waitFor();
    await timeline.getByText('Accepted by the provider').waitFor();
    const upstreamId = (await findTask(env.t.ctx.db, running.id))!.upstreamId!;
    mock.complete(upstreamId);
    await settle(running.id, 'completed');
    await timeline.getByText('Completed: 0.80 charged, 0.00 released').waitFor();
    assert.match((await page.getByTestId('task-money').textContent()) ?? '', /Held 0\.80 · reserved 0\.00 · charged 0\.80 · released 0\.00/);
    await shot(page, 'task-completed');

    // In Chinese too.
    await page.getByRole('button', { name: '中文' }).click();
    await timeline.getByText('已完成:扣费 0.80,释放 0.00').waitFor();
    await timeline.getByText('已提交,预留 0.80').waitFor();
    await page.getByRole('button', { name: 'English' }).click();

    // The statement's charge is the task, and both CSVs are downloadable.
    await page.goto('/console/statement');
    await page
      .getByRole('row', { name: /Async task/ })
      .getByText(running.id)
      .waitFor();
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Export CSV' }).click();
    const csv = await (await download).createReadStream().then(async (s) => {
      let out = '';
      for await (const c of s) out += c;
      return out;
    });
    assert.match(csv, new RegExp(`,task,-0\\.80,4\\.20,${running.id},\\r\\n`));
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();

    // A second task fails: its hold is released, which the doctor explains to staff.
    const failed = await sdk.videos.create({ model: MODEL, prompt: 'FAIL: a storm', seconds: '4' });
    await settle(failed.id, 'failed');

    const staffUser = await seedUser(env.t, { email: 'agent@console.test', role: 'support' });
    const s = await newPage(env);
    await signInUi(s.page, staffUser.email, staffUser.password);
    await s.page.goto(`/console/admin/users/${user.user.id}`);
    const tasks = s.page.getByTestId('staff-tasks');
    await tasks.getByRole('row', { name: new RegExp(running.id) }).click();
    const staffTimeline = tasks.getByTestId('task-timeline');
    await staffTimeline.getByText('Submitted, 0.80 held').waitFor();
    await staffTimeline.getByText('Completed: 0.80 charged, 0.00 released').waitFor();
    await tasks.getByRole('row', { name: new RegExp(failed.id) }).click();
    await staffTimeline.getByText('Failed (moderation_blocked): 0.40 released, nothing charged').waitFor();

    await s.page.getByRole('button', { name: 'Run the doctor' }).click();
    const findings = s.page.getByTestId('staff-findings');
    await findings.getByRole('heading', { name: /Charged for a failed task\? charged_for_failed_task/ }).waitFor();
    const text = (await findings.textContent()) ?? '';
    assert.match(text, /released \(voided\) when it ended, 0\.40 in all; no charge was made/);
    assert.ok(text.includes(`${failed.id} failed held 0.40, charged 0.00, released 0.40`), text);
    await shot(s.page, 'staff-user-tasks');
    assert.deepEqual(problemsOf(s.page), []);
    await s.ctx.close();
  });
});
