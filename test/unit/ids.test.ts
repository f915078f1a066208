import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { newId } from '../../src/lib/ids.ts';

// Statements list transfers "newest first" by ordering on the id, and page with
// `before=<id>`; so ids must sort in the order they were made, including the
// many a busy gateway makes within one millisecond.
describe('ids (newId)', () => {
  test('an id is the prefix, an underscore and 26 lowercase Crockford base32 characters', () => {
    for (const p of ['usr', 'key', 'trf', 'aud'] as const) assert.match(newId(p), new RegExp(`^${p}_[0-9abcdefghjkmnpqrstvwxyz]{26}$`));
  });

  test('ids are unique', () => {
    const ids = Array.from({ length: 20_000 }, () => newId('trf'));
    assert.equal(new Set(ids).size, ids.length);
  });

  test('ids made in different milliseconds sort by time', async () => {
    const a = newId('trf');
    await new Promise((r) => setTimeout(r, 3));
    const b = newId('trf');
    assert.ok(a < b);
  });

  test('ids made within the same millisecond still sort in the order they were made', () => {
    const ids = Array.from({ length: 2_000 }, () => newId('trf'));
    const sorted = [...ids].sort();
    const firstOutOfOrder = ids.findIndex((id, i) => sorted[i] !== id);
    assert.equal(firstOutOfOrder, -1, `id #${firstOutOfOrder} (${ids[firstOutOfOrder]}) sorts before an id made earlier`);
  });
});
