import { listTasks, taskEvents, LIVE, type Task, type TaskEvent } from '../../gateway/tasks/index.ts';
import { eventView } from '../../gateway/tasks/view.ts';
import { getHold, type Hold } from '../../ledger/holds.ts';
import { formatMoney } from '../../ledger/money.ts';
import { helpFor } from './helpLinks.ts';
import { nearTime, refMatches } from './hints.ts';
import { iso } from './view.ts';
import type { Audience, DoctorEnv, SupportCase } from './types.ts';

// Cases from video tasks, read from the task rows, their append-only
// timelines (task_events), their ledger holds and any 'task' transfer. A task
// holds its most expensive outcome at submit; it is charged only on
// completion, for the seconds produced, and released on failure, cancel or
// timeout. A transfer for a task that did not complete is a bug, never a rule.

const WINDOW_MS = 7 * 86400_000;
const NOT_COMPLETED = ['failed', 'cancelled', 'expired'];

interface Found {
  task: Task;
  events: TaskEvent[];
  hold: Hold | null;
  transfers: Array<{ id: string; amount: bigint; created_at: number }>;
}

const m = (v: unknown) => formatMoney(BigInt(String(v ?? 0)), 2);

/** One timeline line: "2026-… accepted queued", "… completed charged 0.80 (held 0.80, released 0.00)". */
function eventLine(t: Task, e: TaskEvent): string {
  const d = e.detail ?? {};
  const money =
    e.type === 'submitted'
      ? ` held ${m(d.held)}`
      : ['completed', 'failed', 'cancelled', 'expired'].includes(e.type)
        ? ` held ${m(d.held)}, charged ${m(d.charged)}, released ${m(d.released)}${d.transfer ? ` (transfer ${d.transfer})` : ''}${d.error_code ? `, error ${d.error_code}` : ''}`
        : e.type === 'status' && d.progress !== undefined
          ? ` progress ${d.progress}%`
          : '';
  return `${iso(e.createdAt)} ${t.id} ${e.type}${e.status && e.status !== e.type ? ` ${e.status}` : ''}${money}`;
}

// The timeline as GET /api/tasks/:id shows it to this audience (a user never sees which channel served it).
function taskRecord(f: Found, audience: Audience) {
  const t = f.task;
  return {
    type: 'task',
    id: t.id,
    model: t.model,
    status: t.status,
    progress: t.progress,
    seconds: t.seconds,
    held: formatMoney(t.held),
    charged: formatMoney(t.charged),
    reserved: formatMoney(LIVE.includes(t.status) ? t.held : 0n),
    hold_id: t.holdId || null,
    hold_status: f.hold?.status ?? null,
    transfer_id: t.transferId,
    task_transfers: f.transfers.map((x) => ({ id: x.id, amount: formatMoney(x.amount), at: iso(x.created_at) })),
    error: t.errorCode ? { code: t.errorCode, message: t.errorMessage } : null,
    request_id: t.requestId,
    created_at: iso(t.createdAt),
    finished_at: iso(t.finishedAt),
    deadline_at: iso(t.deadlineAt),
    timeline: f.events.map((e) => eventView(e, { staff: audience === 'staff' })),
  };
}

async function load(env: DoctorEnv, tasks: Task[]): Promise<Found[]> {
  const db = env.ctx.db;
  const ids = tasks.map((t) => t.id);
  const transfers = ids.length
    ? await db
        .selectFrom('ledger_transfers')
        .select(['id', 'amount', 'reference', 'created_at'])
        .where('kind', '=', 'task')
        .where('reference', 'in', ids)
        .execute()
    : [];
  return Promise.all(
    tasks.map(async (task) => ({
      task,
      events: await taskEvents(db, task.id),
      hold: task.holdId ? await getHold(db, task.holdId).catch(() => null) : null,
      transfers: transfers.filter((x) => x.reference === task.id).map((x) => ({ id: x.id, amount: BigInt(x.amount), created_at: Number(x.created_at) })),
    })),
  );
}

