import type { Logger } from 'pino';
import type { Mailer } from '../lib/mail.ts';

// The mails an account gets, in English and Chinese. They carry links, never
// a password, and say what to do if the reader did not ask for them.

export type MailLanguage = 'en' | 'zh';

export type AccountMail =
  | { kind: 'verify'; link: string }
  | { kind: 'signup_existing'; signInLink: string; forgotLink: string }
  | { kind: 'reset'; link: string }
  | { kind: 'password_changed'; forgotLink: string }
  | { kind: 'invite'; link: string; expiresAt: number };

/** 'zh' when the first language the browser prefers is Chinese, else 'en'. */
export function languageOf(acceptLanguage: string | undefined | null): MailLanguage {
  const first = (acceptLanguage ?? '').split(',')[0]?.trim().toLowerCase() ?? '';
  return first.startsWith('zh') ? 'zh' : 'en';
}

export function renderAccountMail(m: AccountMail, lang: MailLanguage): { subject: string; text: string } {
  const zh = lang === 'zh';
  switch (m.kind) {
    case 'verify':
      return zh
        ? {
            subject: 'Tally：请验证你的邮箱',
            text: `请打开下面的链接验证你的邮箱（24 小时内有效，只能使用一次）：\n\n${m.link}\n\n如果不是你注册的，请忽略这封邮件。`,
          }
        : {
            subject: 'Tally: verify your e-mail address',
            text: `Open this link to verify your e-mail address (valid for 24 hours, once):\n\n${m.link}\n\nIf you did not sign up, ignore this mail.`,
          };
    case 'signup_existing':
      return zh
        ? {
            subject: 'Tally：有人用你的邮箱尝试注册',
            text: `有人刚刚用这个邮箱尝试注册 Tally，但这个邮箱已经有账户了，所以没有创建新账户。\n\n登录：${m.signInLink}\n忘记密码：${m.forgotLink}\n\n如果不是你，请忽略这封邮件，你的账户没有变化。`,
          }
        : {
            subject: 'Tally: someone tried to sign up with your address',
            text: `Someone just tried to sign up to Tally with this address. It already has an account, so no new one was made.\n\nSign in: ${m.signInLink}\nForgot your password: ${m.forgotLink}\n\nIf this was not you, ignore this mail; nothing changed on your account.`,
          };
    case 'reset':
      return zh
        ? {
            subject: 'Tally：重置密码',
            text: `请打开下面的链接设置新密码（1 小时内有效，只能使用一次）：\n\n${m.link}\n\n设置后，你所有已登录的会话都会退出。如果不是你申请的，请忽略这封邮件，密码不会改变。`,
          }
        : {
            subject: 'Tally: reset your password',
            text: `Open this link to choose a new password (valid for 1 hour, once):\n\n${m.link}\n\nEvery signed-in session will be signed out. If you did not ask for this, ignore this mail; your password stays as it is.`,
          };
    case 'password_changed':
      return zh
        ? { subject: 'Tally：你的密码已修改', text: `你的 Tally 账户密码刚刚被修改。\n\n如果不是你本人操作，请立即重置密码：${m.forgotLink}` }
        : {
            subject: 'Tally: your password was changed',
            text: `The password of your Tally account was just changed.\n\nIf this was not you, reset it now: ${m.forgotLink}`,
          };
    case 'invite':
      return zh
        ? {
            subject: 'Tally：邀请你注册',
            text: `你被邀请注册 Tally。请打开下面的链接注册（${new Date(m.expiresAt).toISOString()} 前有效，只能使用一次）：\n\n${m.link}`,
          }
        : {
            subject: 'Tally: you are invited',
            text: `You are invited to create a Tally account. Open this link to sign up (valid until ${new Date(m.expiresAt).toISOString()}, once):\n\n${m.link}`,
          };
  }
}

/**
 * Sends account mails in the background: the answer to a sign-up or a
 * forgotten password must not wait on SMTP (its timing would tell whether the
 * address has an account), and a failed send is logged without the link.
 */
export class AccountMailer {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly mailer: Mailer,
    private readonly log: Logger,
  ) {}

  get enabled(): boolean {
    return this.mailer.enabled;
  }

  send(to: string, mail: AccountMail, lang: MailLanguage): void {
    if (!this.mailer.enabled) return;
    const m = renderAccountMail(mail, lang);
    const p = this.mailer
      .send({ to, subject: m.subject, text: m.text })
      .catch((err: Error) => this.log.error({ kind: mail.kind, error: err.message }, 'an account mail could not be sent'))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Waits for the mails still going out (shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.pending]);
    this.mailer.close();
  }
}
