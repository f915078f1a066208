import { type Selectable, sql } from 'kysely';
import { withTransaction, type DbOrTx, type Tx } from '../../db/index.ts';
import type { TaskEventsTable, TasksTable, TaskStatus } from '../../db/schema.ts';
import { newId } from '../../lib/ids.ts';
import { TallyError } from '../../lib/errors.ts';
import { applyHold, postHold, voidHold } from '../../ledger/holds.ts';
import { SYSTEM_ACCOUNTS, walletAccountId } from '../../ledger/accounts.ts';
import { spendableOf } from '../../ledger/available.ts';
import { toBig } from '../../ledger/money.ts';
import { addBudgetSpend, budgetSpentKey } from '../../ledger/usagePost.ts';
import type { BudgetMark } from '../budgets.ts';

// The tasks table and every change of a task's state, each with its money in
// the same transaction (DESIGN.md "Media and tasks"):
//
//   submit    the price is held on the wallet (a durable ledger hold, kind
//             `task`) and counted in the key's spend and its budgets' (in
//             the submit's period), and the task is written (status
//             submitting), in one transaction.
//   accept    the upstream took it: its id is recorded (status queued).
//   observe   a poll saw it queued or running: status and progress.
//   finish    completed: the hold is posted for what was produced (never more
//             than held); failed, cancelled or expired: the hold is voided.
//             The key's and budgets' spend go from held to charged.
//
// finish is ONE conditional UPDATE (status still live) followed by the
// hold's post or void in the same transaction. Two pollers, a poller and a
// webhook, a cancel racing a completion, or a restart replaying a poll: the
// first commits, every other finds the task already ended and moves no money.
// The hold's own conditional claim (ledger/holds.ts) is a second guard.

export const LIVE: readonly TaskStatus[] = ['submitting', 'queued', 'in_progress'];
export const ENDED: readonly TaskStatus[] = ['completed', 'failed', 'cancelled', 'expired'];

export interface TaskPricing {
  basis: 'second' | 'request';
  per_second: string | null;
  per_request: string | null;
  multiplier_ppm: string;
  group: string;
}

export interface Task {
  id: string;
  kind: 'video';
  userId: string;
  /** The wallet its hold is on: its user's, or its team's (a team key). */
  walletId: string;
  keyId: string;
  keyDisplay: string;
  group: string;
  model: string;
  upstreamModel: string;
  channelId: string;
  keyRef: string;
  upstreamId: string | null;
  status: TaskStatus;
  progress: number;
  seconds: number;
  size: string | null;
  prompt: string | null;
  /** The video this one remixes (a task id), or null. */
  remixOf: string | null;
  holdId: string;
  held: bigint;
  charged: bigint;
  transferId: string | null;
  /** The budgets and periods its hold counts in (src/gateway/budgets.ts). */
  budgets: BudgetMark[];
  pricing: TaskPricing;
  errorCode: string | null;
  errorMessage: string | null;
  requestId: string;
  polls: number;
  nextPollAt: number;
  leaseOwner: string | null;
  leaseUntil: number | null;
  deadlineAt: number;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  deletedAt: number | null;
}

