import type { Kysely } from 'kysely';

// Azure OpenAI channels (type `azure`) carry the api-version Tally sends with
// every request (`?api-version=...`); null for every other type.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('channels').addColumn('api_version', 'text').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
