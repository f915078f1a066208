import type { DbOrTx } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { divCeil, formatMoney, toBig } from '../ledger/money.ts';

// Prices are micro-units per 1M tokens; group multipliers are parts per
// million (1_000_000 = 1.0x). A cost is computed in bigint and rounded up
// once, at the end: ceil(sum(tokens x price) x multiplier / 1e6 / 1e6).
export const TOKENS_PER_PRICE_UNIT = 1_000_000n;
export const PPM = 1_000_000n;

export interface ModelPrice {
  model: string;
  kind: 'chat' | 'embedding';
  inputPer1M: bigint;
  outputPer1M: bigint;
  cachedInputPer1M: bigint | null;
  maxOutputTokens: number;
  updatedAt: number;
}

/**
 * Token counts of one request, in one convention whatever the provider: the
 * prompt total includes the tokens read from and written to a prompt cache
 * (OpenAI's convention; Anthropic reports its input_tokens without them, so
 * its reader adds them up).
 */
export interface Usage {
  /** Every prompt token: uncached + cache reads + cache writes. */
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens read from a prompt cache (OpenAI cached_tokens, Anthropic cache_read_input_tokens). */
  cachedTokens: number;
  /** Prompt tokens written to a 5-minute prompt cache (Anthropic cache_creation: ephemeral_5m, or an unsplit count). */
  cacheWriteTokens?: number;
  /** Prompt tokens written to a 1-hour prompt cache (Anthropic cache_creation.ephemeral_1h_input_tokens). */
  cacheWrite1hTokens?: number;
}

export function rowToPrice(r: any): ModelPrice {
  return {
    model: r.model,
    kind: r.kind,
    inputPer1M: toBig(r.input_per_1m),
    outputPer1M: toBig(r.output_per_1m),
    cachedInputPer1M: r.cached_input_per_1m === null ? null : toBig(r.cached_input_per_1m),
    maxOutputTokens: Number(r.max_output_tokens),
    updatedAt: Number(r.updated_at),
  };
}

/** The exact cost of a usage, rounded up once. Cached prompt tokens are billed at the cached price when one is set. */
export function computeCost(price: ModelPrice, usage: Usage, multiplierPpm: bigint): bigint {
  const cached = BigInt(Math.min(usage.cachedTokens, usage.promptTokens));
  const uncached = BigInt(usage.promptTokens) - cached;
  const cachedPrice = price.cachedInputPer1M ?? price.inputPer1M;
  const raw = uncached * price.inputPer1M + cached * cachedPrice + BigInt(usage.completionTokens) * price.outputPer1M;
  return divCeil(raw * multiplierPpm, TOKENS_PER_PRICE_UNIT * PPM);
}

/** The most output tokens `budget` can pay for after the prompt, or 0. */
export function affordableOutputTokens(price: ModelPrice, promptTokens: number, multiplierPpm: bigint, budget: bigint): number {
  if (price.outputPer1M === 0n) return Number.MAX_SAFE_INTEGER;
  const promptCost = computeCost(price, { promptTokens, completionTokens: 0, cachedTokens: 0 }, multiplierPpm);
  const left = budget - promptCost;
  if (left <= 0n) return 0;
  // Largest n with ceil((prompt*in + n*out) * m / 1e12) <= budget; computed conservatively.
  const perTokenScaled = price.outputPer1M * multiplierPpm;
  const n = (left * TOKENS_PER_PRICE_UNIT * PPM - 1n) / perTokenScaled;
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Math.max(0, Number(n) - 1);
}

export function explainCost(price: ModelPrice, usage: Usage, multiplierPpm: bigint): string {
  const cost = computeCost(price, usage, multiplierPpm);
  const cached = Math.min(usage.cachedTokens, usage.promptTokens);
  const parts = [`${usage.promptTokens - cached} input x ${formatMoney(price.inputPer1M)}/1M`];
  if (cached) parts.push(`${cached} cached x ${formatMoney(price.cachedInputPer1M ?? price.inputPer1M)}/1M`);
  parts.push(`${usage.completionTokens} output x ${formatMoney(price.outputPer1M)}/1M`);
  return `(${parts.join(' + ')}) x ${formatMoney(multiplierPpm)} = ${formatMoney(cost, 6)} (rounded up to the micro-unit)`;
}

export async function setModelPrice(
  db: DbOrTx,
  input: { model: string; inputPer1M: bigint; outputPer1M: bigint; cachedInputPer1M?: bigint | null; kind?: 'chat' | 'embedding'; maxOutputTokens?: number },
  now = Date.now(),
): Promise<ModelPrice> {
  const model = input.model?.trim();
  if (!model || model.length > 200) throw new TallyError('invalid_model', 'model name must be 1 to 200 characters', { param: 'model' });
  for (const [k, v] of [
    ['input', input.inputPer1M],
    ['output', input.outputPer1M],
    ['cached-input', input.cachedInputPer1M ?? 0n],
  ] as const) {
    if (v < 0n) throw new TallyError('invalid_price', `${k} price must not be negative`, { param: k });
  }
  const maxOut = input.maxOutputTokens ?? 4096;
  if (!Number.isInteger(maxOut) || maxOut < 1 || maxOut > 10_000_000)
    throw new TallyError('invalid_max_output', 'max output tokens must be a whole number from 1 to 10,000,000', { param: 'max_output_tokens' });
  const row = {
    model,
    kind: input.kind ?? 'chat',
    input_per_1m: input.inputPer1M,
    output_per_1m: input.outputPer1M,
    cached_input_per_1m: input.cachedInputPer1M ?? null,
    max_output_tokens: maxOut,
    updated_at: now,
  };
  await db
    .insertInto('model_prices')
    .values(row)
    .onConflict((oc) =>
      oc.column('model').doUpdateSet({
        kind: row.kind,
        input_per_1m: row.input_per_1m,
        output_per_1m: row.output_per_1m,
        cached_input_per_1m: row.cached_input_per_1m,
        max_output_tokens: row.max_output_tokens,
        updated_at: now,
      }),
    )
    .execute();
  return rowToPrice(row);
}

export async function listPrices(db: DbOrTx): Promise<ModelPrice[]> {
  return (await db.selectFrom('model_prices').selectAll().orderBy('model').execute()).map(rowToPrice);
}
