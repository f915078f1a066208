// The usage → cost rule (src/gateway/pricing.ts): each part of the prompt at
// its own price (uncached input, cache read, 5-minute and 1-hour cache write),
// an unset cache price falling back to the input price, counts clamped so the
// parts never exceed the prompt, one rounding up at the end, bigint only; and
// the reservation's bound, which prices a prompt at the highest prompt price.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  affordableOutputTokens,
  computeCost,
  costBound,
  explainCost,
  modelPrice,
  promptParts,
  type ModelPrice,
  type Usage,
} from '../../src/gateway/pricing.ts';
import { divCeil } from '../../src/ledger/money.ts';

const ONE_X = 1_000_000n;

/** Claude Sonnet's list prices in micro-units per 1M tokens: $3 in, $15 out, reads $0.30, 5-minute writes $3.75, 1-hour writes $6. */
function sonnet(over: Partial<Omit<ModelPrice, 'promptBoundPer1M'>> = {}): ModelPrice {
  return modelPrice({
    model: 'claude-sonnet',
    kind: 'chat',
    inputPer1M: 3_000_000n,
    outputPer1M: 15_000_000n,
    cachedInputPer1M: 300_000n,
    cacheWritePer1M: 3_750_000n,
    cacheWrite1hPer1M: 6_000_000n,
    maxOutputTokens: 4096,
    updatedAt: 0,
    ...over,
  });
}

/** 1,000 uncached + 2,000 read + 500 written (5m) + 300 written (1h) = 3,800 prompt tokens; 200 out. */
const MIXED: Usage = { promptTokens: 3_800, completionTokens: 200, cachedTokens: 2_000, cacheWriteTokens: 500, cacheWrite1hTokens: 300 };

describe('computeCost: each part of the prompt at its own price', () => {
  test('a usage with cache reads, 5-minute and 1-hour writes costs the sum of its parts, to the micro-unit', () => {
    const p = sonnet();
    assert.deepEqual(promptParts(MIXED), { uncached: 1_000, cacheRead: 2_000, cacheWrite: 500, cacheWrite1h: 300 });
    // 1,000 x 3 + 2,000 x 0.30 + 500 x 3.75 + 300 x 6 + 200 x 15 = 3,000 + 600 + 1,875 + 1,800 + 3,000 micro-units
    assert.equal(computeCost(p, MIXED, ONE_X), 10_275n);
  });

  test('each part alone is billed at its price', () => {
    const p = sonnet();
    const only = (u: Partial<Usage>) => computeCost(p, { promptTokens: 0, completionTokens: 0, cachedTokens: 0, ...u }, ONE_X);
    assert.equal(only({ promptTokens: 1_000 }), 3_000n, 'uncached input at $3');
    assert.equal(only({ promptTokens: 2_000, cachedTokens: 2_000 }), 600n, 'cache reads at $0.30');
    assert.equal(only({ promptTokens: 500, cacheWriteTokens: 500 }), 1_875n, '5-minute writes at $3.75');
    assert.equal(only({ promptTokens: 300, cacheWrite1hTokens: 300 }), 1_800n, '1-hour writes at $6');
    assert.equal(only({ completionTokens: 200 }), 3_000n, 'output at $15');
  });

  test('the group multiplier applies to the whole sum', () => {
    assert.equal(computeCost(sonnet(), MIXED, 1_500_000n), 15_413n, 'ceil(10,275 x 1.5) = ceil(15,412.5)');
  });
});

describe('computeCost: unset cache prices fall back to the input price', () => {
  test('a model without cache prices bills every prompt token at the input price, as it always did', () => {
    const p = sonnet({ cachedInputPer1M: null, cacheWritePer1M: null, cacheWrite1hPer1M: null });
    assert.equal(computeCost(p, MIXED, ONE_X), 3_800n * 3n + 3_000n);
    // The same as a usage that reports no cache at all.
    assert.equal(computeCost(p, MIXED, ONE_X), computeCost(p, { promptTokens: 3_800, completionTokens: 200, cachedTokens: 0 }, ONE_X));
  });

  test('each unset price falls back on its own: a read price with no write prices bills writes at the input price', () => {
    const p = sonnet({ cacheWritePer1M: null, cacheWrite1hPer1M: null });
    assert.equal(computeCost(p, MIXED, ONE_X), 3_000n + 600n + 500n * 3n + 300n * 3n + 3_000n);
    const onlyHour = sonnet({ cachedInputPer1M: null, cacheWritePer1M: null });
    assert.equal(computeCost(onlyHour, MIXED, ONE_X), 1_000n * 3n + 2_000n * 3n + 500n * 3n + 1_800n + 3_000n);
  });

  test('a price of zero is a price, not unset', () => {
    const p = sonnet({ cachedInputPer1M: 0n, cacheWritePer1M: 0n, cacheWrite1hPer1M: 0n });
    assert.equal(computeCost(p, MIXED, ONE_X), 3_000n + 3_000n);
  });
});

