import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { Db, DbOrTx } from '../db/index.ts';
import type { Catalog } from '../gateway/catalog.ts';
import { testChannel } from '../gateway/channelTest.ts';
import { stripSecrets } from '../gateway/upstreamErrors.ts';
import type { EventBus } from '../lib/events.ts';
import { newId } from '../lib/ids.ts';
import { recordAudit } from '../audit/index.ts';

// Channel probes: every TALLY_CHANNEL_PROBE_MS each enabled channel, and each
// one a probe or the relay took out of rotation (auto_disabled), gets one tiny
// real request (channelTest.ts: outside billing, charged to no one). Each
// outcome is a channel_probes row. An upstream that refuses Tally's
// credentials (401/403) or its quota (402, insufficient_quota) disables the
// channel with the reason; after `recoverAfter` consecutive healthy probes an
// auto-disabled channel with auto_recover on is enabled again. A channel an
// operator disabled (status 'disabled') is never probed nor enabled here.
//
// Several instances: the interval is numbered (slot = now / intervalMs) and
// each channel is claimed per slot, with Redis SET NX when configured, else a
// conditional UPDATE of channels.probe_slot, so one instance probes it.
// Every state change is a conditional UPDATE (on the status it expects), so
// two instances that both decide never double-apply, and an operator's change
// in between wins.

/** How many probes of a channel are kept (8 days: the status page reads 7). */
const KEEP_MS = 8 * 24 * 3_600_000;
const MESSAGE_MAX = 300;

export type ProbeErrorClass = 'auth' | 'quota' | 'rate_limited' | 'upstream_error' | 'unreachable' | 'rejected';

export interface ProbeOutcome {
  channelId: string;
  ok: boolean;
  status: number;
  latencyMs: number;
  errorClass: ProbeErrorClass | null;
  /** What changed: disabled by this probe, enabled again, or nothing. */
  change: 'disabled' | 'enabled' | null;
}

export interface ProberDeps {
  db: Db;
  catalog: Catalog;
  events: EventBus;
  redis: Redis | null;
  log: Logger;
  intervalMs: number;
  recoverAfter: number;
}

/** What a failed probe says about the channel: auth and quota failures take it out of rotation. */
export function classifyProbe(status: number, errorCode: string | null): ProbeErrorClass {
  if (status === 0) return 'unreachable';
  if (status === 401 || status === 403) return 'auth';
  if (status === 402 || errorCode === 'insufficient_quota') return 'quota';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'upstream_error';
  return 'rejected';
}

export class ChannelProber {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<ProbeOutcome[]> | null = null;

  constructor(private readonly d: ProberDeps) {}

  start(): void {
    if (this.d.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      void this.tick().catch((e) => this.d.log.error({ err: e }, 'channel probe round failed'));
    }, this.d.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }

