import type { Kysely } from 'kysely';

// Prompt-cache writes are priced apart from plain input (Anthropic charges a
// 5-minute write at 1.25x input and a 1-hour write at 2x): a price for each,
// null when unset (billed at the input price, as before), and the request log
// keeps the two counts it billed, so GET /api/usage/:id can show the
// arithmetic. Existing rows wrote no cache: 0.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('model_prices').addColumn('cache_write_per_1m', 'bigint').execute();
  await db.schema.alterTable('model_prices').addColumn('cache_write_1h_per_1m', 'bigint').execute();
  await db.schema
    .alterTable('request_logs')
    .addColumn('cache_write_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('request_logs')
    .addColumn('cache_write_1h_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
