import type { DbOrTx } from '../db/index.ts';
import { addressKey, type RateLimiter } from '../lib/rateLimit.ts';
import { normalizeEmail } from './users.ts';
import { hasSignedInFrom } from './sessions.ts';

// Password guessing is limited three ways, checked in this order so that a
// refused request opens no further counters:
//  1. per client address (IPv6: its /64), all accounts together: a spray of
//     many e-mails from one place stops here, before any per-e-mail counter
//     exists, so a flood of random e-mails cannot grow the limiter's memory;
//  2. per account and address: one guesser at one place is stopped after a
//     few tries, and does not affect the owner elsewhere;
//  3. per account, from every address where the account has not signed in
//     before, together: a guesser spread over many addresses is slowed to a
//     few dozen tries per 15 minutes and a hundred a day. The owner, signing
//     in from an address they have used in the last 90 days, is not counted
//     here and so is never locked out by strangers; from a new address during
//     such an attack they wait like everyone else.
// A success clears the account+address count and gives back its own hits on
// the address and account-wide counts (a right password is not a guess): an
// office of sixty people signing in from one NAT address is not locked out.

export interface LoginLimits {
  perAddress: number;
  perAccountAndAddress: number;
  perAccountFromNewAddresses: number;
  perAccountFromNewAddressesPerDay: number;
  windowMs: number;
  dayMs: number;
  /** How long a sign-in makes its address familiar to the account. */
  familiarForMs: number;
}

export const LOGIN_LIMITS: LoginLimits = {
  perAddress: 50,
  perAccountAndAddress: 10,
  perAccountFromNewAddresses: 30,
  perAccountFromNewAddressesPerDay: 100,
  windowMs: 15 * 60_000,
  dayMs: 24 * 3600_000,
  familiarForMs: 90 * 86400_000,
};

const keys = (email: string, ip: string | null) => {
  const e = normalizeEmail(email);
  const a = addressKey(ip);
  return { address: `login-ip:${a}`, accountAddress: `login:${e}:${a}`, account: `login-email:${e}`, accountDay: `login-email-day:${e}` };
};

export interface LoginLimitResult {
  allowed: boolean;
  retryAfterMs: number;
  /** Whether this attempt was counted on the account-wide counters (to give back on success). */
  countedForAccount: boolean;
}

/** Counts one sign-in attempt; `allowed: false` with how long to wait when a limit is reached. */
export async function countLoginAttempt(
  limiter: RateLimiter,
  db: DbOrTx,
  input: { email: string; ip: string | null; now: number; limits?: LoginLimits },
): Promise<LoginLimitResult> {
  const l = input.limits ?? LOGIN_LIMITS;
  const k = keys(input.email, input.ip);
  const refused = (r: { retryAfterMs: number }) => ({ allowed: false, retryAfterMs: r.retryAfterMs });

  const address = await limiter.hit(k.address, l.perAddress, l.windowMs);
  if (!address.allowed) return { ...refused(address), countedForAccount: false };
  const accountAddress = await limiter.hit(k.accountAddress, l.perAccountAndAddress, l.windowMs);
  if (!accountAddress.allowed) return { ...refused(accountAddress), countedForAccount: false };
  if (await hasSignedInFrom(db, { email: input.email, sameAddress: (ip) => addressKey(ip) === addressKey(input.ip), since: input.now - l.familiarForMs })) {
    return { allowed: true, retryAfterMs: 0, countedForAccount: false };
  }
  // The day's count takes only tries the 15-minute limit let through.
  const account = await limiter.hit(k.account, l.perAccountFromNewAddresses, l.windowMs);
  if (!account.allowed) return { ...refused(account), countedForAccount: false };
  const accountDay = await limiter.hit(k.accountDay, l.perAccountFromNewAddressesPerDay, l.dayMs);
  if (!accountDay.allowed) return { ...refused(accountDay), countedForAccount: false };
  return { allowed: true, retryAfterMs: 0, countedForAccount: true };
}

/** After a successful sign-in: the account+address failures are cleared; the address and account-wide hits are given back. */
export async function clearLoginFailures(limiter: RateLimiter, input: { email: string; ip: string | null; counted: LoginLimitResult }): Promise<void> {
  const k = keys(input.email, input.ip);
  await Promise.all([
    limiter.reset(k.accountAddress),
    limiter.forgive(k.address),
    ...(input.counted.countedForAccount ? [limiter.forgive(k.account), limiter.forgive(k.accountDay)] : []),
  ]);
}
