// The web console in a real browser against a real Tally: what a user and an
// operator do in it, and what they must not be able to see.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { SKIP, CHAT, PHONE, startConsoleEnv, newPage, signInUi, shot, seedUser, problemsOf, type ConsoleEnv } from './browser.ts';
import { generateRedeemBatch } from '../../src/redeem/index.ts';
import { getAccount, walletAccountId } from '../../src/ledger/index.ts';

/** A link in the side navigation (page bodies link to the same pages, e.g. the low-balance notice). */
const nav = (page: Page, name: string) => page.getByRole('navigation', { name: /Main navigation|主导航/ }).getByRole('link', { name, exact: true });

/** Sum of layout-shift scores since the page loaded (no user input involved), as Chromium measures CLS. */
// Browser-side code is passed as a string: the root tsconfig has no DOM types.
const layoutShift = (page: Page): Promise<number> =>
  page.evaluate(`new Promise((resolve) => {
    let total = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (!e.hadRecentInput) total += e.value;
    }).observe({ type: 'layout-shift', buffered: true });
    setTimeout(() => resolve(total), 300);
  })`);

describe('web console in Chromium', { skip: SKIP }, () => {
  let env: ConsoleEnv;
  let alice: Awaited<ReturnType<typeof seedUser>>;
  let bob: Awaited<ReturnType<typeof seedUser>>;
  let admin: Awaited<ReturnType<typeof seedUser>>;
  let aliceRequestId = '';

  before(async () => {
    env = await startConsoleEnv();
    alice = await seedUser(env.t, { email: 'alice@console.test', balance: 3_000_000n });
    bob = await seedUser(env.t, { email: 'bob@console.test', balance: 500_000n });
    admin = await seedUser(env.t, { email: 'admin@console.test', role: 'admin' });
  });
  after(async () => {
    await env?.close();
  });

  test('a user signs in (a wrong password is refused in words) and sees the balance without the page jumping', async () => {
    const { ctx, page } = await newPage(env);
    await page.goto('/console/');
    await shot(page, 'signin');
    await page.getByLabel('Email').fill(alice.email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('The email or password is not right.').waitFor();
    await page.getByLabel('Password').fill(alice.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
    assert.equal((await page.getByTestId('balance').textContent())?.replace(/\s+/g, ' ').trim(), '3.00 USD');
    await page.reload();
    await page.getByTestId('balance').waitFor();
    await page.locator('.chart-frame').first().waitFor();
    await page.waitForLoadState('networkidle');
    const cls = await layoutShift(page);
    assert.ok(cls < 0.05, `layout shift while the dashboard loads: ${cls}`);
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test('a key created in the console is shown once, works against the relay, and its request is explained in the usage log', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, alice.email, alice.password);
    await nav(page, 'API keys').click();
    await page.getByLabel('Name', { exact: true }).fill('browser key');
    await page.getByLabel(/^Models/).fill(CHAT);
    await page.getByLabel(/^Spend limit/).fill('1.50');
    await page.getByLabel(/^IP allowlist/).fill('127.0.0.1/32, ::1/128');
    await page.getByRole('button', { name: 'Create key' }).click();
    const keyBox = page.getByTestId('new-key');
    await keyBox.waitFor();
    const secret = await keyBox.inputValue();
    assert.match(secret, /^sk-/);
    await shot(page, 'keys-created');
    await page.getByRole('button', { name: 'I have copied it' }).click();
    const row = page.getByRole('row', { name: /browser key/ });
    await row.waitFor();
    assert.ok(!(await page.content()).includes(secret), 'the full key is gone from the page once the dialog closes');
    assert.match((await row.textContent()) ?? '', /0\.00 \/ 1\.50/);

    const res = await fetch(`${env.t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: CHAT, messages: [{ role: 'user', content: 'hello from the console test' }], max_tokens: 32 }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    aliceRequestId = res.headers.get('x-request-id')!;
    await env.t.ctx.relay.flush();

    await nav(page, 'Usage log').click();
    const usageRow = page.getByRole('row', { name: `Open request ${aliceRequestId}` });
    await usageRow.waitFor();
    assert.match((await usageRow.textContent()) ?? '', /yes/);
    await shot(page, 'usage');
    await usageRow.click();
    await page.waitForURL(`**/console/usage/${aliceRequestId}`);
    const explanation = page.getByTestId('usage-explanation');
    await page.waitForFunction(`!document.querySelector('[data-testid="usage-explanation"] .skeleton')`);
    assert.match((await explanation.textContent()) ?? '', /\d/);
    await shot(page, 'usage-detail');

    await nav(page, 'Dashboard').click();
    await page.getByRole('img', { name: /Daily spend/ }).waitFor();
    assert.match((await page.locator('.legend').textContent()) ?? '', new RegExp(CHAT));
    await page.getByRole('button', { name: 'By key' }).click();
    assert.match((await page.locator('.legend').textContent()) ?? '', /sk-/);
    await page.getByRole('button', { name: 'By model' }).click();
    await shot(page, 'dashboard');

    // Revoking in the console stops the key at once.
    await nav(page, 'API keys').click();
    await page.getByRole('button', { name: 'Revoke browser key' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('row', { name: /browser key/ }).getByText('revoked').waitFor();
    const after = await fetch(`${env.t.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: CHAT, messages: [{ role: 'user', content: 'still there?' }] }),
    });
    assert.equal(after.status, 401);
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test('a redeemed code credits the wallet and appears on the statement with its masked code, also in the CSV', async () => {
    const { batch, codes } = await generateRedeemBatch(env.t.ctx.db, { count: 1, amount: 2_000_000n, currency: 'USD', secret: env.t.config.secret, actor: { type: 'system' }, name: 'browser' });
    assert.ok(batch.id);
    const { ctx, page } = await newPage(env);
    await signInUi(page, bob.email, bob.password);
    await nav(page, 'Redeem a code').click();
    await page.getByLabel('Redeem code').fill('tally-0000-0000-0000-0000-0000');
    await page.getByRole('button', { name: 'Redeem' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel('Redeem code').fill(codes[0].code.toLowerCase());
    await page.getByRole('button', { name: 'Redeem' }).click();
    await page.getByText(/2\.00 USD added to your balance/).waitFor();
    await shot(page, 'redeem');
    const wallet = await getAccount(env.t.ctx.db, walletAccountId(bob.user.id));
    assert.equal(wallet.balance, 2_500_000n);

    await page.getByRole('status').getByRole('link', { name: 'Statement' }).click();
    const line = page.getByRole('row', { name: /Redeem code/ });
    await line.waitFor();
    const text = (await line.textContent()) ?? '';
    assert.match(text, /\+2\.00/);
    assert.ok(text.includes(codes[0].display), `statement shows the masked code ${codes[0].display}: ${text}`);
    assert.ok(!text.includes(codes[0].code), 'never the full code');
    await shot(page, 'statement');

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export CSV' }).click();
    const file = await (await download).path();
    const csv = readFileSync(file, 'utf8');
    assert.ok(csv.startsWith('\ufefftime,kind,amount,balance_after,reason,reference'));
    assert.ok(csv.includes(codes[0].display) && csv.includes('2.00'), csv);
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test("a user cannot open another user's request, or the admin pages, by URL", async () => {
    assert.ok(aliceRequestId, 'runs after the key test');
    const { ctx, page } = await newPage(env);
    await signInUi(page, bob.email, bob.password);
    await page.goto(`/console/usage/${aliceRequestId}`);
    await page.getByTestId('usage-detail').getByText('Not found, or not yours to see.').waitFor();
    assert.ok(!(await page.getByTestId('usage-detail').textContent())?.includes(CHAT));
    await page.goto('/console/admin/users');
    await page.getByText('Your account may not open this page.').waitFor();
    assert.equal(await page.getByRole('link', { name: 'Users' }).count(), 0, 'no admin navigation for a user');
    const api = await page.evaluate(async (id) => [(await fetch(`/api/usage/${id}`)).status, (await fetch('/api/admin/users')).status], aliceRequestId);
    assert.deepEqual(api, [404, 403]);
    await shot(page, 'not-yours');
    await ctx.close();
  });

  test("a top-up order is followed on its own page, and another user opening it by URL sees nothing", async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, alice.email, alice.password);
    await nav(page, 'Top up').click();
    await page.getByLabel(/^Amount/).fill('5.00');
    await page.getByRole('button', { name: 'Continue to payment' }).click();
    await page.waitForURL(/\/console\/orders\/ord_/);
    const orderId = page.url().split('/').pop()!;
    await page.getByText(/Waiting for your payment of 5\.00/).waitFor();
    assert.ok(await page.getByRole('link', { name: 'Pay' }).getAttribute('href'));
    await shot(page, 'order');
    await ctx.close();

    const other = await newPage(env);
    await signInUi(other.page, bob.email, bob.password);
    await other.page.goto(`/console/orders/${orderId}`);
    await other.page.getByText('Not found, or not yours to see.').waitFor();
    assert.ok(!(await other.page.content()).includes('5.00 USD'));
    await other.ctx.close();
  });

  test('the help page runs the doctor and opens a ticket, removing a pasted redeem code', async () => {
    const { codes } = await generateRedeemBatch(env.t.ctx.db, { count: 1, amount: 1_000_000n, currency: 'USD', secret: env.t.config.secret, actor: { type: 'system' }, name: 'pasted' });
    const { ctx, page } = await newPage(env);
    await signInUi(page, bob.email, bob.password);
    await nav(page, 'Help & support').click();
    await page.getByLabel('What happened').selectOption('redeem_not_credited');
    await page.getByRole('button', { name: 'Check my account' }).click();
    await page.getByTestId('findings').waitFor();
    await page.getByLabel('Subject').fill('code did not work');
    await page.getByLabel('Message').fill(`I typed ${codes[0].code} and nothing happened`);
    await page.getByRole('button', { name: 'Open ticket' }).click();
    const opened = page.getByText(/Ticket tkt_\w+ opened/);
    await opened.waitFor();
    assert.match((await opened.textContent()) ?? '', /We removed/);
    const ticketId = /tkt_\w+/.exec((await opened.textContent())!)![0];
    const stored = await page.evaluate(`fetch('/api/tickets/${ticketId}').then((r) => r.text())`);
    assert.ok(!String(stored).includes(codes[0].code), 'the full code is not stored with the ticket');
    await page.getByRole('row', { name: /code did not work/ }).waitFor();
    await shot(page, 'help');
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test('the language switch turns the console Chinese and is remembered after a reload', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, alice.email, alice.password);
    await page.getByRole('button', { name: '中文' }).click();
    await page.getByRole('heading', { name: '概览', level: 1 }).waitFor();
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    await page.reload();
    await page.getByRole('link', { name: '账单明细' }).waitFor();
    await nav(page, 'API 密钥').click();
    await page.getByRole('heading', { name: 'API 密钥', level: 1 }).waitFor();
    await shot(page, 'keys-zh');
    await nav(page, '概览').click();
    await page.getByRole('img', { name: /每日消费/ }).waitFor();
    await shot(page, 'dashboard-zh');
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
    await ctx.close();
  });

  test('at phone width nothing scrolls sideways and the navigation opens from the menu button', async () => {
    const { ctx, page } = await newPage(env, { viewport: PHONE });
    await page.goto('/console/');
    await page.getByLabel('Email').waitFor();
    await shot(page, 'phone-signin');
    await signInUi(page, alice.email, alice.password);
    const overflow = async (): Promise<number> => page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
    assert.ok((await overflow()) <= 0, 'dashboard fits the phone');
    const nav = page.getByRole('navigation', { name: 'Main navigation' });
    assert.equal(await nav.isVisible(), false, 'navigation folded away');
    await shot(page, 'phone-dashboard');
    await page.getByRole('button', { name: 'Menu' }).click();
    assert.equal(await nav.isVisible(), true);
    await shot(page, 'phone-menu');
    await nav.getByRole('link', { name: 'Usage log' }).click();
    assert.equal(await nav.isVisible(), false, 'the menu closes after choosing a page');
    await page.getByRole('row', { name: `Open request ${aliceRequestId}` }).waitFor();
    assert.ok((await overflow()) <= 0, 'usage log fits the phone (rows become cards)');
    await shot(page, 'phone-usage');
    for (const path of ['/console/keys', '/console/statement', '/console/redeem']) {
      await page.goto(path);
      await page.locator('main h1').waitFor();
      await page.waitForLoadState('networkidle');
      assert.ok((await overflow()) <= 0, `${path} fits the phone`);
    }
    await shot(page, 'phone-keys');
    await ctx.close();
  });

  test('an admin finds a user and credits them after confirming a reason, which the user sees on the statement', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, admin.email, admin.password);
    await nav(page, 'Users').click();
    await page.getByLabel('Search by email or id').fill('bob@');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('row', { name: bob.email }).click();
    await page.getByRole('heading', { name: bob.email, level: 1 }).waitFor();
    await shot(page, 'admin-user');
    const before = (await getAccount(env.t.ctx.db, walletAccountId(bob.user.id))).balance;
    await page.getByLabel(/^Amount/).fill('1.25');
    await page.getByRole('button', { name: 'Review' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText(/Book 1\.25 USD to bob@console\.test/).waitFor();
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.getByText('Write the reason before booking.').waitFor();
    await dialog.getByLabel(/^Reason/).fill('goodwill for ticket T-1');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText(/Booked\. New balance: /).waitFor();
    assert.equal((await getAccount(env.t.ctx.db, walletAccountId(bob.user.id))).balance, before + 1_250_000n);

    await nav(page, 'Channels').click();
    await page.getByRole('row', { name: /mock/ }).waitFor();
    await shot(page, 'admin-channels');
    await nav(page, 'Models & prices').click();
    await page.getByRole('row', { name: new RegExp(CHAT) }).waitFor();
    await shot(page, 'admin-models');
    await nav(page, 'Groups').click();
    await page.getByLabel('Name').fill('vip');
    await page.getByLabel('Multiplier').fill('0.8');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('row', { name: /vip/ }).waitFor();
    await ctx.close();

    const user = await newPage(env);
    await signInUi(user.page, bob.email, bob.password);
    await user.page.goto('/console/statement');
    await user.page.getByRole('row', { name: /goodwill for ticket T-1/ }).waitFor();
    assert.deepEqual(problemsOf(user.page), []);
    await user.ctx.close();
  });
});
