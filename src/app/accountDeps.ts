import type { AppContext } from '../context.ts';
import { createMailer } from '../lib/mail.ts';
import { AccountMailer } from '../accounts/accountMails.ts';
import type { AccountDeps } from '../accounts/signup.ts';

// What the account verbs (sign-up, verification, passwords) need from a
// running instance: one mailer per context, closed with it, and the base of
// the links the mails carry. Links use TALLY_PUBLIC_URL; without it, this
// instance's own address, never the request's Host header (a forged Host
// would otherwise send a victim a reset link to the forger's site).
const byContext = new WeakMap<AppContext, AccountDeps>();

export function accountDeps(ctx: AppContext): AccountDeps {
  let deps = byContext.get(ctx);
  if (deps) return deps;
  const mail = new AccountMailer(createMailer({ smtpUrl: ctx.config.alerts.smtpUrl, from: ctx.config.alerts.mailFrom }), ctx.log);
  ctx.onClose(() => mail.drain());
  deps = {
    db: ctx.db,
    limiter: ctx.limiter,
    accounts: ctx.config.accounts,
    mail,
    log: ctx.log,
    link: (path) => `${(ctx.config.publicUrl ?? ctx.catalog.selfUrl).replace(/\/+$/, '')}/console${path}`,
    now: () => ctx.now(),
  };
  byContext.set(ctx, deps);
  return deps;
}

/** Said once at start: what an operator must know about account mails in this configuration. */
export function accountWarnings(ctx: AppContext): string[] {
  const out: string[] = [];
  if (!ctx.config.alerts.smtpUrl) {
    out.push('TALLY_SMTP_URL is not set: e-mail verification is off (every account counts as verified) and password reset links cannot be mailed.');
  } else if (!ctx.config.publicUrl) {
    out.push(
      "TALLY_PUBLIC_URL is not set: links in account mails point to this instance's own address (http://127.0.0.1:<port>); set it to the address people open.",
    );
  }
  return out;
}
