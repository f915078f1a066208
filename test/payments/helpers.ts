// Shared by the payments suites (not a test file itself).
import assert from 'node:assert/strict';
import type { Dialect } from '../../src/db/index.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';
import { getUserBalance } from '../../src/accounts/users.ts';
import { formatMoney } from '../../src/ledger/money.ts';
import { startTestTally, seedUser, signIn, ADMIN_TOKEN, type TestTally } from '../helpers/tally.ts';
import { FakeStripe } from '../helpers/fakeStripe.ts';
import { FakeEpay } from '../helpers/fakeEpay.ts';

export interface PayWorld {
  t: TestTally;
  stripe: FakeStripe;
  epay: FakeEpay;
  env: Record<string, string>;
  close(): Promise<void>;
}

export function paymentsEnv(stripe: FakeStripe, epay: FakeEpay): Record<string, string> {
  return {
    TALLY_PAYMENT_SANDBOX: 'on',
    TALLY_STRIPE_SECRET_KEY: stripe.secretKey,
    TALLY_STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
    TALLY_STRIPE_API_BASE: stripe.url,
    TALLY_EPAY_PID: epay.pid,
    TALLY_EPAY_KEY: epay.key,
    TALLY_EPAY_URL: epay.url,
    TALLY_PAYMENT_RATES: 'CNY=0.14',
    TALLY_PAYMENT_MIN: '1.00',
    TALLY_PAYMENT_MAX: '5000.00',
    TALLY_PAYMENT_RECONCILE_INTERVAL_MS: '0', // tests run reconcile passes themselves
    TALLY_PAYMENT_RECONCILE_AFTER_MS: '0',
  };
}

export async function startPayWorld(dialect: Dialect): Promise<PayWorld> {
  const stripe = await new FakeStripe().start();
  const epay = await new FakeEpay().start();
  const env = paymentsEnv(stripe, epay);
  const t = await startTestTally(dialect, {}, env);
  return {
    t,
    stripe,
    epay,
    env,
    close: async () => {
      await t.close();
      await stripe.close();
      await epay.close();
    },
  };
}

/** Each customer's signed-in fetch, so a helper can act as an order's owner. */
const sessions = new Map<string, Awaited<ReturnType<typeof signIn>>>();

export async function customer(t: TestTally, opts: { balance?: bigint; email?: string } = {}) {
  const s = await seedUser(t, { balance: opts.balance, ...(opts.email ? { email: opts.email } : {}) });
  const f = await signIn(t, s.email, s.password);
  sessions.set(s.user.id, f);
  return { userId: s.user.id, email: s.email, f };
}

export type Customer = Awaited<ReturnType<typeof customer>>;

export async function json(res: Response, status = 200): Promise<any> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${text}`);
  return JSON.parse(text);
}

export async function order(c: Customer, body: Record<string, unknown>): Promise<any> {
  return json(await c.f('/api/orders', { method: 'POST', body: JSON.stringify(body) }), 201);
}

export async function balance(t: TestTally, userId: string): Promise<string> {
  return formatMoney((await getUserBalance(t.ctx.db, userId)).balance);
}

export function admin(t: TestTally, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${t.url}${path}`, {
    method,
    headers: { 'x-admin-token': ADMIN_TOKEN, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** The order's owner presses a button on the sandbox pay page (it needs the owner's session). */
export async function sandboxPay(t: TestTally, orderId: string, outcome: string): Promise<Response> {
  const path = `/api/payments/sandbox/pay/${orderId}?outcome=${outcome}`;
  const owner = (await t.ctx.db.selectFrom('payment_orders').select('user_id').where('id', '=', orderId).executeTakeFirst())?.user_id;
  const f = owner ? sessions.get(owner) : undefined;
  return f ? f(path, { method: 'POST' }) : fetch(`${t.url}${path}`, { method: 'POST' });
}

export function epayNotify(url: string, params: Record<string, string>, method: 'GET' | 'POST' = 'POST'): Promise<Response> {
  const qs = new URLSearchParams(params).toString();
  return method === 'GET'
    ? fetch(`${url}/api/payments/epay/notify?${qs}`)
    : fetch(`${url}/api/payments/epay/notify`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: qs });
}

export function stripeWebhook(url: string, ev: { body: string; header: string }): Promise<Response> {
  return fetch(`${url}/api/payments/stripe/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': ev.header },
    body: ev.body,
  });
}

export async function paymentTransfers(t: TestTally, orderId: string) {
  return t.ctx.db.selectFrom('ledger_transfers').selectAll().where('reference', '=', orderId).where('kind', '=', 'payment').execute();
}

export async function assertLedgerOk(t: TestTally) {
  const r = await verifyBooks(t.ctx.db, { graceMs: 60_000 });
  assert.ok(r.ok, JSON.stringify(r.checks.filter((c) => !c.ok)));
}
