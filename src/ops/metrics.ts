import { existsSync, readFileSync, statSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/index.ts';
import type { Catalog } from '../gateway/catalog.ts';
import type { Endpoint } from '../gateway/call.ts';
import type { LogRow } from '../gateway/settlement.ts';
import type { SettlementQueue } from '../gateway/settlement.ts';

// Prometheus metrics, one registry per AppContext (never prom-client's global
// one: several instances in one test process must not mix their figures).
//
// The relay records through `request()` and `upstreamFailure()`, called as a
// request's log row is queued for settlement and as an attempt fails. They
// look up a label child once per distinct label set (a Map keyed by the
// values) and then only increment numbers: nothing is awaited, and no label
// object is built per request. Labels stay bounded: a model is one the
// catalog prices (else "other"), a channel is a configured channel's name, a
// status an HTTP status; never a user, key or request id.
//
// Database figures (orders and tasks by status) are read on scrape, at most
// every DB_GAUGE_TTL_MS, with one GROUP BY each.

const DB_GAUGE_TTL_MS = 5_000;
/** A dead-letter file larger than this is reported by size only (counting its lines would read it all on every scrape). */
const MAX_DEAD_LETTER_SCAN = 16 * 1024 * 1024;

/** The caller's protocol of each relay endpoint (a bounded label). */
const PROTOCOL_OF: Record<Endpoint, string> = {
  'chat.completions': 'openai',
  completions: 'openai',
  embeddings: 'openai',
  'images.generations': 'openai',
  'images.edits': 'openai',
  'audio.speech': 'openai',
  'audio.transcriptions': 'openai',
  'audio.translations': 'openai',
  messages: 'anthropic',
  'messages.count_tokens': 'anthropic',
  responses: 'responses',
  'gemini.generate': 'gemini',
  'gemini.count_tokens': 'gemini',
};

const BREAKER_STATE = { closed: 0, half_open: 1, open: 2 } as const;
const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1, 5, 30];

export interface MetricsDeps {
  db: Db;
  catalog: Catalog;
  settlement: () => SettlementQueue;
  deadLetterFile: string;
}

