import type { Kysely } from 'kysely';

// The operator dashboard (src/ops): an optional upstream cost per model, what
// the operator pays the provider per 1M tokens, so the dashboard can show the
// margin (price charged − upstream cost). Null: unknown, and the margin of that
// model is reported as unknown, never as zero.
//
// No new index: the dashboard's money figures read ledger_transfers by system
// account and time (ledger_transfers_debit / _credit already lead with the
// account and then created_at), and its breakdowns and the request search read
// request_logs by primary-key range (request ids are time-sortable, see
// src/lib/ids.ts), so the relay's settlement pays for no extra B-tree insert.
export async function up(db: Kysely<any>): Promise<void> {
  for (const column of ['upstream_input_per_1m', 'upstream_output_per_1m', 'upstream_cached_input_per_1m']) {
    await db.schema.alterTable('model_prices').addColumn(column, 'bigint').execute();
  }
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
