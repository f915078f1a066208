import type { Kysely } from 'kysely';

// Channel probes (src/ops/probes.ts): every TALLY_CHANNEL_PROBE_MS each
// enabled channel, and each one a probe or the relay took out of rotation, is
// sent one tiny real request; the outcome is a channel_probes row (the
// console's probe history and the status page read them). A channel whose
// upstream refuses Tally's credentials or quota is disabled with
// auto_disabled = 1; with auto_recover = 1 it is enabled again after
// probe_ok_streak consecutive healthy probes. An operator's own disable leaves
// auto_disabled = 0, so a probe never undoes it. probe_slot is the interval
// (now / TALLY_CHANNEL_PROBE_MS) a channel was last claimed for: a conditional
// UPDATE on it lets only one instance probe a channel per interval when there
// is no Redis. Probes older than 8 days are deleted per channel, so rows are
// indexed by (channel_id, created_at); the status page reads a time range, so
// created_at alone is indexed too.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('channels')
    .addColumn('auto_recover', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema
    .alterTable('channels')
    .addColumn('auto_disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('channels')
    .addColumn('probe_ok_streak', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('channels').addColumn('probe_slot', 'bigint').execute();
  await db.schema
    .createTable('channel_probes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('channel_id', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('ok', 'integer', (c) => c.notNull())
    .addColumn('status', 'integer', (c) => c.notNull())
    .addColumn('latency_ms', 'integer', (c) => c.notNull())
    .addColumn('error_class', 'text')
    .addColumn('error_message', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('channel_probes_channel').on('channel_probes').columns(['channel_id', 'created_at']).execute();
  await db.schema.createIndex('channel_probes_created').on('channel_probes').column('created_at').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
