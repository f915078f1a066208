import { formatMoney } from '../../ledger/money.ts';
import { LIVE, type Task, type TaskEvent } from './store.ts';
import { videoStatus } from './video.ts';

// A task as the console, the staff view and GET /api/tasks show it: its
// state, its money (held, charged, released, or still reserved), its error and
// the request id of its submit. Never the upstream's id or the channel's key.

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function taskView(t: Task, opts: { staff?: boolean } = {}) {
  const live = LIVE.includes(t.status);
  return {
    id: t.id,
    kind: t.kind,
    model: t.model,
    status: t.status,
    video_status: videoStatus(t),
    progress: t.progress,
    seconds: t.seconds,
    size: t.size,
    prompt: t.prompt,
    key: t.keyDisplay,
    held: formatMoney(t.held),
    /** Still held on the wallet while the task runs. */
    reserved: formatMoney(live ? t.held : 0n),
    charged: formatMoney(t.charged),
    released: formatMoney(live ? 0n : t.held - t.charged),
    pricing: t.pricing,
    error: t.errorCode ? { code: t.errorCode, message: t.errorMessage } : null,
    request_id: t.requestId,
    hold_id: t.holdId || null,
    transfer_id: t.transferId,
    created_at: iso(t.createdAt),
    updated_at: iso(t.updatedAt),
    finished_at: iso(t.finishedAt),
    deadline_at: iso(t.deadlineAt),
    deleted: t.deletedAt !== null,
    ...(opts.staff ? { user_id: t.userId, channel_id: t.channelId, group: t.group, polls: t.polls } : {}),
  };
}

/** The event details a user sees (their money, the outcome): never the channel, an instance, or an upstream's own words about a poll. */
const USER_DETAIL = new Set([
  'held',
  'hold',
  'charged',
  'released',
  'transfer',
  'seconds',
  'seconds_produced',
  'model',
  'request_id',
  'progress',
  'by',
  'error_code',
  'error_message',
  'event',
]);

export function eventView(e: TaskEvent, opts: { staff?: boolean } = {}) {
  let detail = e.detail;
  if (detail && !opts.staff) {
    detail = Object.fromEntries(Object.entries(detail).filter(([k]) => USER_DETAIL.has(k)));
    // A failed poll's reason is the upstream's or the network's: staff read it; the user is told the poll will be retried.
    if (e.type === 'poll_error') detail = { note: 'the upstream could not be asked this time; Tally keeps polling' };
  }
  return { type: e.type, status: e.status, detail, ...(opts.staff ? { instance: e.instance } : {}), at: iso(e.createdAt) };
}
