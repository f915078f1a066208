import type { Kysely } from 'kysely';

// Sessions a person can see and end, and users an admin can disable.
// `sessions.last_seen_at`: when the session was last used, written at most once
// a minute per session (a conditional UPDATE, see noteSessionSeen), null until
// then (the list shows created_at). `sessions_user_live` (user_id, expires_at):
// "my sessions" and "sign out everywhere" read only the sessions that have not
// expired, however many a user opened over the months.
// `users.disabled_at` / `disabled_reason`: why staff disabled an account, shown
// on the staff user page (the audit log keeps the history of every change).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('last_seen_at', 'bigint').execute();
  await db.schema.createIndex('sessions_user_live').on('sessions').columns(['user_id', 'expires_at']).execute();
  await db.schema.alterTable('users').addColumn('disabled_at', 'bigint').execute();
  await db.schema.alterTable('users').addColumn('disabled_reason', 'text').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
