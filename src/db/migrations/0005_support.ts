import type { Kysely } from 'kysely';

// Support: tickets (fields support needs, stored only after secret redaction),
// their messages, handoff notes, and before/after snapshots on audit rows.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('support_tickets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull()) // open | waiting_on_user | waiting_on_support | resolved | closed
    .addColumn('fields', 'text', (c) => c.notNull()) // JSON: contact, payment_method, order_time, amount, order_status, page_message, submitted_twice, reference (redacted)
    .addColumn('diagnosis', 'text') // JSON: the doctor's cases when the ticket was opened
    .addColumn('redactions', 'text') // JSON: what was removed from the user's text (kinds and counts, never the values)
    .addColumn('assignee', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('resolved_at', 'bigint')
    .addColumn('closed_at', 'bigint')
    .execute();
  await db.schema.createIndex('support_tickets_user').on('support_tickets').columns(['user_id', 'id']).execute();
  await db.schema.createIndex('support_tickets_status').on('support_tickets').columns(['status', 'id']).execute();

  await db.schema
    .createTable('support_ticket_messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('ticket_id', 'text', (c) => c.notNull())
    .addColumn('author', 'text', (c) => c.notNull()) // actor label
    .addColumn('author_role', 'text', (c) => c.notNull()) // user | support
    .addColumn('body', 'text', (c) => c.notNull()) // redacted
    .addColumn('redactions', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('support_ticket_messages_ticket').on('support_ticket_messages').columns(['ticket_id', 'id']).execute();

  await db.schema
    .createTable('support_handoff_notes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('ticket_id', 'text', (c) => c.notNull())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('environment', 'text')
    .addColumn('capability', 'text')
    .addColumn('last_known_good', 'text')
    .addColumn('observed_symptom', 'text')
    .addColumn('evidence_collected', 'text')
    .addColumn('next_review_at', 'bigint')
    .addColumn('author', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('support_handoff_notes_ticket').on('support_handoff_notes').columns(['ticket_id', 'id']).execute();

  await db.schema.alterTable('audit_log').addColumn('before_state', 'text').execute();
  await db.schema.alterTable('audit_log').addColumn('after_state', 'text').execute();
  await db.schema.createIndex('audit_log_action').on('audit_log').columns(['action', 'id']).execute();
  await db.schema.createIndex('audit_log_actor').on('audit_log').columns(['actor', 'id']).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
