// How Tally serves the built console: hashed assets cached for good, the page
// itself revalidated, deep links answered with the app, missing assets 404.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildConsole } from './browser.ts';
import { WEB_DIST } from '../../src/app/routes/console.ts';
import { startTestTally, type TestTally } from '../helpers/tally.ts';

describe('serving the console at /console', () => {
  let t: TestTally;
  before(async () => {
    buildConsole();
    t = await startTestTally('sqlite');
  });
  after(async () => t?.close());

  test('the app page is revalidated on every load and locked down by CSP', async () => {
    for (const path of ['/console', '/console/', '/console/index.html']) {
      const r = await fetch(t.url + path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('cache-control'), 'no-cache');
      assert.match(r.headers.get('content-type')!, /text\/html/);
      assert.match(r.headers.get('content-security-policy')!, /default-src 'self'/);
      assert.match(await r.text(), /<div id="root">/);
    }
  });

  test('a deep link to a console page gets the app, so a reload or a shared link works', async () => {
    const r = await fetch(`${t.url}/console/usage/req_0123456789abcdef`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    assert.match(await r.text(), /<div id="root">/);
  });

  test('hashed assets are cached for a year; a missing asset is a 404, not the app', async () => {
    const js = readdirSync(join(WEB_DIST, 'assets')).find((f) => f.endsWith('.js'))!;
    const r = await fetch(`${t.url}/console/assets/${js}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.match(r.headers.get('content-type')!, /javascript/);
    const missing = await fetch(`${t.url}/console/assets/index-doesnotexist.js`);
    assert.equal(missing.status, 404);
  });

  test('paths cannot climb out of web/dist', async () => {
    for (const p of ['/console/..%2f..%2fpackage.json', '/console/%2e%2e/%2e%2e/package.json', '/console/../../package.json']) {
      const r = await fetch(t.url + p);
      const body = await r.text();
      assert.ok(!body.includes('"dependencies"'), `${p} leaked a file outside dist`);
    }
  });

  test('the root redirects to the console', async () => {
    const r = await fetch(`${t.url}/`, { redirect: 'manual' });
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), '/console/');
  });
});
