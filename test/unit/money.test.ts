import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseMoney, parsePositiveMoney, formatMoney, divCeil, toBig, MAX_MICROS, MICROS_PER_UNIT } from '../../src/ledger/money.ts';
import { TallyError } from '../../src/lib/errors.ts';

/** Asserts parseMoney refuses `input` with a 400 invalid_amount whose message matches and names the field. */
function refuses(input: unknown, message: RegExp, opts: Parameters<typeof parseMoney>[1] = {}) {
  assert.throws(
    () => parseMoney(input, opts),
    (e: unknown) => {
      assert.ok(e instanceof TallyError, `expected a TallyError, got ${String(e)}`);
      assert.equal(e.code, 'invalid_amount');
      assert.equal(e.status, 400);
      assert.equal(e.param, opts.field ?? 'amount');
      assert.match(e.message, message);
      assert.ok(e.message.startsWith(opts.field ?? 'amount'), `the message names the field: ${e.message}`);
      return true;
    },
    `parseMoney(${typeof input === 'string' ? JSON.stringify(input) : String(input)}) should be refused`,
  );
}

describe('parsing amounts typed by people (parseMoney)', () => {
  test('decimal strings become exact micro-units', () => {
    const cases: Array<[string, bigint]> = [
      ['10.00', 10_000_000n],
      ['10', 10_000_000n],
      ['0.1', 100_000n],
      ['0.000001', 1n],
      ['12.5', 12_500_000n],
      ['007.50', 7_500_000n],
      ['123456.789012', 123_456_789_012n],
      ['0', 0n],
      ['0.00', 0n],
    ];
    for (const [s, v] of cases) assert.equal(parseMoney(s), v, s);
  });

  test('0.1 + 0.2 is exactly 0.3: no float ever touches the amount', () => {
    assert.equal(parseMoney('0.1') + parseMoney('0.2'), parseMoney('0.3'));
  });

  test('surrounding whitespace (a pasted amount) is tolerated', () => {
    assert.equal(parseMoney(' 10.00 '), 10_000_000n);
    assert.equal(parseMoney('\t5\n'), 5_000_000n);
  });

  test('a JSON number is refused, because it has already been through a float', () => {
    refuses(10, /decimal string such as "10\.00", not a JSON number/);
    refuses(0.1, /not a JSON number/);
    refuses(Number.NaN, /not a JSON number/);
    refuses(Number.POSITIVE_INFINITY, /not a JSON number/);
  });

  test('a missing amount or a non-string is refused and says a decimal string is required', () => {
    for (const v of [undefined, null, true, {}, ['10.00']]) refuses(v, /required, as a decimal string/);
  });

  test('strings that are not plain decimals are refused with the offending text quoted', () => {
    for (const s of [
      'NaN',
      'nan',
      'Infinity',
      '-Infinity',
      'abc',
      'ten',
      '1e3',
      '1E-2',
      '0x10',
      '+5',
      '.5',
      '5.',
      '1.2.3',
      '1,000.00',
      '1 000',
      '$10',
      '10 USD',
      '--1',
      '-',
      '',
      '١٢',
      '１０',
    ]) {
      refuses(
        s,
        s.trim()
          ? new RegExp(`"${s.trim().replace(/[.*+?^${}()|[\]\\$]/g, '\\$&')}" is not a decimal number; write it like "10\\.00"`)
          : /is not a decimal number/,
      );
    }
  });

  test('an echoed bad value is cut short, so a pasted essay does not flood the error', () => {
    const junk = 'x'.repeat(5_000);
    assert.throws(
      () => parseMoney(junk),
      (e: TallyError) => e.message.length < 200,
    );
  });

  test('more than 6 decimal places is refused: the smallest unit is 0.000001', () => {
    refuses('1.0000001', /more than 6 decimal places; the smallest unit is 0\.000001/);
    refuses('0.0000005', /more than 6 decimal places/);
    // Trailing zeros are still digits the user typed; be strict rather than guess.
    refuses('1.0000000', /more than 6 decimal places/);
  });

  test('negative amounts are refused unless the caller allows them', () => {
    refuses('-5.00', /must not be negative/);
    refuses('-0.000001', /must not be negative/);
    refuses(-5n, /must not be negative/);
    assert.equal(parseMoney('-2.50', { allowNegative: true }), -2_500_000n);
    assert.equal(parseMoney('-0.000001', { allowNegative: true }), -1n);
  });

  test('zero is refused where an amount must be positive', () => {
    for (const s of ['0', '0.00', '-0', '000.000000']) refuses(s, /must be greater than zero/, { allowZero: false, allowNegative: true });
    assert.throws(() => parsePositiveMoney('0'), { code: 'invalid_amount' });
    assert.equal(parsePositiveMoney('0.000001'), 1n);
  });

  test('absurd magnitudes are refused with the maximum in the message', () => {
    refuses('99999999999999999999', /too large; the maximum is 1000000000000\.00/);
    refuses('1'.repeat(10_000), /too large/);
    refuses('1000000000000.000001', /too large/);
    refuses('-1000000000000.000001', /too large/, { allowNegative: true });
    refuses(MAX_MICROS + 1n, /too large/);
    assert.equal(parseMoney('1000000000000'), MAX_MICROS, 'the maximum itself is accepted');
    assert.equal(parseMoney('-1000000000000', { allowNegative: true }), -MAX_MICROS);
  });

  test('the field name shows up in the message and as the error param', () => {
    refuses('abc', /^limit "abc"/, { field: 'limit' });
    assert.throws(() => parsePositiveMoney('-1', 'price'), { code: 'invalid_amount', param: 'price' });
  });

  test('a bigint already in micro-units passes through with the same range checks', () => {
    assert.equal(parseMoney(5n), 5n);
    assert.equal(parseMoney(MAX_MICROS), MAX_MICROS);
  });
});

