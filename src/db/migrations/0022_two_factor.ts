import type { Kysely } from 'kysely';

// Two-factor sign-in (TOTP) and OpenID Connect links (src/accounts/twoFactor,
// src/accounts/oidc.ts).
//
// two_factor: one row per user who started a setup; enabled_at null means the
// setup is not confirmed yet (a code was never shown back). The secret is
// encrypted with TALLY_SECRET (lib/crypto.ts encryptSecret). last_step is the
// last TOTP time step accepted: a code is accepted only by a conditional
// UPDATE that moves it forward, so one code cannot be used twice, not even by
// two requests at once. Recovery codes and sign-in challenges are stored as
// sha256 hashes only. sessions.two_factor_at: when this session last proved a
// second factor (staff money actions and reveals ask for a recent one).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('two_factor')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('secret_enc', 'text', (c) => c.notNull())
    .addColumn('enabled_at', 'bigint')
    .addColumn('last_step', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('two_factor_recovery_codes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('code_hash', 'text', (c) => c.notNull().unique())
    .addColumn('used_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('two_factor_recovery_codes_user').on('two_factor_recovery_codes').columns(['user_id']).execute();
  await db.schema
    .createTable('two_factor_challenges')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute();
  await db.schema
    .createTable('oidc_links')
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('oidc_links_pk', ['issuer', 'subject'])
    .execute();
  await db.schema.createIndex('oidc_links_user').on('oidc_links').columns(['user_id']).execute();
  await db.schema.alterTable('sessions').addColumn('two_factor_at', 'bigint').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
