import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, type TestTally } from '../helpers/tally.ts';
import { HELP_PAGES } from '../../src/support/help/pages.ts';

// The help center must not promise an endpoint that does not exist (it once
// sent Claude Code users to POST /v1/messages before Tally served it).
const API_PATH = /(?:(GET|POST) )?(\/(?:v1|v1beta|api)\/[A-Za-z0-9_/:.{}-]*[A-Za-z0-9_}])/g;

for (const dialect of testDialects()) {
  describe(`help pages name only endpoints that exist, on ${dialect}`, () => {
    let t: TestTally;
    before(async () => {
      t = await startTestTally(dialect);
    });
    after(async () => {
      await t?.close();
    });

    test('every API path a help page names answers with something other than route_not_found', async () => {
      const named = new Map<string, Set<string>>();
      for (const page of HELP_PAGES) {
        for (const text of Object.values(page).filter((v) => typeof v === 'string' || typeof v === 'object')) {
          for (const m of JSON.stringify(text).matchAll(API_PATH)) {
            // {model} and /:id are parameters; Gemini's :generateContent is part of the path.
            const path = m[2].replace(/\{[^}]+\}/g, 'x').replace(/\/:[a-z_]+/g, '/x');
            const methods = named.get(path) ?? new Set<string>();
            if (m[1]) methods.add(m[1]);
            named.set(path, methods);
          }
        }
      }
      assert.ok(named.size > 0, 'the pattern found no API path in the help pages');
      const missing: string[] = [];
      for (const [path, methods] of named) {
        const tries = methods.size ? [...methods] : ['GET', 'POST'];
        let exists = false;
        for (const method of tries) {
          const res = await fetch(t.url + path, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
          const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
          if (!(res.status === 404 && body.error?.code === 'route_not_found')) exists = true;
        }
        if (!exists) missing.push(`${tries.join('/')} ${path}`);
      }
      assert.deepEqual(missing, [], `help pages name endpoints this server does not have: ${missing.join('; ')}`);
    });

    test('the Codex CLI and Gemini CLI set-up pages are served in Chinese and English, with their files, the models that work and what does not', async () => {
      for (const slug of ['codex-cli', 'gemini-cli']) {
        const res = await fetch(`${t.url}/help/${slug}`);
        assert.equal(res.status, 200, slug);
        const html = await res.text();
        assert.match(
          html,
          /<section lang="zh-CN">[\s\S]*设置步骤[\s\S]*不支持或有限制的功能[\s\S]*<\/section><hr><section lang="en">[\s\S]*Set-up[\s\S]*What does not work/,
          slug,
        );
        assert.match(html, /<pre><code>/, `${slug}: the files to copy are shown as code`);
        const page = HELP_PAGES.find((p) => p.slug === slug)!;
        for (const lang of ['zh', 'en'] as const) {
          assert.ok(page.steps![lang].length >= 3 && page.limits![lang].length >= 2, `${slug} ${lang}`);
          assert.equal(page.steps!.zh.length, page.steps!.en.length, `${slug}: as many steps in both languages`);
          assert.equal(page.limits!.zh.length, page.limits!.en.length, `${slug}: as many limits in both languages`);
        }
        // Which models work: any the key may use, other formats translated.
        assert.match(page.answer.en, /Any model your key may use works/, slug);
        assert.match(page.answer.zh, /Key 可用的任何模型都能用/, slug);
        assert.ok(!/sk-[A-Za-z0-9]{8,}/.test(JSON.stringify(page)), `${slug}: no real-looking key in an example`);
      }
      const index = (await (await fetch(`${t.url}/help/index.json`)).json()) as { pages: Array<Record<string, any>> };
      const codexEntry = index.pages.find((p) => p.slug === 'codex-cli')!;
      assert.ok(codexEntry.steps && codexEntry.snippets && codexEntry.limits, 'index.json carries the set-up parts');
      assert.ok(index.pages.find((p) => p.slug === 'base-url-setup')!.steps === undefined, 'pages without set-up parts do not grow empty ones');
    });

    test("Codex CLI's config.toml: model and model_provider before the provider table, base_url ending in /v1, the key from env_key, wire_api responses", () => {
      const page = HELP_PAGES.find((p) => p.slug === 'codex-cli')!;
      const toml = page.snippets!.find((x) => x.title.en === '~/.codex/config.toml')!.text;
      const lines = toml.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
      const table = lines.indexOf('[model_providers.tally]');
      assert.ok(table > 0, toml);
      const root = Object.fromEntries(lines.slice(0, table).map((l) => l.split(/\s*=\s*/)));
      const provider = Object.fromEntries(lines.slice(table + 1).map((l) => l.split(/\s*=\s*/)));
      assert.equal(root.model_provider, '"tally"');
      assert.match(root.model, /^"[^"]+"$/);
      assert.deepEqual(Object.keys(provider).sort(), ['base_url', 'env_key', 'name', 'wire_api']);
      assert.match(provider.base_url, /^"https:\/\/your-host\/v1"$/, 'Codex appends /responses to base_url: it must end in /v1');
      assert.equal(provider.env_key, '"TALLY_API_KEY"');
      assert.equal(provider.wire_api, '"responses"');
      for (const lang of ['zh', 'en'] as const) assert.match(page.answer[lang], /POST \/v1\/responses/);
      assert.match(page.limits!.en.join(' '), /web_search/);
    });

    test("Gemini CLI's set-up: GEMINI_API_KEY and GOOGLE_GEMINI_BASE_URL without /v1beta, the API-key auth type in settings.json, -m for the model", () => {
      const page = HELP_PAGES.find((p) => p.slug === 'gemini-cli')!;
      const env = page.snippets!.find((x) => x.title.en === '~/.gemini/.env')!.text;
      assert.match(env, /^GEMINI_API_KEY="sk-\.\.\."$/m);
      assert.match(env, /^GOOGLE_GEMINI_BASE_URL="https:\/\/your-host"$/m, '@google/genai appends /v1beta itself');
      const settings = JSON.parse(page.snippets!.find((x) => x.title.en === '~/.gemini/settings.json')!.text);
      assert.equal(settings.security.auth.selectedType, 'gemini-api-key');
      assert.equal(typeof settings.model.name, 'string', 'model.name is a string (an object there breaks Gemini CLI)');
      for (const lang of ['zh', 'en'] as const) {
        assert.match(page.answer[lang], /GOOGLE_GEMINI_BASE_URL/);
        assert.match(page.answer[lang], /-m/);
        assert.match(page.answer[lang], /:streamGenerateContent/);
      }
      assert.match(page.limits!.en.join(' '), /google_web_search/);
    });
  });
}