export interface TaskEvent {
  id: string;
  taskId: string;
  type: string;
  status: string | null;
  detail: Record<string, unknown> | null;
  instance: string | null;
  createdAt: number;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function rowToTask(r: Selectable<TasksTable>): Task {
  return {
    id: r.id,
    kind: r.kind,
    userId: r.user_id,
    walletId: r.wallet_account_id ?? walletAccountId(r.user_id),
    keyId: r.key_id,
    keyDisplay: r.key_display,
    group: r.group_name,
    model: r.model,
    upstreamModel: r.upstream_model,
    channelId: r.channel_id,
    keyRef: r.key_ref,
    upstreamId: r.upstream_id ?? null,
    status: r.status,
    progress: Number(r.progress),
    seconds: Number(r.seconds),
    size: r.size ?? null,
    prompt: r.prompt ?? null,
    remixOf: r.remix_of ?? null,
    holdId: r.hold_id,
    held: toBig(r.held),
    charged: toBig(r.charged),
    transferId: r.transfer_id ?? null,
    budgets: r.budgets ? JSON.parse(r.budgets) : [],
    pricing: JSON.parse(r.pricing),
    errorCode: r.error_code ?? null,
    errorMessage: r.error_message ?? null,
    requestId: r.request_id,
    polls: Number(r.polls),
    nextPollAt: Number(r.next_poll_at),
    leaseOwner: r.lease_owner ?? null,
    leaseUntil: num(r.lease_until),
    deadlineAt: Number(r.deadline_at),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    finishedAt: num(r.finished_at),
    deletedAt: num(r.deleted_at),
  };
}

function rowToEvent(r: Selectable<TaskEventsTable>): TaskEvent {
  return {
    id: r.id,
    taskId: r.task_id,
    type: r.type,
    status: r.status ?? null,
    detail: r.detail ? JSON.parse(r.detail) : null,
    instance: r.instance ?? null,
    createdAt: Number(r.created_at),
  };
}

export async function addEvent(
  db: DbOrTx,
  e: { taskId: string; type: string; status?: string | null; detail?: Record<string, unknown> | null; instance?: string | null; now: number },
): Promise<void> {
  await db
    .insertInto('task_events')
    .values({
      id: newId('tev'),
      task_id: e.taskId,
      type: e.type,
      status: e.status ?? null,
      detail: e.detail ? JSON.stringify(e.detail) : null,
      instance: e.instance ?? null,
      created_at: e.now,
    })
    .execute();
}

export async function findTask(db: DbOrTx, id: string): Promise<Task | null> {
  const r = await db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? rowToTask(r) : null;
}

export async function getTask(db: DbOrTx, id: string): Promise<Task> {
  const t = await findTask(db, id);
  if (!t) throw new TallyError('task_not_found', `no task ${id}`);
  return t;
}

export async function taskEvents(db: DbOrTx, taskId: string): Promise<TaskEvent[]> {
  const rows = await db.selectFrom('task_events').selectAll().where('task_id', '=', taskId).orderBy('created_at').orderBy('id').execute();
  return rows.map(rowToEvent);
}

export interface TaskFilter {
  userId?: string;
  status?: TaskStatus;
  /** Only tasks whose id sorts before this (ids grow with time): the next page. */
  before?: string;
  after?: string;
  order?: 'asc' | 'desc';
  includeDeleted?: boolean;
  limit?: number;
}

export async function listTasks(db: DbOrTx, f: TaskFilter): Promise<Task[]> {
  let q = db
    .selectFrom('tasks')
    .selectAll()
    .orderBy('id', f.order ?? 'desc')
    .limit(f.limit ?? 50);
  if (f.userId) q = q.where('user_id', '=', f.userId);
  if (f.status) q = q.where('status', '=', f.status);
  if (f.before) q = q.where('id', '<', f.before);
  if (f.after) q = q.where('id', (f.order ?? 'desc') === 'desc' ? '<' : '>', f.after);
  if (!f.includeDeleted) q = q.where('deleted_at', 'is', null);
  return (await q.execute()).map(rowToTask);
}

// ---- submit ----

export interface NewTask {
  id: string;
  userId: string;
  /** The principal's wallet (KeyPrincipal.walletId): a team key's task holds the team wallet. */
  walletId: string;
  keyId: string;
  keyDisplay: string;
  group: string;
  model: string;
  upstreamModel: string;
  channelId: string;
  keyRef: string;
  seconds: number;
  size: string | null;
  prompt: string | null;
  remixOf: string | null;
  held: bigint;
  /** The reservation's budgets: the hold counts in their spend from now. */
  budgets?: BudgetMark[];
  pricing: TaskPricing;
  requestId: string;
  timeoutMs: number;
  instance: string;
  now: number;
}

/** How long a submit may wait for the upstream's answer before a poller treats the task as interrupted. */
export const SUBMIT_WINDOW_MS = 5 * 60_000;

/** How long a task's hold outlives its deadline: the poller voids it at the deadline; the hold sweeper only if every poller was down that long after. */
export const HOLD_GRACE_MS = 60 * 60_000;

/**
 * Holds the task's price on the wallet, counts it in the key's spend and
 * writes the task (status submitting), in one transaction. Throws
 * insufficient_balance (nothing written) when the wallet cannot cover it.
 * Returns what the wallet can spend after the hold.
 */
export async function openTask(db: DbOrTx, t: NewTask): Promise<{ task: Task; spendable: bigint }> {
  return withTransaction(db, async (tx) => {
    // A free model (price 0) holds nothing: its task has no hold to post or void.
    const hold =
      t.held === 0n
        ? { id: '' }
        : await applyHold(tx, {
            debitAccountId: t.walletId,
            creditAccountId: SYSTEM_ACCOUNTS.usageRevenue,
            amount: t.held,
            kind: 'task',
            reference: t.id,
            idempotencyKey: `task:${t.id}`,
            timeoutMs: t.timeoutMs + HOLD_GRACE_MS,
            metadata: { task: t.id, model: t.model, seconds: t.seconds, key: t.keyDisplay },
            now: t.now,
          });
    await tx
      .updateTable('api_keys')
      .set({ spent: sql`spent + ${t.held}` })
      .where('id', '=', t.keyId)
      .execute();
    const budgets = t.held > 0n ? (t.budgets ?? []) : [];
    await addBudgetSpend(tx, new Map(budgets.map((b) => [budgetSpentKey(b.ref, b.periodKey), t.held])), t.now);
    const row = {
      id: t.id,
      kind: 'video' as const,
      user_id: t.userId,
      wallet_account_id: t.walletId,
      key_id: t.keyId,
      key_display: t.keyDisplay,
      group_name: t.group,
      model: t.model,
      upstream_model: t.upstreamModel,
      channel_id: t.channelId,
      key_ref: t.keyRef,
      upstream_id: null,
      status: 'submitting' as const,
      progress: 0,
      seconds: t.seconds,
      size: t.size,
      prompt: t.prompt,
      remix_of: t.remixOf,
      hold_id: hold.id,
      held: t.held,
      charged: 0n,
      transfer_id: null,
      pricing: JSON.stringify(t.pricing),
      error_code: null,
      error_message: null,
      request_id: t.requestId,
      polls: 0,
      // The submitting instance holds the task until the upstream answered (accept sets the first poll); if it
      // stops before that, a poller fails the task (and releases its hold) once this runs out.
      next_poll_at: t.now + SUBMIT_WINDOW_MS,
      lease_owner: t.instance,
      lease_until: t.now + SUBMIT_WINDOW_MS,
      deadline_at: t.now + t.timeoutMs,
      created_at: t.now,
      updated_at: t.now,
      finished_at: null,
      deleted_at: null,
      budgets: budgets.length ? JSON.stringify(budgets) : null,
    };
    await tx.insertInto('tasks').values(row).execute();
    await addEvent(tx, {
      taskId: t.id,
      type: 'submitted',
      status: 'submitting',
      detail: { held: String(t.held), hold: hold.id, seconds: t.seconds, model: t.model, request_id: t.requestId },
      instance: t.instance,
      now: t.now,
    });
    const acc = await tx
      .selectFrom('ledger_accounts')
      .select(['balance', 'pending_debits', 'overdraft_limit'])
      .where('id', '=', t.walletId)
      .executeTakeFirstOrThrow();
    return { task: rowToTask(row), spendable: spendableOf(acc) };
  });
}

/** The upstream accepted the task: its id, the channel and key it went to, and the first poll's time. Only from submitting. */
export async function acceptTask(
  db: DbOrTx,
  input: {
    id: string;
    upstreamId: string;
    channelId: string;
    keyRef: string;
    upstreamModel: string;
    status: TaskStatus;
    progress: number;
    /** The size the upstream says it makes, kept when the caller named none. */
    size: string | null;
    firstPollAt: number;
    instance: string;
    now: number;
  },
): Promise<boolean> {
  return withTransaction(db, async (tx) => {
    const r = await tx
      .updateTable('tasks')
      .set({
        upstream_id: input.upstreamId,
        channel_id: input.channelId,
        key_ref: input.keyRef,
        upstream_model: input.upstreamModel,
        status: input.status,
        progress: input.progress,
        size: sql`coalesce(size, ${input.size})`,
        next_poll_at: input.firstPollAt,
        lease_owner: null,
        lease_until: null,
        updated_at: input.now,
      })
      .where('id', '=', input.id)
      .where('status', '=', 'submitting')
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return false;
    await addEvent(tx, {
      taskId: input.id,
      type: 'accepted',
      status: input.status,
      detail: { channel: input.channelId },
      instance: input.instance,
      now: input.now,
    });
    return true;
  });
}

/**
 * A poll saw the task still live: its status and progress, and when to poll
 * next. A change of status is a timeline event; progress alone is not.
 * Conditional on the task being live, so it never revives an ended task.
 */
export async function observeTask(
  db: DbOrTx,
  input: { task: Task; status: 'queued' | 'in_progress'; progress: number; nextPollAt: number; instance: string; now: number },
): Promise<void> {
  const { task } = input;
  await withTransaction(db, async (tx) => {
    const r = await tx
      .updateTable('tasks')
      .set({
        status: input.status,
        progress: Math.max(0, Math.min(100, Math.round(input.progress))),
        polls: sql`polls + 1`,
        next_poll_at: input.nextPollAt,
        updated_at: input.now,
      })
      .where('id', '=', task.id)
      .where('status', 'in', ['queued', 'in_progress'])
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 1 && task.status !== input.status)
      await addEvent(tx, {
        taskId: task.id,
        type: 'status',
        status: input.status,
        detail: { progress: input.progress },
        instance: input.instance,
        now: input.now,
      });
  });
}

