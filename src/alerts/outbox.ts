import type { Logger } from 'pino';
import type { DbOrTx } from '../db/index.ts';
import { toNum } from '../db/index.ts';
import type { Deliverer } from './deliver.ts';

// The outbox worker: every instance runs one. A due delivery is claimed with a
// conditional UPDATE that pushes its next_attempt_at a lease ahead and counts
// the attempt, matching the attempt count it read (like the task poller's
// lease): of two instances that read the same row, one update matches, so an
// alert is sent once. A claimed row is marked sent, or given its next attempt
// after an exponential backoff (TALLY_ALERTS_RETRY_MS doubling, capped at an
// hour), and failed after TALLY_ALERTS_MAX_ATTEMPTS. If the instance dies
// mid-send the lease runs out and another sends it (at least once, then).

const LEASE_MS = 60_000;
/** Sent and failed deliveries are kept this long (the record of what went out), then deleted. */
export const OUTBOX_RETAIN_MS = 30 * 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;
const MAX_BACKOFF_MS = 3_600_000;

export function backoffMs(retryMs: number, attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, retryMs * 2 ** Math.max(0, attempts - 1));
}

export class AlertOutbox {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private prunedAt = 0;

  constructor(
    private readonly d: {
      db: DbOrTx;
      log: Logger;
      deliverer: Deliverer;
      pollMs: number;
      retryMs: number;
      maxAttempts: number;
      now(): number;
    },
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Runs a pass soon (an alert was just enqueued): no wait for the next poll. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.runOnce()
        .then(() => {})
        .catch((e) => this.d.log.error({ err: e }, 'alert outbox pass failed'))
        .finally(() => {
          this.running = null;
          const again = this.again;
          this.again = false;
          this.schedule(again ? 0 : this.d.pollMs);
        });
    }, ms);
    this.timer.unref();
  }

  /**
   * Deletes sent and failed deliveries older than OUTBOX_RETAIN_MS, a thousand
   * at a time (by the (status, next_attempt_at) index: a finished row's
   * next_attempt_at is its last attempt's). Returns how many went.
   */
  async prune(now = this.d.now()): Promise<number> {
    let total = 0;
    for (;;) {
      const ids = await this.d.db
        .selectFrom('alert_outbox')
        .select('id')
        .where('status', 'in', ['sent', 'failed'])
        .where('next_attempt_at', '<', now - OUTBOX_RETAIN_MS)
        .limit(1000)
        .execute();
      if (!ids.length) return total;
      const r = await this.d.db
        .deleteFrom('alert_outbox')
        .where(
          'id',
          'in',
          ids.map((x) => x.id),
        )
        .executeTakeFirst();
      total += Number(r.numDeletedRows ?? 0);
      if (ids.length < 1000) return total;
    }
  }

  /** One pass: claims and sends every due delivery; returns how many were sent. Prunes old rows once an hour. */
  async runOnce(): Promise<number> {
    const { db } = this.d;
    if (this.d.now() - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = this.d.now();
      await this.prune().catch((e) => this.d.log.error({ err: e }, 'alert outbox prune failed'));
    }
    let sent = 0;
    for (;;) {
      const now = this.d.now();
      const due = await db
        .selectFrom('alert_outbox')
        .select(['id', 'channel', 'target', 'payload', 'attempts', 'next_attempt_at'])
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at')
        .limit(20)
        .execute();
      if (!due.length) return sent;
      for (const row of due) {
        if (this.stopped) return sent;
        const attempts = toNum(row.attempts) + 1;
        const claimed = await db
          .updateTable('alert_outbox')
          .set({ attempts, next_attempt_at: now + LEASE_MS })
          .where('id', '=', row.id)
          .where('status', '=', 'pending')
          .where('attempts', '=', toNum(row.attempts))
          .where('next_attempt_at', '<=', now)
          .executeTakeFirst();
        if (Number(claimed.numUpdatedRows) !== 1) continue; // another instance has it
        if (await this.deliver(row, attempts)) sent++;
      }
    }
  }

  private async deliver(row: { id: string; channel: 'email' | 'webhook'; target: string; payload: string }, attempts: number): Promise<boolean> {
    const { db } = this.d;
    try {
      const p = JSON.parse(row.payload);
      await this.d.deliverer.send({ channel: row.channel, target: row.target, event: p.event, language: p.language === 'zh' ? 'zh' : 'en' });
      await db.updateTable('alert_outbox').set({ status: 'sent', sent_at: this.d.now(), last_error: null }).where('id', '=', row.id).execute();
      return true;
    } catch (e) {
      const message = String((e as Error)?.message ?? e).slice(0, 500);
      const last = attempts >= this.d.maxAttempts;
      await db
        .updateTable('alert_outbox')
        .set({
          status: last ? 'failed' : 'pending',
          next_attempt_at: this.d.now() + backoffMs(this.d.retryMs, attempts),
          last_error: message,
        })
        .where('id', '=', row.id)
        .execute();
      this.d.log.warn({ alert: row.id, channel: row.channel, attempts, failed: last, error: message }, 'alert delivery failed');
      return false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}
