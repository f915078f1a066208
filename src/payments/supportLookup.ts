import type { DbOrTx } from '../db/index.ts';
import { toBig } from '../ledger/money.ts';
import { likeSuffix } from '../lib/sqlLike.ts';
import { rowToOrder, type Order } from './orders.ts';

// Read-only lookups the support doctor needs and the rest of payments does not:
// the trades booked against an order, and orders by the tail of their id (what
// a user quotes from a receipt). Nothing here changes an order.

export interface OrderTrade {
  tradeId: string;
  provider: string;
  amount: bigint;
  currency: string;
  outcome: 'credited' | 'duplicate_payment' | 'flagged';
  decision: string | null;
  createdAt: number;
}

export async function listOrderTrades(db: DbOrTx, orderId: string): Promise<OrderTrade[]> {
  const rows = await db.selectFrom('payment_trades').selectAll().where('order_id', '=', orderId).orderBy('id').execute();
  return rows.map((t) => ({
    tradeId: t.trade_id,
    provider: t.provider,
    amount: toBig(t.amount),
    currency: t.currency,
    outcome: t.outcome,
    decision: t.decision,
    createdAt: Number(t.created_at),
  }));
}

/** Orders whose id ends with `suffix` (a whole id, or at least its last 4 characters), newest first. */
export async function findOrdersByIdSuffix(db: DbOrTx, suffix: string, limit = 5): Promise<Order[]> {
  const s = suffix.trim().toLowerCase();
  // Ids are `ord_` and base32: anything else cannot be the tail of one.
  if (!/^(?:ord_)?[0-9a-z]{4,26}$/.test(s)) return [];
  const rows = await db.selectFrom('payment_orders').selectAll().where(likeSuffix('id', s)).orderBy('id', 'desc').limit(limit).execute();
  return rows.map(rowToOrder);
}
