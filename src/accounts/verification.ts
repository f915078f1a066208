import { withTransaction } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { recordAudit, type Actor } from '../audit/index.ts';
import { activateInvites } from '../teams/invites.ts';
import { issueEmailToken, spendEmailToken } from './emailTokens.ts';
import { getUser, normalizeEmail, type User } from './users.ts';
import { verificationOn, type AccountDeps } from './signup.ts';
import type { MailLanguage } from './accountMails.ts';

// E-mail verification. Until the owner opens the link, a self-signed-up
// account may sign in, look around the console, change its password and open
// tickets, but not create API keys, top up or redeem codes (requireVerified),
// and team invitations to its address stay invitations: spending and
// membership follow a proved address. Without TALLY_SMTP_URL there is no mail
// to prove anything with, so every account counts as verified.

/** Throws 403 `email_not_verified` when verification is on and this user has not proved the address. */
export function requireVerified(deps: Pick<AccountDeps, 'mail'>, user: User): void {
  if (user.emailVerified || !verificationOn(deps)) return;
  throw new TallyError(
    'email_not_verified',
    'verify your e-mail address first: open the link we mailed you, or ask for a new one (POST /api/auth/verify/resend)',
  );
}

/** Spends a verification token and marks the address proved; team invitations to it become memberships. */
export async function verifyEmail(deps: AccountDeps, token: string): Promise<User> {
  const now = deps.now();
  return withTransaction(deps.db, async (tx) => {
    const spent = await spendEmailToken(tx, { token, purpose: 'verify', now });
    const user = await getUser(tx, spent.userId);
    // The link proves the address it was sent to, not one the account has since moved to.
    if (normalizeEmail(user.email) !== spent.emailNormalized) {
      throw new TallyError('invalid_token', 'this link was sent to an address the account no longer has; ask for a new one', { param: 'token' });
    }
    if (!user.emailVerified) {
      await tx.updateTable('users').set({ email_verified_at: now }).where('id', '=', user.id).where('email_verified_at', 'is', null).execute();
      await activateInvites(tx, { userId: user.id, emailNormalized: spent.emailNormalized, now });
      await recordAudit(tx, { actor: { type: 'user', userId: user.id, role: user.role }, action: 'user.verify_email', target: user.id, now });
    }
    return getUser(tx, user.id);
  });
}

/** Mails a new verification link (the user's own resend, or an admin's, audited). */
export async function sendVerification(deps: AccountDeps, input: { user: User; actor?: Actor; language: MailLanguage }): Promise<void> {
  if (!verificationOn(deps))
    throw new TallyError('verification_off', 'e-mail verification is off on this server (TALLY_SMTP_URL is not set): every account counts as verified');
  if (input.user.emailVerified) throw new TallyError('email_already_verified', 'this e-mail address is already verified');
  const now = deps.now();
  const { token } = await withTransaction(deps.db, async (tx) => {
    const issued = await issueEmailToken(tx, { userId: input.user.id, emailNormalized: normalizeEmail(input.user.email), purpose: 'verify', now });
    if (input.actor) await recordAudit(tx, { actor: input.actor, action: 'user.resend_verification', target: input.user.id, now });
    return issued;
  });
  deps.mail.send(input.user.email, { kind: 'verify', link: deps.link(`/verify?token=${token}`) }, input.language);
}
