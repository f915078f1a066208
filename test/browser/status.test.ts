// The public status page in a real browser with JavaScript switched off (it is
// server-rendered: search and answer engines read it as it is), in English and
// Chinese; and the console's channel page showing a channel's probe history
// and recent errors after a probe found its key refused.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import OpenAI from 'openai';
import { SKIP, CHAT, startConsoleEnv, newPage, signInUi, shot, seedUser, problemsOf, type ConsoleEnv } from './browser.ts';
import { asAdminToken } from '../accounts/http.ts';

const nav = (page: Page, name: string) => page.getByRole('navigation', { name: /Main navigation|主导航/ }).getByRole('link', { name, exact: true });

describe('the status page and channel probes in Chromium', { skip: SKIP }, () => {
  let env: ConsoleEnv;
  let admin: Awaited<ReturnType<typeof seedUser>>;

  before(async () => {
    env = await startConsoleEnv();
    admin = await seedUser(env.t, { email: 'admin@status.test', role: 'admin' });
    const user = await seedUser(env.t, { balance: 5_000_000n });
    const sdk = new OpenAI({ baseURL: `${env.t.url}/v1`, apiKey: user.apiKey, maxRetries: 0 });
    await sdk.chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'hello status' }] });
    await env.t.ctx.relay.flush();
  });
  after(async () => {
    await env?.close();
  });

  for (const [locale, title, lang] of [
    ['en-US', 'Service status', 'en'],
    ['zh-CN', '服务状态', 'zh-CN'],
  ] as const) {
    test(`/status lists each public model without JavaScript (${locale})`, async () => {
      const ctx = await env.browser.newContext({ javaScriptEnabled: false, locale, baseURL: env.t.url });
      const page = await ctx.newPage();
      env.t.ctx.status.invalidate();
      const res = await page.goto('/status');
      assert.equal(res?.status(), 200);
      assert.equal(await page.locator('html').getAttribute('lang'), lang);
      assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), title);
      const row = page.locator(`tr[data-model="${CHAT}"]`);
      assert.equal(await row.count(), 1);
      assert.match((await row.textContent()) ?? '', /100\.00%/);
      const html = await page.content();
      assert.ok(!html.includes('mock'), 'no channel name');
      assert.ok(!html.includes(String(env.mock.port)), 'no upstream URL');
      await shot(page, `status-${locale}`);
      await ctx.close();
    });
  }

  test('the channel page shows probe history and recent errors after a probe found the key refused', async () => {
    env.mock.setBehavior({ fail: 401 });
    const out = await env.t.ctx.probes.tick(Date.now());
    assert.equal(out[0]?.change, 'disabled');
    env.mock.setBehavior({});
    await env.t.ctx.probes.tick(Date.now() + 300_000);

    const { ctx, page } = await newPage(env);
    await signInUi(page, admin.email, admin.password);
    await nav(page, 'Channels').click();
    const section = page.getByRole('region', { name: 'Probes and recent errors' });
    await section.waitFor();
    const history = section.getByRole('table', { name: 'Probe history mock' });
    await history.waitFor();
    assert.equal(await history.locator('tbody tr').count(), 2);
    assert.match((await history.locator('tbody tr').nth(0).textContent()) ?? '', /ok/);
    assert.match((await history.locator('tbody tr').nth(1).textContent()) ?? '', /failed.*401.*auth/);
    assert.match((await section.locator('.recent-errors').textContent()) ?? '', /probe · auth · 401/);
    assert.match((await section.textContent()) ?? '', /disabled by Tally/);
    assert.equal(await section.getByRole('link', { name: 'Public status page' }).getAttribute('href'), '/status');
    await shot(page, 'channel-probes');
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
    await asAdminToken(env.t, 'POST', `/api/admin/channels/${out[0].channelId}/enable`);
  });
});
