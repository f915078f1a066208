import { createHmac } from 'node:crypto';
import { isIP } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { isPrivateAddress, publicOnlyLookup } from './webhookUrl.ts';
import { createMailer } from '../lib/mail.ts';
import { renderAlertMail, webhookBody, type AlertEvent, type AlertLanguage } from './templates.ts';

// Sending one delivery of the outbox: an e-mail through TALLY_SMTP_URL, or a
// webhook POST signed with TALLY_WEBHOOK_SECRET. Either throws on failure; the
// outbox retries with backoff.

/** `v1=<hex>`: HMAC-SHA256 of `${timestamp}.${body}`; the receiver recomputes it and rejects old timestamps (replays). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export interface Delivery {
  channel: 'email' | 'webhook';
  target: string;
  event: AlertEvent;
  language: AlertLanguage;
}

export interface Deliverer {
  send(d: Delivery): Promise<void>;
  close(): Promise<void>;
}

export function createDeliverer(opts: {
  smtpUrl: string | null;
  mailFrom: string;
  webhookSecret: string | null;
  allowPrivate: boolean;
  now(): number;
}): Deliverer {
  const mailer = createMailer({ smtpUrl: opts.smtpUrl, from: opts.mailFrom });
  // Connect-time address check (see webhookUrl.ts); no redirects are followed (undici.request never does).
  const agent: Dispatcher = new Agent({
    connect: opts.allowPrivate ? {} : { lookup: publicOnlyLookup as never },
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  return {
    async send(d) {
      if (d.channel === 'email') {
        const m = renderAlertMail(d.event, d.language);
        await mailer.send({ to: d.target, subject: m.subject, text: m.text });
        return;
      }
      if (!opts.webhookSecret) throw new Error('TALLY_WEBHOOK_SECRET is not set');
      const url = new URL(d.target);
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (!opts.allowPrivate && isIP(host) && isPrivateAddress(host)) throw new Error(`${host} is a private address; webhooks only go to public addresses`);
      const body = webhookBody(d.event);
      const ts = Math.floor(opts.now() / 1000);
      const res = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Tally-Alerts/1',
          'x-tally-event': d.event.kind,
          'x-tally-event-id': d.event.id,
          'x-tally-timestamp': String(ts),
          'x-tally-signature': signWebhook(opts.webhookSecret, ts, body),
        },
        body,
      });
      await res.body.dump().catch(() => {});
      if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`the webhook answered HTTP ${res.statusCode}`);
    },
    async close() {
      mailer.close();
      await agent.close();
    },
  };
}
