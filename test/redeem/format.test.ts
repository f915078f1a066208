import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  generateNormalizedCode,
  formatCode,
  displayCode,
  normalizeRedeemCode,
  maskCodeInput,
  hashRedeemCode,
  checkCharacter,
} from '../../src/redeem/format.ts';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

describe('redeem code format', () => {
  test('a code is TALLY- and five groups of four Crockford base32 characters, with 95 random bits', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const n = generateNormalizedCode();
      assert.match(n, /^[0-9A-HJKMNP-TV-Z]{20}$/);
      assert.match(formatCode(n), /^TALLY(-[0-9A-HJKMNP-TV-Z]{4}){5}$/);
      assert.deepEqual(normalizeRedeemCode(formatCode(n)), { ok: true, normalized: n });
      seen.add(n);
    }
    assert.equal(seen.size, 2000);
  });

  test('case, spaces, hyphens and the prefix do not matter; I and L read as 1, O as 0', () => {
    const body = '1111000' + 'ABCDEFGHJKM1';
    const n = body + checkCharacter(body);
    const typed = `  tally ${n.slice(0, 4).replace(/1/g, 'l')}-${n.slice(4, 8).replace(/0/g, 'o')} ${n.slice(8, 12).toLowerCase()}--${n.slice(12).replace(/1/g, 'I')} `;
    assert.deepEqual(normalizeRedeemCode(typed), { ok: true, normalized: n });
    assert.deepEqual(normalizeRedeemCode(n.toLowerCase()), { ok: true, normalized: n }, 'without the TALLY- prefix too');
  });

  test('every single mistyped character is caught by the check character, before any lookup', () => {
    for (let k = 0; k < 50; k++) {
      const n = generateNormalizedCode();
      for (let i = 0; i < n.length; i++) {
        for (const c of ALPHABET) {
          if (c === n[i]) continue;
          const typo = n.slice(0, i) + c + n.slice(i + 1);
          assert.deepEqual(normalizeRedeemCode(typo), { ok: false, reason: 'mistyped' }, `${n} → ${typo}`);
        }
      }
    }
  });

  test('most swaps of neighbouring characters are caught too', () => {
    let swaps = 0;
    let caught = 0;
    for (let k = 0; k < 200; k++) {
      const n = generateNormalizedCode();
      for (let i = 0; i < n.length - 1; i++) {
        if (n[i] === n[i + 1]) continue;
        swaps++;
        const s = n.slice(0, i) + n[i + 1] + n[i] + n.slice(i + 2);
        if (!normalizeRedeemCode(s).ok) caught++;
      }
    }
    assert.ok(caught / swaps > 0.95, `${caught}/${swaps}`);
  });

  test('anything that is not 20 code characters is invalid_format, not mistyped', () => {
    for (const bad of [
      '',
      'hello',
      'TALLY-1234',
      'TALLY-AAAA-AAAA-AAAA-AAAA-AAAU',
      'TALLY-AAAA-AAAA-AAAA-AAAA-AAAA-A',
      '1234-5678',
      '💸'.repeat(20),
      42,
      null,
      undefined,
    ]) {
      assert.deepEqual(normalizeRedeemCode(bad), { ok: false, reason: 'invalid_format' }, String(bad));
    }
  });

  test('only the last 4 characters survive display and masking', () => {
    const n = generateNormalizedCode();
    assert.equal(displayCode(n), `TALLY-****-****-****-****-${n.slice(-4)}`);
    assert.equal(maskCodeInput(formatCode(n).toLowerCase()), displayCode(n));
    assert.equal(maskCodeInput('TALLY-ABCD-EFGH'), '****EFGH');
    assert.equal(maskCodeInput('abc'), '****');
    assert.equal(maskCodeInput({}), '****');
  });

  test('the stored hash depends on the secret and on nothing but the normalised code', () => {
    const n = generateNormalizedCode();
    assert.equal(hashRedeemCode('s1-0123456789abcdef', n), hashRedeemCode('s1-0123456789abcdef', n));
    assert.notEqual(hashRedeemCode('s1-0123456789abcdef', n), hashRedeemCode('s2-0123456789abcdef', n));
    assert.match(hashRedeemCode('s1-0123456789abcdef', n), /^[0-9a-f]{64}$/);
    assert.equal(hashRedeemCode('s', n).includes(n), false);
  });
});
