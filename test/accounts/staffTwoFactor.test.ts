import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, ADMIN_TOKEN } from '../helpers/tally.ts';
import { FakeStripe } from '../helpers/fakeStripe.ts';
import { FakeEpay } from '../helpers/fakeEpay.ts';
import { paymentsEnv, customer, order, json, sandboxPay, balance, type PayWorld } from '../payments/helpers.ts';
import { expectError, expectJson, send, call, assertLedgerOk, type Fetcher } from './http.ts';
import { challengeFor, cookieOf, enableTwoFactor, fetcherWith, manualClock, totpCode, verify } from './twoFactorHelpers.ts';
import { RECENT_FACTOR_MS } from '../../src/accounts/twoFactor/staffGate.ts';

// TALLY_STAFF_2FA=on: staff reach no staff route before they set up 2FA; with
// 2FA, refunds, compensation and reveals need a code shown in the last 15
// minutes. The admin token is the operator and is not asked for a code.

for (const dialect of testDialects()) {
  describe(`staff two-factor on ${dialect}`, () => {
    let w: PayWorld;
    let clock: ReturnType<typeof manualClock>;
    before(async () => {
      const stripe = await new FakeStripe().start();
      const epay = await new FakeEpay().start();
      const t = await startTestTally(dialect, {}, { ...paymentsEnv(stripe, epay), TALLY_STAFF_2FA: 'on' });
      w = {
        t,
        stripe,
        epay,
        env: {},
        close: async () => {
          await t.close();
          await stripe.close();
          await epay.close();
        },
      };
      clock = manualClock(t);
    });
    after(async () => {
      if (w) await assertLedgerOk(w.t.ctx.db);
      await w?.close();
    });

    async function paidOrder() {
      const c = await customer(w.t);
      const o = await order(c, { amount: '2.00' });
      await json(await sandboxPay(w.t, o.id, 'succeed'));
      return { c, o };
    }
    const refund = (f: Fetcher, orderId: string) => send(f, 'POST', `/api/admin/orders/${orderId}/refund`, { reason: 'requested_by_customer' });
    const ageSession = (f: Fetcher) =>
      // The session's last code was 16 minutes ago.
      w.t.ctx.db
        .updateTable('sessions')
        .set({ two_factor_at: clock.now() - RECENT_FACTOR_MS - 60_000 })
        .where('two_factor_at', 'is not', null)
        .execute()
        .then(() => f);

    test('an admin without 2FA reaches only their own pages and the 2FA setup until they set it up', async () => {
      const a = await seedUser(w.t, { role: 'admin' });
      const f = await signIn(w.t, a.email, a.password);
      const e = await expectError(await f('/api/admin/users'), 403, 'two_factor_setup_required');
      assert.match(e.message, /set up two-factor/);
      const { o } = await paidOrder();
      await expectError(await refund(f, o.id), 403, 'two_factor_setup_required');
      await expectJson(await f('/api/me'));
      assert.equal((await expectJson(await f('/api/auth/2fa'))).required, true);
      assert.equal((await expectJson(await call(w.t, 'GET', '/api/auth/options'))).staff_two_factor, true);
      await enableTwoFactor(f, clock.now());
      await expectJson(await f('/api/admin/users'));
      // Enabling proved a factor on this session: a refund right away goes through.
      await expectJson(await refund(f, o.id));
    });

    test('support is held to the same rule; a plain user is not asked', async () => {
      const s = await seedUser(w.t, { role: 'support' });
      await expectError(await (await signIn(w.t, s.email, s.password))('/api/admin/orders'), 403, 'two_factor_setup_required');
      const u = await seedUser(w.t);
      const f = await signIn(w.t, u.email, u.password);
      await expectJson(await f('/api/me'));
      assert.equal((await expectJson(await f('/api/auth/2fa'))).required, false);
      await expectError(await f('/api/admin/orders'), 403, 'forbidden');
    });

    test('a refund 16 minutes after the last code is refused and moves nothing; a fresh code lets it through', async () => {
      const a = await seedUser(w.t, { role: 'admin' });
      const { secret } = await enableTwoFactor(await signIn(w.t, a.email, a.password), clock.now());
      clock.nextStep();
      const res = await verify(w.t, { challenge: await challengeFor(w.t, a.email, a.password), code: totpCode(secret, clock.now()) });
      const f = fetcherWith(w.t, cookieOf(res));
      await res.text();
      const { c, o } = await paidOrder();
      const before = await balance(w.t, c.userId);
      await ageSession(f);
      // Reading is not a money action: still open.
      await expectJson(await f(`/api/admin/orders/${o.id}`));
      const e = await expectError(await refund(f, o.id), 403, 'second_factor_required');
      assert.match(e.message, /POST \/api\/auth\/2fa\/confirm/);
      await expectError(
        await send(f, 'POST', `/api/admin/users/${c.userId}/compensate`, { amount: '1.00', reason: 'outage', ticket: 'T-1' }),
        403,
        'second_factor_required',
      );
      await expectError(
        await send(f, 'POST', `/api/admin/users/${c.userId}/reveal`, { field: 'email', reason: 'verify identity' }),
        403,
        'second_factor_required',
      );
      assert.equal(await balance(w.t, c.userId), before, 'a refused refund moved money');
      const order1 = await json(await f(`/api/admin/orders/${o.id}`));
      assert.notEqual(order1.order?.status ?? order1.status, 'refunded');
      // The code already used to sign in does not count again.
      await expectError(await send(f, 'POST', '/api/auth/2fa/confirm', { code: totpCode(secret, clock.now()) }), 400, 'invalid_two_factor_code');
      clock.nextStep();
      await expectJson(await send(f, 'POST', '/api/auth/2fa/confirm', { code: totpCode(secret, clock.now()) }));
      await expectJson(await refund(f, o.id));
      await expectJson(await send(f, 'POST', `/api/admin/users/${c.userId}/reveal`, { field: 'email', reason: 'verify identity' }));
    });

    test('two confirms with one code at the same moment: one is accepted', async () => {
      const a = await seedUser(w.t, { role: 'admin' });
      const f = await signIn(w.t, a.email, a.password);
      const { secret } = await enableTwoFactor(f, clock.now());
      clock.nextStep();
      const code = totpCode(secret, clock.now());
      const results = await Promise.all(Array.from({ length: 6 }, () => send(f, 'POST', '/api/auth/2fa/confirm', { code })));
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 400, 400, 400, 400, 400]);
      for (const r of results) await r.text();
    });

    test('the admin token is the operator: no 2FA is asked of it', async () => {
      const { o } = await paidOrder();
      await expectJson(await call(w.t, 'GET', '/api/admin/users', undefined, { 'x-admin-token': ADMIN_TOKEN }));
      await expectJson(await call(w.t, 'POST', `/api/admin/orders/${o.id}/refund`, { reason: 'requested_by_customer' }, { 'x-admin-token': ADMIN_TOKEN }));
    });
  });
}

