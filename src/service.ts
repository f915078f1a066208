import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config/index.ts';
import type { Db } from './db/index.ts';

/**
 * What a domain verb may use (accounts, payments, redeem, support): the
 * database, the clock, the log, the configuration and, when configured, the
 * Redis shared with the other instances. Not the relay, the catalog or the
 * HTTP server: a verb runs the same from a route, the CLI or a test. Routes and
 * the CLI pass the whole AppContext (src/context.ts), which has all of these; a
 * verb that needs one more thing says so in its type (e.g. PaymentsContext).
 */
export interface ServiceContext {
  db: Db;
  now(): number;
  log: Logger;
  config: Config;
  /** Set when TALLY_REDIS_URL is (cross-instance locks); null or absent otherwise. */
  redis?: Redis | null;
}
