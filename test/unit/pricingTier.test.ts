// Reasoning and tool-use prompt tokens reported apart (billed as output and
// as input, never lost) and the long-context tier (above N prompt tokens the
// tier's prices apply to the whole request; the bound uses them when its
// prompt could exceed N), in bigint to the micro-unit.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { affordableOutputTokens, computeCost, costBound, explainCost, modelPrice, priceSet, type ModelPrice, type Usage } from '../../src/gateway/pricing.ts';
import { readSse } from '../../src/gateway/protocols/openai/usage.ts';

const ONE_X = 1_000_000n;

/** Gemini 2.5 Pro's list prices: $1.25 in / $10 out up to 200k prompt tokens, $2.50 / $15 above; cache reads $0.31. */
function pro(over: Partial<Parameters<typeof modelPrice>[0]> = {}): ModelPrice {
  return modelPrice({
    model: 'gemini-2.5-pro',
    kind: 'chat',
    inputPer1M: 1_250_000n,
    outputPer1M: 10_000_000n,
    cachedInputPer1M: 310_000n,
    cacheWritePer1M: null,
    cacheWrite1hPer1M: null,
    tierAbove: 200_000,
    tierInputPer1M: 2_500_000n,
    tierOutputPer1M: 15_000_000n,
    maxOutputTokens: 65_536,
    updatedAt: 0,
    ...over,
  });
}

describe('reasoning and tool-use prompt tokens reported apart', () => {
  test('reasoning is billed at the output price, tool-use prompt at the input price, on top of the counts', () => {
    const p = pro();
    const u: Usage = { promptTokens: 1_000, completionTokens: 200, cachedTokens: 0, reasoningTokens: 300, toolUsePromptTokens: 50 };
    // (1,000 + 50) x 1.25 + (200 + 300) x 10 = 1,312.5 + 5,000 = 6,312.5 -> 6,313 micro-units
    assert.equal(computeCost(p, u, ONE_X), 6_313n);
    assert.equal(computeCost(p, { ...u, reasoningTokens: 0, toolUsePromptTokens: 0 }, ONE_X), 3_250n, 'without them: 1,250 + 2,000');
    assert.equal(
      explainCost(p, u, ONE_X),
      '(1000 input x 1.25/1M + 50 tool-use prompt x 1.25/1M + 200 output x 10.00/1M + 300 reasoning x 10.00/1M) x 1.00 = 0.006313 (rounded up to the micro-unit)',
    );
  });

  test('absent or negative counts add nothing (a usage without them costs what it always did)', () => {
    const p = pro();
    const base: Usage = { promptTokens: 123_457, completionTokens: 999, cachedTokens: 7 };
    const c = computeCost(p, base, ONE_X);
    assert.equal(computeCost(p, { ...base, reasoningTokens: -5, toolUsePromptTokens: -1 }, ONE_X), c);
    assert.equal(computeCost(p, { ...base, reasoningTokens: 0 }, ONE_X), c);
  });

  test('exact: the cost is ceil of the integer sum, for any counts (property)', () => {
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.nat(100_000), fc.nat(100_000), fc.nat(10_000), fc.nat(3_000_000), (pr, co, re, tu, m) => {
        const p = pro({ tierAbove: null });
        const raw = BigInt(pr + tu) * 1_250_000n + BigInt(co + re) * 10_000_000n;
        const mult = BigInt(m);
        const want = (raw * mult + 10n ** 12n - 1n) / 10n ** 12n;
        return computeCost(p, { promptTokens: pr, completionTokens: co, cachedTokens: 0, reasoningTokens: re, toolUsePromptTokens: tu }, mult) === want;
      }),
    );
  });

  test('the counted fallback counts reasoning_content deltas as produced text', () => {
    const sse =
      'data: {"choices":[{"index":0,"delta":{"reasoning_content":"think think"}}]}\n\n' +
      'data: {"choices":[{"index":0,"delta":{"content":"answer"}}]}\n\ndata: [DONE]\n\n';
    assert.equal(readSse(sse).output, 'think thinkanswer');
  });

  test('and `reasoning` deltas (OpenRouter, newer vLLM) too, never both names twice', () => {
    const sse =
      'data: {"choices":[{"index":0,"delta":{"reasoning":"mull it over"}}]}\n\n' +
      'data: {"choices":[{"index":0,"delta":{"reasoning_content":"x","reasoning":"x"}}]}\n\n' +
      'data: {"choices":[{"index":0,"delta":{"content":"done"}}]}\n\ndata: [DONE]\n\n';
    assert.equal(readSse(sse).output, 'mull it overxdone');
  });
});

