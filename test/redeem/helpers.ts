// Shared by the redeem suites (not a test file itself).
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { createUser } from '../../src/accounts/users.ts';
import type { Dialect } from '../../src/db/index.ts';
import { startTestTally, ADMIN_TOKEN, type TestTally } from '../helpers/tally.ts';
import { expectJson, type Fetcher } from '../accounts/http.ts';

/**
 * A Tally that believes X-Forwarded-For from loopback, so each simulated
 * person can come from an address of their own (as they would in production,
 * behind a proxy) and the per-IP limits can be tested apart from per-user ones.
 */
export function startRedeemTally(dialect: Dialect): Promise<TestTally> {
  return startTestTally(dialect, {}, { TALLY_TRUST_PROXY: 'loopback' });
}

export const randomIp = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

export interface Person {
  userId: string;
  email: string;
  ip: string;
  f: Fetcher;
}

/** A new user, signed in from `ip` (a fresh random one by default); the fetcher sends from that address. */
export async function person(t: TestTally, ip = randomIp()): Promise<Person> {
  const email = `r${Math.random().toString(36).slice(2, 10)}@test.io`;
  const password = 'correct horse battery';
  const { user } = await createUser(t.ctx.db, { email, password });
  const res = await fetch(`${t.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ email, password }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const cookie = res.headers.get('set-cookie')!.split(';')[0];
  const f: Fetcher = (path, init = {}) =>
    fetch(`${t.url}${path}`, {
      ...init,
      headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string>), cookie, 'x-forwarded-for': ip },
    });
  return { userId: user.id, email, ip, f };
}

export function redeem(p: Person, code: string): Promise<Response> {
  return p.f('/api/redeem', { method: 'POST', body: JSON.stringify({ code }) });
}

export function admin(t: TestTally, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${t.url}${path}`, {
    method,
    headers: { 'x-admin-token': ADMIN_TOKEN, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export interface GeneratedBatch {
  batch: { id: string; amount: string; max_uses: number; code_count: number; expires_at: string | null; name: string | null };
  codes: Array<{ id: string; code: string; display: string }>;
  csv: string;
}

export async function generate(t: TestTally, body: Record<string, unknown> = {}): Promise<GeneratedBatch> {
  return expectJson(await admin(t, 'POST', '/api/admin/redeem/batches', { count: 1, amount: '10.00', ...body }), 201);
}

export async function balanceOf(p: Person): Promise<string> {
  return (await expectJson(await p.f('/api/me'))).balance;
}
