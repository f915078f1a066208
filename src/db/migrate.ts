import { Migrator, sql, type MigrationProvider } from 'kysely';
import type { DbHandle } from './index.ts';
import { migrations } from './migrations/index.ts';

const provider: MigrationProvider = { getMigrations: async () => migrations };

/**
 * Applies pending migrations. Safe when several instances start at once:
 * Kysely's migrator takes a PostgreSQL advisory lock (pg_advisory_xact_lock)
 * for the whole run and a lock row on SQLite, and re-reads what is applied
 * after taking it, so a migration never runs twice.
 */
export async function migrateToLatest(h: DbHandle): Promise<{ applied: string[] }> {
  // Kysely's migrator introspects every table of every schema to find its own;
  // a table or schema dropped elsewhere in the same database meanwhile makes
  // that lookup fail (42P01 / 3F000). Nothing was applied then: try again.
  for (let attempt = 0; ; attempt++) {
    try {
      return await migrateOnce(h);
    } catch (e) {
      const code = (e as { code?: string })?.code;
      if (attempt < 8 && (code === '42P01' || code === '3F000')) {
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
        continue;
      }
      throw e;
    }
  }
}

async function migrateOnce(h: DbHandle): Promise<{ applied: string[] }> {
  // Kysely looks for its tables in every schema unless told which one; name
  // the current schema so databases with several Tally schemas (tests) work.
  const schema = h.dialect === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(h.db)).rows[0]?.s : undefined;
  const migrator = new Migrator({
    db: h.db,
    provider,
    migrationTableName: 'tally_migrations',
    migrationLockTableName: 'tally_migrations_lock',
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}
