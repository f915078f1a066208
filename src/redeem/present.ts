import { formatMoney } from '../ledger/money.ts';
import type { Redemption } from './redeem.ts';
import type { RedeemAttempt } from './attempts.ts';

// How redemptions and attempts look to a caller: one JSON shape for the
// user's and the admin's HTTP routes.

export const redemptionView = (r: Redemption) => ({
  result: 'redeemed' as const,
  redemption_id: r.id,
  code: r.code,
  amount: formatMoney(r.amount),
  transfer_id: r.transferId,
  status: r.status,
  redeemed_at: new Date(r.createdAt).toISOString(),
});

// `times` > 1: refused attempts folded into one row ("rate_limited ×N" until `last_at`).
export const attemptView = (a: RedeemAttempt) => ({
  id: a.id,
  code: a.code,
  outcome: a.outcome,
  times: a.times,
  ip: a.ip,
  created_at: new Date(a.createdAt).toISOString(),
  ...(a.lastAt !== null ? { last_at: new Date(a.lastAt).toISOString() } : {}),
});
