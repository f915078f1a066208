import type { Kysely } from 'kysely';

// Alerts: the language an owner's alert e-mails are written in ('en' or 'zh';
// null: English). There is no other stored language preference to read it from.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('alert_settings').addColumn('language', 'text').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
