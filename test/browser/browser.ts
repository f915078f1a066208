// Shared setup for the console's browser tests: Debian's Chromium driven by
// playwright-core (`npx playwright install` cannot download a browser here;
// .ci/run installs the chromium package), the console built from web/, and a
// real Tally on SQLite with a mock upstream so keys made in the UI can call the relay.
import { existsSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';

export const CHROMIUM = process.env.TALLY_TEST_CHROMIUM ?? '/usr/bin/chromium';
export const SKIP = existsSync(CHROMIUM) ? false : `needs Chromium at ${CHROMIUM} (apt-get install -y chromium; .ci/run installs it)`;
export const SCREENSHOTS = join(import.meta.dirname, 'screenshots');
export const CHAT = 'gpt-4o-mini';
const UPSTREAM_KEY = 'sk-upstream-browser-0123456789';

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

/** Builds web/dist if it is missing or stale (the same script `npm start` runs). */
export function buildConsole() {
  const r = spawnSync(process.execPath, ['scripts/build-web.mjs'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('building the console failed');
}

export interface ConsoleEnv {
  t: TestTally;
  mock: MockOpenAI;
  browser: Browser;
  close(): Promise<void>;
}

export async function startConsoleEnv(env: Record<string, string> = {}): Promise<ConsoleEnv> {
  buildConsole();
  const { chromium } = await import('playwright-core');
  const t = await startTestTally('sqlite', {}, { TALLY_PAYMENT_SANDBOX: 'on', ...env });
  const mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY });
  await createChannel(t.ctx.db, t.config.secret, { name: 'mock', type: 'openai', baseUrl: mock.url, apiKey: UPSTREAM_KEY, models: [CHAT] });
  await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n, maxOutputTokens: 256 });
  await t.ctx.catalog.reload();
  // Playwright gives each launch a fresh temporary profile (--user-data-dir); the flags keep Chromium off the network.
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  } catch (e) {
    await mock.close();
    await t.close();
    throw e;
  }
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    t,
    mock,
    browser,
    close: async () => {
      await browser.close().catch(() => undefined);
      await mock.close();
      await t.close();
    },
  };
}

/** A new browser context (own cookies and storage) in English unless told otherwise. */
export async function newPage(
  env: ConsoleEnv,
  opts: { viewport?: { width: number; height: number }; locale?: string } = {},
): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await env.browser.newContext({ viewport: opts.viewport ?? DESKTOP, locale: opts.locale ?? 'en-US', baseURL: env.t.url });
  const page = await ctx.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // 4xx answers the page expects (a 404 for someone else's request) are logged by Chromium as resource errors; CSP and script errors are not expected.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  (page as Page & { problems?: string[] }).problems = problems;
  return { ctx, page };
}

export const problemsOf = (page: Page) => (page as Page & { problems?: string[] }).problems ?? [];

export async function signInUi(page: Page, email: string, password: string) {
  await page.goto('/console/');
  await page.getByLabel(/^(Email|邮箱)$/).fill(email);
  await page.getByLabel(/^(Password|密码)$/).fill(password);
  await page.getByRole('button', { name: /^(Sign in|登录)$/ }).click();
  // The navigation is folded away on a phone; the sign-out button is always there.
  await page.getByRole('button', { name: /^(Sign out|退出登录)$/ }).waitFor();
}

export async function shot(page: Page, name: string) {
  // From the top, or the sticky header is drawn where the page was scrolled to.
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

export { seedUser };
