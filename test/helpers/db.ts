import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDb, type DbHandle, type Dialect } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { ensureSystemAccounts } from '../../src/ledger/accounts.ts';

export const POSTGRES_URL = process.env.TALLY_TEST_POSTGRES_URL;

/** The databases every storage test runs on: SQLite always, PostgreSQL when TALLY_TEST_POSTGRES_URL is set (it is in CI). */
export function testDialects(): Dialect[] {
  return POSTGRES_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

export interface TestDb extends DbHandle {
  /** A URL that opens this same database (with its schema) from another process or handle. */
  connectionUrl: string;
  schema?: string;
  cleanup(): Promise<void>;
}

/** A fresh, migrated database: a SQLite file in a temp dir, or a PostgreSQL schema of its own. */
export async function createTestDb(dialect: Dialect, opts: { poolSize?: number } = {}): Promise<TestDb> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tally-test-'));
    const url = `sqlite:${join(dir, 'tally.db')}`;
    const h = openDb(url);
    await migrateToLatest(h);
    await ensureSystemAccounts(h.db);
    return {
      ...h,
      connectionUrl: url,
      cleanup: async () => {
        await h.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (!POSTGRES_URL) throw new Error('TALLY_TEST_POSTGRES_URL is not set');
  const schema = `tally_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = withSchema(POSTGRES_URL, schema);
  const h = openDb(url, { poolSize: opts.poolSize ?? 10 });
  try {
    await whileNoSchemaIsDropped(() => migrateToLatest(h));
    await ensureSystemAccounts(h.db);
  } catch (e) {
    await h.close();
    await dropTestSchema(schema);
    throw e;
  }
  return {
    ...h,
    connectionUrl: url,
    schema,
    cleanup: async () => {
      await h.close();
      await dropTestSchema(schema);
    },
  };
}

// Test files run in parallel on one PostgreSQL database, each in schemas of
// its own. Kysely's migrator (run by createTestDb, by every Tally start and by
// every CLI command) introspects every table of every schema in the database,
// and fails when a schema is dropped meanwhile ('relation
// "tally_t_….channels" does not exist', or 'schema "…" does not exist'). So
// test code migrates while holding a shared advisory lock and drops schemas
// under the exclusive one: migrations still run side by side, and a drop waits
// until none is running (and holds new ones back until it is done).
// The key is arbitrary; it only has to differ from Kysely's migration lock.
const SCHEMA_GUARD_LOCK = '7316208152493760001';

/** Runs `fn` (anything that migrates a database) while no test schema can be dropped. A no-op without PostgreSQL. */
export async function whileNoSchemaIsDropped<T>(fn: () => Promise<T>): Promise<T> {
  if (!POSTGRES_URL) return fn();
  const c = new pg.Client({ connectionString: POSTGRES_URL });
  await c.connect();
  try {
    await c.query('SELECT pg_advisory_lock_shared($1::bigint)', [SCHEMA_GUARD_LOCK]);
    return await fn();
  } finally {
    await c.end(); // ending the session releases the lock
  }
}

/** Drops a test schema once no migration is running anywhere in the database (see above). */
export async function dropTestSchema(schema: string): Promise<void> {
  if (!/^[a-z0-9_]+$/.test(schema)) throw new Error(`not a test schema name: ${schema}`);
  const c = new pg.Client({ connectionString: POSTGRES_URL });
  await c.connect();
  try {
    await c.query('SELECT pg_advisory_lock($1::bigint)', [SCHEMA_GUARD_LOCK]);
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await c.end();
  }
}

/** Adds a search_path option to a PostgreSQL URL so another process lands in the same schema. */
export function withSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}