describe('showing amounts to people (formatMoney)', () => {
  test('at least two decimals, no trailing zeros beyond them, every micro-unit kept', () => {
    const cases: Array<[bigint, string]> = [
      [10_000_000n, '10.00'],
      [12_500_000n, '12.50'],
      [1_500n, '0.0015'],
      [1n, '0.000001'],
      [0n, '0.00'],
      [12_345_678n, '12.345678'],
      [100_000n, '0.10'],
      [-2_500_000n, '-2.50'],
      [-1n, '-0.000001'],
      [MAX_MICROS, '1000000000000.00'],
      [2n ** 63n - 1n, '9223372036854.775807'],
    ];
    for (const [v, s] of cases) assert.equal(formatMoney(v), s, String(v));
  });

  test('minDecimals controls the padding', () => {
    assert.equal(formatMoney(10_000_000n, 0), '10');
    assert.equal(formatMoney(10_500_000n, 0), '10.5');
    assert.equal(formatMoney(10_000_000n, 6), '10.000000');
  });

  test('every amount in range survives format → parse unchanged', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -MAX_MICROS, max: MAX_MICROS }), (v) => parseMoney(formatMoney(v), { allowNegative: true }) === v),
      { numRuns: 2_000 },
    );
    for (const v of [0n, 1n, -1n, MICROS_PER_UNIT, MAX_MICROS, -MAX_MICROS, 999_999n]) assert.equal(parseMoney(formatMoney(v), { allowNegative: true }), v);
  });

  test('what a person types comes back in canonical form', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n - 1n }), fc.stringMatching(/^\d{0,6}$/), (whole, frac) => {
        const typed = frac ? `${whole}.${frac}` : `${whole}`;
        const shown = formatMoney(parseMoney(typed));
        return parseMoney(shown) === parseMoney(typed) && /^\d+\.\d{2,6}$/.test(shown);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('rounding a cost up once (divCeil)', () => {
  test('rounds up, never down: a provider is never under-charged by truncation', () => {
    assert.equal(divCeil(10n, 3n), 4n);
    assert.equal(divCeil(9n, 3n), 3n);
    assert.equal(divCeil(1n, 1_000_000n), 1n);
    assert.equal(divCeil(0n, 7n), 0n);
  });

  test('one token at $0.15 per 1M tokens costs one micro-unit, not zero', () => {
    // price per 1M tokens in micro-units × tokens / 1M, rounded up once at the end.
    assert.equal(divCeil(150_000n * 1n, 1_000_000n), 1n);
    assert.equal(divCeil(150_000n * 1_000_000n, 1_000_000n), 150_000n);
    assert.equal(divCeil(150_000n * 7n + 2_500_000n * 3n, 1_000_000n), 9n);
  });

  test('matches the definition of ceiling for every sign of the dividend', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 24n), max: 10n ** 24n }), fc.bigInt({ min: 1n, max: 10n ** 12n }), (a, b) => {
        const q = divCeil(a, b);
        return q * b >= a && (q - 1n) * b < a;
      }),
      { numRuns: 2_000 },
    );
  });

  test('a zero or negative divisor is a programming error', () => {
    assert.throws(() => divCeil(1n, 0n), RangeError);
    assert.throws(() => divCeil(1n, -3n), RangeError);
  });
});

describe('reading integers back from either database (toBig)', () => {
  test('bigint, safe number and integer string all become bigint', () => {
    assert.equal(toBig(5n), 5n);
    assert.equal(toBig(42), 42n);
    assert.equal(toBig('9223372036854775807'), 9_223_372_036_854_775_807n);
    assert.equal(toBig('-12'), -12n);
    assert.equal(toBig(null), 0n);
  });

  test('an unsafe or fractional number is refused rather than silently rounded', () => {
    assert.throws(() => toBig(2 ** 53 + 2), RangeError);
    assert.throws(() => toBig(1.5), RangeError);
    assert.throws(() => toBig('1.5'), TypeError);
    assert.throws(() => toBig('abc'), TypeError);
  });
});
