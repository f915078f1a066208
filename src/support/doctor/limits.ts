import { addressKey, type RateLimiter } from '../../lib/rateLimit.ts';
import { TallyError } from '../../lib/errors.ts';

// A signed-in user's runs of the doctor, per user and per client IP, in the
// shared limiter (Redis when configured), like redeem attempts. One run reads
// hundreds of rows, and every run is a question about references: enough for
// a person retrying with better hints, too few to walk a space of tails.
// Staff (the admin route and the CLI) are not limited.
export interface DoctorLimits {
  perUserPerMinute: number;
  perUserPerHour: number;
  perIpPerMinute: number;
  perIpPerHour: number;
}

export const DOCTOR_LIMITS: DoctorLimits = {
  perUserPerMinute: 20,
  perUserPerHour: 200,
  perIpPerMinute: 60,
  perIpPerHour: 600,
};

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Counts one run; `allowed: false` with how long to wait when any limit is exceeded. */
export async function countDiagnosis(
  limiter: RateLimiter,
  input: { userId: string; ip: string | null; limits?: DoctorLimits },
): Promise<{ allowed: boolean; retryAfterMs: number }> {
  const l = input.limits ?? DOCTOR_LIMITS;
  const hits = [
    limiter.hit(`doctor:user:${input.userId}:1m`, l.perUserPerMinute, MINUTE),
    limiter.hit(`doctor:user:${input.userId}:1h`, l.perUserPerHour, HOUR),
  ];
  if (input.ip) {
    // IPv6 by its /64, like sign-in and redeem: one subscriber cannot take a fresh address per run.
    const ip = addressKey(input.ip);
    hits.push(limiter.hit(`doctor:ip:${ip}:1m`, l.perIpPerMinute, MINUTE), limiter.hit(`doctor:ip:${ip}:1h`, l.perIpPerHour, HOUR));
  }
  const blocked = (await Promise.all(hits)).filter((r) => !r.allowed);
  return { allowed: blocked.length === 0, retryAfterMs: Math.max(0, ...blocked.map((r) => r.retryAfterMs)) };
}

/** Counts one run and refuses it (429 rate_limited, with retry_after) past a limit. */
export async function limitDiagnosis(limiter: RateLimiter, input: { userId: string; ip: string | null; limits?: DoctorLimits }): Promise<void> {
  const r = await countDiagnosis(limiter, input);
  if (r.allowed) return;
  const wait = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
  throw new TallyError('rate_limited', `the billing doctor was run too often; try again in ${wait} s`, { details: { retry_after: String(wait) } });
}
