import type { Kysely } from 'kysely';

// Asynchronous tasks (video generation): a task is submitted to an upstream,
// polled until it ends, and its price is held in the ledger from submit to
// end (a durable hold, ledger_holds: it survives a restart). The task's state
// change and the hold's post or void happen in one transaction, conditional
// on the task still being live, so however many pollers, webhooks or restarts
// see the same end, the money moves once (src/gateway/tasks/).
//
// A poller leases a task (lease_owner, lease_until) before it polls it; a
// crashed instance's lease runs out and another instance takes the task over.
// task_events is the timeline support reads: submitted, held, accepted by the
// upstream, each status seen, charged or released, and why.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('tasks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('key_display', 'text', (c) => c.notNull())
    .addColumn('group_name', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('upstream_model', 'text', (c) => c.notNull())
    .addColumn('channel_id', 'text', (c) => c.notNull())
    .addColumn('key_ref', 'text', (c) => c.notNull())
    .addColumn('upstream_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('progress', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('seconds', 'integer', (c) => c.notNull())
    .addColumn('size', 'text')
    .addColumn('prompt', 'text')
    .addColumn('remix_of', 'text')
    .addColumn('hold_id', 'text', (c) => c.notNull())
    .addColumn('held', 'bigint', (c) => c.notNull())
    .addColumn('charged', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('transfer_id', 'text')
    .addColumn('pricing', 'text', (c) => c.notNull())
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('polls', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_poll_at', 'bigint', (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'bigint')
    .addColumn('deadline_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .addColumn('deleted_at', 'bigint')
    .execute();
  await db.schema.createIndex('tasks_user').on('tasks').columns(['user_id', 'id']).execute();
  await db.schema.createIndex('tasks_due').on('tasks').columns(['status', 'next_poll_at']).execute();
  await db.schema.createIndex('tasks_upstream').on('tasks').column('upstream_id').execute();
  await db.schema
    .createTable('task_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('status', 'text')
    .addColumn('detail', 'text')
    .addColumn('instance', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('task_events_task').on('task_events').columns(['task_id', 'created_at']).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
