import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, type TestTally } from '../helpers/tally.ts';
import { loadConfig } from '../../src/config/index.ts';
import { paymentSettings } from '../../src/payments/settings.ts';
import { startPayWorld, customer, order, json, balance, sandboxPay, assertLedgerOk, type PayWorld } from './helpers.ts';

// The sandbox credits a balance without money. It is on only when the operator
// says so, and its pay page and buttons belong to the order's owner.

const trades = (w: PayWorld, orderId: string) => w.t.ctx.db.selectFrom('payment_sandbox_trades').select('id').where('order_id', '=', orderId).execute();
const errorCode = async (res: Response) => ((await res.json()) as any).error.code;

for (const dialect of testDialects()) {
  describe(`the sandbox provider's pay page on ${dialect}`, () => {
    let w: PayWorld;
    before(async () => {
      w = await startPayWorld(dialect);
    });
    afterEach(async () => {
      await assertLedgerOk(w.t);
    });
    after(async () => {
      await w?.close();
    });

    test("a user cannot pay, fail or open another user's sandbox order: 404 as for a missing one, and nothing moves", async () => {
      const owner = await customer(w.t);
      const other = await customer(w.t);
      const o = await order(owner, { amount: '10.00', provider: 'sandbox' });
      const path = new URL(o.checkout_url).pathname;
      for (const outcome of ['succeed', 'fail', 'twice', 'late', 'never', 'pay_again']) {
        const res = await other.f(`${path}?outcome=${outcome}`, { method: 'POST' });
        assert.equal(res.status, 404, outcome);
        assert.equal(await errorCode(res), 'order_not_found');
      }
      const page = await other.f(path);
      assert.equal(page.status, 404);
      assert.ok(!(await page.text()).includes('10.00'));
      const missing = await other.f('/api/payments/sandbox/pay/ord_doesnotexist0000?outcome=succeed', { method: 'POST' });
      assert.equal(missing.status, 404);
      assert.equal(await errorCode(missing), 'order_not_found');
      assert.equal((await trades(w, o.id)).length, 0);
      assert.equal((await json(await owner.f(`/api/orders/${o.id}`))).status, 'pending');
      assert.equal(await balance(w.t, other.userId), '0.00');
      assert.equal(await balance(w.t, owner.userId), '0.00');
      // The owner still can.
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      assert.equal(await balance(w.t, owner.userId), '10.00');
    });

    test('an unauthenticated request cannot pay a sandbox order or open its page (a browser is asked to sign in)', async () => {
      const owner = await customer(w.t);
      const o = await order(owner, { amount: '4.00', provider: 'sandbox' });
      const url = new URL(o.checkout_url);
      const res = await fetch(`${url}?outcome=succeed`, { method: 'POST' });
      assert.equal(res.status, 401);
      assert.equal(await errorCode(res), 'not_signed_in');
      const form = await fetch(`${url}?outcome=succeed`, {
        method: 'POST',
        headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
        body: '',
      });
      assert.equal(form.status, 401);
      assert.match(await form.text(), /Sign in first/);
      const page = await fetch(url, { headers: { accept: 'text/html' } });
      assert.equal(page.status, 401);
      const html = await page.text();
      assert.match(html, /Sign in first/);
      assert.ok(!html.includes('<form'), 'no pay buttons without the owner');
      assert.equal((await trades(w, o.id)).length, 0);
      assert.equal((await json(await owner.f(`/api/orders/${o.id}`))).status, 'pending');
      assert.equal(await balance(w.t, owner.userId), '0.00');
    });

    test('a server with the sandbox on says so: a start warning, and the public status the console banner reads', async () => {
      assert.ok(
        w.t.warnings.some((x) => /SANDBOX payment provider is ON/.test(x)),
        JSON.stringify(w.t.warnings),
      );
      assert.deepEqual(await json(await fetch(`${w.t.url}/api/payments/sandbox/status`)), { enabled: true });
    });
  });

  describe(`the default configuration on ${dialect}`, () => {
    let t: TestTally;
    // TALLY_DEMO is on by default; nothing else about payments is set.
    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_DEMO: 'on' });
    });
    after(async () => {
      await t?.close();
    });

    test('has no sandbox provider: an order for it is refused with sandbox_disabled, its pages answer 404, nothing warns', async () => {
      const c = await customer(t);
      const res = await c.f('/api/orders', { method: 'POST', body: JSON.stringify({ amount: '10.00', provider: 'sandbox' }) });
      assert.equal(res.status, 400);
      const body = (await res.json()) as any;
      assert.equal(body.error.code, 'sandbox_disabled');
      assert.match(body.error.message, /TALLY_PAYMENT_SANDBOX=on/);
      const noDefault = await c.f('/api/orders', { method: 'POST', body: JSON.stringify({ amount: '10.00' }) });
      assert.equal(noDefault.status, 400);
      assert.equal(await errorCode(noDefault), 'no_payment_provider');
      assert.deepEqual((await json(await c.f('/api/payments/providers'))).data, []);
      assert.deepEqual(await json(await fetch(`${t.url}/api/payments/sandbox/status`)), { enabled: false });
      const page = await c.f('/api/payments/sandbox/pay/ord_anything?outcome=succeed', { method: 'POST' });
      assert.equal(page.status, 404);
      assert.equal(await errorCode(page), 'route_not_found'); // one code, one status: sandbox_disabled is the 400 of order creation
      assert.equal(await balance(t, c.userId), '0.00');
      assert.deepEqual(t.warnings, []);
    });
  });
}

test('listing the sandbox in TALLY_PAYMENT_PROVIDERS does not enable it without TALLY_PAYMENT_SANDBOX=on', () => {
  const config = (env: Record<string, string>) => loadConfig({ TALLY_SECRET: 'test-secret-0123456789abcdef', ...env });
  assert.throws(
    () => paymentSettings(config({ TALLY_PAYMENT_PROVIDERS: 'sandbox' })),
    (e: any) => e.code === 'sandbox_not_enabled',
  );
  assert.deepEqual(paymentSettings(config({ TALLY_PAYMENT_PROVIDERS: 'sandbox', TALLY_PAYMENT_SANDBOX: 'on' })).providers, ['sandbox']);
  assert.deepEqual(paymentSettings(config({ TALLY_DEMO: 'on' })).providers, []);
  assert.deepEqual(paymentSettings(config({ TALLY_PAYMENT_SANDBOX: 'on' })).providers, ['sandbox']);
});
