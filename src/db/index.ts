import { Kysely, PostgresDialect, SqliteDialect, type Transaction } from 'kysely';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Database } from './schema.ts';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** Either the root handle or an open transaction; verbs accept both. */
export type DbOrTx = Kysely<Database>;

export interface DbHandle {
  db: Db;
  dialect: Dialect;
  url: string;
  /** SQLite only: the connection itself (pragmas) and its file (absent for :memory:). */
  sqlite?: SQLite.Database;
  sqliteFile?: string;
  close(): Promise<void>;
}

export interface OpenDbOptions {
  /** PostgreSQL pool size. */
  poolSize?: number;
  /** PostgreSQL schema to use (tests create one each). */
  schema?: string;
}

export function parseDatabaseUrl(url: string): { dialect: Dialect; target: string } {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return { dialect: 'postgres', target: url };
  if (url.startsWith('sqlite:')) return { dialect: 'sqlite', target: url.slice('sqlite:'.length) || ':memory:' };
  throw new Error(`TALLY_DATABASE_URL must start with sqlite: or postgres:// (got "${url.split(':')[0]}:...")`);
}

export function openDb(url: string, opts: OpenDbOptions = {}): DbHandle {
  const { dialect, target } = parseDatabaseUrl(url);
  if (dialect === 'sqlite') {
    if (target !== ':memory:') mkdirSync(dirname(resolve(target)), { recursive: true });
    const sqlite = new SQLite(target);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('synchronous = NORMAL');
    // Integers come back as bigint so money above 2^53 is never rounded.
    sqlite.defaultSafeIntegers(true);
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    return { db, dialect, url, sqlite, sqliteFile: target === ':memory:' ? undefined : resolve(target), close: () => db.destroy() };
  }
  const pool = new pg.Pool({
    connectionString: target,
    max: opts.poolSize ?? 10,
    // int8 (money, times) as bigint, so both databases return the same JS type.
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === 20 ? (v: string) => BigInt(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
    ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect, url, close: () => db.destroy() };
}

/**
 * Kysely prepares every query anew; better-sqlite3 statements are reusable, so
 * keep them by SQL text (bounded). Safe because Kysely runs one query at a time
 * on its single SQLite connection and each call completes synchronously.
 */
function withStatementCache(db: SQLite.Database) {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => db.close(),
    prepare: (sqlText: string) => {
      let stmt = cache.get(sqlText);
      if (!stmt) {
        if (cache.size >= 1000) cache.clear();
        stmt = db.prepare(sqlText);
        cache.set(sqlText, stmt);
      }
      return stmt;
    },
  };
}

const RETRYABLE_PG = new Set(['40001', '40P01']);

function isRetryable(e: unknown): boolean {
  const err = e as { code?: string };
  if (!err || typeof err.code !== 'string') return false;
  return RETRYABLE_PG.has(err.code) || err.code === 'SQLITE_BUSY' || err.code === 'SQLITE_BUSY_SNAPSHOT';
}

/**
 * The one transaction helper. Reuses an outer transaction when given one, so a
 * verb can be called alone or as part of a bigger unit of work. Serialization
 * failures and deadlocks (PostgreSQL) and busy errors (SQLite, another process)
 * are retried: every money path is written so that a retry is safe.
 */
export async function withTransaction<T>(db: DbOrTx, fn: (tx: Tx) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db as Tx);
  for (let attempt = 0; ; attempt++) {
    try {
      return await db.transaction().execute(fn);
    } catch (e) {
      if (attempt < 8 && isRetryable(e)) {
        await new Promise((r) => setTimeout(r, 2 + Math.random() * 10 * (attempt + 1)));
        continue;
      }
      throw e;
    }
  }
}

export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === '23505' || err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

export const toNum = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
export const toNumOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
