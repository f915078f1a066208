import type { Kysely } from 'kysely';

// Budgets (src/gateway/budgets.ts): a video task counts its hold against the
// key's (and its member's) budget from submit, in the submit's period, and
// its completion corrects that to what was charged; the task keeps which
// budgets and periods it counted in (JSON [{ref, periodKey}], null: none).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('tasks').addColumn('budgets', 'text').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
