import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { jsonNestsDeeperThan, parseJsonBody, MAX_JSON_DEPTH } from '../../src/app/jsonBody.ts';

// The depth limit is checked on the text, before JSON.parse and without
// recursion: brackets inside strings (escaped quotes included) do not count.

const nest = (d: number) => '['.repeat(d) + ']'.repeat(d);

function depthOf(v: unknown): number {
  if (!v || typeof v !== 'object') return 0;
  const kids = Array.isArray(v) ? v : Object.values(v);
  return 1 + kids.reduce((m: number, k) => Math.max(m, depthOf(k)), 0);
}

test('the limit is exact: MAX_JSON_DEPTH levels pass, one more is refused', () => {
  assert.equal(jsonNestsDeeperThan(nest(MAX_JSON_DEPTH)), false);
  assert.equal(jsonNestsDeeperThan(nest(MAX_JSON_DEPTH + 1)), true);
  assert.equal(jsonNestsDeeperThan(`{"a":${'{"b":'.repeat(MAX_JSON_DEPTH)}1${'}'.repeat(MAX_JSON_DEPTH)}}`), true);
  assert.throws(
    () => parseJsonBody(nest(10_000)),
    (e: any) => e.code === 'json_too_deep' && e.status === 400,
  );
  assert.throws(
    () => parseJsonBody('{"a":'),
    (e: any) => e.code === 'invalid_json' && e.status === 400,
  );
});

test('brackets inside strings, escaped quotes and backslashes are not nesting', () => {
  const body = JSON.stringify({ a: '['.repeat(500), b: '\\"[[[[' + '{'.repeat(300), c: ['\\', '"]]]'] });
  assert.equal(jsonNestsDeeperThan(body), false);
  assert.deepEqual(parseJsonBody(body), JSON.parse(body));
});

test('agrees with the depth of the parsed value, for any JSON', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 1, max: 8 }), (v, max) => {
      const text = JSON.stringify(v);
      assert.equal(jsonNestsDeeperThan(text, max), depthOf(v) > max, text);
    }),
    { numRuns: 300 },
  );
});
