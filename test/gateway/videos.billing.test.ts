// Video tasks and money, end to end through the official openai SDK against
// the mock Sora upstream, on SQLite and PostgreSQL: held at submit, charged
// exactly what was produced at completion (seconds × price × group
// multiplier, or the request price), released on failure, cancel, timeout and
// a refused submit; 402 and nothing written when the wallet cannot cover the
// hold; concurrent submits never overdraw; a signed webhook completes a task
// without waiting for the poll; bad input changes nothing. Every amount below
// is computed by hand in a comment, and every describe ends with the books
// verified.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { testDialects } from '../helpers/db.ts';
import { startMockVideo, videoBytes, type MockVideo } from '../helpers/mockVideo.ts';
import { relaySdk, verifyThenClose } from '../helpers/relay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { upsertGroup } from '../../src/gateway/groups.ts';
import { findTask } from '../../src/gateway/tasks/index.ts';
import {
  WEBHOOK_SECRET,
  eventTypes,
  keySpent,
  postVideoWebhook,
  taskHold,
  taskRecord,
  taskTransfers,
  upstreamIdOf,
  waitTask,
  walletRow,
} from './videos.helpers.ts';

const SORA = 'sora-2';
const SORA_PRO = 'sora-2-pro'; // priced per request
const SORA_FO = 'sora-2-failover'; // served by two channels (two upstreams)
const CHAT = 'gpt-4o-mini';
const GROUP = 'video-x1.5';
const FAST = { TALLY_TASK_POLL_MS: '30', TALLY_TASK_POLL_MAX_MS: '60', TALLY_TASK_LEASE_MS: '500' };

/** The SDK's error, or a failure if the call succeeded. */
async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, String(e));
    return e;
  }
  assert.fail('the call succeeded; an error was expected');
}

/** OpenAI's error shape: {error: {code, message}} with the expected code and a non-empty message. */
function assertOpenAIError(e: InstanceType<typeof OpenAI.APIError>, status: number, code: string) {
  assert.equal(e.status, status, `${e.status} ${JSON.stringify(e.error)}`);
  const body = e.error as { code?: string; message?: string };
  assert.equal(body.code, code, JSON.stringify(body));
  assert.ok(typeof body.message === 'string' && body.message.length > 0);
}

