import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { ERRORS, errorTableMarkdown, isErrorCode } from '../../src/lib/errors.ts';
import { en } from '../../web/src/i18n/en.ts';
import { zh } from '../../web/src/i18n/zh.ts';

// The console translates an API error by its code (web/src/i18n.tsx errorText:
// `<scope>.err.<code>`, then `err.<code>`). A key whose code the server never
// sends is a translation that never shows (the console once had
// `err.unauthenticated` while the server says `not_signed_in`).
const ERROR_KEY = /(?:^|\.)err\.([a-z0-9_]+)$/;

describe('console error messages and the error registry', () => {
  const keys = Object.keys(en).filter((k) => ERROR_KEY.test(k));

  test('the console translates some error codes (the pattern still matches its keys)', () => {
    assert.ok(keys.length >= 20, `only ${keys.length} err.* keys found`);
  });

  test('every error code the console translates is declared in src/lib/errors.ts', () => {
    const unknown = keys.filter((k) => !isErrorCode(ERROR_KEY.exec(k)![1]));
    assert.deepEqual(unknown, [], `these console keys name codes the server never sends: ${unknown.join(', ')}`);
  });

  test('every translated error has its Chinese text too', () => {
    for (const k of keys) assert.ok((zh as Record<string, string>)[k]?.trim(), `zh has no text for ${k}`);
  });

  test('the sign-in error a stale session gets is one the console translates', () => {
    assert.equal(ERRORS.not_signed_in.status, 401);
    assert.ok('err.not_signed_in' in en);
  });

  test('every registry entry is consistent: 4xx/5xx status, retry advice only where a retry can help', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      assert.match(code, /^[a-z][a-z0-9_]*$/, code);
      assert.ok(spec.status >= 400 && spec.status <= 599, `${code}: ${spec.status}`);
      if (spec.status < 500 && spec.status !== 429 && code !== 'order_changed')
        assert.equal(spec.retryable, false, `${code} is a ${spec.status} marked retryable`);
    }
  });

  test('the README lists the registry as it is (paste `tally admin errors` between the markers)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const m = /<!-- error-table:start -->\n([\s\S]*?)\n<!-- error-table:end -->/.exec(readme);
    assert.ok(m, 'README.md has no error-table markers');
    assert.equal(
      m[1].trim(),
      errorTableMarkdown().trim(),
      'README.md error table differs from src/lib/errors.ts: paste `tally admin errors` between the markers',
    );
  });
});
