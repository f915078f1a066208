// The console's channel form in a real browser: the type picker offers exactly
// the types the server can route, each with its own base URL example and its
// own fields (api-version for azure, "speaks Responses" for openai); an admin
// adds an azure channel with two keys, then edits it (a model added, the keys
// rotated) and the API sees both; the list shows each key's last 4 characters
// and which keys the upstream refused, never a key.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { SKIP, startConsoleEnv, newPage, signInUi, shot, seedUser, problemsOf, type ConsoleEnv } from './browser.ts';
import { asAdminToken, expectJson } from '../accounts/http.ts';
import { setKeyNeedsAttention } from '../../src/gateway/channels.ts';

const nav = (page: Page, name: string) => page.getByRole('navigation', { name: /Main navigation|主导航/ }).getByRole('link', { name, exact: true });
const KEYS = ['azure-key-one-000000000aaaa', 'azure-key-two-000000000bbbb'];
const ROTATED = ['azure-key-new-000000000cccc', 'azure-key-new-000000000dddd'];

describe('the console channel form in Chromium', { skip: SKIP }, () => {
  let env: ConsoleEnv;
  let admin: Awaited<ReturnType<typeof seedUser>>;
  const channels = async () => (await expectJson<{ data: any[]; supported_types: string[] }>(await asAdminToken(env.t, 'GET', '/api/admin/channels'))) as any;

  before(async () => {
    env = await startConsoleEnv();
    admin = await seedUser(env.t, { email: 'admin@channels.test', role: 'admin' });
  });
  after(async () => {
    await env?.close();
  });

  test('the type picker offers exactly the supported types, each with its base URL example and its own fields', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, admin.email, admin.password);
    await nav(page, 'Channels').click();
    await page.getByRole('row', { name: /mock/ }).waitFor();
    const form = page.getByRole('form', { name: 'Add a channel' });
    const type = form.getByLabel('Type', { exact: true });
    const { supported_types } = await channels();
    assert.deepEqual(await type.locator('option').allTextContents(), supported_types);
    const examples: Record<string, string> = {
      openai: 'https://api.openai.com/v1',
      anthropic: 'https://api.anthropic.com',
      gemini: 'https://generativelanguage.googleapis.com',
      azure: 'https://{resource}.openai.azure.com',
    };
    for (const t of supported_types) {
      await type.selectOption(t);
      assert.equal(await form.getByLabel('Base URL', { exact: true }).getAttribute('placeholder'), examples[t], t);
      assert.equal(await form.getByLabel('API version', { exact: true }).count(), t === 'azure' ? 1 : 0, `api-version field for ${t}`);
      assert.equal(await form.getByLabel(/speaks the Responses API natively/).count(), t === 'openai' ? 1 : 0, `responses checkbox for ${t}`);
    }
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });

  test('an admin adds an azure channel with an api-version and two keys, then edits it: a model added, the keys rotated', async () => {
    const { ctx, page } = await newPage(env);
    await signInUi(page, admin.email, admin.password);
    await nav(page, 'Channels').click();
    await page.getByRole('row', { name: /mock/ }).waitFor();
    const form = page.getByRole('form', { name: 'Add a channel' });
    await form.getByLabel('Name', { exact: true }).fill('azure-east');
    await form.getByLabel('Type', { exact: true }).selectOption('azure');
    await form.getByLabel('Base URL', { exact: true }).fill('https://tally-east.openai.azure.com');
    await form.getByLabel('API version', { exact: true }).fill('2025-04-01-preview');
    await form.getByLabel('Upstream key 1', { exact: true }).fill(KEYS[0]);
    assert.equal(await form.getByLabel('Upstream key 1', { exact: true }).getAttribute('type'), 'password', 'keys are masked');
    await form.getByRole('button', { name: 'Add another key' }).click();
    await form.getByLabel('Upstream key 2', { exact: true }).fill(KEYS[1]);
    await form.getByLabel('Models (comma-separated)').fill('gpt-4o');
    await form.getByLabel(/^Model map/).fill('gpt-4o=east-gpt4o');
    await form.getByRole('button', { name: 'Add a channel' }).click();
    await page.getByText('Added channel azure-east.').waitFor();
    const row = page.getByRole('row', { name: /azure-east/ });
    await row.getByText('2 keys').waitFor();
    await row.getByText('#0 ...aaaa').waitFor();
    await row.getByText('#1 ...bbbb').waitFor();
    await row.getByText(/api-version 2025-04-01-preview/).waitFor();

    let ch = (await channels()).data.find((c: any) => c.name === 'azure-east');
    assert.equal(ch.type, 'azure');
    assert.equal(ch.base_url, 'https://tally-east.openai.azure.com');
    assert.equal(ch.api_version, '2025-04-01-preview');
    assert.deepEqual(ch.models, ['gpt-4o']);
    assert.deepEqual(ch.model_map, { 'gpt-4o': 'east-gpt4o' });
    assert.deepEqual(
      ch.api_keys.keys.map((k: any) => k.key),
      ['...aaaa', '...bbbb'],
    );

    // The upstream refused the second key: the list says so.
    await setKeyNeedsAttention(env.t.ctx.db, { id: ch.id, index: 1, keyCount: 2 });
    await env.t.ctx.catalog.reload();
    await page.reload();
    await row.getByText('1 need attention').waitFor();
    await row.getByText('refused: out of rotation').waitFor();
    await shot(page, 'admin-channels-keys');

    // Edit: the form loads the channel (keys left empty), the type is fixed.
    await page.getByRole('button', { name: 'Edit azure-east' }).click();
    const edit = page.getByRole('form', { name: 'Edit channel azure-east' });
    await edit.waitFor();
    assert.equal(await edit.getByLabel('Type', { exact: true }).isDisabled(), true);
    assert.equal(await edit.getByLabel('API version', { exact: true }).inputValue(), '2025-04-01-preview');
    assert.equal(await edit.getByLabel('Models (comma-separated)').inputValue(), 'gpt-4o');
    assert.equal(await edit.getByLabel('Upstream key 1', { exact: true }).inputValue(), '', 'no key is loaded into the page');
    await edit.getByLabel('Models (comma-separated)').fill('gpt-4o, gpt-4o-mini');
    await edit.getByLabel(/^Model map/).fill('gpt-4o=east-gpt4o, gpt-4o-mini=east-mini');
    // Two keys pasted at once fill two inputs.
    await edit.getByLabel('Upstream key 1', { exact: true }).focus();
    await page.evaluate(
      `(() => { const dt = new DataTransfer(); dt.setData('text/plain', ${JSON.stringify(ROTATED.join('\n'))});
        document.activeElement.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true })); })()`,
    );
    assert.equal(await edit.getByLabel('Upstream key 2', { exact: true }).inputValue(), ROTATED[1]);
    await shot(page, 'admin-channel-edit');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Saved channel azure-east.').waitFor();
    await row.getByText('#0 ...cccc').waitFor();
    await row.getByText('#1 ...dddd').waitFor();
    assert.equal(await row.getByText('refused: out of rotation').count(), 0, 'a replaced key set is all in rotation');

    ch = (await channels()).data.find((c: any) => c.name === 'azure-east');
    assert.deepEqual(ch.models, ['gpt-4o', 'gpt-4o-mini']);
    assert.deepEqual(ch.model_map, { 'gpt-4o': 'east-gpt4o', 'gpt-4o-mini': 'east-mini' });
    assert.equal(ch.api_version, '2025-04-01-preview', 'unchanged');
    assert.deepEqual(
      ch.api_keys.keys.map((k: any) => [k.key, k.needs_attention]),
      [
        ['...cccc', false],
        ['...dddd', false],
      ],
    );
    // The relay now sends the rotated keys.
    const rt = env.t.ctx.catalog.channels.find((c) => c.id === ch.id)!;
    assert.deepEqual(
      rt.keys.map((k) => k.apiKey),
      ROTATED,
    );

    // Editing again with the keys left empty keeps them.
    await page.getByRole('button', { name: 'Edit azure-east' }).click();
    await edit.getByLabel('Weight', { exact: true }).fill('3');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Saved channel azure-east.').waitFor();
    ch = (await channels()).data.find((c: any) => c.name === 'azure-east');
    assert.equal(ch.weight, 3);
    assert.equal(ch.api_keys.count, 2);

    // A taken name is refused in words, and nothing is added.
    const add = page.getByRole('form', { name: 'Add a channel' });
    await add.getByLabel('Name', { exact: true }).fill('mock');
    await add.getByLabel('Base URL', { exact: true }).fill('https://api.example.com/v1');
    await add.getByLabel('Models (comma-separated)').fill('gpt-4o');
    await add.getByRole('button', { name: 'Add a channel' }).click();
    await page.getByText('A channel with this name already exists; choose another name.').waitFor();
    assert.equal((await channels()).data.length, 2);

    const html = await page.content();
    for (const k of [...KEYS, ...ROTATED]) assert.ok(!html.includes(k), `key ...${k.slice(-4)} is in the page`);
    assert.deepEqual(problemsOf(page), []);
    await ctx.close();
  });
});
