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
            const path = m[2].replace(/\{[^}]+\}|:[a-z_]+/g, 'x');
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
  });
}
