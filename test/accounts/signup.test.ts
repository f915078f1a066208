import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startSmtp } from '../alerts/receivers.ts';
import { expectError, expectJson, assertLedgerOk } from './http.ts';
import { startLoggedTally, mailTo, linkIn, everyTextInDatabase, from, signInFrom, ADMIN_TOKEN, type LoggedTally } from './accountMail.ts';

// Sign-up with TALLY_SIGNUP=open and mail through a real SMTP server started
// here: the mails are read from it and their links followed, as a person would.

const PASSWORD = 'violet tractor moonbeam 42';
let n = 0;
const fresh = () => `p${++n}${Math.random().toString(36).slice(2, 8)}@example.org`;
const ip = () => `10.1.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;

for (const dialect of testDialects()) {
  describe(`sign-up, verification and passwords on ${dialect}`, () => {
    let t: LoggedTally;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    /** Every secret this suite saw: none may be in the logs or the database. */
    const secrets: string[] = [];

    before(async () => {
      smtp = await startSmtp();
      t = await startLoggedTally(dialect, {
        TALLY_SIGNUP: 'open',
        TALLY_SMTP_URL: smtp.url,
        TALLY_MAIL_FROM: 'Tally <accounts@tally.test>',
        TALLY_SIGNUP_LIMIT_PER_IP: '5',
      });
    });
    after(async () => {
      try {
        if (t) await assertLedgerOk(t.ctx.db);
      } finally {
        await t?.close();
        await smtp?.close();
      }
    });

    async function signUpAndVerify(email: string, password = PASSWORD, addr = ip()) {
      secrets.push(password);
      await expectJson(await from(t, addr, 'POST', '/api/auth/signup', { email, password }), 202);
      const mail = await mailTo(smtp.mails, email, /verify/i);
      const { token } = linkIn(mail.body);
      secrets.push(token);
      await expectJson(await from(t, addr, 'POST', '/api/auth/verify', { token }));
      return token;
    }

    test('sign up, open the mailed link, sign in: the account may then create a key', async () => {
      const email = fresh();
      const addr = ip();
      secrets.push(PASSWORD);
      const r = await expectJson(await from(t, addr, 'POST', '/api/auth/signup', { email, password: PASSWORD }), 202);
      assert.equal(r.verification, true);
      const mail = await mailTo(smtp.mails, email, /verify/i);
      const { url, token } = linkIn(mail.body);
      secrets.push(token);
      assert.ok(url.startsWith(`${t.url}/console/verify?token=`), url);

      // Before the link is opened: signed in, the console works, but no key and no top-up.
      const before = await signInFrom(t, addr, email, PASSWORD);
      const me = await expectJson(await before.f('/api/me'));
      assert.equal(me.email_verified, false);
      await expectError(await before.f('/api/keys', { method: 'POST', body: JSON.stringify({ name: 'k' }) }), 403, 'email_not_verified');
      await expectError(await before.f('/api/orders', { method: 'POST', body: JSON.stringify({ amount: '5.00' }) }), 403, 'email_not_verified');

      await expectJson(await from(t, addr, 'POST', '/api/auth/verify', { token }));
      // Single use.
      await expectError(await from(t, addr, 'POST', '/api/auth/verify', { token }), 400, 'invalid_token', 'token');

      const after = await signInFrom(t, addr, email, PASSWORD);
      assert.equal((await expectJson(await after.f('/api/me'))).email_verified, true);
      const key = await expectJson(await after.f('/api/keys', { method: 'POST', body: JSON.stringify({ name: 'first' }) }), 201);
      secrets.push(key.key ?? key.secret ?? '');
      const audit = await t.ctx.db.selectFrom('audit_log').select(['action', 'target']).where('action', '=', 'user.verify_email').execute();
      assert.ok(audit.length >= 1);
    });

    test('the answer is the same for a known address and a new one; the owner of the known one is told by mail', async () => {
      const known = fresh();
      await signUpAndVerify(known);
      const newcomer = fresh();
      const a = await from(t, ip(), 'POST', '/api/auth/signup', { email: known, password: 'another pass phrase 7' });
      const b = await from(t, ip(), 'POST', '/api/auth/signup', { email: newcomer, password: 'another pass phrase 7' });
      secrets.push('another pass phrase 7');
      assert.equal(a.status, b.status);
      assert.deepEqual(await a.json(), await b.json());
      const told = await mailTo(smtp.mails, known, /tried to sign up/i);
      assert.match(told.body, /already has an account/);
      await mailTo(smtp.mails, newcomer, /verify/i);
      // The known account still has its own password.
      await signInFrom(t, ip(), known, PASSWORD);
      const users = await t.ctx.db.selectFrom('users').select('id').where('email_normalized', '=', known).execute();
      assert.equal(users.length, 1);
    });

    test('a common password, or one too short, is refused and nothing is created', async () => {
      const email = fresh();
      for (const password of ['password123', 'Dragon2024!', 'qwertyuiop', 'p@ssw0rd1', '12345678']) {
        await expectError(await from(t, ip(), 'POST', '/api/auth/signup', { email, password }), 400, 'common_password', 'password');
      }
      await expectError(await from(t, ip(), 'POST', '/api/auth/signup', { email, password: 'short' }), 400, 'weak_password', 'password');
      await expectError(await from(t, ip(), 'POST', '/api/auth/signup', { email, password: 'x'.repeat(201) }), 400, 'weak_password', 'password');
      await expectError(await from(t, ip(), 'POST', '/api/auth/signup', { email: 'not-an-address', password: PASSWORD }), 400, 'invalid_email', 'email');
      assert.equal((await t.ctx.db.selectFrom('users').select('id').where('email_normalized', '=', email).execute()).length, 0);
    });

    test('a sign-up storm from one address is stopped at the limit, with retry-after; another address still signs up', async () => {
      const storm = '10.99.0.7';
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await from(t, storm, 'POST', '/api/auth/signup', { email: fresh(), password: PASSWORD });
        statuses.push(res.status);
        if (res.status === 429) {
          assert.ok(Number(res.headers.get('retry-after')) > 0);
          assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'rate_limited');
        } else await res.text();
      }
      assert.deepEqual(statuses, [202, 202, 202, 202, 202, 429, 429, 429]);
      await expectJson(await from(t, '10.99.0.8', 'POST', '/api/auth/signup', { email: fresh(), password: PASSWORD }), 202);
    });

    test('forgot, then reset from the mailed link: every old session is signed out, the old password stops working, the link works once', async () => {
      const email = fresh();
      await signUpAndVerify(email);
      const one = await signInFrom(t, ip(), email, PASSWORD);
      const two = await signInFrom(t, ip(), email, PASSWORD);
      const forgot = await from(t, ip(), 'POST', '/api/auth/password/forgot', { email });
      assert.equal(forgot.status, 202);
      const unknown = await from(t, ip(), 'POST', '/api/auth/password/forgot', { email: fresh() });
      assert.equal(unknown.status, 202);
      assert.deepEqual(await forgot.json(), await unknown.json(), 'the same answer for an unknown address');

      const mail = await mailTo(smtp.mails, email, /reset/i);
      const { url, token } = linkIn(mail.body);
      secrets.push(token);
      assert.ok(url.includes('/console/reset?token='), url);
      // A refused new password leaves the link usable.
      await expectError(await from(t, ip(), 'POST', '/api/auth/password/reset', { token, password: 'letmein123' }), 400, 'common_password');
      const next = 'saffron glacier harmonica 9';
      secrets.push(next);
      await expectJson(await from(t, ip(), 'POST', '/api/auth/password/reset', { token, password: next }));
      await expectError(await from(t, ip(), 'POST', '/api/auth/password/reset', { token, password: 'another new one 1234' }), 400, 'invalid_token');

      await expectError(await one.f('/api/me'), 401, 'not_signed_in');
      await expectError(await two.f('/api/me'), 401, 'not_signed_in');
      await expectError(await from(t, ip(), 'POST', '/api/auth/login', { email, password: PASSWORD }), 401, 'invalid_credentials');
      await signInFrom(t, ip(), email, next);
      await mailTo(smtp.mails, email, /password was changed/i);
    });

    test('forgot is limited per address too', async () => {
      const email = fresh();
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await from(t, ip(), 'POST', '/api/auth/password/forgot', { email })).status);
      assert.deepEqual(statuses, [202, 202, 202, 202, 202, 429, 429]);
    });

    test('changing the password needs the current one; other sessions end, this one stays; a notice is mailed', async () => {
      const email = fresh();
      await signUpAndVerify(email);
      const here = await signInFrom(t, ip(), email, PASSWORD);
      const elsewhere = await signInFrom(t, ip(), email, PASSWORD);
      await expectError(
        await here.f('/api/auth/password', { method: 'POST', body: JSON.stringify({ current: 'wrong password here', password: 'lantern orchard copper 5' }) }),
        400,
        'invalid_current_password',
        'current',
      );
      await expectError(
        await here.f('/api/auth/password', { method: 'POST', body: JSON.stringify({ current: PASSWORD, password: 'sunshine1' }) }),
        400,
        'common_password',
      );
      const next = 'lantern orchard copper 5';
      secrets.push(next);
      await expectJson(await here.f('/api/auth/password', { method: 'POST', body: JSON.stringify({ current: PASSWORD, password: next }) }));
      await expectJson(await here.f('/api/me'));
      await expectError(await elsewhere.f('/api/me'), 401, 'not_signed_in');
      await expectError(await from(t, ip(), 'POST', '/api/auth/login', { email, password: PASSWORD }), 401, 'invalid_credentials');
      await signInFrom(t, ip(), email, next);
      await mailTo(smtp.mails, email, /password was changed/i);
      // Not signed in: 401.
      await expectError(await from(t, ip(), 'POST', '/api/auth/password', { current: next, password: 'whatever else 99' }), 401, 'not_signed_in');
    });

    test('a resent verification link replaces the old one; an admin can resend it too (audited)', async () => {
      const email = fresh();
      const addr = ip();
      secrets.push(PASSWORD);
      await expectJson(await from(t, addr, 'POST', '/api/auth/signup', { email, password: PASSWORD }), 202);
      const first = linkIn((await mailTo(smtp.mails, email, /verify/i)).body).token;
      const s = await signInFrom(t, addr, email, PASSWORD);
      await expectJson(await s.f('/api/auth/verify/resend', { method: 'POST' }));
      const second = linkIn((await mailTo(smtp.mails, email, /verify/i, 2)).body).token;
      const user = await t.ctx.db.selectFrom('users').select('id').where('email_normalized', '=', email).executeTakeFirstOrThrow();
      await expectJson(await from(t, addr, 'POST', `/api/admin/users/${user.id}/resend-verification`, undefined, { 'x-admin-token': ADMIN_TOKEN }));
      const third = linkIn((await mailTo(smtp.mails, email, /verify/i, 3)).body).token;
      secrets.push(first, second, third);
      await expectError(await from(t, addr, 'POST', '/api/auth/verify', { token: first }), 400, 'invalid_token');
      await expectError(await from(t, addr, 'POST', '/api/auth/verify', { token: second }), 400, 'invalid_token');
      await expectJson(await from(t, addr, 'POST', '/api/auth/verify', { token: third }));
      await expectError(await s.f('/api/auth/verify/resend', { method: 'POST' }), 409, 'email_already_verified');
      const audit = await t.ctx.db
        .selectFrom('audit_log')
        .select(['actor'])
        .where('action', '=', 'user.resend_verification')
        .where('target', '=', user.id)
        .execute();
      assert.deepEqual(
        audit.map((a) => a.actor),
        ['admin_token'],
      );
    });

    test('a Chinese browser gets its mails in Chinese', async () => {
      const email = fresh();
      await expectJson(await from(t, ip(), 'POST', '/api/auth/signup', { email, password: PASSWORD }, { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' }), 202);
      const mail = await mailTo(smtp.mails, email, /验证/);
      assert.match(mail.body, /请打开下面的链接验证你的邮箱/);
      secrets.push(linkIn(mail.body).token);
    });

    test('no password or token is in the logs or, in clear, in the database', async () => {
      const real = secrets.filter((s) => s.length >= 8);
      assert.ok(real.length >= 10, `only ${real.length} secrets collected`);
      const logText = t.logs.join('');
      assert.ok(logText.length > 0, 'the logs were captured');
      const texts = await everyTextInDatabase(t);
      for (const s of real) {
        assert.ok(!logText.includes(s), `a secret is in the logs: ${s.slice(0, 4)}...`);
        assert.ok(!texts.some((x) => x.includes(s)), `a secret is in the database in clear: ${s.slice(0, 4)}...`);
      }
    });
  });
}
