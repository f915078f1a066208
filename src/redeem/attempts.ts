import type { DbOrTx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import type { RedeemOutcome } from './outcomes.ts';

// Every redeem attempt, successful or not, with the masked code, the user, the
// IP and the outcome: the evidence support needs for "my code doesn't work".
// Refused (rate-limited) attempts are the exception: a guesser makes as many
// as they like, so an account's refusals within one lock window share a row
// that counts them (`times`, `last_at`), and the table grows by at most one
// row per account per window however hard it is hammered.

export interface RedeemAttempt {
  id: string;
  userId: string | null;
  ip: string | null;
  code: string;
  codeId: string | null;
  outcome: RedeemOutcome;
  createdAt: number;
  /** How many attempts this row stands for: more than 1 only for `rate_limited`. */
  times: number;
  /** The latest of them (null when times is 1). */
  lastAt: number | null;
}

export async function recordRedeemAttempt(
  db: DbOrTx,
  input: { userId: string | null; ip: string | null; code: string; codeId?: string | null; outcome: RedeemOutcome; now?: number },
): Promise<string> {
  const id = newId('att');
  await db
    .insertInto('redeem_attempts')
    .values({
      id,
      user_id: input.userId,
      ip: input.ip?.slice(0, 64) ?? null,
      code_display: input.code,
      code_id: input.codeId ?? null,
      outcome: input.outcome,
      created_at: input.now ?? Date.now(),
    })
    .execute();
  return id;
}

/**
 * A refused attempt: counted into the account's `rate_limited` row for the
 * current lock window (windows aligned to the epoch), created by the first
 * refusal. One atomic upsert on a unique `fold_key`, so a burst of parallel
 * refusals still makes one row.
 */
export async function recordRefusedAttempt(
  db: DbOrTx,
  input: { userId: string; ip: string | null; code: string; now: number; windowMs: number },
): Promise<string> {
  const foldKey = `rate_limited:${input.userId}:${Math.floor(input.now / input.windowMs)}`;
  const row = await db
    .insertInto('redeem_attempts')
    .values({
      id: newId('att'),
      user_id: input.userId,
      ip: input.ip?.slice(0, 64) ?? null,
      code_display: input.code,
      code_id: null,
      outcome: 'rate_limited',
      created_at: input.now,
      fold_key: foldKey,
    })
    .onConflict((oc) => oc.column('fold_key').doUpdateSet((eb) => ({ times: eb('redeem_attempts.times', '+', 1), last_at: input.now })))
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function listRedeemAttempts(
  db: DbOrTx,
  filter: { userId?: string; codeId?: string; ip?: string; limit?: number; before?: string } = {},
): Promise<RedeemAttempt[]> {
  let q = db
    .selectFrom('redeem_attempts')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(Math.min(Math.max(filter.limit ?? 50, 1), 500));
  if (filter.userId) q = q.where('user_id', '=', filter.userId);
  if (filter.codeId) q = q.where('code_id', '=', filter.codeId);
  if (filter.ip) q = q.where('ip', '=', filter.ip);
  if (filter.before) q = q.where('id', '<', filter.before);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: r.id,
    userId: r.user_id,
    ip: r.ip,
    code: r.code_display,
    codeId: r.code_id,
    outcome: r.outcome as RedeemOutcome,
    createdAt: Number(r.created_at),
    times: Number(r.times),
    lastAt: r.last_at === null ? null : Number(r.last_at),
  }));
}
