import type { Kysely } from 'kysely';

// Limits, budgets, teams and alerts (DESIGN.md "Limits, budgets and teams").
//
// Limits: requests per minute, tokens per minute and requests in flight, on a
// key, a user or a group (null: not set there; the most specific set one wins,
// none set: unlimited). Budgets: an amount per period (day, week, month,
// total) on a key or a team member; what was spent in a period is one row of
// budget_spend keyed by the budget and the period's own key (2026-12-01,
// 2026-W49, 2026-12, total), so a new period starts at zero without a cron.
// Teams: a team owns a wallet (a ledger account `team:<id>`) its keys spend;
// members have a role and an optional budget. Alerts: a user's (or team's)
// thresholds, the state of each alert (so it is sent once per crossing), and
// an outbox of e-mails and webhooks to deliver with retries.
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ['api_keys', 'users', 'groups']) {
    await db.schema.alterTable(table).addColumn('rpm', 'integer').execute();
    await db.schema.alterTable(table).addColumn('tpm', 'bigint').execute();
    await db.schema.alterTable(table).addColumn('concurrency', 'integer').execute();
  }
  await db.schema.alterTable('api_keys').addColumn('budget', 'bigint').execute();
  await db.schema.alterTable('api_keys').addColumn('budget_period', 'text').execute();
  await db.schema.alterTable('api_keys').addColumn('team_id', 'text').execute();

  await db.schema
    .createTable('teams')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('name_normalized', 'text', (c) => c.notNull().unique())
    .addColumn('owner_user_id', 'text', (c) => c.notNull())
    .addColumn('wallet_account_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('team_members')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('team_id', 'text', (c) => c.notNull())
    .addColumn('email_normalized', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('budget', 'bigint')
    .addColumn('budget_period', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('invited_by', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('team_members_team_email', ['team_id', 'email_normalized'])
    .execute();
  await db.schema.createIndex('team_members_user').on('team_members').columns(['user_id', 'team_id']).execute();

  await db.schema
    .createTable('budget_spend')
    .addColumn('budget_ref', 'text', (c) => c.notNull())
    .addColumn('period_key', 'text', (c) => c.notNull())
    .addColumn('spent', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('budget_spend_pk', ['budget_ref', 'period_key'])
    .execute();

  await db.schema
    .createTable('alert_settings')
    .addColumn('owner_ref', 'text', (c) => c.primaryKey())
    .addColumn('balance_below', 'bigint')
    .addColumn('email', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('webhook_url', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('alert_state')
    .addColumn('subject', 'text', (c) => c.primaryKey())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('alert_outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_ref', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('sent_at', 'bigint')
    .execute();
  await db.schema.createIndex('alert_outbox_due').on('alert_outbox').columns(['status', 'next_attempt_at']).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
