import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { testDialects } from '../helpers/db.ts';
import { startSmtp } from '../alerts/receivers.ts';
import { expectError, expectJson } from './http.ts';
import { startLoggedTally, mailTo, linkIn, from, signInFrom, ADMIN_TOKEN, type LoggedTally } from './accountMail.ts';

// The sign-up modes: closed (the default) answers 403; invite needs an
// admin's single-use link or a team owner's invitation to the address; a
// captcha, when configured, is checked with its provider (a local stand-in
// here); without SMTP there is no verification and accounts count as verified.

const PASSWORD = 'violet tractor moonbeam 42';
let n = 0;
const fresh = () => `m${++n}${Math.random().toString(36).slice(2, 8)}@example.org`;
const ip = () => `10.2.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
const admin = (t: LoggedTally, method: string, path: string, body?: unknown) => from(t, ip(), method, path, body, { 'x-admin-token': ADMIN_TOKEN });

/** A stand-in for Turnstile's siteverify: "good" passes; every call is kept. */
async function startSiteverify(): Promise<{ url: string; calls: URLSearchParams[]; close(): Promise<void> }> {
  const calls: URLSearchParams[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      calls.push(form);
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ success: form.get('response') === 'good' && form.get('secret') === 'turnstile-test-secret' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/siteverify`,
    calls,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