/** A poll that could not read the task (network, 5xx): counted, the next poll set; the timeline gets the first and every tenth. */
export async function pollFailed(db: DbOrTx, input: { task: Task; error: string; nextPollAt: number; instance: string; now: number }): Promise<void> {
  await withTransaction(db, async (tx) => {
    await tx
      .updateTable('tasks')
      .set({ polls: sql`polls + 1`, next_poll_at: input.nextPollAt, updated_at: input.now })
      .where('id', '=', input.task.id)
      .where('status', 'in', LIVE as TaskStatus[])
      .execute();
    if (input.task.polls % 10 === 0)
      await addEvent(tx, {
        taskId: input.task.id,
        type: 'poll_error',
        status: input.task.status,
        detail: { error: input.error },
        instance: input.instance,
        now: input.now,
      });
  });
}

export interface Finish {
  status: 'completed' | 'failed' | 'cancelled' | 'expired';
  /** Completed: what to charge (capped at the hold). Otherwise 0. */
  charge: bigint;
  /** Completed: the seconds the upstream produced. */
  secondsProduced?: number;
  errorCode?: string | null;
  errorMessage?: string | null;
  /** What ended it (poll, webhook, cancel, timeout, submit) for the timeline. */
  by: string;
  instance: string;
  now: number;
}

