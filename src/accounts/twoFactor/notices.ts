import { createMailer } from '../../lib/mail.ts';
import type { Logger } from 'pino';

// A short e-mail to the account's address when two-factor sign-in is turned
// on or off, so an owner whose password was taken learns that someone changed
// it. Sent through TALLY_SMTP_URL (the alerts' mailer settings); without it
// nothing is sent. Sending is not awaited by the request and a failure is only
// logged (without the address): the change itself has happened.

export type TwoFactorNotice = 'enabled' | 'disabled';

const TEXT: Record<TwoFactorNotice, { subject: string; body: string }> = {
  enabled: {
    subject: 'Two-factor sign-in was turned on / 已开启两步验证',
    body:
      'Two-factor sign-in was turned on for your Tally account. If this was not you, reset your password and contact support.\n\n' +
      '您的 Tally 账户已开启两步验证。如果不是您本人操作，请立即重置密码并联系客服。',
  },
  disabled: {
    subject: 'Two-factor sign-in was turned off / 已关闭两步验证',
    body:
      'Two-factor sign-in was turned off for your Tally account. If this was not you, reset your password, turn it on again and contact support.\n\n' +
      '您的 Tally 账户已关闭两步验证。如果不是您本人操作，请立即重置密码、重新开启两步验证并联系客服。',
  },
};

export function sendTwoFactorNotice(opts: { smtpUrl: string | null; mailFrom: string; log: Logger }, to: string, kind: TwoFactorNotice): Promise<void> {
  if (!opts.smtpUrl) return Promise.resolve();
  const mailer = createMailer({ smtpUrl: opts.smtpUrl, from: opts.mailFrom });
  const t = TEXT[kind];
  return mailer
    .send({ to, subject: t.subject, text: t.body })
    .catch((e: Error) => opts.log.warn({ err: e.message, kind }, 'two-factor notice not sent'))
    .finally(() => mailer.close());
}
