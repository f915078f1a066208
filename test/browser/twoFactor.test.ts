// Two-factor sign-in in a real browser: a user turns it on from the Security
// page (the secret read from the page, codes computed by otpauth as an app
// would), sees the recovery codes once, signs out, and signing in again asks
// for a code after the password.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { SKIP, startConsoleEnv, newPage, signInUi, shot, seedUser, problemsOf, type ConsoleEnv } from './browser.ts';
import { totpCode, STEP_MS } from '../accounts/twoFactorHelpers.ts';

const nav = (page: Page, name: string) => page.getByRole('navigation', { name: /Main navigation|主导航/ }).getByRole('link', { name, exact: true });

describe('two-factor sign-in in Chromium', { skip: SKIP }, () => {
  let env: ConsoleEnv;
  before(async () => {
    env = await startConsoleEnv();
  });
  after(async () => {
    await env?.close();
  });

  test('turn on 2FA with the QR page, sign out, sign in again with a code', async () => {
    const u = await seedUser(env.t, { email: 'twofactor@browser.test' });
    const { ctx, page } = await newPage(env);
    await signInUi(page, u.email, u.password);
    await nav(page, 'Security').click();
    await page.getByTestId('two-factor-status').getByText('Two-factor sign-in is off.').waitFor();
    await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
    const secret = (await page.getByTestId('totp-secret').textContent())!.trim();
    assert.match(secret, /^[A-Z2-7]{32}$/);
    const uri = await page.getByRole('img', { name: 'QR code for your authenticator app' }).getAttribute('data-otpauth');
    assert.ok(uri?.includes(`secret=${secret}`));
    await page.getByLabel('6-digit code').fill(totpCode(secret, Date.now()));
    await page.getByRole('button', { name: 'Turn on' }).click();
    const codes = (await page.getByTestId('recovery-codes').locator('pre').textContent())!.split('\n');
    assert.equal(codes.length, 10);
    await shot(page, 'two-factor-recovery-codes');
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await page.getByTestId('two-factor-status').getByText('Two-factor sign-in is on.').waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();

    await page.getByLabel('Email').fill(u.email);
    await page.getByLabel('Password').fill(u.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Enter your code' }).waitFor();
    // A wrong code is refused with a message; then the next step's code (the one used to turn it on cannot be used again).
    await page.getByLabel('6-digit code').fill('000000');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText('That code is wrong, expired or already used.', { exact: false }).waitFor();
    await page.getByLabel('6-digit code').fill(totpCode(secret, Date.now() + STEP_MS));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await shot(page, 'two-factor-signed-in');
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test('the recovery code works once from the sign-in page (in Chinese)', async () => {
    const u = await seedUser(env.t, { email: 'recovery@browser.test' });
    const { ctx, page } = await newPage(env, { locale: 'zh-CN' });
    await signInUi(page, u.email, u.password);
    await page.goto('/console/security');
    await page.getByRole('button', { name: '设置两步验证' }).click();
    const secret = (await page.getByTestId('totp-secret').textContent())!.trim();
    await page.getByLabel('6 位验证码').fill(totpCode(secret, Date.now()));
    await page.getByRole('button', { name: '开启', exact: true }).click();
    const codes = (await page.getByTestId('recovery-codes').locator('pre').textContent())!.split('\n');
    await page.getByRole('button', { name: '我已保存' }).click();
    await page.getByRole('button', { name: '退出登录' }).click();
    await page.getByLabel('邮箱').fill(u.email);
    await page.getByLabel('密码').fill(u.password);
    await page.getByRole('button', { name: '登录' }).click();
    await page.getByRole('button', { name: '改用恢复码' }).click();
    await page.getByLabel('恢复码').fill(codes[0]);
    await page.getByRole('button', { name: '验证', exact: true }).click();
    await page.getByRole('button', { name: '退出登录' }).waitFor();
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });
});
