// Shared by the video task suites (videos.*.test.ts): reads of the money a
// task moved (wallet, hold, transfers, key spend, timeline) straight from the
// database, waiting for a task to end, and signed upstream webhooks. Not a
// test file itself.
import assert from 'node:assert/strict';
import type { DbOrTx } from '../../src/db/index.ts';
import { toBig } from '../../src/ledger/money.ts';
import { findTask, type Task } from '../../src/gateway/tasks/index.ts';
import { signWebhook } from '../helpers/mockVideo.ts';

export const ENDED = ['completed', 'failed', 'cancelled', 'expired'];
export const TERMINAL_EVENTS = ['completed', 'failed', 'cancelled', 'expired'];

/** The wallet row: posted balance and what pending holds take from it. */
export async function walletRow(db: DbOrTx, userId: string) {
  const r = await db.selectFrom('ledger_accounts').selectAll().where('id', '=', `user:${userId}`).executeTakeFirstOrThrow();
  return { balance: toBig(r.balance), pending: toBig(r.pending_debits) };
}

/** The ledger hold of a task (kind task, reference = its id); exactly one must exist. */
export async function taskHold(db: DbOrTx, taskId: string) {
  const rows = await db.selectFrom('ledger_holds').selectAll().where('kind', '=', 'task').where('reference', '=', taskId).execute();
  assert.equal(rows.length, 1, `one hold for ${taskId}`);
  const h = rows[0];
  return {
    id: h.id,
    status: h.status,
    amount: toBig(h.amount),
    posted: h.posted_amount === null || h.posted_amount === undefined ? null : toBig(h.posted_amount),
    transferId: h.transfer_id ?? null,
    debit: h.debit_account_id,
    credit: h.credit_account_id,
  };
}

/** Every transfer of kind task for a task (a charged task has exactly one, a released one none). */
export async function taskTransfers(db: DbOrTx, taskId: string) {
  const rows = await db.selectFrom('ledger_transfers').selectAll().where('kind', '=', 'task').where('reference', '=', taskId).execute();
  return rows.map((r) => ({ id: r.id, amount: toBig(r.amount), debit: r.debit_account_id, credit: r.credit_account_id, holdId: r.hold_id }));
}

export async function keySpent(db: DbOrTx, keyId: string): Promise<bigint> {
  const r = await db.selectFrom('api_keys').select('spent').where('id', '=', keyId).executeTakeFirstOrThrow();
  return toBig(r.spent);
}

export async function eventTypes(db: DbOrTx, taskId: string): Promise<string[]> {
  const rows = await db.selectFrom('task_events').select(['type']).where('task_id', '=', taskId).orderBy('created_at').orderBy('id').execute();
  return rows.map((r) => r.type);
}

/** Waits until the task is in one of `statuses` (any ended status by default) and returns it. */
export async function waitTask(db: DbOrTx, id: string, statuses: string[] = ENDED, timeoutMs = 8000): Promise<Task> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const t = await findTask(db, id);
    assert.ok(t, `task ${id} exists`);
    if (statuses.includes(t.status)) return t;
    if (Date.now() > until) assert.fail(`task ${id} is still ${t.status} after ${timeoutMs} ms (waited for ${statuses.join('|')})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The upstream id of a task (never shown to callers; read from the tasks table). */
export async function upstreamIdOf(db: DbOrTx, taskId: string): Promise<string> {
  const t = await findTask(db, taskId);
  assert.ok(t?.upstreamId, `task ${taskId} was accepted upstream`);
  return t.upstreamId;
}

export const WEBHOOK_SECRET = 'whsec_' + Buffer.from('tally-video-webhook-test-secret!').toString('base64');

/** POSTs a Standard Webhooks event for an upstream video to Tally, signed with `secret` (or a wrong signature). */
export async function postVideoWebhook(
  baseUrl: string,
  upstreamId: string,
  opts: { type?: string; secret?: string; badSignature?: boolean } = {},
): Promise<Response> {
  const id = `evt_${Math.random().toString(16).slice(2)}${Date.now().toString(16)}`;
  const ts = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({ id, object: 'event', created_at: ts, type: opts.type ?? 'video.completed', data: { id: upstreamId } });
  const sig = opts.badSignature ? 'v1,' + Buffer.alloc(32, 7).toString('base64') : signWebhook(opts.secret ?? WEBHOOK_SECRET, id, ts, body);
  return fetch(`${baseUrl}/api/webhooks/videos`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': sig },
    body,
  });
}

/** GET /api/tasks/:id through a signed-in fetch (helpers/tally.ts signIn): the task's record and timeline. */
export async function taskRecord(api: (path: string) => Promise<Response>, id: string): Promise<any> {
  const res = await api(`/api/tasks/${id}`);
  assert.equal(res.status, 200, `GET /api/tasks/${id}`);
  return res.json();
}