/**
 * Ends a live task and moves its money, in one transaction: the conditional
 * claim (status still live) first, then the hold posted for the charge or
 * voided, the key's spend corrected from held to charged, and the event.
 * Returns the ended task, or null when it had already ended (nothing moved).
 */
export async function finishTask(db: DbOrTx, taskId: string, f: Finish): Promise<Task | null> {
  return withTransaction(db, async (tx) => finishIn(tx, taskId, f));
}

async function finishIn(tx: Tx, taskId: string, f: Finish): Promise<Task | null> {
  // Lock order as settlement's (the wallet before system:usage_revenue): posting the hold locks accounts by id,
  // where the revenue account sorts first, so without this a completion and a settlement batch could deadlock.
  const owner = await tx.selectFrom('tasks').select(['user_id', 'wallet_account_id', 'status']).where('id', '=', taskId).executeTakeFirst();
  if (!owner || !(LIVE as string[]).includes(owner.status)) return null;
  await tx
    .updateTable('ledger_accounts')
    .set({ balance: sql`balance` })
    .where('id', '=', owner.wallet_account_id ?? walletAccountId(owner.user_id))
    .execute();
  const claimed = await tx
    .updateTable('tasks')
    .set({
      status: f.status,
      progress: f.status === 'completed' ? 100 : sql`progress`,
      error_code: f.errorCode ?? null,
      error_message: f.errorMessage ? f.errorMessage.slice(0, 1000) : null,
      lease_owner: null,
      lease_until: null,
      updated_at: f.now,
      finished_at: f.now,
    })
    .where('id', '=', taskId)
    .where('status', 'in', LIVE as TaskStatus[])
    .returningAll()
    .executeTakeFirst();
  if (!claimed) return null;
  const task = rowToTask(claimed);
  let charged = 0n;
  let transferId: string | null = null;
  if (task.held === 0n) {
    // Nothing was held (a free model): nothing to post or release.
  } else if (f.status === 'completed' && f.charge > 0n) {
    charged = f.charge < task.held ? f.charge : task.held;
    const posted = await postHold(tx, { holdId: task.holdId, amount: charged, now: f.now });
    transferId = posted.transfer?.id ?? null;
  } else {
    // A hold the sweeper already expired (every poller down past the grace) is left as it is: voidHold answers it as done.
    await voidHold(tx, { holdId: task.holdId, now: f.now });
  }
  await tx.updateTable('tasks').set({ charged, transfer_id: transferId }).where('id', '=', taskId).execute();
  // The key counted the hold as spent since submit; now it counts what was charged.
  await tx
    .updateTable('api_keys')
    .set({ spent: sql`spent - ${task.held - charged}` })
    .where('id', '=', task.keyId)
    .execute();
  if (task.held > charged) {
    const order = (x: BudgetMark) => budgetSpentKey(x.ref, x.periodKey);
    // In the order addBudgetSpend takes rows, so a finish and a settlement never wait on each other.
    for (const b of [...task.budgets].sort((x, y) => (order(x) < order(y) ? -1 : 1)))
      await tx
        .updateTable('budget_spend')
        .set({ spent: sql`spent - ${task.held - charged}`, updated_at: f.now })
        .where('budget_ref', '=', b.ref)
        .where('period_key', '=', b.periodKey)
        .execute();
  }
  await addEvent(tx, {
    taskId,
    type: f.status,
    status: f.status,
    detail: {
      by: f.by,
      held: String(task.held),
      charged: String(charged),
      released: String(task.held - charged),
      ...(f.secondsProduced !== undefined ? { seconds_produced: f.secondsProduced } : {}),
      ...(transferId ? { transfer: transferId } : {}),
      ...(f.errorCode ? { error_code: f.errorCode } : {}),
      ...(f.errorMessage ? { error_message: f.errorMessage.slice(0, 300) } : {}),
    },
    instance: f.instance,
    now: f.now,
  });
  return { ...task, charged, transferId };
}