for (const dialect of testDialects()) {
  describe(`sign-up modes on ${dialect}`, () => {
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    let siteverify: Awaited<ReturnType<typeof startSiteverify>>;
    let closed: LoggedTally;
    let invite: LoggedTally;
    let noMail: LoggedTally;

    before(async () => {
      smtp = await startSmtp();
      siteverify = await startSiteverify();
      closed = await startLoggedTally(dialect, {});
      invite = await startLoggedTally(dialect, {
        TALLY_SIGNUP: 'invite',
        TALLY_SMTP_URL: smtp.url,
        TALLY_TURNSTILE_SECRET: 'turnstile-test-secret',
        TALLY_TURNSTILE_SITE_KEY: '1x00000000000000000000AA',
        TALLY_CAPTCHA_VERIFY_URL: siteverify.url,
      });
      noMail = await startLoggedTally(dialect, { TALLY_SIGNUP: 'open' });
    });
    after(async () => {
      await closed?.close();
      await invite?.close();
      await noMail?.close();
      await smtp?.close();
      await siteverify?.close();
    });

    test('closed (the default): sign-up answers 403 signup_closed and creates nothing', async () => {
      assert.deepEqual(await expectJson(await from(closed, ip(), 'GET', '/api/auth/signup')), { mode: 'closed', captcha: null, verification: false });
      const email = fresh();
      await expectError(await from(closed, ip(), 'POST', '/api/auth/signup', { email, password: PASSWORD }), 403, 'signup_closed');
      assert.equal((await closed.ctx.db.selectFrom('users').select('id').execute()).length, 0);
    });

    test('invite: no invitation is refused; an admin link works once, for its address only, and puts the account in its group', async () => {
      const opts = await expectJson(await from(invite, ip(), 'GET', '/api/auth/signup'));
      assert.deepEqual(opts, { mode: 'invite', captcha: { provider: 'turnstile', site_key: '1x00000000000000000000AA' }, verification: true });
      const email = fresh();
      await expectError(
        await from(invite, ip(), 'POST', '/api/auth/signup', { email, password: PASSWORD, captcha_token: 'good' }),
        403,
        'invite_required',
        'invite',
      );
      await expectError(
        await from(invite, ip(), 'POST', '/api/auth/signup', { email, password: PASSWORD, invite: 'made-up', captcha_token: 'good' }),
        403,
        'invalid_invite',
      );
      await expectError(await admin(invite, 'POST', '/api/admin/invites', { role: 'admin' }), 400, 'invalid_request', 'role');

      const inv = await expectJson(await admin(invite, 'POST', '/api/admin/invites', { email, group: 'vip' }), 201);
      assert.equal(inv.mailed, true);
      const mailed = await mailTo(smtp.mails, email, /invited/i);
      const { token } = linkIn(mailed.body, 'invite');
      assert.ok(inv.link.endsWith(`/console/signup?invite=${token}`));
      const stored = await invite.ctx.db.selectFrom('signup_invites').selectAll().where('id', '=', inv.id).executeTakeFirstOrThrow();
      assert.notEqual(stored.token_hash, token, 'only the hash is kept');

      await expectError(
        await from(invite, ip(), 'POST', '/api/auth/signup', { email: fresh(), password: PASSWORD, invite: token, captcha_token: 'good' }),
        403,
        'invalid_invite',
      );
      await expectJson(await from(invite, ip(), 'POST', '/api/auth/signup', { email, password: PASSWORD, invite: token, captcha_token: 'good' }), 202);
      const user = await invite.ctx.db.selectFrom('users').selectAll().where('email_normalized', '=', email).executeTakeFirstOrThrow();
      assert.equal(user.group_name, 'vip');
      assert.equal(user.role, 'user');
      await expectError(
        await from(invite, ip(), 'POST', '/api/auth/signup', { email, password: PASSWORD, invite: token, captcha_token: 'good' }),
        403,
        'invalid_invite',
      );
      const list = await expectJson(await admin(invite, 'GET', '/api/admin/invites'));
      assert.equal(list.data.find((i: { id: string }) => i.id === inv.id).status, 'used');
    });

    test('invite: two sign-ups racing with one link make one account', async () => {
      const inv = await expectJson(await admin(invite, 'POST', '/api/admin/invites', {}), 201);
      const token = new URL(inv.link).searchParams.get('invite')!;
      const emails = [fresh(), fresh(), fresh(), fresh()];
      const results = await Promise.all(
        emails.map((email) => from(invite, ip(), 'POST', '/api/auth/signup', { email, password: PASSWORD, invite: token, captcha_token: 'good' })),
      );
      const statuses = results.map((r) => r.status).sort();
      await Promise.all(results.map((r) => r.text()));
      assert.deepEqual(statuses, [202, 403, 403, 403]);
      const made = await invite.ctx.db.selectFrom('users').select('id').where('email_normalized', 'in', emails).execute();
      assert.equal(made.length, 1);
      const row = await invite.ctx.db.selectFrom('signup_invites').selectAll().where('id', '=', inv.id).executeTakeFirstOrThrow();
      assert.equal(row.used_by, made[0].id);
    });

    test('invite: a revoked link is refused', async () => {
      const inv = await expectJson(await admin(invite, 'POST', '/api/admin/invites', {}), 201);
      const token = new URL(inv.link).searchParams.get('invite')!;
      assert.equal((await expectJson(await admin(invite, 'POST', `/api/admin/invites/${inv.id}/revoke`))).status, 'revoked');
      await expectError(
        await from(invite, ip(), 'POST', '/api/auth/signup', { email: fresh(), password: PASSWORD, invite: token, captcha_token: 'good' }),
        403,
        'invalid_invite',
      );
      await expectError(await admin(invite, 'POST', '/api/admin/invites/inv_nope/revoke'), 404, 'invite_not_found');
    });

    test("invite: a team owner's invitation to the address lets it sign up; the membership starts once the address is verified", async () => {
      const ownerEmail = fresh();
      const inv = await expectJson(await admin(invite, 'POST', '/api/admin/invites', { email: ownerEmail }), 201);
      const token = new URL(inv.link).searchParams.get('invite')!;
      await expectJson(
        await from(invite, ip(), 'POST', '/api/auth/signup', { email: ownerEmail, password: PASSWORD, invite: token, captcha_token: 'good' }),
        202,
      );
      await expectJson(await from(invite, ip(), 'POST', '/api/auth/verify', { token: linkIn((await mailTo(smtp.mails, ownerEmail, /verify/i)).body).token }));
      const owner = await signInFrom(invite, ip(), ownerEmail, PASSWORD);
      const team = await expectJson(
        await owner.f('/api/teams', { method: 'POST', body: JSON.stringify({ name: `t${n}${Math.random().toString(36).slice(2, 6)}` }) }),
        201,
      );
      const member = fresh();
      await expectJson(await owner.f(`/api/teams/${team.id}/members`, { method: 'POST', body: JSON.stringify({ email: member }) }), 201);

      await expectJson(await from(invite, ip(), 'POST', '/api/auth/signup', { email: member, password: PASSWORD, captcha_token: 'good' }), 202);
      const status = async () =>
        (await invite.ctx.db.selectFrom('team_members').select('status').where('email_normalized', '=', member).executeTakeFirstOrThrow()).status;
      assert.equal(await status(), 'invited', 'an unproved address does not take the seat');
      await expectJson(await from(invite, ip(), 'POST', '/api/auth/verify', { token: linkIn((await mailTo(smtp.mails, member, /verify/i)).body).token }));
      assert.equal(await status(), 'active');

      // Someone signed up with an address first and never proved it: the owner's invitation does not hand them the seat.
      const squatter = fresh();
      const inv2 = await expectJson(await admin(invite, 'POST', '/api/admin/invites', { email: squatter }), 201);
      const token2 = new URL(inv2.link).searchParams.get('invite')!;
      await expectJson(
        await from(invite, ip(), 'POST', '/api/auth/signup', { email: squatter, password: PASSWORD, invite: token2, captcha_token: 'good' }),
        202,
      );
      await expectJson(await owner.f(`/api/teams/${team.id}/members`, { method: 'POST', body: JSON.stringify({ email: squatter }) }), 201);
      const row = await invite.ctx.db
        .selectFrom('team_members')
        .select(['status', 'user_id'])
        .where('email_normalized', '=', squatter)
        .executeTakeFirstOrThrow();
      assert.deepEqual(row, { status: 'invited', user_id: null });
    });

    test('the captcha is checked with its provider: missing or wrong answers are refused before anything else happens', async () => {
      const inv = await expectJson(await admin(invite, 'POST', '/api/admin/invites', {}), 201);
      const token = new URL(inv.link).searchParams.get('invite')!;
      const email = fresh();
      const addr = ip();
      await expectError(
        await from(invite, addr, 'POST', '/api/auth/signup', { email, password: PASSWORD, invite: token }),
        400,
        'captcha_failed',
        'captcha_token',
      );
      const before = siteverify.calls.length;
      await expectError(
        await from(invite, addr, 'POST', '/api/auth/signup', { email, password: PASSWORD, invite: token, captcha_token: 'bad' }),
        400,
        'captcha_failed',
      );
      const call = siteverify.calls[before];
      assert.equal(call.get('response'), 'bad');
      assert.equal(call.get('remoteip'), addr);
      assert.equal((await invite.ctx.db.selectFrom('users').select('id').where('email_normalized', '=', email).execute()).length, 0);
      await expectJson(await from(invite, addr, 'POST', '/api/auth/signup', { email, password: PASSWORD, invite: token, captcha_token: 'good' }), 202);
    });

    test('without SMTP: verification is off, the new account signs in and may create a key at once; resend says why not', async () => {
      assert.ok(noMail.logs.join('').includes('TALLY_SMTP_URL is not set: e-mail verification is off'), 'the start warns');
      const email = fresh();
      const r = await expectJson(await from(noMail, ip(), 'POST', '/api/auth/signup', { email, password: PASSWORD }), 202);
      assert.equal(r.verification, false);
      const s = await signInFrom(noMail, ip(), email, PASSWORD);
      assert.equal((await expectJson(await s.f('/api/me'))).email_verified, true);
      await expectJson(await s.f('/api/keys', { method: 'POST', body: JSON.stringify({ name: 'k' }) }), 201);
      await expectError(await s.f('/api/auth/verify/resend', { method: 'POST' }), 409, 'verification_off');
      // Forgot still answers as always (and nothing can be mailed).
      assert.equal((await from(noMail, ip(), 'POST', '/api/auth/password/forgot', { email })).status, 202);
    });
  });
}
