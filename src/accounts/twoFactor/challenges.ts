import { randomBytes } from 'node:crypto';
import type { DbOrTx } from '../../db/index.ts';
import { sha256Hex } from '../../lib/crypto.ts';
import { TallyError } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';

// The step between "password right" and "session open" for a user with 2FA:
// a challenge token the client sends back with the code. Stored hashed, lives
// 5 minutes, at most 5 codes may be tried on it, and it opens one session at
// most (spent by a conditional UPDATE, so two requests racing with the same
// challenge cannot both sign in). A new challenge needs the password again,
// which the sign-in limits (loginLimits.ts) count.

export const CHALLENGE_TTL_MS = 5 * 60_000;
export const CHALLENGE_MAX_ATTEMPTS = 5;

const invalid = () => new TallyError('two_factor_challenge_invalid', 'this sign-in has expired or was used too many times; sign in again with your password');

export async function createChallenge(db: DbOrTx, input: { userId: string; now: number }): Promise<{ challenge: string; expiresAt: number }> {
  const challenge = randomBytes(32).toString('base64url');
  const expiresAt = input.now + CHALLENGE_TTL_MS;
  await db
    .insertInto('two_factor_challenges')
    .values({ id: newId('tfc'), token_hash: sha256Hex(challenge), user_id: input.userId, created_at: input.now, expires_at: expiresAt, used_at: null })
    .execute();
  return { challenge, expiresAt };
}

/**
 * Counts an attempt on the challenge, runs `check` (which throws on a wrong
 * code) and spends the challenge. Returns the user it was for.
 */
export async function answerChallenge(db: DbOrTx, input: { challenge: string; now: number; check: (userId: string) => Promise<unknown> }): Promise<string> {
  if (!input.challenge || input.challenge.length > 100) throw invalid();
  const row = await db.selectFrom('two_factor_challenges').select(['id', 'user_id']).where('token_hash', '=', sha256Hex(input.challenge)).executeTakeFirst();
  if (!row) throw invalid();
  const counted = await db
    .updateTable('two_factor_challenges')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('id', '=', row.id)
    .where('attempts', '<', CHALLENGE_MAX_ATTEMPTS)
    .where('used_at', 'is', null)
    .where('expires_at', '>', input.now)
    .executeTakeFirst();
  if (Number(counted.numUpdatedRows) !== 1) throw invalid();
  await input.check(row.user_id);
  const spent = await db
    .updateTable('two_factor_challenges')
    .set({ used_at: input.now })
    .where('id', '=', row.id)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  if (Number(spent.numUpdatedRows) !== 1) throw invalid();
  return row.user_id;
}

/** Challenges past their expiry are of no use to anyone: removed when new ones are made (bounded table). */
export async function deleteExpiredChallenges(db: DbOrTx, now: number): Promise<void> {
  await db
    .deleteFrom('two_factor_challenges')
    .where('expires_at', '<', now - CHALLENGE_TTL_MS)
    .execute();
}
