// Sessions and account administration in the console, in Chromium: one user
// signed in from two browsers signs the other out from the Sessions page, and
// the other browser is back at the sign-in page on its next step; an admin
// disables a user from the user's staff page with a reason (their key stops,
// the list shows them disabled) and enables them again.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SKIP, startConsoleEnv, newPage, signInUi, seedUser, problemsOf, shot, type ConsoleEnv } from './browser.ts';

describe('sessions and account administration in the console, in Chromium', { skip: SKIP }, () => {
  let env: ConsoleEnv;
  before(async () => {
    env = await startConsoleEnv();
  });
  after(async () => {
    await env?.close();
  });

  const keyStatus = async (apiKey: string) => (await fetch(`${env.t.url}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } })).status;

  test('two browsers signed in as one user: the first signs the second out from the Sessions page; the second is signed out', async () => {
    const u = await seedUser(env.t, { email: 'two-browsers@console.test' });
    const first = await newPage(env);
    const second = await newPage(env);
    await signInUi(first.page, u.email, u.password);
    await signInUi(second.page, u.email, u.password);

    const page = first.page;
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Sessions' }).click();
    await page.getByRole('heading', { name: 'Sessions', level: 1 }).waitFor();
    const rows = page.getByRole('row').filter({ has: page.getByRole('button', { name: /^Sign out:/ }) });
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2);
    const mine = rows.filter({ hasText: 'This device' });
    assert.equal(await mine.count(), 1);
    assert.match((await mine.textContent()) ?? '', /Chrome on Linux/);
    await shot(page, 'sessions-two');

    // Sign out the other one (the row without "This device").
    await rows
      .filter({ hasNotText: 'This device' })
      .getByRole('button', { name: /^Sign out:/ })
      .click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText(/^Sign out Chrome on Linux \(/).waitFor();
    await dialog.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('Session signed out.').waitFor();
    await page.getByText('No other sessions.').waitFor();
    assert.equal(await rows.count(), 1);

    // The second browser's next step meets a 401: it is back at the sign-in page.
    await second.page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'API keys' }).click();
    await second.page.getByRole('button', { name: /^(Sign in|登录)$/ }).waitFor();
    // The first one is still signed in.
    await page.reload();
    await page.getByRole('heading', { name: 'Sessions', level: 1 }).waitFor();

    // In Chinese too.
    await page.getByRole('button', { name: '中文' }).click();
    await page.getByRole('heading', { name: '登录设备', level: 1 }).waitFor();
    await page.getByText('当前设备').waitFor();
    await page.getByRole('button', { name: 'English' }).click();

    assert.deepEqual(problemsOf(page), []);
    assert.deepEqual(problemsOf(second.page), []);
    await first.ctx.close();
    await second.ctx.close();
  });

  test('an admin disables a user with a reason from the staff page: the key stops, the list shows it; then enables them', async () => {
    const admin = await seedUser(env.t, { email: 'admin-disables@console.test', role: 'admin' });
    const u = await seedUser(env.t, { email: 'to-disable@console.test' });
    assert.equal(await keyStatus(u.apiKey), 200);
    const { ctx, page } = await newPage(env);
    await signInUi(page, admin.email, admin.password);
    await page.goto(`/console/admin/users/${u.user.id}`);
    const account = page.getByTestId('account-admin');
    await account.getByText('Active', { exact: true }).waitFor();

    await account.getByRole('button', { name: 'Disable account' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText(/^Disable to-disable@console\.test\?/).waitFor();
    // No reason: refused in the dialog, nothing sent.
    await dialog.getByRole('button', { name: 'Disable account' }).click();
    await dialog.getByRole('alert').or(dialog.locator('.notice')).first().waitFor();
    assert.equal((await env.t.ctx.db.selectFrom('users').select('status').where('id', '=', u.user.id).executeTakeFirstOrThrow()).status, 'active');
    await dialog.getByLabel(/Reason/).fill('spam from this account, ticket 7');
    await dialog.getByRole('button', { name: 'Disable account' }).click();
    await account.getByText(/Account disabled; 0 session\(s\) ended\./).waitFor();
    await account.getByText('Disabled', { exact: true }).waitFor();
    await account.getByText(/spam from this account, ticket 7/).waitFor();
    await shot(page, 'user-disabled');
    assert.equal(await keyStatus(u.apiKey), 403, 'the key is refused at once');
    const audit = await env.t.ctx.db.selectFrom('audit_log').selectAll().where('target', '=', u.user.id).where('action', '=', 'user.disable').execute();
    assert.deepEqual([audit.length, audit[0]?.actor, audit[0]?.reason], [1, `user:${admin.user.id}`, 'spam from this account, ticket 7']);

    // The list shows the status.
    await page.goto('/console/admin/users');
    const row = page.getByRole('row', { name: /to-disable@console\.test/ });
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /disabled/);

    // Enable again.
    await page.goto(`/console/admin/users/${u.user.id}`);
    await account.getByRole('button', { name: 'Enable account' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Enable account' }).click();
    await account.getByText('Account enabled.').waitFor();
    assert.equal(await keyStatus(u.apiKey), 200);
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });
});
