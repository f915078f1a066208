import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { SMTPServer } from 'smtp-server';

// Test receivers of alerts: a real SMTP server (smtp-server) that keeps every
// message, and a webhook endpoint that checks the signature as a customer's
// would and can be told to fail its first calls.

export const WEBHOOK_SECRET = 'test-webhook-secret-0123456789';

/** RFC 2047 encoded words (=?UTF-8?B?...?= / ?Q?) in a header, decoded. */
function decodeWords(s: string): string {
  return s.replace(/\?=\s+=\?/g, '?==?').replace(/=\?UTF-8\?([BQ])\?([^?]*)\?=/gi, (_m, enc: string, text: string) =>
    enc.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(
          text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
          'latin1',
        ).toString('utf8'),
  );
}

export interface Mail {
  to: string[];
  subject: string;
  raw: string;
}

export async function startSmtp(): Promise<{ url: string; mails: Mail[]; close(): Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      let raw = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => {
        raw += c;
      });
      stream.on('end', () => {
        const folded = /^Subject: (.*(?:\r\n[ \t].*)*)/im.exec(raw)?.[1] ?? '';
        const subject = decodeWords(folded.replace(/\r\n[ \t]/g, ' '));
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), subject, raw });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { url: `smtp://127.0.0.1:${port}`, mails, close: () => new Promise<void>((r) => server.close(() => r())) };
}

export interface Hook {
  path: string;
  at: number;
  body: string;
  json: any;
  timestamp: string;
  signature: string;
  /** The signature checks out against WEBHOOK_SECRET. */
  valid: boolean;
  status: number;
}

export function verifySignature(secret: string, timestamp: string, body: string, signature: string): boolean {
  const want = Buffer.from(`v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`);
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got);
}

export async function startHookReceiver(): Promise<{
  url: string;
  calls: Hook[];
  /** The next `n` calls to `path` answer 500. */
  failNext(path: string, n: number): void;
  close(): Promise<void>;
}> {
  const calls: Hook[] = [];
  const failing = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      const path = req.url ?? '/';
      const left = failing.get(path) ?? 0;
      const status = left > 0 ? 500 : 200;
      if (left > 0) failing.set(path, left - 1);
      const timestamp = String(req.headers['x-tally-timestamp'] ?? '');
      const signature = String(req.headers['x-tally-signature'] ?? '');
      calls.push({
        path,
        at: Date.now(),
        body,
        json: JSON.parse(body),
        timestamp,
        signature,
        valid: verifySignature(WEBHOOK_SECRET, timestamp, body, signature),
        status,
      });
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    failNext: (path, n) => void failing.set(path, n),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Polls until `fn` is true (or throws after `ms`). */
export async function waitFor(what: string, fn: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Lets the outbox run a few more passes, so a duplicate would have had its chance to arrive. */
export const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

/** The env of a test Tally that sends alerts to these receivers quickly. */
export const alertEnv = (smtpUrl: string) => ({
  TALLY_SMTP_URL: smtpUrl,
  TALLY_MAIL_FROM: 'Tally Alerts <alerts@tally.test>',
  TALLY_WEBHOOK_SECRET: WEBHOOK_SECRET,
  TALLY_ALERTS_ALLOW_PRIVATE: 'on',
  TALLY_ALERTS_POLL_MS: '50',
  TALLY_ALERTS_RETRY_MS: '150',
});
