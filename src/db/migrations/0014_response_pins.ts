import type { Kysely } from 'kysely';

// previous_response_id works only on the upstream that holds that response.
// After a Responses answer passed through to a channel that stores it, Tally
// pins the response id to that channel, the channel's key that created it (its
// fingerprint, so an edit that renumbers the keys does not move the pin; a
// channel's keys may belong to different OpenAI projects, and a response is
// visible only to its own project) and the user who created it
// (src/gateway/responsePins.ts); a request naming the id is routed only
// there, and only for that user. Pins older than 30 days (as long as OpenAI
// keeps a stored response) are deleted, so created_at is indexed.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('response_pins')
    .addColumn('response_id', 'text', (c) => c.primaryKey())
    .addColumn('channel_id', 'text', (c) => c.notNull())
    .addColumn('key_ref', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('response_pins_created').on('response_pins').column('created_at').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
