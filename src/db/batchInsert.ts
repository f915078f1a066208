import { CompiledQuery } from 'kysely';
import type { DbOrTx } from './index.ts';
import type { Database } from './schema.ts';

/**
 * A multi-row INSERT for a hot path: Kysely builds and compiles the statement
 * once per row count (cached), then each batch only binds parameters. Same
 * query path on both databases; it skips rebuilding a 30-column query tree for
 * every batch of request logs.
 */
export function batchInserter<T extends keyof Database & string>(table: T, columns: ReadonlyArray<keyof Database[T] & string>, maxRows = 200) {
  // Keyed by dialect adapter too: SQLite and PostgreSQL placeholders differ.
  const cache = new Map<string, string>();
  const dummy = Object.fromEntries(columns.map((c) => [c, 0]));
  return async (db: DbOrTx, rows: ReadonlyArray<Record<string, unknown>>): Promise<void> => {
    for (let i = 0; i < rows.length; i += maxRows) {
      const chunk = rows.slice(i, i + maxRows);
      const key = `${db.getExecutor().adapter.constructor.name}:${chunk.length}`;
      let text = cache.get(key);
      if (!text) {
        text = db
          .insertInto(table)
          .values(Array.from({ length: chunk.length }, () => dummy) as any)
          .compile().sql;
        cache.set(key, text);
      }
      const params: unknown[] = [];
      for (const r of chunk) for (const c of columns) params.push(r[c] ?? null);
      await db.executeQuery(CompiledQuery.raw(text, params));
    }
  };
}
