// The operator dashboard and the request search in the console, and the
// public /pricing page with JavaScript turned off, in Chromium: an admin sees
// the range's totals as the ledger booked them (the API's figures), the
// breakdown by model with its margin, finds a request by its id, and the page
// reads in Chinese; a visitor reads the prices without any script.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SKIP, CHAT, startConsoleEnv, newPage, signInUi, seedUser, problemsOf, shot, type ConsoleEnv } from './browser.ts';
import { ADMIN_TOKEN } from '../helpers/tally.ts';
import { relaySdk } from '../helpers/relay.ts';
import { setUpstreamCost } from '../../src/gateway/upstreamCost.ts';

describe('operator dashboard, request search and /pricing, in Chromium', { skip: SKIP }, () => {
  let env: ConsoleEnv;
  const ids: string[] = [];
  before(async () => {
    env = await startConsoleEnv();
    await setUpstreamCost(env.t.ctx.db, CHAT, { inputPer1M: 1_000_000n, outputPer1M: 4_000_000n, cachedInputPer1M: null });
    const u = await seedUser(env.t, { email: 'spender@console.test', balance: 5_000_000n });
    for (let i = 0; i < 3; i++) {
      const { response } = await relaySdk(env.t, u.apiKey)
        .chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: `hello number ${i}` }] })
        .withResponse();
      ids.push(response.headers.get('x-request-id')!);
    }
    await env.t.ctx.relay.flush();
  });
  after(() => env?.close());

  test('the dashboard shows the ledger totals, the model breakdown with its margin, and reads in Chinese', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const api: any = await (await fetch(`${env.t.url}/api/admin/stats?from=${day}&to=${day}&by=model`, { headers: { 'x-admin-token': ADMIN_TOKEN } })).json();
    assert.notEqual(api.totals.spend, '0.00');
    const admin = await seedUser(env.t, { email: 'admin@console.test', role: 'admin' });
    const { ctx, page } = await newPage(env);
    await signInUi(page, admin.email, admin.password);
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Operator dashboard' }).click();
    const totals = page.getByTestId('ops-totals');
    await totals.waitFor();
    const figure = async (name: string) => (await totals.locator(`[data-figure="${name}"] dd`).textContent())?.trim();
    assert.equal(await figure('spend'), api.totals.spend);
    assert.equal(await figure('manual'), '5.00', 'the seeded balance was a manual credit');
    assert.equal(await figure('margin'), api.totals.margin);
    const row = page.getByRole('row', { name: new RegExp(CHAT) });
    await row.waitFor();
    const cells = await row.getByRole('cell').allTextContents();
    assert.deepEqual(cells.slice(1), ['3', api.rows[0].spend, api.rows[0].upstream_cost, api.rows[0].margin]);
    await shot(page, 'ops-dashboard');
    await page.getByRole('button', { name: '中文' }).click();
    await page.getByRole('heading', { name: '运营看板' }).waitFor();
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test('the request search finds a request by its id', async () => {
    const admin = await seedUser(env.t, { email: 'admin2@console.test', role: 'admin' });
    const { ctx, page } = await newPage(env);
    await signInUi(page, admin.email, admin.password);
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Request search' }).click();
    await page.getByRole('row', { name: new RegExp(ids[0]) }).waitFor();
    assert.equal(await page.getByRole('row', { name: /req_/ }).count(), 3, 'all three requests, newest first');
    await page.getByLabel('Request id').fill(ids[1]);
    await page.getByRole('button', { name: 'Apply' }).click();
    // The filtered table: only the request asked for.
    for (let i = 0; i < 100 && (await page.getByRole('row', { name: /req_/ }).count()) !== 1; i++) await page.waitForTimeout(50);
    assert.equal(await page.getByRole('row', { name: /req_/ }).count(), 1);
    const text = (await page.getByRole('row', { name: new RegExp(ids[1]) }).textContent()) ?? '';
    assert.match(text, /spender@console\.test/);
    assert.match(text, /200/);
    await shot(page, 'ops-request-search');
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test('/pricing lists the prices with JavaScript off, in Chinese and English, and the console links to it', async () => {
    const ctx = await env.browser.newContext({ javaScriptEnabled: false, baseURL: env.t.url });
    const page = await ctx.newPage();
    await page.goto('/pricing');
    await page.getByRole('heading', { name: 'Model prices' }).waitFor();
    await page.getByRole('heading', { name: '模型价格' }).waitFor();
    const row = page.getByRole('row', { name: new RegExp(CHAT) }).first();
    const cells = await row.getByRole('cell').allTextContents();
    assert.deepEqual(cells.slice(0, 3), ['chat', '2.50', '10.00']);
    assert.equal(await page.locator('script').count(), 0);
    await shot(page, 'pricing-no-js');
    await ctx.close();
    const u = await seedUser(env.t, { email: 'reader@console.test' });
    const { ctx: c2, page: p2 } = await newPage(env);
    await signInUi(p2, u.email, u.password);
    assert.equal(await p2.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Price list' }).getAttribute('href'), '/pricing');
    await c2.close();
  });
});