describe('the long-context tier', () => {
  const p = pro();
  const at = (prompt: number, extra: Partial<Usage> = {}): Usage => ({ promptTokens: prompt, completionTokens: 1_000, cachedTokens: 0, ...extra });

  test('exactly N prompt tokens: base prices; N + 1: the tier prices on the whole request', () => {
    assert.equal(priceSet(p, at(200_000)), 'base');
    assert.equal(computeCost(p, at(200_000), ONE_X), (200_000n * 1_250_000n) / 1_000_000n + 10_000n, '250,000 + 10,000');
    assert.equal(priceSet(p, at(200_001)), 'tier');
    // 200,001 x 2.50 + 1,000 x 15 = 500,002.5 + 15,000 -> 515,003 (rounded up once)
    assert.equal(computeCost(p, at(200_001), ONE_X), 515_003n);
    assert.match(
      explainCost(p, at(200_001), ONE_X),
      /^\(200001 input x 2\.50\/1M \+ 1000 output x 15\.00\/1M\) x 1\.00 = 0\.515003 .*\[long-context prices: prompt above 200000 tokens\]$/,
    );
  });

  test('the threshold counts the whole prompt: cache reads and tool-use prompt included; cache reads keep their own price', () => {
    const u = at(199_990, { cachedTokens: 100_000, toolUsePromptTokens: 11 });
    assert.equal(priceSet(p, u), 'tier', '199,990 + 11 > 200,000');
    // (99,990 + 11) x 2.50 + 100,000 x 0.31 + 1,000 x 15 = 250,002.5 + 31,000 + 15,000
    assert.equal(computeCost(p, u, ONE_X), 296_003n);
    assert.equal(priceSet(p, at(199_990, { cachedTokens: 100_000, toolUsePromptTokens: 10 })), 'base');
  });

  test('a model without a tier is never in one; a half-set tier is no tier', () => {
    assert.equal(priceSet(pro({ tierAbove: null }), at(10_000_000)), 'base');
    const half = pro({ tierOutputPer1M: null });
    assert.equal(half.tierAbove, null);
    assert.equal(priceSet(half, at(10_000_000)), 'base');
  });

  test('the bound: up to N prompt tokens at the base prices, above N at the higher of either set; never below any cost it covers', () => {
    assert.equal(costBound(p, 200_000, 1_000, ONE_X), 260_000n);
    assert.equal(costBound(p, 200_001, 1_000, ONE_X), 515_003n);
    // A tier cheaper than the base (odd, but allowed): the bound still uses the higher prices.
    const cheap = pro({ tierInputPer1M: 1_000_000n, tierOutputPer1M: 5_000_000n });
    assert.equal(cheap.tierPromptBoundPer1M, 1_250_000n);
    assert.equal(cheap.tierOutputBoundPer1M, 10_000_000n);
    fc.assert(
      fc.property(fc.nat(400_000), fc.nat(400_000), fc.nat(400_000), fc.nat(50_000), fc.nat(50_000), (bound, actual, cached, out, reasoning) => {
        const prompt = Math.min(actual, bound);
        const u: Usage = { promptTokens: prompt, completionTokens: out, cachedTokens: Math.min(cached, prompt), reasoningTokens: reasoning };
        return (
          computeCost(p, u, ONE_X) <= costBound(p, bound, out + reasoning, ONE_X) &&
          computeCost(cheap, u, ONE_X) <= costBound(cheap, bound, out + reasoning, ONE_X)
        );
      }),
    );
  });

  test('affordableOutputTokens prices above N as the bound does: the capped bound stays within the budget', () => {
    fc.assert(
      fc.property(fc.nat(400_000), fc.bigInt({ min: 0n, max: 5_000_000n }), (prompt, budget) => {
        const n = affordableOutputTokens(p, prompt, ONE_X, budget);
        return n === 0 || costBound(p, prompt, n, ONE_X) <= budget;
      }),
    );
    assert.ok(affordableOutputTokens(p, 200_001, ONE_X, 1_000_000n) < affordableOutputTokens(p, 200_000, ONE_X, 1_000_000n));
  });
});
