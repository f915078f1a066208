import { formatMoney } from '../ledger/money.ts';
import { explainOrder } from './explain.ts';
import type { Order } from './orders.ts';
import type { Refund } from './refunds.ts';

// How orders and refunds look to a caller: one JSON shape for the owner's and
// the admin's HTTP routes (and any CLI --json that shows them).

const iso = (ms: number | null) => (ms ? new Date(ms).toISOString() : null);

/** When Tally next asks the provider about an order still open (null once it is settled). */
export const nextCheckAt = (o: Order) => (['created', 'pending', 'expired'].includes(o.status) ? iso(o.nextCheckAt) : null);

export const orderView = (o: Order, now: number) => ({
  id: o.id,
  status: o.status,
  provider: o.provider,
  method: o.method,
  amount: formatMoney(o.amount),
  currency: o.currency,
  credit_amount: formatMoney(o.creditAmount),
  credit_currency: o.creditCurrency,
  exchange_rate: o.exchangeRate,
  checkout_url: o.checkoutUrl,
  status_reason: o.statusReason,
  refunded_amount: formatMoney(o.refundedAmount),
  possible_duplicate_of: o.possibleDuplicateOf,
  team_id: o.teamId,
  created_at: iso(o.createdAt),
  expires_at: iso(o.expiresAt),
  paid_at: iso(o.paidAt),
  credited_at: iso(o.creditedAt),
  next_check_at: nextCheckAt(o),
  explanation: explainOrder(o, now),
});

export const refundView = (r: Refund) => ({
  id: r.id,
  amount: formatMoney(r.amount),
  credit_taken_back: formatMoney(r.creditAmount),
  from_wallet: formatMoney(r.fromWallet),
  uncollected: formatMoney(r.uncollected),
  reason: r.reason,
  note: r.note,
  origin: r.origin,
  status: r.status,
  provider_refund_id: r.providerRefundId,
  forced: r.forced,
  actor: r.actor,
  created_at: new Date(r.createdAt).toISOString(),
});
