import type { Kysely } from 'kysely';

// Teams (src/teams): what a team's money needs beyond 0017's tables. A top-up
// order may fund a team (payment_orders.team_id: the credit, a refund and a
// duplicate's credit go to and from `team:<id>` instead of the payer's
// wallet); a task (video) started with a team key holds and charges the team
// wallet (tasks.wallet_account_id; null on rows from before: the user's).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('payment_orders').addColumn('team_id', 'text').execute();
  await db.schema.alterTable('tasks').addColumn('wallet_account_id', 'text').execute();
  await db.schema.createIndex('api_keys_team').on('api_keys').columns(['team_id', 'user_id']).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
