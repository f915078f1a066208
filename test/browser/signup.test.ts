// Sign-up in the console, as a newcomer does it: the form, the mail (read
// from a real SMTP server started here), the verification link opened in the
// browser, then signing in.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SKIP, startConsoleEnv, newPage, signInUi, shot, problemsOf, type ConsoleEnv } from './browser.ts';
import { startSmtp } from '../alerts/receivers.ts';
import { mailTo, linkIn } from '../accounts/accountMail.ts';

describe('sign-up in the console (Chromium)', { skip: SKIP }, () => {
  let env: ConsoleEnv;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;

  before(async () => {
    smtp = await startSmtp();
    env = await startConsoleEnv({ TALLY_SIGNUP: 'open', TALLY_SMTP_URL: smtp.url });
  });
  after(async () => {
    await env?.close();
    await smtp?.close();
  });

  test('sign up, open the verification link from the mail, sign in', async () => {
    const { ctx, page } = await newPage(env);
    const email = 'newcomer@signup.test';
    const password = 'amber lighthouse pretzel 8';
    await page.goto('/console/');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByRole('heading', { name: 'Create an account', level: 1 }).waitFor();
    await page.getByLabel('E-mail').fill(email);
    // A common password is refused in words.
    await page.getByLabel('Password').fill('password123');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('This password is too common').waitFor();
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Check your mail').waitFor();
    await shot(page, 'signup-check-mail');

    const mail = await mailTo(smtp.mails, email, /verify/i);
    const { url } = linkIn(mail.body);
    await page.goto(url);
    await page.getByText('Your e-mail address is verified.').waitFor();
    assert.ok(!page.url().includes('token='), `the token stays out of the address bar: ${page.url()}`);
    await shot(page, 'signup-verified');

    await signInUi(page, email, password);
    await page.goto('/console/account');
    await page.getByText('Your e-mail address is verified.').waitFor();
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test('forgot password: the reset link from the mail sets a new password', async () => {
    const { ctx, page } = await newPage(env);
    // An account made through the API, verified by its link.
    const email = 'forgetful@signup.test';
    await fetch(`${env.t.url}/api/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'first pass phrase 123' }),
    });
    const verify = linkIn((await mailTo(smtp.mails, email, /verify/i)).body);
    await fetch(`${env.t.url}/api/auth/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: verify.token }),
    });

    await page.goto('/console/');
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('E-mail').fill(email);
    await page.getByRole('button', { name: 'Send reset link' }).click();
    await page.getByText('a mail with a reset link is on its way').waitFor();
    const { url } = linkIn((await mailTo(smtp.mails, email, /reset/i)).body);
    await page.goto(url);
    await page.getByLabel('New password', { exact: true }).fill('second pass phrase 456');
    await page.getByLabel('New password again').fill('second pass phrase 456');
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByText('Your password is set.').waitFor();
    await signInUi(page, email, 'second pass phrase 456');
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });
});
