import { withTransaction } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { sha256Hex } from '../lib/crypto.ts';
import { addressKey } from '../lib/rateLimit.ts';
import { recordAudit } from '../audit/index.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { assertAcceptablePassword } from './commonPasswords.ts';
import { issueEmailToken, spendEmailToken } from './emailTokens.ts';
import { findUserByEmail, getUser, normalizeEmail, type User } from './users.ts';
import { revokeAllSessions } from './sessions.ts';
import type { AccountDeps } from './signup.ts';
import type { MailLanguage } from './accountMails.ts';

// A forgotten password (a reset link by mail) and a signed-in change. Both end
// the user's other sessions: whoever knew the old password, or held a session
// opened with it, is out. "Forgot" answers the same whatever the address, and
// is limited per client address (first, so a spray of addresses opens no
// per-address counters) and per address.

export const PASSWORD_LIMITS = { forgotPerAddress: 20, forgotPerEmail: 5, changePerUser: 10, windowMs: 3600_000, changeWindowMs: 15 * 60_000 };

async function hit(deps: AccountDeps, key: string, max: number, windowMs: number, what: string): Promise<void> {
  const r = await deps.limiter.hit(key, max, windowMs);
  if (r.allowed) return;
  const wait = Math.ceil(r.retryAfterMs / 1000);
  throw new TallyError('rate_limited', `too many ${what}; try again in ${wait} s`, { details: { retry_after: String(wait) } });
}

async function mailLanguage(deps: AccountDeps, userId: string, fallback: MailLanguage): Promise<MailLanguage> {
  const r = await deps.db.selectFrom('users').select('language').where('id', '=', userId).executeTakeFirst();
  return r?.language === 'zh' || r?.language === 'en' ? r.language : fallback;
}

/** Mails a reset link when the address has an active account; says nothing either way. */
export async function forgotPassword(deps: AccountDeps, input: { email: string; ip: string | null; language: MailLanguage }): Promise<void> {
  const email = normalizeEmail(input.email ?? '');
  await hit(deps, `forgot-ip:${addressKey(input.ip)}`, PASSWORD_LIMITS.forgotPerAddress, PASSWORD_LIMITS.windowMs, 'password reset requests from your address');
  await hit(deps, `forgot-email:${email}`, PASSWORD_LIMITS.forgotPerEmail, PASSWORD_LIMITS.windowMs, 'password reset requests for this address');
  const user = await findUserByEmail(deps.db, email);
  if (user?.status !== 'active') return;
  if (!deps.mail.enabled) return;
  const { token } = await issueEmailToken(deps.db, { userId: user.id, emailNormalized: email, purpose: 'reset', now: deps.now() });
  deps.mail.send(user.email, { kind: 'reset', link: deps.link(`/reset?token=${token}`) }, await mailLanguage(deps, user.id, input.language));
}

/** Sets a new password from a reset link: single use, 1 hour; every session of the user ends. */
export async function resetPassword(deps: AccountDeps, input: { token: string; password: string; language: MailLanguage }): Promise<User> {
  const now = deps.now();
  // The new password is checked before the token is spent, so a refused password leaves the link usable.
  const preview = await deps.db
    .selectFrom('account_tokens as t')
    .innerJoin('users as u', 'u.id', 't.user_id')
    .select('u.email_normalized')
    .where('t.token_hash', '=', sha256Hex(input.token.slice(0, 100)))
    .executeTakeFirst();
  if (preview) assertAcceptablePassword(input.password, preview.email_normalized);
  const passwordHash = await hashPassword(input.password);
  const user = await withTransaction(deps.db, async (tx) => {
    const spent = await spendEmailToken(tx, { token: input.token, purpose: 'reset', now });
    const u = await getUser(tx, spent.userId);
    if (u.status !== 'active') throw new TallyError('account_disabled', 'this account is disabled; contact support');
    // Opening the mailed link proves the mailbox, too.
    await tx
      .updateTable('users')
      .set({ password_hash: passwordHash, email_verified_at: u.emailVerified ? undefined : now })
      .where('id', '=', u.id)
      .execute();
    await revokeAllSessions(tx, u.id, { now });
    await recordAudit(tx, { actor: { type: 'user', userId: u.id, role: u.role }, action: 'user.password_reset', target: u.id, now });
    return getUser(tx, u.id);
  });
  deps.mail.send(user.email, { kind: 'password_changed', forgotLink: deps.link('/forgot') }, await mailLanguage(deps, user.id, input.language));
  return user;
}

/** The signed-in user's change: the current password is required; other sessions end, this one stays. */
export async function changePassword(
  deps: AccountDeps,
  input: { user: User; current: string; password: string; sessionToken: string; language: MailLanguage },
): Promise<void> {
  const u = input.user;
  await hit(deps, `password-change:${u.id}`, PASSWORD_LIMITS.changePerUser, PASSWORD_LIMITS.changeWindowMs, 'password change attempts');
  const row = await deps.db.selectFrom('users').select('password_hash').where('id', '=', u.id).executeTakeFirstOrThrow();
  if (!(await verifyPassword(input.current, row.password_hash))) {
    throw new TallyError('invalid_current_password', 'the current password is not right', { param: 'current' });
  }
  assertAcceptablePassword(input.password, u.email);
  if (input.password === input.current) throw new TallyError('weak_password', 'the new password must differ from the current one', { param: 'password' });
  const passwordHash = await hashPassword(input.password);
  const now = deps.now();
  await withTransaction(deps.db, async (tx) => {
    // Only if no one changed it in between (a reset, another tab): no read-then-write.
    const r = await tx
      .updateTable('users')
      .set({ password_hash: passwordHash })
      .where('id', '=', u.id)
      .where('password_hash', '=', row.password_hash)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows ?? 0) !== 1)
      throw new TallyError('invalid_current_password', 'the password was changed meanwhile; sign in again', { param: 'current' });
    await revokeAllSessions(tx, u.id, { now, exceptTokenHash: sha256Hex(input.sessionToken) });
    await recordAudit(tx, { actor: { type: 'user', userId: u.id, role: u.role }, action: 'user.password_change', target: u.id, now });
  });
  deps.mail.send(u.email, { kind: 'password_changed', forgotLink: deps.link('/forgot') }, await mailLanguage(deps, u.id, input.language));
}
