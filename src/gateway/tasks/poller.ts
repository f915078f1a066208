import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { DbOrTx } from '../../db/index.ts';
import type { Catalog } from '../catalog.ts';
import { computeMediaCost } from '../pricing.ts';
import { addEvent, dueTasks, finishTask, leaseTask, observeTask, pollFailed, releaseLease, type Task } from './store.ts';
import { deleteVideo, liveStatus, pollVideo, taskChannel, type UpstreamVideo } from './upstream.ts';

// The task worker: every tick it takes the tasks due for a poll, leases each
// (a conditional UPDATE in the database, and first a SET NX in Redis when
// configured, so instances rarely even race for the row), polls the upstream
// and applies what it saw through the store's transitions. Backoff: the first
// poll `pollMs` after submit, then half again longer each time, at most
// `pollMaxMs`. A lease runs `leaseMs`; an instance that dies holding one
// leaves the task to whoever polls after it runs out. A task past its
// deadline is polled once more, then expired (its hold released, the
// upstream's job cancelled) unless it had finished; a task stuck in `submitting`
// (the instance died between the hold and the upstream's answer) is failed
// once its lease has run out.

export interface TaskWorkerOptions {
  pollMs: number;
  pollMaxMs: number;
  leaseMs: number;
  /** Tasks taken per tick. */
  batch?: number;
}

export interface TaskWorkerDeps {
  db: DbOrTx;
  catalog: Catalog;
  log: Logger;
  redis: Redis | null;
  /** This instance's name in leases and the timeline. */
  instance: string;
  now(): number;
  /** Called after a task ended (the wallet may re-read its balance). */
  onEnded?(task: Task): void;
}

/** The wait before poll number `polls` + 1. */
export function nextPollDelay(opts: TaskWorkerOptions, polls: number): number {
  return Math.min(opts.pollMaxMs, Math.round(opts.pollMs * 1.5 ** Math.min(polls, 40)));
}

/** What a completed task costs: its seconds produced (never more than asked) at the price it was submitted at, or the request price. */
export function taskCharge(task: Task, video: UpstreamVideo | null): { charge: bigint; seconds: number } {
  const p = task.pricing;
  const mult = BigInt(p.multiplier_ppm);
  if (p.basis === 'request') return { charge: computeMediaCost('request', 1, BigInt(p.per_request!), mult), seconds: task.seconds };
  const said = video?.seconds;
  const ms = said === null || said === undefined ? task.seconds * 1000 : Math.min(Math.round(said * 1000), task.seconds * 1000);
  return { charge: computeMediaCost('audio_ms', ms, BigInt(p.per_second!), mult), seconds: ms / 1000 };
}

