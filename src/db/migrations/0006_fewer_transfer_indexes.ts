import type { Kysely } from 'kysely';

// Every relayed request writes a usage transfer, so each index on
// ledger_transfers is a B-tree insert on the hot path. Nothing looks transfers
// up by `reference` (statements go by account, idempotency by its own unique
// key), so that index only cost writes: about 7% of a settlement on SQLite.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('ledger_transfers_reference').ifExists().execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
