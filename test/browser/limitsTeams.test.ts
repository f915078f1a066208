// Limits, budgets, teams and alerts in the console (issue 16), in Chromium
// against a real Tally: a key made with a limit and a budget in the UI is
// refused by the relay past its limit and shows its budget's spend; a team is
// created, funded, a second user invited with a budget, and their team key's
// spend appears on the team page; the team's and the user's alert settings
// are saved; staff set a user's and a group's limits and read the team; all
// of it in Chinese too and at phone width.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { SKIP, CHAT, PHONE, startConsoleEnv, newPage, signInUi, shot, seedUser, problemsOf, type ConsoleEnv } from './browser.ts';
import { generateRedeemBatch } from '../../src/redeem/index.ts';
import { getAccount, teamWalletId } from '../../src/ledger/index.ts';
import { assertLedgerOk } from '../helpers/relay.ts';

const nav = (page: Page, name: string) => page.getByRole('navigation', { name: /Main navigation|主导航/ }).getByRole('link', { name, exact: true });

/** One non-stream chat completion through the relay with `key`. */
async function chat(env: ConsoleEnv, key: string) {
  const res = await fetch(`${env.t.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: CHAT, messages: [{ role: 'user', content: 'hello' }] }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

/** A console text that still shows a message key instead of its words (a key missing from the language). */
const rawKeys = async (page: Page) => (((await page.locator('main').textContent()) ?? '').match(/\blimits\.[a-zA-Z]+\.[a-zA-Z.]+/g) ?? []).join(', ');

describe('limits, budgets, teams and alerts in the console, in Chromium', { skip: SKIP }, () => {
  let env: ConsoleEnv;
  let alice: Awaited<ReturnType<typeof seedUser>>;
  let bob: Awaited<ReturnType<typeof seedUser>>;
  let admin: Awaited<ReturnType<typeof seedUser>>;
  let teamId = '';

  before(async () => {
    env = await startConsoleEnv({ TALLY_WEBHOOK_SECRET: 'whsec-browser-0123456789abcdef' });
    alice = await seedUser(env.t, { email: 'alice@limits.test', balance: 5_000_000n });
    bob = await seedUser(env.t, { email: 'bob@limits.test' });
    admin = await seedUser(env.t, { email: 'admin@limits.test', role: 'admin' });
  });
  after(async () => {
    if (env) await assertLedgerOk(env.t);
    await env?.close();
  });

  test('a key made with 2 requests a minute and a day budget: the relay refuses the third with 429, the keys page shows the limit and the spend this period', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, alice.email, alice.password);
    await nav(page, 'API keys').click();
    await page.getByLabel('Name', { exact: true }).fill('limited key');
    await page.getByLabel('Requests per minute').fill('2');
    await page.getByLabel('Budget (empty = none)').fill('1.00');
    await page.getByLabel('Budget period').selectOption('day');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = await page.getByTestId('new-key').inputValue();
    assert.match(secret, /^sk-/);
    await page.getByRole('button', { name: 'I have copied it' }).click();

    const answers: number[] = [];
    let refused: Awaited<ReturnType<typeof chat>> | null = null;
    for (let i = 0; i < 10 && !refused; i++) {
      const r = await chat(env, secret);
      answers.push(r.status);
      if (r.status === 429) refused = r;
    }
    assert.deepEqual(answers.slice(0, 2), [200, 200], `answers: ${answers}`);
    assert.ok(refused, `no 429 in ${answers}`);
    assert.equal(refused.body.error.code, 'rate_limited');
    assert.equal(refused.headers.get('x-ratelimit-limit-requests'), '2');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);

    await env.t.ctx.relay.flush();
    await page.reload();
    const row = page.getByRole('row', { name: /limited key/ });
    await row.getByTestId('key-limits').getByText('2 req/min').waitFor();
    const budget = ((await row.getByTestId('key-budget').textContent()) ?? '').replace(/\s+/g, ' ');
    const m = /^(\d+\.\d+) \/ 1\.00 per day ?resets (.+)$/.exec(budget);
    assert.ok(m, `the budget cell: ${budget}`);
    assert.ok(Number(m[1]) > 0, `two requests were charged to the budget: ${budget}`);
    await shot(page, 'keys-limits');

    // Changed in place: a bad budget is refused in words and changes nothing; then new limits and a weekly budget.
    await page.getByRole('button', { name: 'Limits and budget of limited key' }).click();
    const dialog = page.getByRole('dialog');
    assert.equal(await dialog.getByLabel('Requests per minute').inputValue(), '2');
    assert.equal(await dialog.getByLabel('Budget (empty = none)').inputValue(), '1.00');
    await dialog.getByLabel('Budget (empty = none)').fill('0');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByText(/above zero/).waitFor();
    await dialog.getByLabel('Requests per minute').fill('5');
    await dialog.getByLabel('Tokens per minute').fill('100000');
    await dialog.getByLabel('Budget (empty = none)').fill('2.50');
    await dialog.getByLabel('Budget period').selectOption('week');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await row.getByTestId('key-limits').getByText('5 req/min · 100000 tokens/min').waitFor();
    await row
      .getByTestId('key-budget')
      .getByText(/2\.50 per week/)
      .waitFor();
    const keys = (await page.evaluate(`fetch('/api/keys').then((r) => r.json())`)) as { data: any[] };
    const k = keys.data.find((x) => x.name === 'limited key');
    assert.deepEqual([k.rpm, k.tpm, k.concurrency, k.budget, k.budget_period], [5, 100000, null, '2.50', 'week']);
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test('a team: created, funded with a code, a second user invited with a budget, their team key spends the team wallet and their spend shows on the team page', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, alice.email, alice.password);
    await nav(page, 'Teams').click();
    await page.getByLabel('Team name').fill('Research');
    await page.getByRole('button', { name: 'Create team' }).click();
    await page.getByRole('heading', { name: 'Research', level: 1 }).waitFor();
    teamId = page.url().split('/').pop()!;
    assert.match(teamId, /^team_/);
    assert.match((await page.getByTestId('team-balance').textContent()) ?? '', /0\.00/);

    // Funding: the top-up page opens on the team's wallet; a code is redeemed into it.
    await page.getByRole('link', { name: 'Top up the team' }).click();
    await page.getByLabel('Wallet to fund').locator(`option[value="${teamId}"]`).waitFor({ state: 'attached' });
    assert.equal(await page.getByLabel('Wallet to fund').inputValue(), teamId);
    await page.goBack();
    await page.getByRole('link', { name: 'Redeem a code for the team' }).click();
    const { codes } = await generateRedeemBatch(env.t.ctx.db, {
      count: 1,
      amount: 2_000_000n,
      currency: 'USD',
      secret: env.t.config.secret,
      actor: { type: 'system' },
      name: 'team funding',
    });
    await page.getByLabel('Wallet to fund').locator(`option[value="${teamId}"]`).waitFor({ state: 'attached' });
    assert.equal(await page.getByLabel('Wallet to fund').inputValue(), teamId);
    await page.getByLabel('Redeem code').fill(codes[0].code);
    await page.getByRole('button', { name: 'Redeem', exact: true }).click();
    await page.getByText(/2\.00 USD added to the team wallet\. Its balance is now 2\.00 USD/).waitFor();
    assert.equal((await getAccount(env.t.ctx.db, teamWalletId(teamId))).balance, 2_000_000n);

    await nav(page, 'Teams').click();
    await page.getByRole('row', { name: 'Open team Research' }).click();
    await page.getByTestId('team-balance').getByText('2.00').waitFor();

    // Invite: a duplicate is refused in words; bob joins at once (he has an account) with a day budget, then gets a monthly one.
    await page.getByLabel('Email', { exact: true }).fill(alice.email);
    await page.getByRole('button', { name: 'Invite', exact: true }).click();
    await page.getByText('That address is already a member of this team, or invited.').waitFor();
    await page.getByLabel('Email', { exact: true }).fill(bob.email);
    await page.getByLabel('Role', { exact: true }).selectOption('member');
    await page.getByLabel('Budget (empty = none)').fill('0.50');
    await page.getByLabel('Budget period').selectOption('day');
    await page.getByRole('button', { name: 'Invite', exact: true }).click();
    await page.getByText(`${bob.email} is now a member.`).waitFor();
    const members = (p: Page) => p.getByRole('region', { name: 'Members' });
    const bobRow = members(page).getByRole('row', { name: new RegExp(bob.email) });
    await bobRow.getByText('0.50 per day').waitFor();
    await page.getByRole('button', { name: `Change role or budget of ${bob.email}` }).click();
    const dialog = page.getByRole('dialog');
    assert.equal(await dialog.getByLabel('Budget (empty = none)').inputValue(), '0.50');
    await dialog.getByLabel('Budget (empty = none)').fill('1.00');
    await dialog.getByLabel('Budget period').selectOption('month');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await bobRow.getByText('1.00 per month').waitFor();
    assert.equal((await bobRow.getByTestId('member-spent').textContent()) ?? '', '0.00');

    // Bob makes a team key in his console and calls the relay with it.
    const b = await newPage(env);
    await signInUi(b.page, bob.email, bob.password);
    await nav(b.page, 'API keys').click();
    await b.page.getByLabel('Name', { exact: true }).fill('bob research key');
    await b.page.getByLabel('Team').selectOption(teamId);
    await b.page.getByRole('button', { name: 'Create key' }).click();
    const bobKey = await b.page.getByTestId('new-key').inputValue();
    await b.page.getByRole('button', { name: 'I have copied it' }).click();
    await b.page
      .getByRole('row', { name: /bob research key/ })
      .getByText('team Research')
      .waitFor();
    assert.equal((await chat(env, bobKey)).status, 200);
    await env.t.ctx.relay.flush();
    const wallet = await getAccount(env.t.ctx.db, teamWalletId(teamId));
    assert.ok(wallet.balance < 2_000_000n, 'the team wallet paid for it');
    const spent = 2_000_000n - wallet.balance;

    // The owner sees bob's spend this period and his key; bob sees only his own.
    await page.reload();
    await bobRow.getByTestId('member-spent').waitFor();
    const shown = (await bobRow.getByTestId('member-spent').textContent()) ?? '';
    assert.equal(BigInt(Math.round(Number(shown) * 1e6)), spent, `bob's spend ${shown} = what the wallet paid (${spent} micro)`);
    await page
      .getByRole('row', { name: /bob research key/ })
      .getByText(bob.email)
      .waitFor();
    await shot(page, 'team-owner');

    // The team's own alert threshold, saved and still there after a reload.
    const teamAlerts = page.locator('form', { has: page.getByRole('heading', { name: 'Team alerts' }) });
    await teamAlerts.getByLabel(/^Alert when the team balance falls below/).fill('0.25');
    await teamAlerts.getByRole('button', { name: 'Save' }).click();
    await teamAlerts.getByText('Saved.').waitFor();
    await page.reload();
    await teamAlerts
      .getByLabel(/^Alert when the team balance falls below/)
      .and(page.locator('[value="0.25"]'))
      .waitFor();
    const teamSettings = (await page.evaluate(`fetch('/api/teams/${teamId}/alerts').then((r) => r.json())`)) as { balance_below: string };
    assert.equal(teamSettings.balance_below, '0.25');

    await nav(b.page, 'Teams').click();
    await b.page.getByRole('row', { name: 'Open team Research' }).click();
    await b.page.getByRole('heading', { name: 'Research', level: 1 }).waitFor();
    await members(b.page)
      .getByRole('row', { name: new RegExp(bob.email) })
      .getByTestId('member-spent')
      .getByText(shown)
      .waitFor();
    assert.equal(
      await members(b.page)
        .getByRole('row', { name: new RegExp(alice.email) })
        .getByTestId('member-spent')
        .textContent(),
      '—',
    );
    assert.equal(await b.page.getByRole('button', { name: 'Invite', exact: true }).count(), 0, 'a member cannot invite');
    assert.equal(await b.page.getByRole('link', { name: 'Top up the team' }).count(), 0);
    assert.equal(await b.page.getByRole('heading', { name: 'Team alerts' }).count(), 0, "a member does not see the team's alert settings");
    await shot(b.page, 'team-member');
    assert.deepEqual(problemsOf(b.page), []);
    assert.deepEqual(problemsOf(page), []);
    await b.ctx.close();
    await ctx.close();
  });

  test('alert settings are saved and still there after a reload; a private webhook address is refused in words; the signing headers are explained', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, alice.email, alice.password);
    await nav(page, 'Alerts').click();
    const signing = page.getByTestId('webhook-signing');
    for (const h of ['x-tally-signature', 'x-tally-timestamp', 'x-tally-event-id']) await signing.getByText(h, { exact: true }).waitFor();
    assert.match((await signing.textContent()) ?? '', /HMAC-SHA256/);

    await page.getByLabel('Webhook URL').fill('http://127.0.0.1:9/hook');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/webhook_url must not point at a loopback or private address/).waitFor();

    await page.getByLabel(/^Alert when my balance falls below/).fill('0.50');
    await page.getByLabel('Webhook URL').fill('https://hooks.example.com/tally');
    await page.getByLabel('Language of the alerts').selectOption('zh');
    await page.getByLabel(/Send alerts by e-mail/).uncheck();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved.').waitFor();
    await page.reload();
    await page.getByLabel('Webhook URL').and(page.locator('[value="https://hooks.example.com/tally"]')).waitFor();
    assert.equal(await page.getByLabel(/^Alert when my balance falls below/).inputValue(), '0.50');
    assert.equal(await page.getByLabel('Language of the alerts').inputValue(), 'zh');
    assert.equal(await page.getByLabel(/Send alerts by e-mail/).isChecked(), false);
    const saved = (await page.evaluate(`fetch('/api/alerts').then((r) => r.json())`)) as any;
    assert.deepEqual([saved.balance_below, saved.webhook_url, saved.language, saved.email], ['0.50', 'https://hooks.example.com/tally', 'zh', false]);
    await shot(page, 'alerts');
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test("staff: an admin sets a user's limits and a group's, and reads the team with every member's spend", async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, admin.email, admin.password);
    await page.goto(`/console/admin/users/${alice.user.id}`);
    await page.getByTestId('user-limits').getByText('none of its own').waitFor();
    const limits = page.locator('form', { has: page.getByRole('heading', { name: 'Limits of this user' }) });
    await limits.getByLabel('Requests per minute').fill('120');
    await limits.getByLabel('Requests at once').fill('4');
    await limits.getByRole('button', { name: 'Save limits' }).click();
    await limits.getByText('Saved: 120 req/min · 4 at once.').waitFor();
    await page.reload();
    await page.getByTestId('user-limits').getByText('120 req/min · 4 at once').waitFor();

    await nav(page, 'Groups').click();
    await page.getByLabel('Name', { exact: true }).fill('pro');
    await page.getByLabel('Multiplier', { exact: true }).fill('1.5');
    await page.getByLabel('Requests per minute').fill('60');
    await page.getByRole('button', { name: 'Save' }).click();
    await page
      .getByRole('row', { name: /Change group pro/ })
      .getByText('60 req/min')
      .waitFor();

    await nav(page, 'All teams').click();
    await page.getByRole('row', { name: 'Open team Research' }).click();
    await page.getByRole('heading', { name: 'Research', level: 1 }).waitFor();
    const bobSpent = await page
      .getByRole('region', { name: 'Members' })
      .getByRole('row', { name: new RegExp(bob.email) })
      .getByTestId('member-spent')
      .textContent();
    assert.ok(Number(bobSpent) > 0, `staff see bob's spend: ${bobSpent}`);
    await page.getByRole('row', { name: /bob research key/ }).waitFor();
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test('in Chinese, every page of this area is in Chinese with no message key left showing', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, alice.email, alice.password);
    await page.getByRole('button', { name: '中文' }).click();
    const pages: Array<[string, string]> = [
      ['/console/keys', 'API 密钥'],
      ['/console/teams', '团队'],
      [`/console/teams/${teamId}`, 'Research'],
      ['/console/alerts', '提醒'],
      [`/console/topup?team=${teamId}`, ''],
    ];
    for (const [path, heading] of pages) {
      await page.goto(path);
      await page.locator('main h1').waitFor();
      if (heading) await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      await page.waitForLoadState('networkidle');
      assert.equal(await rawKeys(page), '', `message keys showing on ${path}`);
    }
    await page.goto(`/console/teams/${teamId}`);
    await page.getByRole('heading', { name: '成员', exact: true }).waitFor();
    await page.getByText('每月 1.00').waitFor();
    await shot(page, 'team-zh');
    await page.goto('/console/keys');
    await page
      .getByRole('row', { name: /limited key/ })
      .getByText('5 次/分钟 · 100000 Token/分钟')
      .waitFor();
    await shot(page, 'keys-limits-zh');
    await page.goto('/console/alerts');
    await page.getByRole('heading', { name: 'Webhook 签名' }).waitFor();
    await ctx.close();

    const s = await newPage(env);
    await signInUi(s.page, admin.email, admin.password);
    await s.page.getByRole('button', { name: '中文' }).click();
    for (const path of [`/console/admin/users/${alice.user.id}`, '/console/admin/groups', '/console/admin/teams', `/console/admin/teams/${teamId}`]) {
      await s.page.goto(path);
      await s.page.locator('main h1').waitFor();
      await s.page.waitForLoadState('networkidle');
      assert.equal(await rawKeys(s.page), '', `message keys showing on ${path}`);
    }
    await s.page.getByRole('heading', { name: '团队密钥' }).waitFor();
    assert.deepEqual(problemsOf(s.page), []);
    await s.page.getByRole('button', { name: 'English' }).click();
    await s.ctx.close();
  });

  test('at phone width the keys, team and alert pages fit without sideways scrolling', async () => {
    const { ctx, page } = await newPage(env, { viewport: PHONE });
    await signInUi(page, alice.email, alice.password);
    const overflow = async (): Promise<number> => page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
    for (const [path, name] of [
      ['/console/keys', 'phone-keys-limits'],
      [`/console/teams/${teamId}`, 'phone-team'],
      ['/console/alerts', 'phone-alerts'],
    ]) {
      await page.goto(path);
      await page.locator('main h1').waitFor();
      await page.waitForLoadState('networkidle');
      assert.ok((await overflow()) <= 0, `${path} fits the phone`);
      await shot(page, name);
    }
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });
});
