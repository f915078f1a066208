import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { withTransaction, type DbOrTx } from '../db/index.ts';
import { TallyError, isTallyError } from '../lib/errors.ts';
import { addressKey, type RateLimiter } from '../lib/rateLimit.ts';
import { hashPassword } from './passwords.ts';
import { assertAcceptablePassword } from './commonPasswords.ts';
import { createUser, findUserByEmail, isEmailAddress, normalizeEmail } from './users.ts';
import { checkSignupInvite, spendSignupInvite, type SignupInvite } from './signupInvites.ts';
import { hasPendingTeamInvite } from '../teams/invites.ts';
import { issueEmailToken } from './emailTokens.ts';
import { verifyCaptcha } from './captcha.ts';
import type { AccountMailer, MailLanguage } from './accountMails.ts';

// Self sign-up (TALLY_SIGNUP=open|invite|closed). The answer is the same
// whether or not the address already has an account, so sign-up cannot be
// used to find out who is a customer: a new address gets its account and a
// verification mail, a known one gets a "someone tried to sign up with your
// address" mail, and both pay one password hash before answering (the mails
// go out in the background). Checked in this order, so that a refused request
// costs little and opens no counter it does not need: the mode, the input,
// the per-address limit, the per-domain limit, the captcha, the invitation.

export interface AccountDeps {
  db: DbOrTx;
  limiter: RateLimiter;
  accounts: Config['accounts'];
  mail: AccountMailer;
  log: Logger;
  /** Absolute console URL of a path ("/verify?token=..."): TALLY_PUBLIC_URL's, else this instance's own address. */
  link(path: string): string;
  now(): number;
}

export interface SignupInput {
  email: string;
  password: string;
  invite?: string;
  captchaToken?: string;
  ip: string | null;
  language: MailLanguage;
}

const HOUR = 3600_000;

async function limit(limiter: RateLimiter, key: string, max: number, what: string): Promise<void> {
  const r = await limiter.hit(key, max, HOUR);
  if (r.allowed) return;
  const wait = Math.ceil(r.retryAfterMs / 1000);
  throw new TallyError('rate_limited', `too many sign-ups ${what}; try again in ${wait} s`, { details: { retry_after: String(wait) } });
}

/** Whether e-mail verification is on: it needs mail (TALLY_SMTP_URL); without it accounts count as verified. */
export const verificationOn = (deps: Pick<AccountDeps, 'mail'>): boolean => deps.mail.enabled;

export async function signUp(deps: AccountDeps, input: SignupInput): Promise<{ verification: boolean }> {
  const mode = deps.accounts.signup;
  if (mode === 'closed') throw new TallyError('signup_closed', 'sign-up is closed on this server; ask an administrator for an account');
  const email = input.email.trim();
  if (!isEmailAddress(email)) throw new TallyError('invalid_email', `"${email.slice(0, 80)}" is not a valid email address`, { param: 'email' });
  const normalized = normalizeEmail(email);
  assertAcceptablePassword(input.password, normalized);

  await limit(deps.limiter, `signup-ip:${addressKey(input.ip)}`, deps.accounts.signupPerIpHour, 'from your address');
  await limit(deps.limiter, `signup-domain:${normalized.split('@')[1]}`, deps.accounts.signupPerDomainHour, 'with addresses at this domain');
  if (deps.accounts.captcha) await verifyCaptcha(deps.accounts.captcha, { response: input.captchaToken, ip: input.ip });

  const now = deps.now();
  let invite: SignupInvite | null = null;
  if (input.invite) invite = await checkSignupInvite(deps.db, { token: input.invite, email: normalized, now });
  else if (mode === 'invite' && !(await hasPendingTeamInvite(deps.db, normalized))) {
    throw new TallyError('invite_required', 'sign-up on this server needs an invitation: open the link you were sent, or ask an administrator', {
      param: 'invite',
    });
  }

  // Paid on both paths, so the answer takes as long for a known address as for a new one.
  const passwordHash = await hashPassword(input.password);
  const verification = verificationOn(deps);
  const existing = await findUserByEmail(deps.db, normalized);
  if (existing) {
    tellOwner(deps, email, input.language);
    return { verification };
  }
  const issued: { token?: string } = {};
  try {
    await withTransaction(deps.db, async (tx) => {
      const { user } = await createUser(
        tx,
        { email, passwordHash, group: invite?.group ?? undefined },
        // Without mail there is no proof to wait for: the account is made verified (and stays so if SMTP is set up later).
        { actor: { type: 'system' }, now, unverified: verification, language: input.language },
      );
      if (invite) await spendSignupInvite(tx, { id: invite.id, userId: user.id, now });
      if (verification) issued.token = (await issueEmailToken(tx, { userId: user.id, emailNormalized: normalized, purpose: 'verify', now })).token;
    });
  } catch (e) {
    // Another sign-up with this address won the race: answer as for a known address.
    if (isTallyError(e) && e.code === 'email_taken') {
      tellOwner(deps, email, input.language);
      return { verification };
    }
    throw e;
  }
  if (issued.token) deps.mail.send(email, { kind: 'verify', link: deps.link(`/verify?token=${issued.token}`) }, input.language);
  return { verification };
}

function tellOwner(deps: AccountDeps, email: string, language: MailLanguage): void {
  deps.mail.send(email, { kind: 'signup_existing', signInLink: deps.link('/'), forgotLink: deps.link('/forgot') }, language);
}
