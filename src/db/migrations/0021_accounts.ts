import { sql, type Kysely } from 'kysely';

// Accounts people run themselves (src/accounts/signup.ts, emailTokens.ts,
// signupInvites.ts). users.email_verified_at: when the owner proved the
// mailbox (null: not yet); accounts that exist already were made by an admin
// or the CLI, who vouched for the address, so they count as verified from
// their creation. users.language: the language of account mails ('en' or
// 'zh'), taken from the sign-up's Accept-Language.
// account_tokens: e-mail verification and password reset links, sha256 of
// the token only, single use (used_at set by a conditional UPDATE), expiring.
// signup_invites: an admin's single-use sign-up links, hashed the same way.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('email_verified_at', 'bigint').execute();
  await db.schema.alterTable('users').addColumn('language', 'text').execute();
  await sql`update users set email_verified_at = created_at`.execute(db);

  await db.schema
    .createTable('account_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('email_normalized', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute();
  await db.schema.createIndex('account_tokens_user').on('account_tokens').columns(['user_id', 'purpose']).execute();

  await db.schema
    .createTable('signup_invites')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('email_normalized', 'text')
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('group_name', 'text')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .addColumn('used_by', 'text')
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('signup_invites_created').on('signup_invites').columns(['created_at']).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
