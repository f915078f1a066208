import { randomBytes } from 'node:crypto';
import type { DbOrTx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { sha256Hex } from '../lib/crypto.ts';
import { TallyError } from '../lib/errors.ts';
import { findUserByEmail, normalizeEmail, rowToUser, type User } from './users.ts';
import { verifyPassword, DUMMY_HASH } from './passwords.ts';

export const SESSION_COOKIE = 'tally_session';
export const SESSION_TTL_MS = 7 * 24 * 3600_000;

const badLogin = () => new TallyError('invalid_credentials', 'email or password is incorrect');

/** Checks a password and opens a session. The same error for unknown email and wrong password. */
export async function login(
  db: DbOrTx,
  input: { email: string; password: string; ip?: string | null; userAgent?: string | null; now?: number },
): Promise<{ user: User; token: string; expiresAt: number }> {
  const user = await checkCredentials(db, input);
  return { user, ...(await openSession(db, { userId: user.id, ip: input.ip, userAgent: input.userAgent, now: input.now })) };
}

// --- sign-in in two steps (two-factor, OpenID Connect: src/accounts/twoFactor, src/accounts/oidc.ts) ---

/** The password check of login(): the active user, or invalid_credentials / account_disabled. */
export async function checkCredentials(db: DbOrTx, input: { email: string; password: string }): Promise<User> {
  const u = await findUserByEmail(db, input.email ?? '');
  const ok = await verifyPassword(input.password ?? '', u?.passwordHash ?? DUMMY_HASH);
  if (!u || !ok) throw badLogin();
  if (u.status !== 'active') throw new TallyError('account_disabled', 'this account is disabled; contact support');
  const { passwordHash: _omit, ...user } = u;
  return user;
}

/**
 * A new session (always a new id and token: a sign-in never reuses one).
 * `twoFactorAt`: the moment a second factor was shown for it, when one was.
 */
export async function openSession(
  db: DbOrTx,
  input: { userId: string; ip?: string | null; userAgent?: string | null; now?: number; twoFactorAt?: number | null },
): Promise<{ token: string; expiresAt: number }> {
  const now = input.now ?? Date.now();
  const token = randomBytes(32).toString('base64url');
  const expiresAt = now + SESSION_TTL_MS;
  await db
    .insertInto('sessions')
    .values({
      id: newId('ses'),
      token_hash: sha256Hex(token),
      user_id: input.userId,
      ip: input.ip ?? null,
      user_agent: input.userAgent?.slice(0, 300) ?? null,
      created_at: now,
      expires_at: expiresAt,
      revoked_at: null,
      two_factor_at: input.twoFactorAt ?? null,
    })
    .execute();
  return { token, expiresAt };
}

/** Marks a session as having shown a second factor now (POST /api/auth/2fa/confirm, enabling 2FA). */
export async function markSessionTwoFactor(db: DbOrTx, token: string, now: number): Promise<void> {
  await db.updateTable('sessions').set({ two_factor_at: now }).where('token_hash', '=', sha256Hex(token)).where('revoked_at', 'is', null).execute();
}

// --- end of two-step sign-in ---

export async function userForSession(db: DbOrTx, token: string, now = Date.now()): Promise<User | null> {
  if (!token || token.length > 100) return null;
  const r = await db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .selectAll('u')
    .where('s.token_hash', '=', sha256Hex(token))
    .where('s.expires_at', '>', now)
    .where('s.revoked_at', 'is', null)
    .executeTakeFirst();
  if (r?.status !== 'active') return null;
  return rowToUser(r);
}

export async function logout(db: DbOrTx, token: string, now = Date.now()): Promise<void> {
  await db.updateTable('sessions').set({ revoked_at: now }).where('token_hash', '=', sha256Hex(token)).where('revoked_at', 'is', null).execute();
}

/**
 * Whether the account with this e-mail opened a session since `since` from an
 * address `sameAddress` accepts: the places its owner signs in from, which the
 * account-wide sign-in limit leaves alone (see loginLimits.ts). Looks at the
 * latest 200 sessions, by the (user_id, created_at) index.
 */
export async function hasSignedInFrom(db: DbOrTx, input: { email: string; sameAddress: (ip: string) => boolean; since: number }): Promise<boolean> {
  const rows = await db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .select('s.ip')
    .where('u.email_normalized', '=', normalizeEmail(input.email))
    .where('s.created_at', '>', input.since)
    .where('s.ip', 'is not', null)
    .orderBy('s.created_at', 'desc')
    .limit(200)
    .execute();
  return rows.some((r) => r.ip !== null && input.sameAddress(r.ip));
}

/**
 * Signs a user out everywhere (password reset, disable, "sign out everywhere"),
 * optionally keeping the session that asked (`exceptTokenHash`, sha256Hex of its token).
 * Returns how many sessions ended.
 */
export async function revokeAllSessions(db: DbOrTx, userId: string, opts: { now: number; exceptTokenHash?: string }): Promise<number> {
  let q = db.updateTable('sessions').set({ revoked_at: opts.now }).where('user_id', '=', userId).where('revoked_at', 'is', null);
  if (opts.exceptTokenHash) q = q.where('token_hash', '!=', opts.exceptTokenHash);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows ?? 0);
}
