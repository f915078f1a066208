import type { Kysely } from 'kysely';

// Channels (upstream accounts), model prices, groups, and the request log.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('channels')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('base_url', 'text', (c) => c.notNull())
    .addColumn('api_key_enc', 'text')
    .addColumn('models', 'text', (c) => c.notNull()) // JSON array of public model names
    .addColumn('model_map', 'text') // JSON object public -> upstream
    .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('weight', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('connect_timeout_ms', 'integer', (c) => c.notNull().defaultTo(10_000))
    .addColumn('first_byte_timeout_ms', 'integer', (c) => c.notNull().defaultTo(60_000))
    .addColumn('total_timeout_ms', 'integer', (c) => c.notNull().defaultTo(600_000))
    .addColumn('status', 'text', (c) => c.notNull()) // enabled | disabled | needs_attention
    .addColumn('status_reason', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('model_prices')
    .addColumn('model', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('chat')) // chat | embedding
    .addColumn('input_per_1m', 'bigint', (c) => c.notNull()) // micro-units per 1M input tokens
    .addColumn('output_per_1m', 'bigint', (c) => c.notNull())
    .addColumn('cached_input_per_1m', 'bigint')
    .addColumn('max_output_tokens', 'integer', (c) => c.notNull().defaultTo(4096))
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('groups')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('multiplier_ppm', 'bigint', (c) => c.notNull()) // 1_000_000 = 1.0x
    .addColumn('models', 'text') // JSON array; null = every priced model
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('request_logs')
    .addColumn('id', 'text', (c) => c.primaryKey()) // the request id, also x-request-id
    .addColumn('user_id', 'text')
    .addColumn('key_id', 'text')
    .addColumn('key_display', 'text')
    .addColumn('group_name', 'text')
    .addColumn('endpoint', 'text', (c) => c.notNull())
    .addColumn('model', 'text')
    .addColumn('upstream_model', 'text')
    .addColumn('channel_id', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('stream', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status', 'integer', (c) => c.notNull())
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('prompt_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('completion_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('cached_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('usage_source', 'text') // upstream | counted | none
    .addColumn('held', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('cost', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('charged_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('uncollected', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('charged', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('charge_reason', 'text', (c) => c.notNull())
    .addColumn('transfer_id', 'text')
    .addColumn('pricing', 'text') // JSON snapshot: prices and multiplier used
    .addColumn('latency_ms', 'integer')
    .addColumn('ttfb_ms', 'integer')
    .addColumn('client_ip', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('request_logs_user').on('request_logs').columns(['user_id', 'created_at']).execute();
  // No separate key_id index: per-key views filter within a user's rows (request_logs_user),
  // and every index costs each request's settlement a B-tree insert.
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
