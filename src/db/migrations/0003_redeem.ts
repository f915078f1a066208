import type { Kysely } from 'kysely';

// Redeem codes: batches, codes (stored as an HMAC and a last-4 display form,
// never in plaintext), redemptions (one per code and user) and every attempt.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('redeem_batches')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text')
    .addColumn('amount', 'bigint', (c) => c.notNull()) // micro-units credited per redemption
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('max_uses', 'integer', (c) => c.notNull()) // per code
    .addColumn('code_count', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('status', 'text', (c) => c.notNull()) // active | disabled
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('disabled_at', 'bigint')
    .addColumn('disabled_reason', 'text')
    .execute();

  await db.schema
    .createTable('redeem_codes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('batch_id', 'text', (c) => c.notNull().references('redeem_batches.id'))
    .addColumn('code_hash', 'text', (c) => c.notNull().unique())
    .addColumn('display', 'text', (c) => c.notNull())
    .addColumn('max_uses', 'integer', (c) => c.notNull())
    .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status', 'text', (c) => c.notNull()) // active | disabled
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('disabled_at', 'bigint')
    .addColumn('disabled_reason', 'text')
    .execute();
  await db.schema.createIndex('redeem_codes_batch').on('redeem_codes').column('batch_id').execute();

  await db.schema
    .createTable('redeem_redemptions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('code_id', 'text', (c) => c.notNull().references('redeem_codes.id'))
    .addColumn('batch_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('transfer_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull()) // credited | reversed
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('reversed_at', 'bigint')
    .addColumn('reversal_transfer_id', 'text')
    .addColumn('reversal_reason', 'text')
    .execute();
  // One redemption per code and account, enforced by the database: a retry can never credit twice.
  await db.schema.createIndex('redeem_redemptions_code_user').on('redeem_redemptions').columns(['code_id', 'user_id']).unique().execute();
  await db.schema.createIndex('redeem_redemptions_user').on('redeem_redemptions').columns(['user_id', 'created_at']).execute();

  await db.schema
    .createTable('redeem_attempts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text')
    .addColumn('ip', 'text')
    .addColumn('code_display', 'text', (c) => c.notNull()) // masked: last 4 characters at most
    .addColumn('code_id', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('redeem_attempts_user').on('redeem_attempts').columns(['user_id', 'created_at']).execute();
  await db.schema.createIndex('redeem_attempts_code').on('redeem_attempts').column('code_id').execute();
  await db.schema.createIndex('redeem_attempts_ip').on('redeem_attempts').columns(['ip', 'created_at']).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
