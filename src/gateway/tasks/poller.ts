import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { DbOrTx } from '../../db/index.ts';
import type { Catalog } from '../catalog.ts';
import { computeMediaCost } from '../pricing.ts';
import { addEvent, dueTasks, finishTask, leaseTask, observeTask, pollFailed, releaseLease, type Task } from './store.ts';
import { liveStatus, pollVideo, taskChannel, type UpstreamVideo } from './upstream.ts';

// The task worker: every tick it takes the tasks due for a poll, leases each
// (a conditional UPDATE in the database, and first a SET NX in Redis when
// configured, so instances rarely even race for the row), polls the upstream
// and applies what it saw through the store's transitions. Backoff: the first
// poll `pollMs` after submit, then half again longer each time, at most
// `pollMaxMs`. A lease runs `leaseMs`; an instance that dies holding one
// leaves the task to whoever polls after it runs out. A task past its
// deadline is expired (its hold released), and a task stuck in `submitting`
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
    let polled = 0;
    await Promise.all(
      due.map(async ({ id, leaseOwner, leaseUntil }) => {
        // A lease that ran out while its owner still had it (never given back): that instance stopped or hung.
        const takeover = leaseOwner !== null && leaseOwner !== this.d.instance && leaseUntil !== null ? leaseOwner : null;
        if (await this.pollOne(id, takeover)) polled++;
      }),
    );
    return polled;
  }

  /** Leases one task and polls it; false when another instance has it. Also what a webhook calls. */
  async pollOne(id: string, takingOverFrom: string | null = null): Promise<boolean> {
    const { db, redis, instance } = this.d;
    const now = this.d.now();
    const redisKey = `tally:task-lease:${id}`;
    if (redis) {
      const got = await redis.set(redisKey, instance, 'PX', this.opts.leaseMs, 'NX').catch(() => 'OK'); // Redis down: the database lease still decides
      if (got !== 'OK') return false;
    }
    const task = await leaseTask(db, { id, owner: instance, leaseMs: this.opts.leaseMs, now });
    if (!task) {
      if (redis) await redis.del(redisKey).catch(() => {});
      return false;
    }
    try {
      if (takingOverFrom) await addEvent(db, { taskId: id, type: 'lease_taken_over', status: task.status, detail: { from: takingOverFrom }, instance, now });
      await this.advance(task, now);
    } finally {
      await releaseLease(db, { id, owner: instance }).catch(() => {});
      if (redis) await redis.del(redisKey).catch(() => {});
    }
    return true;
  }

  private async ended(task: Task | null): Promise<void> {
    if (task) this.d.onEnded?.(task);
  }

  /** Moves one leased task on: give up, poll, apply. */
  private async advance(task: Task, now: number): Promise<void> {
    const { db, instance } = this.d;
    if (now >= task.deadlineAt) {
      await this.ended(
        await finishTask(db, task.id, {
          status: 'expired',
          charge: 0n,
          errorCode: 'task_timeout',
          errorMessage: `the task did not finish by its deadline (${new Date(task.deadlineAt).toISOString()}); nothing was charged`,
          by: 'timeout',
          instance,
          now,
        }),
      );
      return;
    }
    if (task.status === 'submitting') {
      // Its submit never finished (the instance that held it stopped before the upstream answered): released, not guessed.
      await this.ended(
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
    const next = now + nextPollDelay(this.opts, task.polls + 1);
    const ch = taskChannel(this.d.catalog, task.channelId, task.keyRef);
    if (!ch || !task.upstreamId) {
      await pollFailed(db, {
        task,
        error: 'the channel (or its key) that took this task is gone; polling until the deadline',
        nextPollAt: next,
        instance,
        now,
      });
      return;
    }
    const r = await pollVideo(ch, task.upstreamId);
    const at = this.d.now();
    if (r.kind === 'retry' || r.kind === 'refused') {
      await pollFailed(db, { task, error: r.message, nextPollAt: next, instance, now: at });
      return;
    }
    if (r.kind === 'gone') {
      await this.ended(
        await finishTask(db, task.id, { status: 'failed', charge: 0n, errorCode: 'upstream_lost', errorMessage: r.message, by: 'poll', instance, now: at }),
      );
      return;
    }
    const v = r.video;
    if (v.status === 'completed') {
      const { charge, seconds } = taskCharge(task, v);
      await this.ended(await finishTask(db, task.id, { status: 'completed', charge, secondsProduced: seconds, by: 'poll', instance, now: at }));
    } else if (v.status === 'failed') {
      await this.ended(
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
      await observeTask(db, { task, status: liveStatus(v.status) as 'queued' | 'in_progress', progress: v.progress, nextPollAt: next, instance, now: at });
    }
  }
}
