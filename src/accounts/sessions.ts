import { randomBytes } from 'node:crypto';
import type { DbOrTx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { sha256Hex } from '../lib/crypto.ts';
import { TallyError } from '../lib/errors.ts';
import { findUserByEmail, normalizeEmail, rowToUser, type User } from './users.ts';
import { verifyPassword, DUMMY_HASH } from './passwords.ts';
import { describeDevice } from './userAgent.ts';

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
    .select(['s.id as session_id', 's.created_at as session_created_at', 's.last_seen_at as session_last_seen_at'])
    .where('s.token_hash', '=', sha256Hex(token))
    .where('s.expires_at', '>', now)
    .where('s.revoked_at', 'is', null)
    .executeTakeFirst();
  if (r?.status !== 'active') return null;
  // "Last seen" for the sessions list: a write only when the stored time is a minute old (see noteSessionSeen).
  if (lastSeenIsStale(r.session_last_seen_at ?? r.session_created_at, now)) await noteSessionSeen(db, r.session_id, now);
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

// ---------------------------------------------------------------------------
// A person's own sessions: the list (device, address, last seen), ending one,
// ending all the others; "last seen" kept cheaply. (Issue 17 part C.)
// ---------------------------------------------------------------------------

/** How often a session's last_seen_at is written at most. */
export const LAST_SEEN_EVERY_MS = 60_000;
/** The most sessions the list shows (the newest; a user rarely has more than a handful alive). */
export const SESSIONS_LISTED = 100;

const lastSeenIsStale = (seenAt: number | bigint | string | null, now: number) => seenAt === null || Number(seenAt) <= now - LAST_SEEN_EVERY_MS;

/**
 * Records that a session was used now, unless it was recorded less than a
 * minute ago. The condition is in the UPDATE itself, so requests arriving
 * together on several instances write it once; the caller asks only when the
 * time it read is stale, so most requests write nothing at all.
 */
export async function noteSessionSeen(db: DbOrTx, sessionId: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('sessions')
    .set({ last_seen_at: now })
    .where('id', '=', sessionId)
    .where((eb) => eb(eb.fn.coalesce('last_seen_at', 'created_at'), '<=', now - LAST_SEEN_EVERY_MS))
    .executeTakeFirst();
  return Number(r.numUpdatedRows ?? 0) === 1;
}

export interface SessionView {
  id: string;
  device: string;
  user_agent: string | null;
  ip: string | null;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  current: boolean;
}

/** The user's live sessions, newest first; `current` marks the one asking (its token's sha256Hex). Never a token or its hash. */
export async function listSessions(db: DbOrTx, input: { userId: string; currentTokenHash: string | null; now: number }): Promise<SessionView[]> {
  const rows = await db
    .selectFrom('sessions')
    .select(['id', 'token_hash', 'ip', 'user_agent', 'created_at', 'last_seen_at', 'expires_at'])
    .where('user_id', '=', input.userId)
    .where('expires_at', '>', input.now)
    .where('revoked_at', 'is', null)
    .orderBy('created_at', 'desc')
    .limit(SESSIONS_LISTED)
    .execute();
  const iso = (ms: number | bigint | string) => new Date(Number(ms)).toISOString();
  return rows.map((r) => ({
    id: r.id,
    device: describeDevice(r.user_agent),
    user_agent: r.user_agent,
    ip: r.ip,
    created_at: iso(r.created_at),
    last_seen_at: iso(r.last_seen_at ?? r.created_at),
    expires_at: iso(r.expires_at),
    current: input.currentTokenHash !== null && r.token_hash === input.currentTokenHash,
  }));
}

/** Ends one of the user's own sessions. Someone else's session id, or one already ended, is "not found": nothing changes. */
export async function revokeSession(db: DbOrTx, input: { userId: string; sessionId: string; now: number }): Promise<void> {
  const r = await db
    .updateTable('sessions')
    .set({ revoked_at: input.now })
    .where('id', '=', input.sessionId)
    .where('user_id', '=', input.userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', input.now)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows ?? 0) !== 1)
    throw new TallyError('session_not_found', `no signed-in session ${input.sessionId.slice(0, 40)} of yours; reload the list of sessions`, {
      param: 'id',
    });
}
