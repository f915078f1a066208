import type { Kysely } from 'kysely';

// Media models (images, speech, transcription) may be priced per image (with
// an optional price per size: JSON {"1024x1536": micro-units}), per second
// of audio, or per request, instead of (or beside) tokens; `max_seconds` is
// the most audio seconds a per-second request is held for when the file's
// length cannot be read from its header. The request log keeps the media
// units it billed: `media_unit` ('image', 'audio_ms', 'character',
// 'request') and how many. Existing rows: no media prices, no media units.
export async function up(db: Kysely<any>): Promise<void> {
  for (const col of ['per_image', 'per_second', 'per_request', 'max_seconds']) {
    await db.schema.alterTable('model_prices').addColumn(col, 'bigint').execute();
  }
  await db.schema.alterTable('model_prices').addColumn('per_image_sizes', 'text').execute();
  await db.schema.alterTable('request_logs').addColumn('media_unit', 'text').execute();
  await db.schema
    .alterTable('request_logs')
    .addColumn('media_units', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
