// Helpers for the sign-up, verification and password suites (not a test file itself):
// a Tally whose pino output is kept, the mails the test SMTP server received, decoded,
// and the links in them.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { sql } from 'kysely';
import { createTestDb, whileNoSchemaIsDropped, type TestDb } from '../helpers/db.ts';
import { ADMIN_TOKEN, type TestTally } from '../helpers/tally.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createContext, LOG_REDACT } from '../../src/context.ts';
import { startTally } from '../../src/app/start.ts';
import type { Dialect } from '../../src/db/index.ts';
import { waitFor, type Mail } from '../alerts/receivers.ts';

export type LoggedTally = TestTally & { logs: string[] };

/** A Tally like startTestTally's (trusting X-Forwarded-For from loopback, so each test picks its own client address), whose logs are kept at trace level. */
export async function startLoggedTally(dialect: Dialect, env: Record<string, string>): Promise<LoggedTally> {
  const testDb: TestDb = await createTestDb(dialect);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const log = pino({ level: 'trace', redact: { paths: LOG_REDACT, censor: '[redacted]' } }, sink);
  const config = loadConfig({
    TALLY_DATABASE_URL: testDb.connectionUrl,
    TALLY_PORT: '0',
    TALLY_HOST: '127.0.0.1',
    TALLY_SECRET: 'test-secret-0123456789abcdef',
    TALLY_ADMIN_TOKEN: ADMIN_TOKEN,
    TALLY_DEMO: 'off',
    TALLY_TRUST_PROXY: 'loopback',
    ...env,
  });
  try {
    const start = async () => startTally(config, { ctx: await createContext(config, { log }), bootstrap: false });
    const t = dialect === 'postgres' ? await whileNoSchemaIsDropped(start) : await start();
    return {
      ...t,
      testDb,
      config,
      logs,
      close: async () => {
        await t.stop();
        await testDb.cleanup();
      },
    };
  } catch (e) {
    await testDb.cleanup();
    throw e;
  }
}

/** A mail's text body, with its transfer encoding (quoted-printable or base64) undone. */
export function bodyOf(m: Mail): string {
  const split = m.raw.indexOf('\r\n\r\n');
  const head = m.raw.slice(0, split);
  const body = m.raw.slice(split + 4);
  const enc = /^Content-Transfer-Encoding:\s*(\S+)/im.exec(head)?.[1]?.toLowerCase();
  if (enc === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (enc === 'quoted-printable') {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}

/** Waits for the `n`-th mail (1-based) to this address whose subject matches, and returns it. */
export async function mailTo(mails: Mail[], address: string, subject: RegExp, n = 1): Promise<Mail & { body: string }> {
  const matching = () => mails.filter((m) => m.to.includes(address.toLowerCase()) || m.to.includes(address)).filter((m) => subject.test(m.subject));
  await waitFor(`mail ${n} to ${address} matching ${subject}`, () => matching().length >= n);
  const m = matching()[n - 1];
  return { ...m, body: bodyOf(m) };
}

/** The console link with `token=` (or `invite=`) in a mail, and the token. */
export function linkIn(body: string, param = 'token'): { url: string; token: string } {
  const m = new RegExp(`(https?://\\S+[?&]${param}=([A-Za-z0-9_-]+))`).exec(body);
  assert.ok(m, `no ${param} link in the mail: ${body}`);
  return { url: m[1], token: m[2] };
}

/** Every text value of every row of every table. */
export async function everyTextInDatabase(t: TestTally): Promise<string[]> {
  const tables =
    t.testDb.dialect === 'postgres'
      ? (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(t.ctx.db)).rows
      : (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(t.ctx.db)).rows;
  assert.ok(tables.some((x) => x.name === 'account_tokens'));
  const out: string[] = [];
  for (const { name } of tables) {
    const rows = (await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(t.ctx.db)).rows;
    for (const r of rows) for (const v of Object.values(r)) if (typeof v === 'string') out.push(v);
  }
  return out;
}

/** A request from a client address of the test's choosing (the Tally trusts X-Forwarded-For from loopback). */
export function from(t: TestTally, ip: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${t.url}${path}`, {
    method,
    headers: { 'x-forwarded-for': ip, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Signs in from an address; returns a fetch carrying the session cookie, and the cookie. */
export async function signInFrom(t: TestTally, ip: string, email: string, password: string) {
  const res = await from(t, ip, 'POST', '/api/auth/login', { email, password });
  const text = await res.text();
  assert.equal(res.status, 200, `sign-in failed: ${res.status} ${text}`);
  const cookie = res.headers.get('set-cookie')!.split(';')[0];
  const f = (path: string, init: RequestInit = {}) =>
    fetch(`${t.url}${path}`, {
      ...init,
      headers: { 'x-forwarded-for': ip, ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string>), cookie },
    });
  return { f, cookie };
}

export { ADMIN_TOKEN };
