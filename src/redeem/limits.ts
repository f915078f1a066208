import { addressKey, type RateLimiter } from '../lib/rateLimit.ts';

// Brute-force limits on redeem attempts, per signed-in user and per client IP,
// in the shared limiter (Redis when configured, so they hold across instances).
// Every attempt is counted before it runs (a guess cannot be un-made), and a
// fresh redemption clears the user's counters and takes itself back from the
// address's: only someone holding a real, unused code can earn that, and such
// a person is not guessing. The short
// window allows a few typos in a row; the long one is the lockout.
export interface RedeemLimits {
  perUserPerMinute: number;
  perUserLockout: number;
  perIpPerMinute: number;
  perIpLockout: number;
  lockoutWindowMs: number;
}

export const REDEEM_LIMITS: RedeemLimits = {
  perUserPerMinute: 5,
  perUserLockout: 10,
  perIpPerMinute: 30,
  perIpLockout: 100,
  lockoutWindowMs: 15 * 60_000,
};

const MINUTE = 60_000;

const userKeys = (userId: string) => [`redeem:user:${userId}:1m`, `redeem:user:${userId}:lock`];
// IPv6 by its /64 (see addressKey): one subscriber cannot guess from a fresh address each time.
const ipKeys = (ip: string) => [`redeem:ip:${addressKey(ip)}:1m`, `redeem:ip:${addressKey(ip)}:lock`];

/** Counts this attempt; `allowed: false` with how long to wait when any limit is exceeded. */
export async function countRedeemAttempt(
  limiter: RateLimiter,
  input: { userId: string; ip: string | null; limits?: RedeemLimits },
): Promise<{ allowed: boolean; retryAfterMs: number }> {
  const l = input.limits ?? REDEEM_LIMITS;
  const [u1, uLock] = userKeys(input.userId);
  const hits = [limiter.hit(u1, l.perUserPerMinute, MINUTE), limiter.hit(uLock, l.perUserLockout, l.lockoutWindowMs)];
  if (input.ip) {
    const [ip1, ipLock] = ipKeys(input.ip);
    hits.push(limiter.hit(ip1, l.perIpPerMinute, MINUTE), limiter.hit(ipLock, l.perIpLockout, l.lockoutWindowMs));
  }
  const results = await Promise.all(hits);
  const blocked = results.filter((r) => !r.allowed);
  return { allowed: blocked.length === 0, retryAfterMs: Math.max(0, ...blocked.map((r) => r.retryAfterMs)) };
}

/**
 * After a fresh redemption: the user's counters are cleared, and the attempt
 * is taken back from the address's counters. Those exist to stop guessing;
 * an office or school whose people redeem real codes from one address would
 * otherwise be refused after 30 successes a minute.
 */
export async function clearUserRedeemLimits(limiter: RateLimiter, userId: string, ip: string | null = null): Promise<void> {
  await Promise.all([...userKeys(userId).map((k) => limiter.reset(k)), ...(ip ? ipKeys(ip).map((k) => limiter.forgive(k)) : [])]);
}
