import pino, { type Logger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import type { Redis } from 'ioredis';
import type { Config } from './config/index.ts';
import { openDb, type Db, type DbHandle, type Dialect } from './db/index.ts';
import { migrateToLatest } from './db/migrate.ts';
import { ensureSystemAccounts } from './ledger/accounts.ts';
import { KeyCache } from './accounts/keyCache.ts';
import { MemoryRateLimiter, RedisRateLimiter, type RateLimiter } from './lib/rateLimit.ts';
import { EventBus } from './lib/events.ts';
import { Catalog } from './gateway/catalog.ts';
import { ReservationBook } from './gateway/reservations.ts';
import { SettlementQueue } from './gateway/settlement.ts';
import { inProcessWriter, workerWriter } from './gateway/settlementWriter.ts';
import { appendDeadLetter, deadLetterFile } from './gateway/deadLetters.ts';
import { Relay } from './gateway/relay.ts';
import { Tasks } from './gateway/tasks/index.ts';
import { Limiter, MemoryLimitStore, RedisLimitStore } from './gateway/limits.ts';
import { Alerts } from './alerts/index.ts';
import { paymentSettings } from './payments/settings.ts';
import { buildPayments, type Payments } from './payments/providers/index.ts';
import { Metrics } from './ops/metrics.ts';
import { ChannelProber } from './ops/probes.ts';
import { StatusBoard } from './ops/status.ts';

// Everything a verb or route may need, passed explicitly (no module singletons),
// so tests build one per server with their own database.
export interface AppContext {
  config: Config;
  dbh: DbHandle;
  db: Db;
  dialect: Dialect;
  log: Logger;
  keys: KeyCache;
  limiter: RateLimiter;
  catalog: Catalog;
  book: ReservationBook;
  settlement: SettlementQueue;
  relay: Relay;
  /** Rate limits (RPM, TPM, in flight) per key, user and group. */
  limits: Limiter;
  /** Asynchronous tasks (videos): submit, cancel, content, webhooks, and the poller startTally runs. */
  tasks: Tasks;
  /** The payment providers, built and checked once at start. */
  payments: Payments;
  /** Invalidation events (key revoked, catalog changed), shared through Redis when configured. */
  events: EventBus;
  /** Balance and budget alerts: the settlement hooks, the settings cache and the outbox worker startTally runs. */
  alerts: Alerts;
  /** Prometheus metrics for GET /metrics (src/ops/metrics.ts), or null when TALLY_METRICS=off. */
  metrics: Metrics | null;
  /** Channel probes (src/ops/probes.ts): the worker startTally runs every TALLY_CHANNEL_PROBE_MS. */
  probes: ChannelProber;
  /** The public status page's figures (src/ops/status.ts). */
  status: StatusBoard;
  /** The shared Redis (TALLY_REDIS_URL), or null: the ServiceContext's. */
  redis: Redis | null;
  now(): number;
  /** Functions run at shutdown, last registered first. */
  onClose(fn: () => Promise<void> | void): void;
  close(): Promise<void>;
}

/** Paths whose values never reach a log line. */
export const LOG_REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'req.headers["x-admin-token"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.api_key',
  '*.apiKey',
  '*.code',
  '*.secret',
  '*.card_number',
];

/**
 * JSON lines, or pino-pretty's readable lines when stdout is a terminal
 * (TALLY_LOG_FORMAT=pretty|json forces one). Redaction applies before either.
 * `stream`: where the lines go (tests), else stdout.
 */
export function createLogger(config: Pick<Config, 'logLevel'> & { ops?: Pick<Config['ops'], 'logFormat'> }, stream?: DestinationStream): Logger {
  const opts = { level: config.logLevel, redact: { paths: LOG_REDACT, censor: '[redacted]' } };
  const format = config.ops?.logFormat ?? 'auto';
  const usePretty = format === 'pretty' || (format === 'auto' && !stream && process.stdout.isTTY === true);
  if (usePretty) {
    // Synchronous: a line is written before the next statement runs (a crash loses none), as pino's own stdout writes are.
    return pino(
      opts,
      pretty({ sync: true, colorize: !stream && process.stdout.isTTY === true, destination: (stream as NodeJS.WritableStream | undefined) ?? 1 }),
    );
  }
  return stream ? pino(opts, stream) : pino(opts);
}

