import { maskEmail } from '../../accounts/users.ts';
import { formatMoney } from '../../ledger/money.ts';
import type { Order, OrderEvent } from '../../payments/index.ts';
import type { Audience } from './types.ts';

export const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);
export const tail = (id: string) => `…${id.slice(-6)}`;
export const money = (v: bigint, currency?: string) => `${formatMoney(v)}${currency ? ` ${currency}` : ''}`;
export { maskEmail };

/** Staff see an address by its network only (203.0.113.x); admins reveal it with a reason. */
export function maskIp(ip: string | null, audience: Audience): string | null {
  if (!ip || audience === 'user') return ip;
  if (ip.includes('.')) return ip.split('.').slice(0, 3).join('.') + '.x';
  return ip.split(':').slice(0, 3).join(':') + ':…';
}

export function orderRecord(o: Order, events: OrderEvent[]) {
  return {
    type: 'order',
    id: o.id,
    status: o.status,
    provider: o.provider,
    method: o.method,
    amount: formatMoney(o.amount),
    currency: o.currency,
    credit_amount: formatMoney(o.creditAmount),
    status_reason: o.statusReason,
    created_at: iso(o.createdAt),
    expires_at: iso(o.expiresAt),
    paid_at: iso(o.paidAt),
    credited_at: iso(o.creditedAt),
    credit_transfer_id: o.creditTransferId,
    possible_duplicate_of: o.possibleDuplicateOf,
    // Provider payloads stay out: the timeline says what happened, not who paid with what.
    timeline: events.map((e) => ({ at: iso(e.createdAt), kind: e.kind, from: e.from, to: e.to, source: e.source, reason: e.reason })),
  };
}
