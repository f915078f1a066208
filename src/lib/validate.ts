import type { z } from 'zod';
import { TallyError } from '../lib/errors.ts';

/** Validates a request body or query with zod; the first problem becomes a 400 that names the field. */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue.path.join('.') || 'body';
  throw new TallyError('invalid_request', `${field}: ${issue.message}`, { param: field });
}

/** An optional ISO date (an API key's or a redeem batch's expiry), as epoch milliseconds. */
export function parseExpiry(s: string | null | undefined): number | null {
  if (!s) return null;
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new TallyError('invalid_expiry', `expires_at "${s}" is not an ISO date such as 2027-01-31T00:00:00Z`, { param: 'expires_at' });
  return t;
}
