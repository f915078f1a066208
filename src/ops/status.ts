import { sql } from 'kysely';
import type { DbOrTx } from '../db/index.ts';
import type { Catalog } from '../gateway/catalog.ts';
import { idFloor } from '../lib/ids.ts';

// The public status page's figures (GET /api/status, /status): per public
// model, availability and latency over the last 24 hours and 7 days, from
// live traffic (request_logs) and channel probes (channel_probes). Only the
// catalog's public model names appear: never a channel, an upstream name or
// a URL.
//
// Traffic is aggregated in SQL by model and hour, with latency counted into
// fixed buckets (p50/p95 are read from them: no percentile function exists on
// both SQLite and PostgreSQL). An hour that has ended does not change, so it is
// read once and kept; each refresh reads only the current hour (and any hour
// not read yet), through the primary key (request ids sort by time). The
// whole answer is cached CACHE_MS.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CACHE_MS = 30_000;
/** An hour is taken as final this long after it ended (settlement is group-committed within milliseconds). */
const SETTLE_MARGIN_MS = 60_000;
/** Upper bounds (ms) of the latency buckets; above the last: the last bucket's bound is reported. */
export const LATENCY_BOUNDS = [50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000];

/**
 * Failures that count against availability: Tally or the upstream failed.
 * A caller's own mistake (bad key, no balance, a request the upstream
 * rejected as invalid, a client that went away) does not.
 */
const CALLER_SIDE_UPSTREAM = ['upstream_rejected_request', 'upstream_request_too_large', 'upstream_unprocessable'];

interface Agg {
  total: number;
  failed: number;
  /** Answered requests per latency bucket (LATENCY_BOUNDS.length + 1 entries). */
  buckets: number[];
}

export interface ModelStatus {
  model: string;
  /** 'operational' | 'degraded' | 'outage' | 'unknown' from the last 24 hours. */
  state: 'operational' | 'degraded' | 'outage' | 'unknown';
  last_24h: WindowStatus;
  last_7d: WindowStatus;
  /** The last 24 hours, oldest first: each hour's availability (null: no traffic or probe that hour). */
  hours: Array<{ hour: string; availability: number | null }>;
}

export interface WindowStatus {
  /** Share of requests and probes that succeeded, 0..1 (null: none). */
  availability: number | null;
  requests: number;
  failed_requests: number;
  probes: number;
  failed_probes: number;
  latency_ms: { p50: number | null; p95: number | null };
}

export interface StatusReport {
  generated_at: string;
  models: ModelStatus[];
}

const emptyAgg = (): Agg => ({ total: 0, failed: 0, buckets: new Array(LATENCY_BOUNDS.length + 1).fill(0) });

function addAgg(into: Agg, a: Agg): void {
  into.total += a.total;
  into.failed += a.failed;
  for (let i = 0; i < into.buckets.length; i++) into.buckets[i] += a.buckets[i];
}

/** The latency below which `q` of the answered requests fall, from the buckets (the bucket's upper bound, interpolated inside it). */
export function quantileFromBuckets(buckets: number[], q: number): number | null {
  const n = buckets.reduce((s, x) => s + x, 0);
  if (!n) return null;
  const target = q * n;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    if (seen + buckets[i] >= target && buckets[i] > 0) {
      const lo = i === 0 ? 0 : LATENCY_BOUNDS[i - 1];
      const hi = LATENCY_BOUNDS[Math.min(i, LATENCY_BOUNDS.length - 1)];
      if (i >= LATENCY_BOUNDS.length) return hi;
      return Math.round(lo + ((hi - lo) * (target - seen)) / buckets[i]);
    }
    seen += buckets[i];
  }
  return LATENCY_BOUNDS[LATENCY_BOUNDS.length - 1];
}

export class StatusBoard {
  /** Hour start -> model -> figures, for hours that have ended. */
  private readonly hours = new Map<number, Map<string, Agg>>();
  private cached: { at: number; report: StatusReport } | null = null;
  private building: Promise<StatusReport> | null = null;