for (const dialect of testDialects()) {
  describe(`video tasks and money (${dialect})`, () => {
    let t: TestTally;
    let mock: MockVideo;
    let mockB: MockVideo;

    before(async () => {
      t = await startTestTally(dialect, {}, { ...FAST, TALLY_MAX_BODY_BYTES: '65536' });
      mock = await startMockVideo({ apiKey: 'sk-video-a' });
      mockB = await startMockVideo({ apiKey: 'sk-video-b' });
      const db = t.ctx.db;
      await createChannel(db, t.config.secret, {
        name: 'video-a',
        type: 'openai',
        baseUrl: mock.baseUrl,
        apiKey: 'sk-video-a',
        models: [SORA, SORA_PRO, CHAT],
      });
      // The failover model: channel A (priority 10) is tried first, channel B (priority 0) after it.
      await createChannel(db, t.config.secret, {
        name: 'fo-first',
        type: 'openai',
        baseUrl: mock.baseUrl,
        apiKey: 'sk-video-a',
        models: [SORA_FO],
        priority: 10,
      });
      await createChannel(db, t.config.secret, {
        name: 'fo-second',
        type: 'openai',
        baseUrl: mockB.baseUrl,
        apiKey: 'sk-video-b',
        models: [SORA_FO],
        priority: 0,
      });
      await setModelPrice(db, { model: SORA, kind: 'video', perSecond: 100_000n, maxSeconds: 12 }); // $0.10 a second
      await setModelPrice(db, { model: SORA_FO, kind: 'video', perSecond: 100_000n });
      await setModelPrice(db, { model: SORA_PRO, kind: 'video', perRequest: 250_000n }); // $0.25 a video
      await setModelPrice(db, { model: CHAT, inputPer1M: 1_000_000n, outputPer1M: 2_000_000n });
      await upsertGroup(db, { name: GROUP, multiplierPpm: 1_500_000n, models: null });
      await t.ctx.catalog.reload();
      // Prompts whose video never ends until the test says so (mock.complete / mock.fail).
      mock.setPromptBehavior('HOLD', { outcome: 'never' });
      mock.setPromptBehavior('SHORT', { outcome: 'never', producedSeconds: '4' });
      mock.setPromptBehavior('STUCK', { outcome: 'never', deletable: false });
      mock.setPromptBehavior('REFUSE', { submitStatus: 400 });
      mock.setPromptBehavior('BUSY', { submitStatus: 429 });
    });
    after(() => verifyThenClose(t, mock, mockB));

    test('held at submit, charged exactly seconds × price × group multiplier at completion; the content is the upstream bytes', async () => {
      const u = await seedUser(t, { balance: 5_000_000n, group: GROUP });
      const sdk = relaySdk(t, u.apiKey);
      const api = await signIn(t, u.email, u.password);
      const v = await sdk.videos.create({
        model: SORA,
        prompt: 'HOLD a cat on a ledger',
        seconds: '8',
        input_reference: await toFile(Buffer.from('PNGDATA'), 'ref.png', { type: 'image/png' }),
      });
      assert.match(v.id, /^video_/);
      assert.equal(v.status, 'queued');
      const uid = await upstreamIdOf(t.ctx.db, v.id);
      assert.notEqual(v.id, uid, "Tally's id, never the upstream's");
      // Held: 8 s × 100,000 µ/s × 1.5 = 1,200,000 µ. The balance is untouched; the hold is pending.
      const HELD = 1_200_000n;
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 5_000_000n, pending: HELD });
      const hold = await taskHold(t.ctx.db, v.id);
      assert.equal(hold.status, 'pending');
      assert.equal(hold.amount, HELD);
      assert.equal(hold.debit, `user:${u.user.id}`);
      assert.equal(hold.credit, 'system:usage_revenue');
      assert.deepEqual(await taskTransfers(t.ctx.db, v.id), []);
      assert.equal(await keySpent(t.ctx.db, u.key.id), HELD, 'the key counts the hold as spent while the task runs');
      const live = await taskRecord(api, v.id);
      assert.ok(['queued', 'in_progress'].includes(live.status), live.status);
      assert.equal(live.held, '1.20');
      assert.equal(live.reserved, '1.20');
      assert.equal(live.charged, '0.00');
      assert.deepEqual(
        live.events.slice(0, 2).map((e: { type: string }) => e.type),
        ['submitted', 'accepted'],
      );
      assert.equal(live.events[0].detail.held, '1200000');

      mock.complete(uid);
      const done = await waitTask(t.ctx.db, v.id);
      assert.equal(done.status, 'completed');
      assert.equal(done.charged, HELD);
      const h = await taskHold(t.ctx.db, v.id);
      assert.equal(h.status, 'posted');
      assert.equal(h.posted, HELD);
      const tr = await taskTransfers(t.ctx.db, v.id);
      assert.equal(tr.length, 1);
      assert.deepEqual(
        { amount: tr[0].amount, debit: tr[0].debit, credit: tr[0].credit, hold: tr[0].holdId },
        { amount: HELD, debit: `user:${u.user.id}`, credit: 'system:usage_revenue', hold: h.id },
      );
      assert.equal(done.transferId, tr[0].id);
      // 5,000,000 − 1,200,000 = 3,800,000; nothing pending.
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 3_800_000n, pending: 0n });
      assert.equal(await keySpent(t.ctx.db, u.key.id), HELD);
      const rec = await taskRecord(api, v.id);
      assert.equal(rec.status, 'completed');
      assert.deepEqual([rec.held, rec.reserved, rec.charged, rec.released], ['1.20', '0.00', '1.20', '0.00']);
      assert.equal(rec.transfer_id, tr[0].id);
      const ended = rec.events.filter((e: { type: string }) => ['completed', 'failed', 'cancelled', 'expired'].includes(e.type));
      assert.equal(ended.length, 1);
      assert.deepEqual([ended[0].type, ended[0].detail.charged, ended[0].detail.released], ['completed', '1200000', '0']);

      const got = await sdk.videos.retrieve(v.id);
      assert.equal(got.status, 'completed');
      assert.equal(got.id, v.id);
      const content = await sdk.videos.downloadContent(v.id);
      assert.deepEqual(Buffer.from(await content.arrayBuffer()), videoBytes(uid));
      // The upstream got the seconds Tally held for, and the image.
      const submit = mock.requests.find((r) => r.method === 'POST' && r.fields?.prompt === 'HOLD a cat on a ledger');
      assert.equal(submit?.fields.seconds, '8');
      assert.equal(submit?.files[0]?.name, 'input_reference');
    });

    test('fewer seconds produced than asked: charged for the seconds produced, the rest released', async () => {
      const u = await seedUser(t, { balance: 5_000_000n, group: GROUP });
      const sdk = relaySdk(t, u.apiKey);
      const v = await sdk.videos.create({ model: SORA, prompt: 'SHORT a river', seconds: '12' });
      // Held: 12 s × 100,000 × 1.5 = 1,800,000.
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 5_000_000n, pending: 1_800_000n });
      mock.complete(await upstreamIdOf(t.ctx.db, v.id));
      const done = await waitTask(t.ctx.db, v.id);
      assert.equal(done.status, 'completed');
      // Charged: 4 s produced × 100,000 × 1.5 = 600,000; released 1,800,000 − 600,000 = 1,200,000.
      assert.equal(done.charged, 600_000n);
      const h = await taskHold(t.ctx.db, v.id);
      assert.deepEqual([h.status, h.posted], ['posted', 600_000n]);
      const tr = await taskTransfers(t.ctx.db, v.id);
      assert.deepEqual(
        tr.map((x) => x.amount),
        [600_000n],
      );
      // 5,000,000 − 600,000 = 4,400,000.
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 4_400_000n, pending: 0n });
      assert.equal(await keySpent(t.ctx.db, u.key.id), 600_000n);
      const api = await signIn(t, u.email, u.password);
      const rec = await taskRecord(api, v.id);
      assert.deepEqual([rec.held, rec.charged, rec.released], ['1.80', '0.60', '1.20']);
    });

    test('a per-request model: held and charged the request price × multiplier, whatever the seconds', async () => {
      const u = await seedUser(t, { balance: 1_000_000n, group: GROUP });
      const sdk = relaySdk(t, u.apiKey);
      const v = await sdk.videos.create({ model: SORA_PRO, prompt: 'HOLD a per-request lighthouse', seconds: '12' });
      // 250,000 × 1.5 = 375,000 held.
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 1_000_000n, pending: 375_000n });
      mock.complete(await upstreamIdOf(t.ctx.db, v.id));
      const done = await waitTask(t.ctx.db, v.id);
      assert.equal(done.status, 'completed');
      assert.equal(done.charged, 375_000n);
      assert.deepEqual(
        (await taskTransfers(t.ctx.db, v.id)).map((x) => x.amount),
        [375_000n],
      );
      // 1,000,000 − 375,000 = 625,000.
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 625_000n, pending: 0n });
      assert.equal(await keySpent(t.ctx.db, u.key.id), 375_000n);
    });

    test('the default group (1x): 4 s at $0.10 is 400,000, charged once the mock completes on its own', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const v = await relaySdk(t, u.apiKey).videos.create({ model: SORA, prompt: 'a plain dog' }); // seconds default: 4
      const done = await waitTask(t.ctx.db, v.id);
      assert.equal(done.status, 'completed');
      assert.equal(done.charged, 400_000n);
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 600_000n, pending: 0n });
    });

    test('an upstream failure (FAIL) charges nothing: the hold is voided, the wallet and the key spend are back', async () => {
      const u = await seedUser(t, { balance: 1_000_000n, group: GROUP });
      const v = await relaySdk(t, u.apiKey).videos.create({ model: SORA, prompt: 'FAIL on purpose', seconds: '4' });
      // Held 4 × 100,000 × 1.5 = 600,000 until the failure.
      const done = await waitTask(t.ctx.db, v.id);
      assert.equal(done.status, 'failed');
      assert.equal(done.errorCode, 'moderation_blocked');
      assert.equal(done.charged, 0n);
      const h = await taskHold(t.ctx.db, v.id);
      assert.deepEqual([h.status, h.amount, h.posted ?? 0n], ['voided', 600_000n, 0n]);
      assert.deepEqual(await taskTransfers(t.ctx.db, v.id), []);
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 1_000_000n, pending: 0n });
      assert.equal(await keySpent(t.ctx.db, u.key.id), 0n);
      const api = await signIn(t, u.email, u.password);
      const rec = await taskRecord(api, v.id);
      assert.deepEqual([rec.status, rec.held, rec.charged, rec.released, rec.error.code], ['failed', '0.60', '0.00', '0.60', 'moderation_blocked']);
      const got = await relaySdk(t, u.apiKey).videos.retrieve(v.id);
      assert.equal(got.status, 'failed');
      assert.equal(got.error?.code, 'moderation_blocked');
      assertOpenAIError(await apiError(relaySdk(t, u.apiKey).videos.downloadContent(v.id)), 409, 'task_not_ready');
    });

    test('cancel (DELETE of a live task): cancelled upstream, nothing charged, hidden from the video API but kept in the records', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      const v = await sdk.videos.create({ model: SORA, prompt: 'NEVER finishes', seconds: '8' });
      // Held 8 × 100,000 = 800,000.
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 1_000_000n, pending: 800_000n });
      const deletesBefore = mock.deletes;
      const del = await sdk.videos.delete(v.id);
      assert.deepEqual([del.id, del.deleted], [v.id, true]);
      assert.equal(mock.deletes, deletesBefore + 1, 'cancelled upstream');
      const task = (await findTask(t.ctx.db, v.id))!;
      assert.equal(task.status, 'cancelled');
      assert.equal(task.charged, 0n);
      assert.equal((await taskHold(t.ctx.db, v.id)).status, 'voided');
      assert.deepEqual(await taskTransfers(t.ctx.db, v.id), []);
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 1_000_000n, pending: 0n });
      assert.equal(await keySpent(t.ctx.db, u.key.id), 0n);
      assertOpenAIError(await apiError(sdk.videos.retrieve(v.id)), 404, 'task_not_found');
      const api = await signIn(t, u.email, u.password);
      const rec = await taskRecord(api, v.id);
      assert.deepEqual([rec.status, rec.deleted, rec.charged, rec.released], ['cancelled', true, '0.00', '0.80']);
      const types = rec.events.map((e: { type: string }) => e.type);
      assert.deepEqual(types.slice(-2), ['cancelled', 'deleted']);
    });

    test('a cancel the upstream refuses: 409 task_not_cancellable, the task keeps running and is charged when it completes', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      const v = await sdk.videos.create({ model: SORA, prompt: 'STUCK in the renderer', seconds: '4' });
      assertOpenAIError(await apiError(sdk.videos.delete(v.id)), 409, 'task_not_cancellable');
      const task = (await findTask(t.ctx.db, v.id))!;
      assert.ok(['queued', 'in_progress'].includes(task.status), task.status);
      assert.equal(task.deletedAt, null);
      assert.equal((await taskHold(t.ctx.db, v.id)).status, 'pending');
      // Held 4 × 100,000 = 400,000, still pending.
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 1_000_000n, pending: 400_000n });
      assert.equal((await sdk.videos.retrieve(v.id)).id, v.id, 'still visible');
      mock.complete(await upstreamIdOf(t.ctx.db, v.id));
      const done = await waitTask(t.ctx.db, v.id);
      assert.equal(done.status, 'completed');
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 600_000n, pending: 0n });
    });

    test('a submit the upstream refuses (400): the caller gets the 400, the hold is voided and the wallet is whole again', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      const e = await apiError(sdk.videos.create({ model: SORA, prompt: 'REFUSE this one', seconds: '8' }));
      assert.equal(e.status, 400, JSON.stringify(e.error));
      assert.ok((e.error as { message?: string }).message);
      const rows = await t.ctx.db.selectFrom('tasks').select(['id', 'status']).where('user_id', '=', u.user.id).execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0].status, 'failed');
      // It was held (8 × 100,000 = 800,000) before the upstream answered, and voided when it refused.
      const h = await taskHold(t.ctx.db, rows[0].id);
      assert.deepEqual([h.status, h.amount], ['voided', 800_000n]);
      assert.deepEqual(await taskTransfers(t.ctx.db, rows[0].id), []);
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 1_000_000n, pending: 0n });
      assert.equal(await keySpent(t.ctx.db, u.key.id), 0n);
      assert.deepEqual(await sdk.videos.list().then((p) => p.data.map((x) => [x.id, x.status])), [[rows[0].id, 'failed']]);
    });

    test('upstream 429 on the first channel fails over to the second: one task, charged once', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const aBefore = mock.submits;
      const bBefore = mockB.submits;
      const v = await relaySdk(t, u.apiKey).videos.create({ model: SORA_FO, prompt: 'BUSY channel first', seconds: '4' });
      assert.equal(mock.submits, aBefore + 1, 'tried on the first channel (429)');
      assert.equal(mockB.submits, bBefore + 1, 'then on the second');
      const task = (await findTask(t.ctx.db, v.id))!;
      assert.ok(mockB.videoIds().includes(task.upstreamId!), 'the task is the second upstream’s video');
      const done = await waitTask(t.ctx.db, v.id);
      assert.equal(done.status, 'completed');
      // 4 × 100,000 = 400,000, once.
      assert.deepEqual(
        (await taskTransfers(t.ctx.db, v.id)).map((x) => x.amount),
        [400_000n],
      );
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 600_000n, pending: 0n });
      const content = await relaySdk(t, u.apiKey).videos.downloadContent(v.id);
      assert.deepEqual(Buffer.from(await content.arrayBuffer()), videoBytes(task.upstreamId!), 'downloaded from the upstream that made it');
    });

    /** Asserts the user has no task, no hold, the wallet as funded and the key spend 0, and the upstream saw no submit. */
    async function nothingWritten(u: { user: { id: string }; key: { id: string } }, balance: bigint, submitsBefore: number) {
      assert.deepEqual(await t.ctx.db.selectFrom('tasks').select('id').where('user_id', '=', u.user.id).execute(), []);
      assert.deepEqual(await t.ctx.db.selectFrom('ledger_holds').select('id').where('debit_account_id', '=', `user:${u.user.id}`).execute(), []);
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance, pending: 0n });
      assert.equal(await keySpent(t.ctx.db, u.key.id), 0n);
      assert.equal(mock.submits, submitsBefore, 'nothing reached the upstream');
    }

    test('402 insufficient_balance when the wallet cannot cover the hold: no task, no hold, nothing sent upstream', async () => {
      const u = await seedUser(t, { balance: 399_999n });
      const before = mock.submits;
      // 4 s × 100,000 = 400,000 > 399,999.
      const e = await apiError(relaySdk(t, u.apiKey).videos.create({ model: SORA, prompt: 'too dear', seconds: '4' }));
      assertOpenAIError(e, 402, 'insufficient_balance');
      await nothingWritten(u, 399_999n, before);
    });

    test('concurrency: a wallet that covers exactly 3 holds gets 9 concurrent submits; exactly 3 are accepted, never overdrawn', async () => {
      const u = await seedUser(t, { balance: 1_200_000n }); // 3 × (4 s × 100,000 = 400,000)
      const sdk = relaySdk(t, u.apiKey);
      const results = await Promise.allSettled(
        Array.from({ length: 9 }, (_, i) => sdk.videos.create({ model: SORA, prompt: `NEVER race ${i}`, seconds: '4' })),
      );
      const ok = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ id: string }>).value.id);
      for (const r of results) if (r.status === 'rejected') assertOpenAIError(r.reason, 402, 'insufficient_balance');
      assert.equal(ok.length, 3, `accepted ${ok.length}`);
      const w = await walletRow(t.ctx.db, u.user.id);
      assert.deepEqual(w, { balance: 1_200_000n, pending: 1_200_000n });
      assert.ok(w.pending <= w.balance);
      const tasks = await t.ctx.db.selectFrom('tasks').select('id').where('user_id', '=', u.user.id).execute();
      assert.deepEqual(tasks.map((x) => x.id).sort(), [...ok].sort(), 'a task row only for the accepted ones');
      assert.equal(await keySpent(t.ctx.db, u.key.id), 1_200_000n);
      for (const id of ok) await sdk.videos.delete(id);
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 1_200_000n, pending: 0n });
      assert.equal(await keySpent(t.ctx.db, u.key.id), 0n);
      for (const id of ok) assert.ok(['voided'].includes((await taskHold(t.ctx.db, id)).status));
    });

    test('bad input changes nothing and answers in OpenAI’s error shape', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      const before = mock.submits;
      const bad = (body: Record<string, unknown>) => sdk.videos.create(body as never);
      assertOpenAIError(await apiError(bad({ model: SORA })), 400, 'invalid_request'); // no prompt
      assertOpenAIError(await apiError(bad({ model: SORA, prompt: '   ' })), 400, 'invalid_request');
      for (const seconds of ['0', 'abc', '-4', '4.5']) {
        const e = await apiError(bad({ model: SORA, prompt: 'x', seconds }));
        assertOpenAIError(e, 400, 'invalid_request');
        assert.equal(e.param, 'seconds', seconds);
      }
      // max_seconds is 12 for sora-2.
      const tooLong = await apiError(bad({ model: SORA, prompt: 'x', seconds: '16' }));
      assertOpenAIError(tooLong, 400, 'invalid_request');
      assert.equal(tooLong.param, 'seconds');
      const chat = await apiError(bad({ model: CHAT, prompt: 'x', seconds: '4' }));
      assertOpenAIError(chat, 400, 'invalid_request');
      assert.equal(chat.param, 'model');
      assertOpenAIError(await apiError(bad({ model: 'sora-9000', prompt: 'x' })), 404, 'model_not_found');
      // A file in a field other than input_reference (raw multipart, as a hand-made client would send it).
      const form = new FormData();
      form.set('model', SORA);
      form.set('prompt', 'a file in the wrong field');
      form.set('image', new Blob([Buffer.from('PNGDATA')], { type: 'image/png' }), 'ref.png');
      const res = await fetch(`${t.url}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${u.apiKey}` }, body: form });
      assert.equal(res.status, 400);
      const body = (await res.json()) as { error: { code: string; message: string; param: string } };
      assert.deepEqual([body.error.code, body.error.param], ['invalid_request', 'image']);
      // A body over TALLY_MAX_BODY_BYTES (64 KiB here): 413.
      const big = await apiError(
        sdk.videos.create({ model: SORA, prompt: 'big', input_reference: await toFile(Buffer.alloc(70_000, 1), 'big.png', { type: 'image/png' }) }),
      );
      assert.equal(big.status, 413);
      assert.ok((big.error as { code?: string }).code, JSON.stringify(big.error));
      const bigJson = await fetch(`${t.url}/v1/videos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: SORA, prompt: 'x'.repeat(70_000) }),
      });
      assert.equal(bigJson.status, 413);
      await nothingWritten(u, 1_000_000n, before);
    });

    test("another user's video is a 404 for retrieve, content and delete, and their delete cancels nothing", async () => {
      const owner = await seedUser(t, { balance: 1_000_000n });
      const other = await seedUser(t, { balance: 1_000_000n });
      const v = await relaySdk(t, owner.apiKey).videos.create({ model: SORA, prompt: 'NEVER mine', seconds: '4' });
      const sdk = relaySdk(t, other.apiKey);
      assertOpenAIError(await apiError(sdk.videos.retrieve(v.id)), 404, 'task_not_found');
      assertOpenAIError(await apiError(sdk.videos.downloadContent(v.id)), 404, 'task_not_found');
      const deletes = mock.deletes;
      assertOpenAIError(await apiError(sdk.videos.delete(v.id)), 404, 'task_not_found');
      assert.equal(mock.deletes, deletes);
      assert.deepEqual((await sdk.videos.list()).data, []);
      const otherApi = await signIn(t, other.email, other.password);
      assert.equal((await otherApi(`/api/tasks/${v.id}`)).status, 404);
      const task = (await findTask(t.ctx.db, v.id))!;
      assert.ok(['queued', 'in_progress'].includes(task.status));
      assert.deepEqual(await walletRow(t.ctx.db, owner.user.id), { balance: 1_000_000n, pending: 400_000n });
      await relaySdk(t, owner.apiKey).videos.delete(v.id);
      assert.deepEqual(await walletRow(t.ctx.db, owner.user.id), { balance: 1_000_000n, pending: 0n });
    });
  });

  describe(`video task timeouts (${dialect})`, () => {
    let t: TestTally;
    let mock: MockVideo;

    before(async () => {
      // Its own instance: a 1.5 s deadline would also expire the other suites' tasks on a busy machine.
      t = await startTestTally(dialect, {}, { ...FAST, TALLY_TASK_TIMEOUT_MS: '1500' });
      mock = await startMockVideo({ apiKey: 'sk-video' });
      await createChannel(t.ctx.db, t.config.secret, { name: 'video', type: 'openai', baseUrl: mock.baseUrl, apiKey: 'sk-video', models: [SORA] });
      await setModelPrice(t.ctx.db, { model: SORA, kind: 'video', perSecond: 100_000n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock));

    test('timeout: a task that never ends is expired at TALLY_TASK_TIMEOUT_MS (1.5 s here) and its hold voided', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const v = await relaySdk(t, u.apiKey).videos.create({ model: SORA, prompt: 'NEVER ever', seconds: '8' });
      // Held 8 × 100,000 = 800,000 while it runs.
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 1_000_000n, pending: 800_000n });
      const done = await waitTask(t.ctx.db, v.id);
      assert.equal(done.status, 'expired');
      assert.equal(done.errorCode, 'task_timeout');
      assert.ok(done.finishedAt! - done.createdAt >= 1500, 'not before its deadline');
      assert.equal(done.charged, 0n);
      assert.equal((await taskHold(t.ctx.db, v.id)).status, 'voided');
      assert.deepEqual(await taskTransfers(t.ctx.db, v.id), []);
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 1_000_000n, pending: 0n });
      assert.equal(await keySpent(t.ctx.db, u.key.id), 0n);
      assert.equal((await eventTypes(t.ctx.db, v.id)).filter((x) => x === 'expired').length, 1);
      assert.equal((await relaySdk(t, u.apiKey).videos.retrieve(v.id)).status, 'failed', 'the video API shows an expired task as failed');
    });
  });

  describe(`video webhooks (${dialect})`, () => {
    let t: TestTally;
    let mock: MockVideo;

    before(async () => {
      // Polls an hour apart in practice: only the webhook can end a task within this test.
      t = await startTestTally(dialect, {}, { TALLY_TASK_POLL_MS: '60000', TALLY_TASK_POLL_MAX_MS: '60000', TALLY_VIDEO_WEBHOOK_SECRET: WEBHOOK_SECRET });
      mock = await startMockVideo({ apiKey: 'sk-video', webhook: { url: `${t.url}/api/webhooks/videos`, secret: WEBHOOK_SECRET } });
      await createChannel(t.ctx.db, t.config.secret, { name: 'video', type: 'openai', baseUrl: mock.baseUrl, apiKey: 'sk-video', models: [SORA] });
      await setModelPrice(t.ctx.db, { model: SORA, kind: 'video', perSecond: 100_000n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock));

    test('a signed video.completed event completes the task at once, without waiting for the poll', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const v = await relaySdk(t, u.apiKey).videos.create({ model: SORA, prompt: 'webhook me', seconds: '8' });
      const uid = await upstreamIdOf(t.ctx.db, v.id);
      const done = await waitTask(t.ctx.db, v.id, undefined, 4000);
      assert.equal(done.status, 'completed');
      assert.equal(mock.polls(uid), 1, 'one poll, the one the webhook asked for');
      const hook = mock.webhooks.find((w) => w.videoId === uid);
      assert.equal(hook?.status, 200);
      // 8 × 100,000 = 800,000.
      assert.equal(done.charged, 800_000n);
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 200_000n, pending: 0n });
      const types = await eventTypes(t.ctx.db, v.id);
      assert.ok(types.includes('webhook'), types.join());
      assert.equal(types.filter((x) => x === 'completed').length, 1);
      // A replayed (re-signed) event for the ended task moves nothing.
      const again = await postVideoWebhook(t.url, uid);
      assert.equal(again.status, 200);
      assert.deepEqual(
        (await taskTransfers(t.ctx.db, v.id)).map((x) => x.amount),
        [800_000n],
      );
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 200_000n, pending: 0n });
    });

    test('a bad signature is refused (400 invalid_signature) and changes nothing; a signed event only asks for a poll', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const v = await relaySdk(t, u.apiKey).videos.create({ model: SORA, prompt: 'NEVER by webhook', seconds: '4' });
      const uid = await upstreamIdOf(t.ctx.db, v.id);
      const before = { task: await findTask(t.ctx.db, v.id), events: await eventTypes(t.ctx.db, v.id), polls: mock.polls(uid) };
      const res = await postVideoWebhook(t.url, uid, { badSignature: true });
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_signature');
      const wrongSecret = await postVideoWebhook(t.url, uid, { secret: 'whsec_' + Buffer.from('another secret entirely!').toString('base64') });
      assert.equal(wrongSecret.status, 400);
      assert.deepEqual(await findTask(t.ctx.db, v.id), before.task);
      assert.deepEqual(await eventTypes(t.ctx.db, v.id), before.events);
      assert.equal(mock.polls(uid), before.polls, 'no poll either');
      // Signed but not true (the upstream still runs it): the poll decides, so the task stays live and held.
      const ok = await postVideoWebhook(t.url, uid);
      assert.equal(ok.status, 200);
      // The webhook is answered at once; its poll follows.
      for (let i = 0; i < 100 && mock.polls(uid) === before.polls; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(mock.polls(uid), before.polls + 1);
      const task = (await findTask(t.ctx.db, v.id))!;
      assert.ok(['queued', 'in_progress'].includes(task.status), task.status);
      assert.equal((await taskHold(t.ctx.db, v.id)).status, 'pending');
      // 4 × 100,000 = 400,000 still held.
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 1_000_000n, pending: 400_000n });
      await relaySdk(t, u.apiKey).videos.delete(v.id);
      assert.deepEqual(await walletRow(t.ctx.db, u.user.id), { balance: 1_000_000n, pending: 0n });
    });
  });
}
