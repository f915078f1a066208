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
  let carol: Awaited<ReturnType<typeof seedUser>>;
  let support: Awaited<ReturnType<typeof seedUser>>;
  let aliceRequestId = '';

  before(async () => {
    env = await startConsoleEnv();
    alice = await seedUser(env.t, { email: 'alice@console.test', balance: 3_000_000n });
    bob = await seedUser(env.t, { email: 'bob@console.test', balance: 500_000n });
    admin = await seedUser(env.t, { email: 'admin@console.test', role: 'admin' });
    carol = await seedUser(env.t, { email: 'carol@console.test', balance: 1_000_000n });
    support = await seedUser(env.t, { email: 'support@console.test', role: 'support' });
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
    await page
      .getByRole('row', { name: /browser key/ })
      .getByText('revoked')
      .waitFor();
    const after = await fetch(`${env.t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: CHAT, messages: [{ role: 'user', content: 'still there?' }] }),
    });
    assert.equal(after.status, 401);
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test('a redeemed code credits the wallet and appears on the statement with its masked code, also in the CSV', async () => {
    const { batch, codes } = await generateRedeemBatch(env.t.ctx.db, {
      count: 1,
      amount: 2_000_000n,
      currency: 'USD',
      secret: env.t.config.secret,
      actor: { type: 'system' },
      name: 'browser',
    });
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
    await page.getByRole('link', { name: 'Export CSV' }).click();
    const file = await (await download).path();
    const csv = readFileSync(file, 'utf8');
    assert.ok(csv.startsWith('\ufeffid,created_at,kind,amount,balance_after,reference,reason\r\n'), csv);
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

  test('a top-up order is followed on its own page, and another user opening it by URL sees nothing', async () => {
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
    const { codes } = await generateRedeemBatch(env.t.ctx.db, {
      count: 1,
      amount: 1_000_000n,
      currency: 'USD',
      secret: env.t.config.secret,
      actor: { type: 'system' },
      name: 'pasted',
    });
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

  /** Top up in the console: pick the amount and the sandbox, land on the order page; returns the order id and its pay link. */
  const createTopUp = async (page: Page, amount: string) => {
    await nav(page, 'Top up').click();
    const method = page.getByLabel('Payment method');
    await method.locator('option[value="sandbox"]').waitFor({ state: 'attached' });
    await method.selectOption('sandbox');
    await page.getByLabel(/^Amount/).fill(amount);
    await page.getByRole('button', { name: 'Continue to payment' }).click();
    await page.waitForURL(/\/console\/orders\/ord_/);
    const orderId = page.url().split('/').pop()!;
    const payUrl = (await page.getByRole('link', { name: 'Pay' }).getAttribute('href'))!;
    return { orderId, payUrl };
  };
  /** The sandbox's pay page, in a second tab of the same browser: press one outcome. */
  const paySandbox = async (page: Page, payUrl: string, outcome: string) => {
    const tab = await page.context().newPage();
    await tab.goto(payUrl);
    await tab.getByRole('heading', { name: /Sandbox payment/ }).waitFor();
    const answered = tab.waitForResponse((r) => r.url().includes('/api/payments/sandbox/pay/') && r.request().method() === 'POST');
    await tab.getByRole('button', { name: outcome, exact: true }).click();
    const res = await answered;
    assert.ok(res.ok(), `the sandbox took the payment: ${res.status()} ${await res.text()}`);
    await tab.close();
  };
  const dashboardBalance = async (page: Page) => {
    await nav(page, 'Dashboard').click();
    await page.getByTestId('balance').getByText(/USD/).waitFor();
    return Number(/-?\d+(\.\d+)?/.exec((await page.getByTestId('balance').textContent()) ?? '')![0]);
  };

  test('a top-up paid in the sandbox is followed live to credited, and the dashboard balance goes up', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, alice.email, alice.password);
    const before = await dashboardBalance(page);
    await nav(page, 'Top up').click();
    const methods = await page.getByLabel('Payment method').locator('option').allTextContents();
    assert.ok(methods.includes('Sandbox'), `providers from GET /api/payments/providers: ${methods}`);
    await shot(page, 'topup');
    const { orderId, payUrl } = await createTopUp(page, '4.00');
    await page
      .getByTestId('order-status')
      .getByText(/Awaiting payment|Processing/)
      .waitFor();
    await paySandbox(page, payUrl, 'succeed');
    // The order page was left open: it follows the order by itself.
    await page.getByTestId('order-status').getByText('Credited').waitFor();
    await page.getByText(/Paid and credited: 4\.00 USD was added/).waitFor();
    await shot(page, 'order-credited');
    const after = await dashboardBalance(page);
    assert.equal(Math.round((after - before) * 100), 400, `balance ${before} → ${after}`);
    await nav(page, 'Orders').click();
    await page.getByRole('row', { name: orderId }).getByText('Credited').waitFor();
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test('a user cancels an unpaid top-up from its order page; the Pay and Cancel buttons go away', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, alice.email, alice.password);
    const { orderId } = await createTopUp(page, '3.00');
    await page
      .getByTestId('order-status')
      .getByText(/Awaiting payment|Processing/)
      .waitFor();
    await page.getByRole('button', { name: 'Cancel order' }).click();
    await page.getByTestId('order-status').getByText('Canceled').waitFor();
    await page.getByText(/The order was canceled; nothing was charged or credited/).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Cancel order' }).count(), 0);
    assert.equal(await page.getByRole('link', { name: 'Pay' }).count(), 0);
    const o = (await page.evaluate(`fetch('/api/orders/${orderId}').then((r) => r.json())`)) as { status: string };
    assert.equal(o.status, 'canceled');
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test('a sandbox payment made after the order expired shows as processing, then credited', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, alice.email, alice.password);
    const { orderId, payUrl } = await createTopUp(page, '2.00');
    // A deadline a few seconds away instead of 30 minutes; the sandbox's "late" pays just after it.
    await env.t.ctx.db
      .updateTable('payment_orders')
      .set({ expires_at: Date.now() + 4000 })
      .where('id', '=', orderId)
      .execute();
    await paySandbox(page, payUrl, 'late');
    await page.getByTestId('order-status').getByText('Processing').waitFor();
    await shot(page, 'order-late-processing');
    await page.getByTestId('order-status').getByText('Credited').waitFor({ timeout: 20_000 });
    await shot(page, 'order-late-credited');
    const o = (await page.evaluate(`fetch('/api/orders/${orderId}').then((r) => r.json())`)) as { status: string; credited_at: string; expires_at: string };
    assert.equal(o.status, 'credited');
    assert.ok(Date.parse(o.credited_at) > Date.parse(o.expires_at), 'credited after the deadline');
    await ctx.close();
  });

  test('a paid order the provider never confirmed: the doctor finds it, support checks with the provider after giving a reason, the audit log shows it', async () => {
    const user = await newPage(env);
    await signInUi(user.page, carol.email, carol.password);
    const { orderId, payUrl } = await createTopUp(user.page, '6.00');
    await paySandbox(user.page, payUrl, 'never');
    await nav(user.page, 'Help & support').click();
    await user.page.getByLabel('What happened').selectOption('paid_not_credited');
    await user.page.getByLabel('Payment method').fill('sandbox');
    await user.page.getByLabel('Amount').fill('6.00');
    await user.page.getByRole('button', { name: 'Check my account' }).click();
    const findings = user.page.getByTestId('findings');
    await findings.waitFor();
    const found = (await findings.textContent()) ?? '';
    assert.ok(found.includes(`…${orderId.slice(-6)}`) && found.includes('paid_not_credited'), `the doctor names the order ${orderId}: ${found}`);
    await findings.getByText('needs action').first().waitFor();
    await shot(user.page, 'help-doctor-paid-not-credited');
    await user.page.getByLabel('Subject').fill('paid 6.00, balance unchanged');
    await user.page.getByLabel('Message').fill(`I paid order ${orderId} in the sandbox and nothing arrived.`);
    await user.page.getByRole('button', { name: 'Open ticket' }).click();
    const opened = user.page.getByText(/Ticket tkt_\w+ opened/);
    await opened.waitFor();
    const ticketId = /tkt_\w+/.exec((await opened.textContent())!)![0];
    const walletBefore = (await getAccount(env.t.ctx.db, walletAccountId(carol.user.id))).balance;

    // Support: the ticket queue → the ticket (account masked) → the user's 360° view → the order.
    const staff = await newPage(env);
    const page = staff.page;
    await signInUi(page, support.email, support.password);
    await nav(page, 'Tickets').click();
    await page.getByRole('row', { name: new RegExp(ticketId) }).click();
    await page.getByRole('heading', { name: 'paid 6.00, balance unchanged', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'c***l@console.test' }).waitFor();
    assert.ok(!(await page.content()).includes(carol.email), 'support sees the email masked');
    await shot(page, 'admin-ticket');
    await page.getByRole('link', { name: 'c***l@console.test' }).click();
    await page.getByRole('heading', { name: 'c***l@console.test', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Run the doctor' }).click();
    await page
      .getByTestId('staff-findings')
      .getByText(new RegExp(orderId.slice(-6)))
      .first()
      .waitFor();
    await page.getByRole('row', { name: `Open order ${orderId}` }).waitFor();
    await page.locator('tbody[aria-busy="false"]').first().waitFor();
    await shot(page, 'admin-user-360');
    await page.getByRole('row', { name: `Open order ${orderId}` }).click();
    await page.getByRole('heading', { name: `Order ${orderId}`, level: 1 }).waitFor();
    await page.getByRole('heading', { name: 'Timeline' }).waitFor();
    await shot(page, 'admin-order');
    await page.getByRole('button', { name: 'Check with provider' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText(`Ask the provider about order ${orderId} now`).waitFor();
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.getByText('Write the reason first: it goes into the audit log.').waitFor();
    await dialog.getByLabel(/^Reason/).fill(`ticket ${ticketId}: user paid, callback never came`);
    await shot(page, 'admin-order-confirm');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText(/Done: credited\. The order is now: Credited\./).waitFor();
    await page
      .getByRole('row', { name: /reconcile|support/ })
      .first()
      .waitFor();
    assert.equal((await getAccount(env.t.ctx.db, walletAccountId(carol.user.id))).balance, walletBefore + 6_000_000n);

    // Reply on the ticket and resolve it.
    await page.goto(`/console/admin/tickets/${ticketId}`);
    await page.getByLabel('Message').fill('We checked with the provider: your 6.00 is credited.');
    await page.getByLabel('Status after the reply').selectOption('resolved');
    await page.getByRole('button', { name: 'Send reply' }).click();
    await page.getByText('Reply sent.').waitFor();
    await page.getByText('We checked with the provider: your 6.00 is credited.').first().waitFor();

    // The audit log shows the check with its reason and target.
    await nav(page, 'Audit log').click();
    await page.getByLabel(/^Action/).fill('payment.');
    await page.getByRole('button', { name: 'Apply' }).click();
    const row = page.getByRole('row', { name: new RegExp(`payment\\.check_with_provider ${orderId}`) });
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /callback never came/);
    await shot(page, 'admin-audit');
    assert.deepEqual(problemsOf(page), []);
    await staff.ctx.close();

    // The user sees the order credited and the ticket resolved.
    await user.page.goto(`/console/orders/${orderId}`);
    await user.page.getByTestId('order-status').getByText('Credited').waitFor();
    await user.page.goto('/console/help');
    await user.page
      .getByRole('row', { name: /paid 6\.00/ })
      .getByText('resolved')
      .waitFor();
    await user.ctx.close();
  });

  test('staff queues, redeem batches (codes shown once, CSV) and the audit filters', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, admin.email, admin.password);
    await nav(page, 'Order queues').click();
    await page.getByRole('button', { name: 'All', exact: true }).click();
    await page
      .getByRole('row', { name: /Open order ord_/ })
      .first()
      .waitFor();
    await shot(page, 'admin-orders');
    await nav(page, 'Redeem batches').click();
    await page.getByLabel('Batch name').fill('spring promo');
    await page.getByLabel('How many codes').fill('3');
    await page.getByLabel(/^Value per code/).fill('1.50');
    await page.getByRole('button', { name: 'Generate' }).click();
    const codes = (await page.getByTestId('generated-codes').inputValue()).split('\n');
    assert.equal(codes.length, 3);
    assert.match(codes[0], /^TALLY-/);
    await shot(page, 'admin-redeem-generated');
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download CSV' }).click();
    const csv = readFileSync(await (await download).path(), 'utf8');
    for (const c of codes) assert.ok(csv.includes(c), 'the CSV has every code');
    assert.equal(await page.getByRole('button', { name: 'Downloaded' }).isDisabled(), true, 'downloadable once');
    await page.getByRole('button', { name: 'I have copied it' }).click();
    assert.ok(!(await page.content()).includes(codes[0]), 'the codes are gone once the dialog closes');
    await page.getByRole('button', { name: 'Disable batch spring promo' }).click();
    await page
      .getByRole('dialog')
      .getByLabel(/^Reason/)
      .fill('promo cancelled');
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('Batch disabled (3 codes).').waitFor();
    await page
      .getByRole('row', { name: /spring promo/ })
      .getByText('disabled')
      .waitFor();
    await shot(page, 'admin-redeem');
    await nav(page, 'Tickets').click();
    await page.getByRole('button', { name: 'Resolved' }).click();
    await page.getByRole('row', { name: /paid 6\.00/ }).waitFor();
    await shot(page, 'admin-tickets');
    await nav(page, 'Audit log').click();
    await page.getByLabel(/^Action/).fill('redeem.');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page
      .getByRole('row', { name: /redeem\./ })
      .first()
      .waitFor();
    await page.getByRole('button', { name: '中文' }).click();
    await page.getByRole('heading', { name: '审计日志', level: 1 }).waitFor();
    await shot(page, 'admin-audit-zh');
    await page.getByRole('button', { name: 'English' }).click();
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

  test('a server with the sandbox on says so on every page, the sign-in page too, in English and Chinese', async () => {
    const { ctx, page } = await newPage(env);
    await page.goto('/console/');
    const banner = page.getByTestId('sandbox-banner');
    await banner.getByText(/Sandbox payments are ON/).waitFor();
    await signInUi(page, alice.email, alice.password);
    for (const name of ['Dashboard', 'Top up', 'Orders', 'Statement', 'Help & support']) {
      await nav(page, name).click();
      await page.getByRole('heading', { level: 1 }).waitFor();
      assert.ok(await banner.isVisible(), `the banner on ${name}`);
      assert.match((await banner.textContent()) ?? '', /no real money moves/);
    }
    await page.goto('/console/orders/ord_doesnotexist');
    await banner.getByText(/Sandbox payments are ON/).waitFor();
    await page.getByRole('button', { name: '中文' }).click();
    await banner.getByText(/沙盒支付/).waitFor();
    assert.match((await banner.textContent()) ?? '', /不会产生真实扣款/);
    await shot(page, 'sandbox-banner-zh');
    await page.getByRole('button', { name: 'English' }).click();
    assert.deepEqual(problemsOf(page), []);
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

  test('an admin sets the prompt-cache prices of a model on the models page; they are stored, listed and loaded back for editing', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, admin.email, admin.password);
    await nav(page, 'Models & prices').click();
    await page.getByRole('row', { name: new RegExp(CHAT) }).waitFor();
    await page.getByLabel('Model', { exact: true }).fill('claude-console');
    await page.getByLabel('Input / 1M', { exact: true }).fill('3');
    await page.getByLabel('Output / 1M', { exact: true }).fill('15');
    await page.getByLabel('Cached input / 1M', { exact: true }).fill('0.30');
    await page.getByLabel('Cache write 5m / 1M', { exact: true }).fill('3.75');
    await page.getByLabel('Cache write 1h / 1M', { exact: true }).fill('6');
    await page.getByText('A cache price left empty bills those tokens at the input price.').waitFor();
    await page.getByRole('button', { name: 'Save' }).click();
    const row = page.getByRole('row', { name: /claude-console/ });
    await row.waitFor();
    await row.getByText('3.75').waitFor();
    await row.getByText('6.00', { exact: true }).waitFor();
    await shot(page, 'admin-models-cache-prices');
    const stored = await env.t.ctx.db.selectFrom('model_prices').selectAll().where('model', '=', 'claude-console').executeTakeFirstOrThrow();
    assert.deepEqual([stored.cache_write_per_1m, stored.cache_write_1h_per_1m].map(String), ['3750000', '6000000']);
    // Picking another model and then this one loads its cache prices back into the form.
    await page.getByRole('row', { name: new RegExp(CHAT) }).click();
    assert.equal(await page.getByLabel('Cache write 5m / 1M', { exact: true }).inputValue(), '');
    await row.click();
    assert.equal(await page.getByLabel('Cache write 5m / 1M', { exact: true }).inputValue(), '3.75');
    assert.equal(await page.getByLabel('Cache write 1h / 1M', { exact: true }).inputValue(), '6.00');
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });
});