  /**
   * One round: each channel due is claimed for the interval `now` falls in
   * and probed. Tests call it with the time of the interval they mean.
   */
  tick(now = Date.now()): Promise<ProbeOutcome[]> {
    // A round still running (a slow upstream) is not overlapped by the next.
    if (this.running) return this.running;
    this.running = this.round(now).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async round(now: number): Promise<ProbeOutcome[]> {
    const interval = this.d.intervalMs > 0 ? this.d.intervalMs : 300_000;
    const slot = Math.floor(now / interval);
    const due = await this.d.db
      .selectFrom('channels')
      .select(['id'])
      .where((eb) => eb.or([eb('status', '=', 'enabled'), eb.and([eb('status', '=', 'needs_attention'), eb('auto_disabled', '=', 1)])]))
      .execute();
    if (!due.length) return [];
    await this.d.catalog.reload();
    const out: ProbeOutcome[] = [];
    let changed = false;
    for (const { id } of due) {
      if (!(await this.claim(id, slot, interval))) continue;
      const rt = this.d.catalog.channels.find((c) => c.id === id);
      if (!rt?.provider || !rt.models.length) continue;
      try {
        const o = await this.probe(id);
        if (o.change) changed = true;
        out.push(o);
      } catch (e) {
        this.d.log.error({ err: e, channel: id }, 'channel probe failed');
      }
    }
    if (changed) await this.d.events.publish({ type: 'catalog_changed' });
    return out;
  }

  /** Whether this instance probes channel `id` in interval `slot` (no other instance has). */
  private async claim(id: string, slot: number, interval: number): Promise<boolean> {
    if (this.d.redis) {
      const r = await this.d.redis.set(`tally:probe:${id}:${slot}`, '1', 'PX', interval * 2, 'NX');
      return r === 'OK';
    }
    const r = await this.d.db
      .updateTable('channels')
      .set({ probe_slot: slot })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('probe_slot', 'is', null), eb('probe_slot', '<', slot)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  private async probe(id: string): Promise<ProbeOutcome> {
    const r = await testChannel(this.d.catalog, id, { reload: false });
    const errorClass = r.ok ? null : classifyProbe(r.status, r.error_code);
    const createdAt = Date.now();
    const rt = this.d.catalog.channels.find((c) => c.id === id);
    await this.d.db
      .insertInto('channel_probes')
      .values({
        id: newId('prb'),
        channel_id: id,
        model: r.model,
        ok: r.ok ? 1 : 0,
        status: r.status,
        latency_ms: r.latency_ms,
        error_class: errorClass,
        // Already masked by testChannel; masked again with every key of the channel, then cut short.
        error_message: r.ok ? null : stripSecrets(r.message, rt ? rt.keys.map((k) => k.apiKey) : []).slice(0, MESSAGE_MAX),
        created_at: createdAt,
      })
      .execute();
    await this.d.db
      .deleteFrom('channel_probes')
      .where('channel_id', '=', id)
      .where('created_at', '<', createdAt - KEEP_MS)
      .execute();
    let change: ProbeOutcome['change'] = null;
    if (errorClass === 'auth' || errorClass === 'quota') {
      if (
        await disableByProbe(
          this.d.db,
          id,
          `probe: upstream answered ${r.status}${r.error_code ? ` (${r.error_code})` : ''} at ${new Date(createdAt).toISOString()}`,
        )
      ) {
        change = 'disabled';
        this.d.log.warn({ channel: r.channel, status: r.status, class: errorClass }, 'channel probe: upstream refused the channel; channel disabled');
      }
    } else if (r.ok) {
      if (await this.healthy(id)) {
        change = 'enabled';
        this.d.log.info({ channel: r.channel, healthy: this.d.recoverAfter }, 'channel probe: channel healthy again; enabled');
      }
    } else {
      await this.d.db.updateTable('channels').set({ probe_ok_streak: 0 }).where('id', '=', id).execute();
    }
    return { channelId: id, ok: r.ok, status: r.status, latencyMs: r.latency_ms, errorClass, change };
  }

  /** A healthy probe: counts toward recovery of an auto-disabled channel; true when this one enabled it. */
  private async healthy(id: string): Promise<boolean> {
    const up = await this.d.db
      .updateTable('channels')
      .set((eb) => ({ probe_ok_streak: eb('probe_ok_streak', '+', 1) }))
      .where('id', '=', id)
      .where('status', '=', 'needs_attention')
      .where('auto_disabled', '=', 1)
      .executeTakeFirst();
    if (Number(up.numUpdatedRows) !== 1) return false;
    return this.d.db.transaction().execute(async (tx) => {
      const r = await tx
        .updateTable('channels')
        .set({ status: 'enabled', status_reason: null, auto_disabled: 0, probe_ok_streak: 0, keys_attention: null, updated_at: Date.now() })
        .where('id', '=', id)
        .where('status', '=', 'needs_attention')
        .where('auto_disabled', '=', 1)
        .where('auto_recover', '=', 1)
        .where('probe_ok_streak', '>=', this.d.recoverAfter)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await recordAudit(tx, { actor: { type: 'system' }, action: 'channel.enable', target: id, reason: `${this.d.recoverAfter} consecutive healthy probes` });
      return true;
    });
  }
}

/** Takes an enabled channel out of rotation after a probe's auth or quota failure; true when this call did. */
async function disableByProbe(db: Db, id: string, reason: string): Promise<boolean> {
  return db.transaction().execute(async (tx: DbOrTx) => {
    const r = await tx
      .updateTable('channels')
      .set({ status: 'needs_attention', status_reason: reason, auto_disabled: 1, probe_ok_streak: 0, updated_at: Date.now() })
      .where('id', '=', id)
      .where('status', '=', 'enabled')
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) {
      // Already auto-disabled: a refusing probe restarts its count of healthy ones.
      await tx.updateTable('channels').set({ probe_ok_streak: 0 }).where('id', '=', id).execute();
      return false;
    }
    await recordAudit(tx, { actor: { type: 'system' }, action: 'channel.disable', target: id, reason });
    return true;
  });
}

/** The latest probes of each channel (newest first, at most `limit` each), for the channel list and the console. */
export async function recentProbes(db: DbOrTx, channelIds: string[], limit = 10) {
  const rows = await Promise.all(
    channelIds.map((id) => db.selectFrom('channel_probes').selectAll().where('channel_id', '=', id).orderBy('created_at', 'desc').limit(limit).execute()),
  );
  const out = new Map<string, ReturnType<typeof probeView>[]>();
  channelIds.forEach((id, i) => out.set(id, rows[i].map(probeView)));
  return out;
}

export function probeView(r: {
  created_at: unknown;
  ok: unknown;
  status: unknown;
  latency_ms: unknown;
  error_class: string | null;
  error_message: string | null;
  model: string;
}) {
  return {
    at: new Date(Number(r.created_at)).toISOString(),
    ok: Number(r.ok) === 1,
    model: r.model,
    status: Number(r.status),
    latency_ms: Number(r.latency_ms),
    error_class: r.error_class,
    error_message: r.error_message,
  };
}
