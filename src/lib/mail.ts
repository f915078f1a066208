import nodemailer, { type Transporter } from 'nodemailer';

// One small mailer over nodemailer for everything Tally sends by e-mail
// (alerts, account mails). The SMTP connection is opened on the first send,
// so an instance that never mails never connects. Throws on failure: the
// caller decides whether to retry (the alert outbox) or log (account mails).

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  /** Whether TALLY_SMTP_URL is set: without it every send throws. */
  readonly enabled: boolean;
  send(m: OutgoingMail): Promise<void>;
  close(): void;
}

export function createMailer(opts: { smtpUrl: string | null; from: string }): Mailer {
  let transport: Transporter | null = null;
  return {
    enabled: Boolean(opts.smtpUrl),
    async send(m) {
      if (!opts.smtpUrl) throw new Error('TALLY_SMTP_URL is not set');
      transport ??= nodemailer.createTransport(opts.smtpUrl);
      await transport.sendMail({ from: opts.from, to: m.to, subject: m.subject, text: m.text });
    },
    close() {
      transport?.close();
    },
  };
}
