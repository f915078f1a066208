import type { Kysely } from 'kysely';

// Several upstream API keys per channel (an operator with five keys for one
// provider adds one channel): api_keys_enc holds them all, encrypted as one
// JSON array (api_key_enc keeps the first, as before); keys_attention the
// indexes of keys an upstream refused (401/403), taken out of rotation until
// an operator looks. Null: one key (or none), none refused.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('channels').addColumn('api_keys_enc', 'text').execute();
  await db.schema.alterTable('channels').addColumn('keys_attention', 'text').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
