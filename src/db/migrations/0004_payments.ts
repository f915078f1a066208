import type { Kysely } from 'kysely';

// Payments: top-up orders (one row per order, the state machine's current
// state), their append-only event timeline, every provider trade seen for an
// order (so a second payment is recognised), refunds, the provider events
// already handled (webhook dedupe) and the sandbox provider's own records.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('payment_orders')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('provider', 'text', (c) => c.notNull()) // sandbox | stripe | epay
    .addColumn('method', 'text') // e.g. alipay | wxpay for EPay
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull()) // micro-units of `currency`, what the user pays
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('credit_amount', 'bigint', (c) => c.notNull()) // micro-units of the platform currency
    .addColumn('credit_currency', 'text', (c) => c.notNull())
    .addColumn('exchange_rate', 'text', (c) => c.notNull()) // snapshot: 1 `currency` = rate `credit_currency`
    .addColumn('provider_ref', 'text') // checkout session id / provider order reference
    .addColumn('provider_trade_id', 'text') // the trade that was credited
    .addColumn('checkout_url', 'text')
    .addColumn('status_reason', 'text')
    .addColumn('refunded_amount', 'bigint', (c) => c.notNull().defaultTo(0)) // in `currency`
    .addColumn('refunded_credit', 'bigint', (c) => c.notNull().defaultTo(0)) // in the platform currency
    .addColumn('credit_transfer_id', 'text')
    .addColumn('possible_duplicate_of', 'text')
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('paid_at', 'bigint')
    .addColumn('credited_at', 'bigint')
    .addColumn('next_check_at', 'bigint')
    .addColumn('check_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('payment_orders_user').on('payment_orders').columns(['user_id', 'created_at']).execute();
  await db.schema.createIndex('payment_orders_status').on('payment_orders').columns(['status', 'next_check_at']).execute();
  await db.schema.createIndex('payment_orders_provider_ref').on('payment_orders').columns(['provider', 'provider_ref']).execute();

  await db.schema
    .createTable('payment_order_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('order_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull()) // transition | refused | note
    .addColumn('from_status', 'text')
    .addColumn('to_status', 'text')
    .addColumn('source', 'text', (c) => c.notNull()) // user | callback | return_page | reconcile | support | system
    .addColumn('reason', 'text')
    .addColumn('payload', 'text') // provider payload, secrets stripped
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('payment_order_events_order').on('payment_order_events').columns(['order_id', 'id']).execute();

  await db.schema
    .createTable('payment_trades')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('trade_id', 'text', (c) => c.notNull())
    .addColumn('order_id', 'text', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull()) // credited | duplicate_payment | flagged
    .addColumn('decision', 'text') // for duplicates: pending | refunded | kept
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  // One row per provider trade: the database, not the code, refuses to count a trade twice.
  await db.schema.createIndex('payment_trades_trade').on('payment_trades').columns(['provider', 'trade_id']).unique().execute();
  await db.schema.createIndex('payment_trades_order').on('payment_trades').column('order_id').execute();

  await db.schema
    .createTable('payment_refunds')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('order_id', 'text', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull()) // in the order's currency
    .addColumn('credit_amount', 'bigint', (c) => c.notNull()) // taken back, platform currency
    .addColumn('from_wallet', 'bigint', (c) => c.notNull())
    .addColumn('uncollected', 'bigint', (c) => c.notNull()) // what the wallet no longer held (forced or provider-initiated)
    .addColumn('reason', 'text', (c) => c.notNull()) // duplicate | requested_by_customer | fraudulent | other
    .addColumn('note', 'text')
    .addColumn('origin', 'text', (c) => c.notNull()) // support | provider | dispute
    .addColumn('status', 'text', (c) => c.notNull()) // pending | succeeded | manual | failed
    .addColumn('provider_refund_id', 'text')
    .addColumn('forced', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('payment_refunds_order').on('payment_refunds').column('order_id').execute();

  await db.schema
    .createTable('payment_provider_events')
    .addColumn('id', 'text', (c) => c.primaryKey()) // '<provider>:<event id>'
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('order_id', 'text')
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .execute();

  // The sandbox provider's own books (what a real provider keeps on its side).
  await db.schema
    .createTable('payment_sandbox_trades')
    .addColumn('id', 'text', (c) => c.primaryKey()) // trade id
    .addColumn('order_id', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull()) // paid | failed
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('payment_sandbox_trades_order').on('payment_sandbox_trades').column('order_id').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