export async function createContext(config: Config, opts: { log?: Logger; migrate?: boolean } = {}): Promise<AppContext> {
  const log = opts.log ?? createLogger(config);
  // Checked before anything opens: a bad TALLY_PAYMENT_* stops the start, not the first order.
  const paymentConfig = paymentSettings(config);
  const dbh = openDb(config.databaseUrl);
  if (opts.migrate !== false) await migrateToLatest(dbh);
  await ensureSystemAccounts(dbh.db, config.currency);
  const closers: Array<() => Promise<void> | void> = [() => dbh.close()];
  const keys = new KeyCache(dbh.db);
  const events = new EventBus(log);
  if (config.redisUrl) await events.connect(config.redisUrl);
  closers.push(() => events.close());
  const limiter: RateLimiter = events.redis ? new RedisRateLimiter(events.redis) : new MemoryRateLimiter();
  const catalog = new Catalog(dbh.db, config.secret, config.breaker, log);
  await catalog.reload();
  events.on(async (e) => {
    if (e.type === 'key_changed' || e.type === 'key_revoked') keys.invalidate(e.hash);
    else if (e.type === 'user_changed') keys.invalidateUser(e.userId);
    else if (e.type === 'catalog_changed') await catalog.reload();
  });
  // The book's clock is the context's (tests move it): it decides which budget period a request counts in.
  const book = new ReservationBook(dbh.db, () => ctx.now(), 5_000, config.timeZone);
  const alerts = new Alerts({ db: dbh.db, log, config: config.alerts, currency: config.currency, events, now: () => ctx.now() });
  const deadLetters = deadLetterFile(config.dataDir);
  // SQLite (file): settlement writes run on a worker thread with its own connection.
  const writer =
    dbh.dialect === 'sqlite' && !dbh.url.endsWith(':memory:') && config.settleWorker ? workerWriter(dbh.url) : inProcessWriter(dbh.db, dbh.dialect);
  // Metrics: one registry per context (several instances in one process do not mix); null when switched off.
  let metrics: Metrics | null = null;
  const settlement = new SettlementQueue(writer, book, log, {
    intervalMs: config.settleIntervalMs,
    maxIntervalMs: config.settleMaxIntervalMs,
    alerts,
    // A budget's spend after a commit: its 80% and 100% alerts (once per crossing).
    onBudgetSpend: (ref, periodKey, spent, amount) => void alerts.noteBudgetSpend(ref, periodKey, spent, amount),
    deadLetter: (item, error) => {
      appendDeadLetter(deadLetters, item, error);
      log.error({ requestId: item.requestId, file: deadLetters }, 'a request settlement was written to the dead-letter file');
    },
    onEnqueue: config.ops.metrics ? (item) => metrics?.request(item.log) : undefined,
    onCommitted: config.ops.metrics ? (lagMs) => metrics?.settled(lagMs) : undefined,
  });
  if (config.ops.metrics) metrics = new Metrics({ db: dbh.db, catalog, settlement: () => settlement, deadLetterFile: deadLetters });
  // Rate limits per key, user and group: in Redis when configured (shared by every instance), else in memory.
  const limits = new Limiter(events.redis ? new RedisLimitStore(events.redis) : new MemoryLimitStore(), config.relay.keyRpm, () => ctx.now());
  const relay = new Relay({ db: dbh.db, log, keys, catalog, book, settlement, limiter, limits, config: config.relay, metrics });
  // Shutdown order (reverse of registration): settle everything, close pools, then the database.
  closers.push(() => catalog.close());
  closers.push(() => settlement.close());
  closers.push(() => relay.flush()); // settlements still waiting for a token count, before the queue closes
  const ctx: AppContext = {
    config,
    dbh,
    db: dbh.db,
    dialect: dbh.dialect,
    log,
    keys,
    limiter,
    catalog,
    book,
    settlement,
    relay,
    limits,
    tasks: new Tasks({
      db: dbh.db,
      log,
      catalog,
      book,
      settlement,
      limiter,
      limits,
      keys,
      redis: events.redis,
      relay: config.relay,
      tasks: config.tasks,
      now: () => ctx.now(),
    }),
    alerts,
    payments: buildPayments(paymentConfig, { db: dbh.db, secret: config.secret, now: () => ctx.now() }),
    events,
    metrics,
    probes: new ChannelProber({
      db: dbh.db,
      catalog,
      events,
      redis: events.redis,
      log,
      intervalMs: config.ops.probeMs,
      recoverAfter: config.ops.probeRecover,
    }),
    status: new StatusBoard(dbh.db, catalog),
    redis: events.redis,
    now: () => Date.now(),
    onClose: (fn) => void closers.push(fn),
    close: async () => {
      for (const fn of closers.reverse()) await fn();
    },
  };
  return ctx;
}
