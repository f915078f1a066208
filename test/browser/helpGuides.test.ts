// The console's help page links the help center's set-up guides; the Codex
// CLI and Gemini CLI pages open in both languages with the files to copy.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SKIP, startConsoleEnv, newPage, signInUi, seedUser, problemsOf, type ConsoleEnv } from './browser.ts';

describe('set-up guides from the console in Chromium', { skip: SKIP }, () => {
  let env: ConsoleEnv;
  let user: Awaited<ReturnType<typeof seedUser>>;
  before(async () => {
    env = await startConsoleEnv();
    user = await seedUser(env.t, { email: 'guides@console.test' });
  });
  after(async () => {
    await env?.close();
  });

  test('the help page links the Codex CLI and Gemini CLI guides, which show their config in Chinese and English', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, user.email, user.password);
    await page.goto('/console/help');
    const guides = page.getByRole('navigation', { name: 'Set-up guides' });
    await guides.getByRole('link', { name: 'Codex CLI' }).click();
    await page.getByRole('heading', { name: 'How to use Codex CLI with this platform' }).waitFor();
    await page.getByRole('heading', { name: '如何让 Codex CLI 使用本平台?' }).waitFor();
    const codex = await page.locator('pre code').first().textContent();
    assert.match(codex ?? '', /\[model_providers\.tally\][\s\S]*wire_api = "responses"/);
    await page.goBack();
    await guides.getByRole('link', { name: /Gemini CLI/ }).click();
    await page.getByRole('heading', { name: 'How to use Gemini CLI with this platform' }).waitFor();
    assert.match((await page.locator('pre code').first().textContent()) ?? '', /GOOGLE_GEMINI_BASE_URL="https:\/\/your-host"/);
    await page.getByRole('heading', { name: 'What does not work' }).waitFor();
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });
});