  constructor(
    private readonly db: DbOrTx,
    private readonly catalog: Catalog,
  ) {}

  /** The report, at most CACHE_MS old. */
  async report(now = Date.now()): Promise<StatusReport> {
    if (this.cached && now - this.cached.at < CACHE_MS) return this.cached.report;
    this.building ??= this.build(now).finally(() => {
      this.building = null;
    });
    const report = await this.building;
    this.cached = { at: now, report };
    return report;
  }

  /** Forgets the cached answer (tests; an operator who wants it now). */
  invalidate(): void {
    this.cached = null;
  }

  private async build(now: number): Promise<StatusReport> {
    const currentHour = now - (now % HOUR);
    const from7d = currentHour - 7 * DAY + HOUR;
    // Hours ended (with margin) that were never read: read in one range, then kept.
    for (const h of [...this.hours.keys()]) if (h < from7d) this.hours.delete(h);
    let missingFrom: number | null = null;
    let missingTo = 0;
    for (let h = from7d; h < currentHour; h += HOUR) {
      if (h + HOUR + SETTLE_MARGIN_MS > now || this.hours.has(h)) continue;
      missingFrom ??= h;
      missingTo = h + HOUR;
    }
    if (missingFrom !== null) {
      const rows = await this.trafficByHour(missingFrom, missingTo);
      for (let h = missingFrom; h < missingTo; h += HOUR)
        if (!this.hours.has(h) && h + HOUR + SETTLE_MARGIN_MS <= now) this.hours.set(h, rows.get(h) ?? new Map());
    }
    // The hours not final yet (the current one, and the last one within the margin) are read every time.
    const openFrom = Math.min(currentHour, ...[currentHour - HOUR].filter((h) => !this.hours.has(h)));
    const open = await this.trafficByHour(openFrom, now + 1);
    const probes = await this.probesByModel(now);
    const models = this.catalog.servedModels();
    return {
      generated_at: new Date(now).toISOString(),
      models: models.map((model) => {
        const day = emptyAgg();
        const week = emptyAgg();
        const hourly: ModelStatus['hours'] = [];
        for (let h = from7d; h <= currentHour; h += HOUR) {
          const a = this.hours.get(h)?.get(model) ?? open.get(h)?.get(model);
          const p = probes.hourly.get(model)?.get(h);
          if (a) {
            addAgg(week, a);
            if (h > currentHour - DAY) addAgg(day, a);
          }
          if (h > currentHour - DAY) {
            const total = (a?.total ?? 0) + (p?.total ?? 0);
            const failed = (a?.failed ?? 0) + (p?.failed ?? 0);
            hourly.push({ hour: new Date(h).toISOString(), availability: total ? round4((total - failed) / total) : null });
          }
        }
        const last24h = windowStatus(day, probes.day.get(model));
        const last7d = windowStatus(week, probes.week.get(model));
        return { model, state: stateOf(last24h), last_24h: last24h, last_7d: last7d, hours: hourly };
      }),
    };
  }

