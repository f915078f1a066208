// Small HTTP helpers shared by the account API suites (not a test file itself).
import assert from 'node:assert/strict';
import { verifyBooks } from '../../src/verifyBooks.ts';
import type { Db } from '../../src/db/index.ts';
import { ADMIN_TOKEN, type TestTally } from '../helpers/tally.ts';

export type Fetcher = (path: string, init?: RequestInit) => Promise<Response>;

export interface ApiError {
  error: { code: string; message: string; param?: string; request_id?: string };
}

/** An unauthenticated request; `body` is sent as JSON. */
export function call(t: TestTally, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${t.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** A request carrying the admin token, as an operator's script would send it. */
export function asAdminToken(t: TestTally, method: string, path: string, body?: unknown): Promise<Response> {
  return call(t, method, path, body, { 'x-admin-token': ADMIN_TOKEN });
}

export function login(t: TestTally, email: string, password: string, headers: Record<string, string> = {}): Promise<Response> {
  return call(t, 'POST', '/api/auth/login', { email, password }, headers);
}

/** Sends a JSON body through a signed-in fetcher. */
export function send(f: Fetcher, method: string, path: string, body?: unknown): Promise<Response> {
  return f(path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

/** Asserts an account-API error: status, stable code, and a message a person can act on. */
export async function expectError(res: Response, status: number, code: string | RegExp, param?: string): Promise<ApiError['error']> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${text}`);
  const body = JSON.parse(text) as ApiError;
  if (typeof code === 'string') assert.equal(body.error?.code, code, text);
  else assert.match(body.error?.code ?? '', code, text);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 5, `message too terse: ${text}`);
  if (param !== undefined) assert.equal(body.error.param, param, text);
  return body.error;
}

export async function expectJson<T = any>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status}, got ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** The ledger invariants hold; the failing checks are printed when they do not. */
export async function assertLedgerOk(db: Db): Promise<void> {
  const r = await verifyBooks(db);
  assert.ok(
    r.ok,
    JSON.stringify(
      r.checks.filter((c) => !c.ok),
      null,
      2,
    ),
  );
}