const leaseKey = (id: string) => `tally:task-lease:${id}`;
const COMPARE_AND_DELETE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export class TaskWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly d: TaskWorkerDeps,
    private readonly opts: TaskWorkerOptions,
  ) {}

  start(tickMs = Math.max(10, Math.min(this.opts.pollMs, 1000))): void {
    const loop = () => {
      if (this.stopped) return;
      this.running = this.tick()
        .then(() => {})
        .catch((e) => this.d.log.error({ err: e }, 'task poll failed'))
        .finally(() => {
          this.running = null;
          if (!this.stopped) this.timer = setTimeout(loop, tickMs);
        });
    };
    this.timer = setTimeout(loop, 0);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One pass: lease and poll every due task (at most `batch`). Returns how many were polled. */
  async tick(): Promise<number> {
    const now = this.d.now();
    const due = await dueTasks(this.d.db, now, this.opts.batch ?? 50);
    // Every poll of the tick runs to its end (one failing does not end the tick while others still run).
    const results = await Promise.allSettled(
      due.map(async ({ id, leaseOwner, leaseUntil }) => {
        // A lease that ran out while its owner still had it (never given back): that instance stopped or hung.
        const takeover = leaseOwner !== null && leaseOwner !== this.d.instance && leaseUntil !== null ? leaseOwner : null;
        return this.pollOne(id, takeover);
      }),
    );
    for (const r of results) if (r.status === 'rejected') this.d.log.error({ err: r.reason }, 'task poll failed');
    return results.filter((r) => r.status === 'fulfilled' && r.value).length;
  }

  /** Leases one task and polls it; false when another instance has it. Also what a webhook calls. */
  async pollOne(id: string, takingOverFrom: string | null = null): Promise<boolean> {
    const { db, instance } = this.d;
    const now = this.d.now();
    const task = await this.lease(id, now);
    if (!task) return false;
    try {
      if (takingOverFrom) await addEvent(db, { taskId: id, type: 'lease_taken_over', status: task.status, detail: { from: takingOverFrom }, instance, now });
      await this.advance(task, now);
    } finally {
      await this.unlease(id);
    }
    return true;
  }

  /**
   * Takes a task's lease: in Redis first when configured (SET NX PX: instances
   * rarely even race for the row), then in the database (the conditional
   * UPDATE that decides). Null when someone else holds it. A cancel takes it
   * too, so a cancel and a poll never interleave.
   */
  async lease(id: string, now = this.d.now()): Promise<Task | null> {
    const { db, redis, instance } = this.d;
    if (redis) {
      const got = await redis.set(leaseKey(id), instance, 'PX', this.opts.leaseMs, 'NX').catch(() => 'OK'); // Redis down: the database lease still decides
      if (got !== 'OK') return null;
    }
    const task = await leaseTask(db, { id, owner: instance, leaseMs: this.opts.leaseMs, now });
    if (!task && redis) await this.dropRedisLease(id);
    return task;
  }

  /** Gives a lease back (the database's, and Redis's if it is still this instance's). */
  async unlease(id: string): Promise<void> {
    await releaseLease(this.d.db, { id, owner: this.d.instance }).catch(() => {});
    if (this.d.redis) await this.dropRedisLease(id);
  }

  /** Deletes the Redis lease only if this instance still holds it (it may have run out and been taken by another). */
  private async dropRedisLease(id: string): Promise<void> {
    await this.d.redis!.eval(COMPARE_AND_DELETE, 1, leaseKey(id), this.d.instance).catch(() => {});
  }

  private ended(task: Task | null): void {
    if (task) this.d.onEnded?.(task);
  }

  /** Moves one leased task on: give up, recover, poll, apply. */
  private async advance(task: Task, now: number): Promise<void> {
    const { db, instance } = this.d;
    if (task.status === 'submitting') {
      // Its submit never finished (the instance that held it stopped before the upstream answered): released, not guessed.
      this.ended(
        await finishTask(db, task.id, {
          status: 'failed',
          charge: 0n,
          errorCode: 'submit_interrupted',
          errorMessage: 'Tally stopped while sending this task to the upstream; nothing was charged, submit it again',
          by: 'recovery',
          instance,
          now,
        }),
      );
      return;
    }
    if (now >= task.deadlineAt) {
      await this.giveUp(task);
      return;
    }
    const next = now + nextPollDelay(this.opts, task.polls + 1);
    const ch = taskChannel(this.d.catalog, task.channelId, task.keyRef);
    if (!ch || !task.upstreamId) {
      await pollFailed(db, { task, error: 'the channel that took this task is gone; polling until the deadline', nextPollAt: next, instance, now });
      return;
    }
    const r = await pollVideo(ch, task.upstreamId);
    const at = this.d.now();
    if (r.kind === 'retry' || r.kind === 'refused') {
      await pollFailed(db, { task, error: r.message, nextPollAt: next, instance, now: at });
      return;
    }
    if (r.kind === 'gone') {
      this.ended(
        await finishTask(db, task.id, { status: 'failed', charge: 0n, errorCode: 'upstream_lost', errorMessage: r.message, by: 'poll', instance, now: at }),
      );
      return;
    }
    await this.apply(task, r.video, at);
  }

  /**
   * The deadline passed. One last poll first: a video the upstream finished
   * (while polls were late or failing) is charged as finished, a failed one
   * failed; otherwise the task is expired with its hold released, and the
   * upstream's job is cancelled (best effort) so nobody pays for it.
   */
  private async giveUp(task: Task): Promise<void> {
    const { db, instance } = this.d;
    const ch = task.upstreamId ? taskChannel(this.d.catalog, task.channelId, task.keyRef) : null;
    const last = ch && task.upstreamId ? await pollVideo(ch, task.upstreamId) : null;
    const at = this.d.now();
    if (last?.kind === 'video' && (last.video.status === 'completed' || last.video.status === 'failed')) {
      await this.apply(task, last.video, at);
      return;
    }
    this.ended(
      await finishTask(db, task.id, {
        status: 'expired',
        charge: 0n,
        errorCode: 'task_timeout',
        errorMessage: `the task did not finish by its deadline (${new Date(task.deadlineAt).toISOString()}); nothing was charged`,
        by: 'timeout',
        instance,
        now: at,
      }),
    );
    if (ch && task.upstreamId) await deleteVideo(ch, task.upstreamId).catch(() => {});
  }

  /** What a poll by the lease holder (a cancel) saw, applied through the same transitions. */
  applyLeased(task: Task, v: UpstreamVideo): Promise<void> {
    return this.apply(task, v, this.d.now());
  }

  /** What a poll saw, applied: completed (charged), failed (released), or still running (status, progress, next poll). */
  private async apply(task: Task, v: UpstreamVideo, at: number): Promise<void> {
    const { db, instance } = this.d;
    if (v.status === 'completed') {
      const { charge, seconds } = taskCharge(task, v);
      this.ended(await finishTask(db, task.id, { status: 'completed', charge, secondsProduced: seconds, by: 'poll', instance, now: at }));
    } else if (v.status === 'failed') {
      this.ended(
        await finishTask(db, task.id, {
          status: 'failed',
          charge: 0n,
          errorCode: v.error?.code ?? 'upstream_failed',
          errorMessage: v.error?.message || 'the upstream reported the task failed',
          by: 'poll',
          instance,
          now: at,
        }),
      );
    } else {
      const next = at + nextPollDelay(this.opts, task.polls + 1);
      await observeTask(db, { task, status: liveStatus(v.status) as 'queued' | 'in_progress', progress: v.progress, nextPollAt: next, instance, now: at });
    }
  }
}
