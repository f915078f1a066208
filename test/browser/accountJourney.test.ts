// The whole account journey of a newcomer in one browser session, as issue 17
// asks: sign up on the console, verify the address from the mail (read from a
// real SMTP server started here), turn on two-factor sign-in, sign out, and
// sign in again with the password and a code computed as an authenticator app
// would (otpauth).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SKIP, startConsoleEnv, newPage, signInUi, shot, problemsOf, type ConsoleEnv } from './browser.ts';
import { startSmtp } from '../alerts/receivers.ts';
import { mailTo, linkIn } from '../accounts/accountMail.ts';
import { totpCode, STEP_MS } from '../accounts/twoFactorHelpers.ts';

describe('a newcomer signs up, verifies, turns on two-factor and signs in with a code (Chromium)', { skip: SKIP }, () => {
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

  test('sign up → verify from the mail → enable 2FA → sign out → sign in with a code', async () => {
    const { ctx, page } = await newPage(env);
    const email = 'journey@accounts.test';
    const password = 'copper harbour lantern 42';

    await page.goto('/console/');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Check your mail').waitFor();

    const { url } = linkIn((await mailTo(smtp.mails, email, /verify/i)).body);
    await page.goto(url);
    await page.getByText('Your e-mail address is verified.').waitFor();

    await signInUi(page, email, password);
    await page.goto('/console/security');
    await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
    const secret = (await page.getByTestId('totp-secret').textContent())!.trim();
    await page.getByLabel('6-digit code').fill(totpCode(secret, Date.now()));
    await page.getByRole('button', { name: 'Turn on' }).click();
    const codes = (await page.getByTestId('recovery-codes').locator('pre').textContent())!.split('\n');
    assert.equal(codes.length, 10);
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await page.getByTestId('two-factor-status').getByText('Two-factor sign-in is on.').waitFor();
    // The owner is told by mail that two-factor sign-in was turned on.
    await mailTo(smtp.mails, email, /two-factor/i);
    await page.getByRole('button', { name: 'Sign out' }).click();

    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Enter your code' }).waitFor();
    // The code that turned it on was spent: the next step's code signs in.
    await page.getByLabel('6-digit code').fill(totpCode(secret, Date.now() + STEP_MS));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.goto('/console/account');
    await page.getByText('Your e-mail address is verified.').waitFor();
    await shot(page, 'account-journey-signed-in');
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });
});