  /** Request figures per hour and model in [from, to). */
  private async trafficByHour(from: number, to: number): Promise<Map<number, Map<string, Agg>>> {
    const hour = sql<number>`created_at - (created_at % ${sql.lit(HOUR)})`;
    const failedCase = sql<number>`sum(case when status >= 500 or error_code = 'no_channel_available' or (error_code like 'upstream%' and error_code not in (${sql.join(CALLER_SIDE_UPSTREAM)})) then 1 else 0 end)`;
    const answered = sql`status > 0 and status < 400 and latency_ms is not null`;
    const bucketCols = LATENCY_BOUNDS.map((b, i) => sql<number>`sum(case when ${answered} and latency_ms <= ${b} then 1 else 0 end)`.as(`b${i}`));
    const rows = await this.db
      .selectFrom('request_logs')
      .select([
        'model',
        hour.as('hour'),
        (eb) => eb.fn.countAll<number>().as('total'),
        failedCase.as('failed'),
        sql<number>`sum(case when ${answered} then 1 else 0 end)`.as('answered'),
        ...bucketCols,
      ])
      .where('id', '>=', idFloor('req', from))
      .where('created_at', '>=', from)
      .where('created_at', '<', to)
      .where('model', 'is not', null)
      .groupBy(['model', sql`created_at - (created_at % ${sql.lit(HOUR)})`])
      .execute();
    const out = new Map<number, Map<string, Agg>>();
    for (const r of rows as any[]) {
      const h = Number(r.hour);
      let m = out.get(h);
      if (!m) out.set(h, (m = new Map()));
      const buckets: number[] = [];
      let below = 0;
      for (let i = 0; i < LATENCY_BOUNDS.length; i++) {
        const cum = Number(r[`b${i}`]);
        buckets.push(cum - below);
        below = cum;
      }
      buckets.push(Number(r.answered) - below);
      m.set(String(r.model), { total: Number(r.total), failed: Number(r.failed), buckets });
    }
    return out;
  }

  /** Probe figures per model (each channel's probes count for every model it serves): last 24 h, 7 days, and per hour. */
  private async probesByModel(now: number) {
    const currentHour = now - (now % HOUR);
    const rows = await this.db
      .selectFrom('channel_probes')
      .select([
        'channel_id',
        sql<number>`created_at - (created_at % ${sql.lit(HOUR)})`.as('hour'),
        (eb) => eb.fn.countAll<number>().as('total'),
        sql<number>`sum(case when ok = 1 then 0 else 1 end)`.as('failed'),
      ])
      .where('created_at', '>=', currentHour - 7 * DAY + HOUR)
      .groupBy(['channel_id', sql`created_at - (created_at % ${sql.lit(HOUR)})`])
      .execute();
    const modelsOf = new Map(this.catalog.channels.map((c) => [c.id, c.models]));
    const day = new Map<string, { total: number; failed: number }>();
    const week = new Map<string, { total: number; failed: number }>();
    const hourly = new Map<string, Map<number, { total: number; failed: number }>>();
    const add = (m: Map<string, { total: number; failed: number }>, k: string, total: number, failed: number) => {
      const e = m.get(k) ?? { total: 0, failed: 0 };
      e.total += total;
      e.failed += failed;
      m.set(k, e);
    };
    for (const r of rows) {
      const h = Number(r.hour);
      const total = Number(r.total);
      const failed = Number(r.failed);
      for (const model of modelsOf.get(r.channel_id) ?? []) {
        add(week, model, total, failed);
        if (h > currentHour - DAY) add(day, model, total, failed);
        let hm = hourly.get(model);
        if (!hm) hourly.set(model, (hm = new Map()));
        const e = hm.get(h) ?? { total: 0, failed: 0 };
        e.total += total;
        e.failed += failed;
        hm.set(h, e);
      }
    }
    return { day, week, hourly };
  }
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

function windowStatus(a: Agg, p: { total: number; failed: number } | undefined): WindowStatus {
  const probes = p?.total ?? 0;
  const failedProbes = p?.failed ?? 0;
  const total = a.total + probes;
  return {
    availability: total ? round4((total - a.failed - failedProbes) / total) : null,
    requests: a.total,
    failed_requests: a.failed,
    probes,
    failed_probes: failedProbes,
    latency_ms: { p50: quantileFromBuckets(a.buckets, 0.5), p95: quantileFromBuckets(a.buckets, 0.95) },
  };
}

function stateOf(w: WindowStatus): ModelStatus['state'] {
  if (w.availability === null) return 'unknown';
  if (w.availability >= 0.99) return 'operational';
  return w.availability >= 0.9 ? 'degraded' : 'outage';
}