export async function taskCases(env: DoctorEnv): Promise<SupportCase[]> {
  const { ctx, userId, hints, now } = env;
  const since = hints.orderTime !== undefined ? hints.orderTime - 86400_000 : now - WINDOW_MS;
  const until = hints.orderTime !== undefined ? hints.orderTime + 86400_000 : Number.POSITIVE_INFINITY;
  const all = await listTasks(ctx.db, { userId, includeDeleted: true, limit: 200 });
  const mine = all.filter(
    (t) => refMatches(hints, t.id) && (hints.amount === undefined || hints.amount === t.held || hints.amount === t.charged) && nearTime(hints, t.createdAt),
  );
  const live = mine.filter((t) => LIVE.includes(t.status));
  // A running task is reported whatever its age: its money is still reserved.
  const ended = mine.filter((t) => NOT_COMPLETED.includes(t.status) && t.createdAt >= since && t.createdAt <= until);
  const cases: SupportCase[] = [];

  if (ended.length) {
    const found = await load(env, ended.slice(0, 50));
    const wrong = found.filter((f) => f.transfers.length > 0);
    const released = found.reduce((s, f) => s + f.task.held, 0n);
    const releaseLines = found.flatMap((f) => f.events.filter((e) => NOT_COMPLETED.includes(e.type)).map((e) => eventLine(f.task, e)));
    const holdLines = found.map(
      (f) =>
        `${f.task.id} hold ${f.task.holdId || '—'} ${f.hold ? f.hold.status : 'none'}; 'task' transfers: ${f.transfers.length ? f.transfers.map((x) => `${x.id} ${formatMoney(x.amount)}`).join(', ') : 'none'}`,
    );
    cases.push({
      class: 'charged_for_failed_task',
      state: wrong.length ? 'open' : 'explained',
      title: { en: 'Charged for a failed task?', zh: '失败的任务被扣费了吗?' },
      cause: wrong.length
        ? {
            en: `${wrong.length} task(s) that did not complete (${wrong.map((f) => `${f.task.id} ${f.task.status}`).join(', ')}) have a charge in the ledger (${wrong.flatMap((f) => f.transfers.map((x) => `${x.id} ${formatMoney(x.amount)}`)).join(', ')}). A task is charged only on completion: this charge is wrong.`,
            zh: `${wrong.length} 个未完成的任务(${wrong.map((f) => `${f.task.id} ${f.task.status}`).join('、')})在流水中有扣费记录(${wrong.flatMap((f) => f.transfers.map((x) => `${x.id} ${formatMoney(x.amount)}`)).join('、')})。任务只在完成时扣费,这笔扣费是错误的。`,
          }
        : {
            en: `${found.length} task(s) ended without completing (failed, cancelled or expired). The amount held for each at submit was released (voided) when it ended, ${formatMoney(released)} in all; no charge was made for any of them (no 'task' transfer).`,
            zh: `${found.length} 个任务未完成即结束(失败、取消或超时)。提交时为每个任务预留的金额已在结束时释放(作废),共 ${formatMoney(released)};这些任务都没有扣费(没有 task 类型的流水)。`,
          },
      next_step: wrong.length
        ? {
            en: 'Support: refund the charge listed (compensation with the task id as reference) and report it as a bug with the task timeline.',
            zh: '客服:请按上面列出的扣费退款(以任务 ID 为关联的补偿),并附上任务时间线作为缺陷上报。',
          }
        : {
            en: 'Nothing to refund: the hold was never charged. The task timeline (GET /api/tasks/:id) shows the release; retry the task if you still need it.',
            zh: '无需退款:预留金额从未扣除。任务时间线(GET /api/tasks/:id)中可以看到释放记录;如仍需要,可重新提交任务。',
          },
      evidence: [...releaseLines.slice(0, 10), ...holdLines.slice(0, 10)],
      records: { tasks: found.map((f) => taskRecord(f, env.audience)) },
      help: helpFor('charged_for_failed_task'),
    });
  }

  if (live.length) {
    const found = await load(env, live.slice(0, 50));
    const reserved = found.reduce((s, f) => s + f.task.held, 0n);
    const each = found.map(
      (f) =>
        `${f.task.id} ${f.task.model} ${f.task.seconds}s ${f.task.status} ${f.task.progress}%: reserved ${formatMoney(f.task.held)}, deadline ${iso(f.task.deadlineAt)}`,
    );
    const eachZh = found.map(
      (f) =>
        `${f.task.id}(${f.task.model},${f.task.seconds} 秒,${f.task.status} ${f.task.progress}%,预留 ${formatMoney(f.task.held)},截止 ${iso(f.task.deadlineAt)})`,
    );
    cases.push({
      class: 'task_running_reserved',
      state: 'explained',
      title: { en: 'Task still running, money reserved', zh: '任务仍在运行,金额已预留' },
      cause: {
        en: `${found.length} task(s) are still running, and ${formatMoney(reserved)} is reserved for them: ${each.join('; ')}. The reserve is not a charge: a task is charged only when it completes, for the seconds it produced (never more than reserved), and the rest is released; a task that fails, is cancelled or passes its deadline is released in full.`,
        zh: `${found.length} 个任务仍在运行,为它们预留了 ${formatMoney(reserved)}:${eachZh.join(';')}。预留不是扣费:任务只在完成时按实际生成的秒数扣费(不超过预留金额),其余释放;失败、取消或超过截止时间的任务全额释放。`,
      },
      next_step: {
        en: 'Wait for the task to finish (GET /v1/videos/:id shows its progress), or cancel it with DELETE /v1/videos/:id to release the reserve now.',
        zh: '请等待任务完成(GET /v1/videos/:id 可查看进度),或用 DELETE /v1/videos/:id 取消任务以立即释放预留金额。',
      },
      evidence: [
        `reserved ${formatMoney(reserved)} for ${found.length} running task(s)`,
        ...each,
        ...found.flatMap((f) => f.events.map((e) => eventLine(f.task, e))).slice(0, 20),
      ],
      records: { tasks: found.map((f) => taskRecord(f, env.audience)) },
      help: helpFor('task_running_reserved'),
    });
  }
  return cases;
}
