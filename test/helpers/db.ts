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
    return { ...h, connectionUrl: url, cleanup: async () => { await h.close(); rmSync(dir, { recursive: true, force: true }); } };
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
    await migrateToLatest(h);
    await ensureSystemAccounts(h.db);
  } catch (e) {
    await h.close();
    await dropSchema(schema);
    throw e;
  }
  return {
    ...h,
    connectionUrl: url,
    schema,
    cleanup: async () => {
      await h.close();
      await dropSchema(schema);
    },
  };
}

async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: POSTGRES_URL });
  await c.connect();
  try {
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