/** Marks a task deleted by its owner (the video API's DELETE): hidden from the video API, kept for the records. */
export async function markDeleted(db: DbOrTx, input: { id: string; instance: string; now: number }): Promise<void> {
  await withTransaction(db, async (tx) => {
    const r = await tx
      .updateTable('tasks')
      .set({ deleted_at: input.now, updated_at: input.now })
      .where('id', '=', input.id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 1) await addEvent(tx, { taskId: input.id, type: 'deleted', instance: input.instance, now: input.now });
  });
}

// ---- leases ----

/** Live tasks due for a poll whose lease is free or ran out, oldest due first. */
export async function dueTasks(db: DbOrTx, now: number, limit: number): Promise<Array<{ id: string; leaseOwner: string | null; leaseUntil: number | null }>> {
  const rows = await db
    .selectFrom('tasks')
    .select(['id', 'lease_owner', 'lease_until'])
    .where('status', 'in', LIVE as TaskStatus[])
    .where('next_poll_at', '<=', now)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .orderBy('next_poll_at')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ id: r.id, leaseOwner: r.lease_owner ?? null, leaseUntil: num(r.lease_until) }));
}

/**
 * Takes a task's lease for `leaseMs` if it is free or ran out: one
 * conditional UPDATE, so of several instances exactly one gets it. Returns
 * the task as leased, or null. Taking over another instance's lapsed lease is
 * a timeline event (that instance stopped, or took too long).
 */
