import type { Kysely } from 'kysely';

// Rate-limited redeem attempts are kept as one row per account per lock
// window with a count (`times`, `last_at`) instead of a row each, so a guesser
// cannot fill the table; `fold_key` (account + window, null on other rows)
// names that row, and its unique index makes the count one atomic upsert. Sign-in limits ask "has this account signed in from
// this address before?", which needs sessions by user.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('redeem_attempts')
    .addColumn('times', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.alterTable('redeem_attempts').addColumn('last_at', 'bigint').execute();
  await db.schema.alterTable('redeem_attempts').addColumn('fold_key', 'text').execute();
  await db.schema.createIndex('redeem_attempts_fold').on('redeem_attempts').column('fold_key').unique().execute();
  await db.schema.createIndex('sessions_user').on('sessions').columns(['user_id', 'created_at']).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
