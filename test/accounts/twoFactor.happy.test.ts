import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { startSmtp } from '../alerts/receivers.ts';
import { expectError, expectJson, send, login } from './http.ts';
import { challengeFor, cookieOf, enableTwoFactor, fetcherWith, manualClock, totpCode, verify } from './twoFactorHelpers.ts';

for (const dialect of testDialects()) {
  describe(`two-factor sign-in on ${dialect}`, () => {
    let t: TestTally;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    let clock: ReturnType<typeof manualClock>;
    before(async () => {
      smtp = await startSmtp();
      t = await startTestTally(dialect, {}, { TALLY_SMTP_URL: smtp.url, TALLY_MAIL_FROM: 'Tally <tally@test.io>' });
      clock = manualClock(t);
    });
    after(async () => {
      await t?.close();
      await smtp?.close();
    });

    test('set up with the QR code, enable with a code, then sign-in asks for a code and opens a new session', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      assert.deepEqual(await expectJson(await f('/api/auth/2fa')), { enabled: false, recovery_codes_left: 0, required: false });
      const setup = await expectJson(await send(f, 'POST', '/api/auth/2fa/setup'));
      assert.match(setup.otpauth_uri, /^otpauth:\/\/totp\/Tally:.*\?.*secret=[A-Z2-7]+/);
      assert.ok(setup.otpauth_uri.includes(`secret=${setup.secret}`));
      assert.match(setup.qr, /^data:image\/png;base64,/);
      // Not on until a code from the app comes back.
      await expectJson(await login(t, u.email, u.password)).then((b) => assert.ok(b.user));
      await expectError(await send(f, 'POST', '/api/auth/2fa/enable', { code: '000000' }), 400, 'invalid_two_factor_code');
      const on = await expectJson(await send(f, 'POST', '/api/auth/2fa/enable', { code: totpCode(setup.secret, clock.now()) }));
      assert.equal(on.recovery_codes.length, 10);
      assert.equal(new Set(on.recovery_codes).size, 10);
      assert.deepEqual(await expectJson(await f('/api/auth/2fa')), { enabled: true, recovery_codes_left: 10, required: false });

      const challenge = await challengeFor(t, u.email, u.password);
      clock.nextStep();
      const res = await verify(t, { challenge, code: totpCode(setup.secret, clock.now()) });
      const body = await expectJson(res);
      assert.equal(body.user.id, u.user.id);
      const g = fetcherWith(t, cookieOf(res));
      assert.equal((await expectJson(await g('/api/me'))).id, u.user.id);
      const sessions = await t.ctx.db.selectFrom('sessions').select(['id', 'two_factor_at']).where('user_id', '=', u.user.id).execute();
      assert.equal(sessions.length, 3, 'two password sessions and the one the code opened');
      assert.equal(sessions.filter((s) => s.two_factor_at !== null).length, 2, 'the session that enabled 2FA and the one the code opened');
    });

    test('a recovery code signs in once; the second use is refused', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      const { recoveryCodes } = await enableTwoFactor(f, clock.now());
      const code = recoveryCodes[3];
      await expectJson(await verify(t, { challenge: await challengeFor(t, u.email, u.password), recovery_code: code.toUpperCase() }));
      await expectError(await verify(t, { challenge: await challengeFor(t, u.email, u.password), recovery_code: code }), 400, 'invalid_two_factor_code');
      assert.equal((await expectJson(await f('/api/auth/2fa'))).recovery_codes_left, 9);
    });

    test('turning 2FA off needs a code or the password, and mails the owner both times', async () => {
      const u = await seedUser(t, { email: `mail${Date.now()}@test.io` });
      const f = await signIn(t, u.email, u.password);
      await enableTwoFactor(f, clock.now());
      await expectError(await send(f, 'POST', '/api/auth/2fa/disable', {}), 400, 'invalid_request');
      await expectError(await send(f, 'POST', '/api/auth/2fa/disable', { password: 'not the password' }), 400, 'invalid_two_factor_code');
      assert.equal((await expectJson(await f('/api/auth/2fa'))).enabled, true);
      await expectJson(await send(f, 'POST', '/api/auth/2fa/disable', { password: u.password }));
      assert.equal((await expectJson(await f('/api/auth/2fa'))).enabled, false);
      const b = await expectJson(await login(t, u.email, u.password));
      assert.ok(b.user, 'with 2FA off the password opens a session again');
      // The notices go out after the answer; wait for both to arrive.
      while (smtp.mails.filter((m) => m.to.includes(u.email)).length < 2) await new Promise((r) => setTimeout(r, 20));
      const subjects = smtp.mails.filter((m) => m.to.includes(u.email)).map((m) => m.subject);
      assert.ok(subjects.some((s) => s.includes('turned on')));
      assert.ok(subjects.some((s) => s.includes('turned off')));
    });

    test('a second setup while 2FA is on is refused; enabling without a setup says what to do first', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      await expectError(await send(f, 'POST', '/api/auth/2fa/enable', { code: '123456' }), 409, 'two_factor_not_started');
      await enableTwoFactor(f, clock.now());
      await expectError(await send(f, 'POST', '/api/auth/2fa/setup'), 409, 'two_factor_already_enabled');
    });

    test('the 2FA routes need a session', async () => {
      for (const p of ['/api/auth/2fa/setup', '/api/auth/2fa/enable', '/api/auth/2fa/disable', '/api/auth/2fa/confirm']) {
        const res = await fetch(`${t.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":"123456"}' });
        await expectError(res, 401, 'not_signed_in');
      }
    });
  });
}
