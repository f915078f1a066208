import { GoogleGenAI } from '@google/genai';
import type { TestTally } from './tally.ts';
import type { GeminiUsage } from './mockGemini.ts';
import { divCeil } from '../../src/ledger/money.ts';
import type { ModelPrice } from '../../src/gateway/pricing.ts';

// Shared by the Gemini relay suites (test/gateway/gemini.*.test.ts).

/** The official @google/genai SDK pointed at a test Tally (base URL without /v1beta, as Gemini CLI's GOOGLE_GEMINI_BASE_URL); no retries. */
export const genai = (t: TestTally, apiKey: string, o: { prefix?: string; apiVersion?: string } = {}) =>
  new GoogleGenAI({ apiKey, ...(o.apiVersion ? { apiVersion: o.apiVersion } : {}), httpOptions: { baseUrl: `${t.url}${o.prefix ?? ''}` } });

/**
 * What a request with this Gemini usage costs, written out by hand (not with
 * Tally's reader): promptTokenCount includes the cached tokens, so the
 * uncached prompt and the tool-use prompt are at the input price, the cached
 * at the cached price; candidates and thoughts both at the output price; x
 * multiplier; rounded up once.
 */
export function geminiCost(price: ModelPrice, u: GeminiUsage, multiplierPpm = 1_000_000n): bigint {
  const cached = BigInt(u.cachedContentTokenCount ?? 0);
  const raw =
    (BigInt(u.promptTokenCount) - cached + BigInt(u.toolUsePromptTokenCount ?? 0)) * price.inputPer1M +
    cached * (price.cachedInputPer1M ?? price.inputPer1M) +
    BigInt(u.candidatesTokenCount + (u.thoughtsTokenCount ?? 0)) * price.outputPer1M;
  return divCeil(raw * multiplierPpm, 1_000_000n * 1_000_000n);
}
