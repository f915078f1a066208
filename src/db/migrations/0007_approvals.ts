import type { Kysely } from 'kysely';

// Approvals: a money action support asked for above its limit (or without the
// provider's confirmation) waits here until a different staff member with the
// admin role approves or rejects it; approving runs it once (src/support/approvals.ts).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('support_approvals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('action', 'text', (c) => c.notNull()) // users.compensate | orders.credit | orders.refund | trades.refund | trades.keep
    .addColumn('target', 'text', (c) => c.notNull()) // user id, order id or trade row id
    .addColumn('target_user_id', 'text', (c) => c.notNull()) // whose balance it moves
    .addColumn('value', 'bigint', (c) => c.notNull()) // micro-units of the platform currency (what the limit compares)
    .addColumn('params', 'text', (c) => c.notNull()) // JSON: the action's input (no secrets)
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('request_key', 'text', (c) => c.unique()) // the requester's idempotency key: asking twice makes one request
    .addColumn('status', 'text', (c) => c.notNull()) // pending | approved | executed | failed | rejected | expired
    .addColumn('requested_by', 'text', (c) => c.notNull()) // actor label
    .addColumn('requested_by_user_id', 'text')
    .addColumn('decided_by', 'text')
    .addColumn('decided_by_user_id', 'text')
    .addColumn('decision_reason', 'text')
    .addColumn('result', 'text') // JSON: what the action did, or the error that stopped it
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('decided_at', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('support_approvals_status').on('support_approvals').columns(['status', 'id']).execute();
  await db.schema.createIndex('support_approvals_target_user').on('support_approvals').columns(['target_user_id', 'id']).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