type CounterChild = ReturnType<Counter<string>['labels']>;
type HistogramChild = ReturnType<Histogram<string>['labels']>;

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<string>;
  private readonly latency: Histogram<string>;
  private readonly ttfb: Histogram<string>;
  private readonly upstreamErrors: Counter<string>;
  private readonly settlementLag: Histogram<string>;
  private readonly callbacks: Counter<string>;
  private readonly requestChildren = new Map<string, CounterChild>();
  private readonly latencyChildren = new Map<string, HistogramChild>();
  private readonly ttfbChildren = new Map<string, HistogramChild>();
  private readonly errorChildren = new Map<string, CounterChild>();
  /** Channel id -> name, rebuilt when the catalog loads a new channel list. */
  private channelNames = new Map<string, string>();
  private namesOf: unknown = null;
  private dbFigures: { at: number; orders: Array<[string, number]>; tasks: Array<[string, number]> } | null = null;
  private dbReading: Promise<void> | null = null;

  constructor(private readonly d: MetricsDeps) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'tally_requests_total',
      help: 'Relay requests answered, by public model, channel (none: no channel was tried), caller protocol and HTTP status.',
      labelNames: ['model', 'channel', 'protocol', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'tally_request_duration_seconds',
      help: 'Whole-request latency of relay requests, from the request read to the answer settled.',
      labelNames: ['model', 'protocol'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.ttfb = new Histogram({
      name: 'tally_request_ttfb_seconds',
      help: 'Time to the first byte of the upstream answer (answered requests only).',
      labelNames: ['model', 'protocol'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'tally_upstream_errors_total',
      help: 'Failed upstream attempts by channel and class (the error code: upstream_auth_failed, upstream_rate_limited, upstream_error, upstream_timeout, upstream_unreachable, ...).',
      labelNames: ['channel', 'class'],
      registers,
    });
    this.settlementLag = new Histogram({
      name: 'tally_settlement_lag_seconds',
      help: 'From a request queued for settlement to its batch committed (the oldest request of each batch).',
      buckets: LAG_BUCKETS,
      registers,
    });
    this.callbacks = new Counter({
      name: 'tally_payment_callbacks_total',
      help: 'Payment provider callbacks by provider and outcome.',
      labelNames: ['provider', 'outcome'],
      registers,
    });
    const self = this;
    new Gauge({
      name: 'tally_channel_breaker_state',
      help: 'Circuit breaker of each channel: 0 closed, 1 half open, 2 open.',
      labelNames: ['channel'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const c of d.catalog.channels) this.labels(c.name).set(BREAKER_STATE[c.breaker.state(now)]);
      },
    });
    new Gauge({
      name: 'tally_channel_enabled',
      help: 'Whether each channel is in rotation (1) or disabled / needing attention (0).',
      labelNames: ['channel', 'status'],
      registers,
      collect() {
        this.reset();
        for (const c of d.catalog.channels) this.labels(c.name, c.status).set(c.status === 'enabled' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'tally_settlement_queue_depth',
      help: 'Answered requests waiting for the next settlement commit (unsettled).',
      registers,
      collect() {
        this.set(d.settlement().depth);
      },
    });
    new Gauge({
      name: 'tally_settlement_dead_letters',
      help: 'Settlements this process wrote to the dead-letter file since it started.',
      registers,
      collect() {
        this.set(d.settlement().stats.deadLettered);
      },
    });
    new Gauge({
      name: 'tally_dead_letter_file_items',
      help: 'Settlements waiting in the dead-letter file for `tally ledger settle-dead-letters` (-1: the file is too large to count on scrape).',
      registers,
      collect() {
        this.set(countDeadLetters(d.deadLetterFile));
      },
    });
    new Gauge({
      name: 'tally_orders',
      help: 'Payment orders by status (read from the database, cached a few seconds).',
      labelNames: ['status'],
      registers,
      async collect() {
        const f = await self.readDbFigures();
        this.reset();
        for (const [s, n] of f.orders) this.labels(s).set(n);
      },
    });
    new Gauge({
      name: 'tally_tasks',
      help: 'Asynchronous tasks (videos) by status (read from the database, cached a few seconds).',
      labelNames: ['status'],
      registers,
      async collect() {
        const f = await self.readDbFigures();
        this.reset();
        for (const [s, n] of f.tasks) this.labels(s).set(n);
      },
    });
  }

  /** A relay request's log row as it is queued for settlement: its count, latency and time to first byte. */
  request(log: LogRow): void {
    const model = this.modelLabel(log.model);
    const channel = log.channel_id ? this.channelLabel(log.channel_id) : 'none';
    const protocol = PROTOCOL_OF[log.endpoint as Endpoint] ?? 'other';
    const status = log.status;
    const key = `${model}\u0000${channel}\u0000${protocol}\u0000${status}`;
    let c = this.requestChildren.get(key);
    if (!c) {
      c = this.requests.labels(model, channel, protocol, String(status));
      this.requestChildren.set(key, c);
    }
    c.inc();
    const hk = `${model}\u0000${protocol}`;
    if (log.latency_ms !== null) {
      let h = this.latencyChildren.get(hk);
      if (!h) {
        h = this.latency.labels(model, protocol);
        this.latencyChildren.set(hk, h);
      }
      h.observe(Number(log.latency_ms) / 1000);
    }
    if (log.ttfb_ms !== null) {
      let h = this.ttfbChildren.get(hk);
      if (!h) {
        h = this.ttfb.labels(model, protocol);
        this.ttfbChildren.set(hk, h);
      }
      h.observe(Number(log.ttfb_ms) / 1000);
    }
  }

  /** One failed upstream attempt (the relay may still have failed over to another channel). */
  upstreamFailure(channelId: string, errorCode: string): void {
    const channel = this.channelLabel(channelId);
    const key = `${channel}\u0000${errorCode}`;
    let c = this.errorChildren.get(key);
    if (!c) {
      c = this.upstreamErrors.labels(channel, errorCode);
      this.errorChildren.set(key, c);
    }
    c.inc();
  }

  /** A settlement batch committed; `lagMs`: how long its oldest request waited. */
  settled(lagMs: number): void {
    this.settlementLag.observe(lagMs / 1000);
  }

  paymentCallback(provider: string, outcome: string): void {
    this.callbacks.labels(provider, outcome).inc();
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private modelLabel(model: string | null): string {
    if (!model) return 'none';
    return this.d.catalog.prices.has(model) ? model : 'other';
  }

  private channelLabel(id: string): string {
    const channels = this.d.catalog.channels;
    if (this.namesOf !== channels) {
      this.channelNames = new Map(channels.map((c) => [c.id, c.name]));
      this.namesOf = channels;
    }
    return this.channelNames.get(id) ?? 'other';
  }

  private async readDbFigures() {
    const now = Date.now();
    if (this.dbFigures && now - this.dbFigures.at < DB_GAUGE_TTL_MS) return this.dbFigures;
    // Both gauges ask at once on a scrape: one read serves them.
    this.dbReading ??= (async () => {
      const [orders, tasks] = await Promise.all([
        this.d.db
          .selectFrom('payment_orders')
          .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy('status')
          .execute(),
        this.d.db
          .selectFrom('tasks')
          .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy('status')
          .execute(),
      ]);
      this.dbFigures = {
        at: Date.now(),
        orders: orders.map((r) => [String(r.status), Number(r.n)]),
        tasks: tasks.map((r) => [String(r.status), Number(r.n)]),
      };
    })().finally(() => {
      this.dbReading = null;
    });
    await this.dbReading;
    return this.dbFigures!;
  }
}

function countDeadLetters(file: string): number {
  if (!existsSync(file)) return 0;
  if (statSync(file).size > MAX_DEAD_LETTER_SCAN) return -1;
  const b = readFileSync(file);
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}