export async function leaseTask(db: DbOrTx, input: { id: string; owner: string; leaseMs: number; now: number }): Promise<Task | null> {
  return withTransaction(db, async (tx) => {
    const r = await tx
      .updateTable('tasks')
      .set({ lease_owner: input.owner, lease_until: input.now + input.leaseMs })
      .where('id', '=', input.id)
      .where('status', 'in', LIVE as TaskStatus[])
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', input.now)]))
      .returningAll()
      .executeTakeFirst();
    if (!r) return null;
    return rowToTask(r);
  });
}

/** A submit still waiting on the upstream keeps the task for another SUBMIT_WINDOW_MS (before each attempt), so no poller fails it meanwhile. */
export async function renewSubmit(db: DbOrTx, input: { id: string; now: number }): Promise<boolean> {
  const r = await db
    .updateTable('tasks')
    .set({ lease_until: input.now + SUBMIT_WINDOW_MS, next_poll_at: input.now + SUBMIT_WINDOW_MS })
    .where('id', '=', input.id)
    .where('status', '=', 'submitting')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** How many of a user's tasks are running (the per-account cap on tasks in flight). */
export async function liveTaskCount(db: DbOrTx, userId: string): Promise<number> {
  const r = await db
    .selectFrom('tasks')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('status', 'in', LIVE as TaskStatus[])
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

/** Gives a lease back (after a poll), so a webhook or another instance need not wait for it to run out. */
export async function releaseLease(db: DbOrTx, input: { id: string; owner: string }): Promise<void> {
  await db.updateTable('tasks').set({ lease_until: null }).where('id', '=', input.id).where('lease_owner', '=', input.owner).execute();
}

/** Asks for a poll now (a webhook said the task changed). */
export async function pollSoon(db: DbOrTx, input: { channelId: string | null; upstreamId: string; now: number }): Promise<Task | null> {
  let q = db.selectFrom('tasks').selectAll().where('upstream_id', '=', input.upstreamId);
  if (input.channelId) q = q.where('channel_id', '=', input.channelId);
  const r = await q.executeTakeFirst();
  if (!r) return null;
  await db.updateTable('tasks').set({ next_poll_at: input.now }).where('id', '=', r.id).where('status', 'in', ['queued', 'in_progress']).execute();
  return rowToTask(r);
}

/** What a user's live tasks hold now (the console's "reserved for tasks"). */
export async function heldByLiveTasks(db: DbOrTx, userId: string): Promise<{ count: number; held: bigint }> {
  const r = await db
    .selectFrom('tasks')
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.sum<string>('held').as('held')])
    .where('user_id', '=', userId)
    .where('status', 'in', LIVE as TaskStatus[])
    .executeTakeFirst();
  return { count: Number(r?.n ?? 0), held: toBig(r?.held ?? 0) };
}