describe('computeCost: counts are clamped so the parts never exceed the prompt', () => {
  test('in order: reads, then 5-minute writes, then 1-hour writes, each to what is left', () => {
    const u: Usage = { promptTokens: 100, completionTokens: 0, cachedTokens: 60, cacheWriteTokens: 60, cacheWrite1hTokens: 60 };
    assert.deepEqual(promptParts(u), { uncached: 0, cacheRead: 60, cacheWrite: 40, cacheWrite1h: 0 });
    assert.equal(computeCost(sonnet(), u, ONE_X), divCeil(60n * 300_000n + 40n * 3_750_000n, 1_000_000n));
    assert.deepEqual(promptParts({ promptTokens: 10, completionTokens: 0, cachedTokens: 50 }), { uncached: 0, cacheRead: 10, cacheWrite: 0, cacheWrite1h: 0 });
  });

  test('negative counts are zero; a negative prompt is no prompt', () => {
    assert.deepEqual(promptParts({ promptTokens: 100, completionTokens: 0, cachedTokens: -5, cacheWriteTokens: -1, cacheWrite1hTokens: 30 }), {
      uncached: 70,
      cacheRead: 0,
      cacheWrite: 0,
      cacheWrite1h: 30,
    });
    assert.deepEqual(promptParts({ promptTokens: -10, completionTokens: 0, cachedTokens: 5 }), { uncached: 0, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0 });
  });

  test('absent cache-write counts (an OpenAI usage) are zero', () => {
    assert.deepEqual(promptParts({ promptTokens: 1001, completionTokens: 7, cachedTokens: 600 }), {
      uncached: 401,
      cacheRead: 600,
      cacheWrite: 0,
      cacheWrite1h: 0,
    });
  });

  test('for any counts: no part is negative and the parts add up to the prompt (or 0)', () => {
    const count = fc.integer({ min: -1_000, max: 2_000_000 });
    fc.assert(
      fc.property(count, count, count, count, (promptTokens, cachedTokens, cacheWriteTokens, cacheWrite1hTokens) => {
        const p = promptParts({ promptTokens, completionTokens: 0, cachedTokens, cacheWriteTokens, cacheWrite1hTokens });
        for (const v of Object.values(p)) if (v < 0) return false;
        return p.uncached + p.cacheRead + p.cacheWrite + p.cacheWrite1h === Math.max(0, promptTokens);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('computeCost: rounded up once, in bigint', () => {
  test('parts worth a fraction of a micro-unit each are summed before rounding, not rounded each', () => {
    // 1 micro-unit per 1M tokens everywhere: each single token is worth 0.000001 micro-units.
    const p = modelPrice({
      model: 'm',
      kind: 'chat',
      inputPer1M: 1n,
      outputPer1M: 1n,
      cachedInputPer1M: 1n,
      cacheWritePer1M: 1n,
      cacheWrite1hPer1M: 1n,
      maxOutputTokens: 1,
      updatedAt: 0,
    });
    const u: Usage = { promptTokens: 4, completionTokens: 1, cachedTokens: 1, cacheWriteTokens: 1, cacheWrite1hTokens: 1 };
    assert.equal(computeCost(p, u, ONE_X), 1n, 'ceil(5 / 1e6) = 1, not 5 (one rounding per part)');
    assert.equal(computeCost(p, { promptTokens: 0, completionTokens: 0, cachedTokens: 0 }, ONE_X), 0n, 'nothing costs nothing');
  });

  test('equals the exact bigint arithmetic rounded up once, for any counts, prices and multiplier (no float anywhere)', () => {
    const price = fc.bigInt({ min: 0n, max: 10n ** 12n });
    const maybe = fc.option(price, { nil: null });
    const count = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
    fc.assert(
      fc.property(
        fc.record({ input: price, output: price, read: maybe, write: maybe, write1h: maybe }),
        fc.tuple(count, count, count, count, count),
        fc.bigInt({ min: 0n, max: 10n ** 8n }),
        (pr, [a, b, c, d, out], m) => {
          const p = modelPrice({
            model: 'm',
            kind: 'chat',
            inputPer1M: pr.input,
            outputPer1M: pr.output,
            cachedInputPer1M: pr.read,
            cacheWritePer1M: pr.write,
            cacheWrite1hPer1M: pr.write1h,
            maxOutputTokens: 1,
            updatedAt: 0,
          });
          // The four parts given directly (they add up to the prompt, which may exceed 2^53: BigInt of a safe integer each).
          const usage: Usage = { promptTokens: a + b + c + d, completionTokens: out, cachedTokens: b, cacheWriteTokens: c, cacheWrite1hTokens: d };
          if (!Number.isSafeInteger(usage.promptTokens)) return true;
          const raw =
            BigInt(a) * pr.input +
            BigInt(b) * (pr.read ?? pr.input) +
            BigInt(c) * (pr.write ?? pr.input) +
            BigInt(d) * (pr.write1h ?? pr.input) +
            BigInt(out) * pr.output;
          const cost = computeCost(p, usage, m);
          return typeof cost === 'bigint' && cost === divCeil(raw * m, 10n ** 12n);
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('the reservation bound prices the prompt at the highest prompt price', () => {
  test('promptBoundPer1M is the highest of input, cache read and the two cache writes; unset ones do not count', () => {
    assert.equal(sonnet().promptBoundPer1M, 6_000_000n, 'the 1-hour write');
    assert.equal(sonnet({ cacheWrite1hPer1M: null }).promptBoundPer1M, 3_750_000n, 'the 5-minute write');
    assert.equal(sonnet({ cacheWritePer1M: null, cacheWrite1hPer1M: null }).promptBoundPer1M, 3_000_000n, 'the input price');
    assert.equal(sonnet({ cacheWritePer1M: 1n, cacheWrite1hPer1M: 2n }).promptBoundPer1M, 3_000_000n, 'cheaper writes: still the input price');
  });

  test('costBound is never below the cost of any usage with that many prompt and output tokens', () => {
    const count = fc.integer({ min: 0, max: 5_000_000 });
    fc.assert(
      fc.property(count, count, count, count, count, fc.bigInt({ min: 1n, max: 10n ** 7n }), (a, b, c, d, out, m) => {
        const p = sonnet();
        const usage: Usage = { promptTokens: a + b + c + d, completionTokens: out, cachedTokens: b, cacheWriteTokens: c, cacheWrite1hTokens: d };
        return computeCost(p, usage, m) <= costBound(p, usage.promptTokens, out, m);
      }),
      { numRuns: 2_000 },
    );
    // And it is reached: a prompt written whole to the 1-hour cache.
    const all1h: Usage = { promptTokens: 1_000, completionTokens: 50, cachedTokens: 0, cacheWrite1hTokens: 1_000 };
    assert.equal(costBound(sonnet(), 1_000, 50, ONE_X), computeCost(sonnet(), all1h, ONE_X));
  });

  test('for a model without cache-write prices the bound is what it always was: the prompt at the input price', () => {
    const p = sonnet({ cacheWritePer1M: null, cacheWrite1hPer1M: null });
    assert.equal(costBound(p, 1_234, 567, ONE_X), computeCost(p, { promptTokens: 1_234, completionTokens: 567, cachedTokens: 0 }, ONE_X));
  });

  test('affordableOutputTokens: the output it allows keeps the bound within the budget, and the prompt is priced at the bound', () => {
    fc.assert(
      // Multipliers from 0.1x: then an output token is worth at least a micro-unit, so "3 more would not fit" is a tight check.
      fc.property(
        fc.integer({ min: 0, max: 200_000 }),
        fc.bigInt({ min: 0n, max: 10n ** 9n }),
        fc.bigInt({ min: 100_000n, max: 10n ** 7n }),
        (prompt, budget, m) => {
          const p = sonnet();
          const n = affordableOutputTokens(p, prompt, m, budget);
          const tight = costBound(p, prompt, n + 3, m) > budget;
          return n === 0 ? tight : costBound(p, prompt, n, m) <= budget && tight;
        },
      ),
      { numRuns: 2_000 },
    );
    // 1,000 prompt tokens cost 3,000 at the input price but 6,000 at the 1-hour write price: a 5,000 budget leaves no output.
    assert.equal(affordableOutputTokens(sonnet(), 1_000, ONE_X, 5_000n), 0);
    assert.ok(affordableOutputTokens(sonnet({ cacheWritePer1M: null, cacheWrite1hPer1M: null }), 1_000, ONE_X, 5_000n) > 100);
  });
});

describe('explainCost shows each count and its price', () => {
  test('every part that was billed, with the price it was billed at, and the total', () => {
    const text = explainCost(sonnet(), MIXED, ONE_X);
    assert.equal(
      text,
      '(1000 input x 3.00/1M + 2000 cached x 0.30/1M + 500 cache write (5m) x 3.75/1M + 300 cache write (1h) x 6.00/1M + 200 output x 15.00/1M) x 1.00 = 0.010275 (rounded up to the micro-unit)',
    );
  });

  test('an unset cache price shows the input price it fell back to; parts with no tokens are left out', () => {
    const p = sonnet({ cacheWritePer1M: null });
    const text = explainCost(p, { promptTokens: 600, completionTokens: 10, cachedTokens: 0, cacheWriteTokens: 100 }, ONE_X);
    assert.equal(text, '(500 input x 3.00/1M + 100 cache write (5m) x 3.00/1M + 10 output x 15.00/1M) x 1.00 = 0.001950 (rounded up to the micro-unit)');
  });
});