describe('staff two-factor off (the default)', () => {
  test('an admin without 2FA works as before; an admin with 2FA still needs a recent code for money', async () => {
    const t = await startTestTally('sqlite');
    try {
      const clock = manualClock(t);
      const plain = await seedUser(t, { role: 'admin' });
      const target = await seedUser(t);
      const pf = await signIn(t, plain.email, plain.password);
      await expectJson(await send(pf, 'POST', `/api/admin/users/${target.user.id}/reveal`, { field: 'email', reason: 'verify identity' }));
      const a = await seedUser(t, { role: 'admin' });
      const f = await signIn(t, a.email, a.password);
      await enableTwoFactor(f, clock.now());
      await expectJson(await send(f, 'POST', `/api/admin/users/${target.user.id}/reveal`, { field: 'email', reason: 'verify identity' }));
      const g = await signIn(t, a.email, a.password).catch((e: Error) => e);
      assert.ok(g instanceof Error, 'a 2FA admin signed in with the password alone');
      await t.ctx.db
        .updateTable('sessions')
        .set({ two_factor_at: clock.now() - RECENT_FACTOR_MS - 1 })
        .execute();
      await expectError(
        await send(f, 'POST', `/api/admin/users/${target.user.id}/reveal`, { field: 'email', reason: 'verify identity' }),
        403,
        'second_factor_required',
      );
      await expectJson(await f('/api/admin/users'));
    } finally {
      await t.close();
    }
  });
});
