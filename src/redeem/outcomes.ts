import { TallyError } from '../lib/errors.ts';

// The result of every redemption attempt, with a stable code. Everything but
// `redeemed` reaches the caller as a TallyError with that code; every one of
// them is recorded as an attempt (see attempts.ts).
export type RedeemOutcome =
  | 'redeemed'
  | 'invalid_format'
  | 'mistyped'
  | 'not_found'
  | 'expired'
  | 'disabled'
  | 'already_redeemed'
  | 'already_redeemed_by_another_account'
  | 'rate_limited';

export const REDEEM_OUTCOMES: RedeemOutcome[] = [
  'redeemed',
  'invalid_format',
  'mistyped',
  'not_found',
  'expired',
  'disabled',
  'already_redeemed',
  'already_redeemed_by_another_account',
  'rate_limited',
];

const iso = (ms: number) => new Date(ms).toISOString();

export const redeemErrors = {
  invalidFormat: () =>
    new TallyError('invalid_format', 'that is not a redeem code: codes look like TALLY-XXXX-XXXX-XXXX-XXXX-XXXX (20 letters and digits after TALLY)', {
      param: 'code',
    }),
  mistyped: () =>
    new TallyError(
      'mistyped',
      'this code has a typo: its last character does not match the others; check each character against the card (0 and O, 1, I and L count as the same)',
      { param: 'code' },
    ),
  notFound: () => new TallyError('not_found', 'no redeem code matches; check that it was copied completely', { param: 'code' }),
  expired: (expiresAt: number) => new TallyError('expired', `this code expired at ${iso(expiresAt)}`, { details: { expired_at: iso(expiresAt) } }),
  disabled: () => new TallyError('disabled', 'this code has been disabled by the operator; contact support with the last 4 characters'),
  alreadyRedeemed: (first: { redemptionId: string; amount: string; redeemedAt: number; transferId: string; code: string }) =>
    new TallyError('already_redeemed', `you already redeemed this code at ${iso(first.redeemedAt)}; ${first.amount} was credited then`, {
      details: { redemption_id: first.redemptionId, amount: first.amount, redeemed_at: iso(first.redeemedAt), transfer_id: first.transferId, code: first.code },
    }),
  // The time only: who redeemed it is the other account's business (support can see it).
  byAnotherAccount: (redeemedAt: number) =>
    new TallyError(
      'already_redeemed_by_another_account',
      `this code was already redeemed by another account at ${iso(redeemedAt)}; if it was yours, contact support with the last 4 characters and when you got it`,
      { details: { redeemed_at: iso(redeemedAt) } },
    ),
  rateLimited: (retryAfterMs: number) => {
    const wait = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return new TallyError('rate_limited', `too many redeem attempts that did not succeed; try again in ${wait} s`, { details: { retry_after: String(wait) } });
  },
};
