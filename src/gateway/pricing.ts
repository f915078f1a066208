import type { Selectable } from 'kysely';
import type { DbOrTx } from '../db/index.ts';
import type { ModelPricesTable } from '../db/schema.ts';
import { TallyError } from '../lib/errors.ts';
import { divCeil, formatMoney, toBig } from '../ledger/money.ts';

// Prices are micro-units per 1M tokens; group multipliers are parts per
// million (1_000_000 = 1.0x). A cost is computed in bigint and rounded up
// once, at the end: ceil(sum(tokens x price) x multiplier / 1e6 / 1e6).
// A model priced for prompt caching has a price per cache read and per cache
// write (5-minute, 1-hour); one left unset bills those tokens at the input
// price, so a model without cache prices costs what it always did.
export const TOKENS_PER_PRICE_UNIT = 1_000_000n;
export const PPM = 1_000_000n;

export interface ModelPrice {
  model: string;
  kind: 'chat' | 'embedding';
  inputPer1M: bigint;
  outputPer1M: bigint;
  /** A prompt token read from a prompt cache; null: the input price. */
  cachedInputPer1M: bigint | null;
  /** A prompt token written to a 5-minute prompt cache; null: the input price. */
  cacheWritePer1M: bigint | null;
  /** A prompt token written to a 1-hour prompt cache; null: the input price. */
  cacheWrite1hPer1M: bigint | null;
  /**
   * The most one prompt token can cost (the highest of the input, cache-read
   * and cache-write prices): a reservation prices its whole prompt at it, since
   * before the answer nobody knows how much of the prompt the upstream will
   * write to its cache. Derived once per price object (modelPrice), not per request.
   */
  promptBoundPer1M: bigint;
  maxOutputTokens: number;
  updatedAt: number;
}

/** A ModelPrice with its derived prompt bound. */
export function modelPrice(p: Omit<ModelPrice, 'promptBoundPer1M'>): ModelPrice {
  let bound = p.inputPer1M;
  for (const v of [p.cachedInputPer1M, p.cacheWritePer1M, p.cacheWrite1hPer1M]) if (v !== null && v > bound) bound = v;
  return { ...p, promptBoundPer1M: bound };
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

const orNull = (v: bigint | number | null): bigint | null => (v === null ? null : toBig(v));

export function rowToPrice(r: Selectable<ModelPricesTable>): ModelPrice {
  return modelPrice({
    model: r.model,
    kind: r.kind,
    inputPer1M: toBig(r.input_per_1m),
    outputPer1M: toBig(r.output_per_1m),
    cachedInputPer1M: orNull(r.cached_input_per_1m),
    cacheWritePer1M: orNull(r.cache_write_per_1m),
    cacheWrite1hPer1M: orNull(r.cache_write_1h_per_1m),
    maxOutputTokens: Number(r.max_output_tokens),
    updatedAt: Number(r.updated_at),
  });
}

/** The prompt of a usage in its priced parts; see computeCost for the clamping. */
export interface PromptParts {
  uncached: number;
  cacheRead: number;
  cacheWrite: number;
  cacheWrite1h: number;
}

/** `n` clamped to 0..room. */
const part = (n: number, room: number): number => (n > room ? (room > 0 ? room : 0) : n > 0 ? n : 0);

/**
 * Splits promptTokens (which includes cache reads and writes, see Usage) into
 * its priced parts. Each reported part is clamped to what is left of the
 * prompt, in this order: cache reads, 5-minute writes, 1-hour writes; the rest
 * is uncached input. So no part is negative and the parts never add up to
 * more than the prompt: a reader reporting inconsistent counts is billed for
 * its prompt total, never more.
 */
export function promptParts(usage: Usage): PromptParts {
  const prompt = usage.promptTokens > 0 ? usage.promptTokens : 0;
  const cacheRead = part(usage.cachedTokens, prompt);
  const cacheWrite = part(usage.cacheWriteTokens ?? 0, prompt - cacheRead);
  const cacheWrite1h = part(usage.cacheWrite1hTokens ?? 0, prompt - cacheRead - cacheWrite);
  return { uncached: prompt - cacheRead - cacheWrite - cacheWrite1h, cacheRead, cacheWrite, cacheWrite1h };
}

/**
 * The exact cost of a usage: each prompt part at its price (a cache read at
 * the cached-input price, a 5-minute or 1-hour cache write at its write price;
 * an unset one at the input price), plus the completion at the output price,
 * times the group multiplier, rounded up once.
 */
export function computeCost(price: ModelPrice, usage: Usage, multiplierPpm: bigint): bigint {
  const p = promptParts(usage);
  const input = price.inputPer1M;
  const raw =
    BigInt(p.uncached) * input +
    BigInt(p.cacheRead) * (price.cachedInputPer1M ?? input) +
    BigInt(p.cacheWrite) * (price.cacheWritePer1M ?? input) +
    BigInt(p.cacheWrite1h) * (price.cacheWrite1hPer1M ?? input) +
    BigInt(usage.completionTokens) * price.outputPer1M;
  return divCeil(raw * multiplierPpm, TOKENS_PER_PRICE_UNIT * PPM);
}

/**
 * The most a request with this prompt and output can cost: every prompt token
 * at the highest prompt price (promptBoundPer1M). Never below computeCost of
 * any usage with at most these counts.
 */
export function costBound(price: ModelPrice, promptTokens: number, completionTokens: number, multiplierPpm: bigint): bigint {
  const raw = BigInt(promptTokens) * price.promptBoundPer1M + BigInt(completionTokens) * price.outputPer1M;
  return divCeil(raw * multiplierPpm, TOKENS_PER_PRICE_UNIT * PPM);
}

/** The most output tokens `budget` can pay for after the prompt (priced as in costBound), or 0. */
export function affordableOutputTokens(price: ModelPrice, promptTokens: number, multiplierPpm: bigint, budget: bigint): number {
  if (price.outputPer1M === 0n) return Number.MAX_SAFE_INTEGER;
  const promptCost = costBound(price, promptTokens, 0, multiplierPpm);
  const left = budget - promptCost;
  if (left <= 0n) return 0;
  // Largest n with ceil((prompt*bound + n*out) * m / 1e12) <= budget; computed conservatively.
  const perTokenScaled = price.outputPer1M * multiplierPpm;
  const n = (left * TOKENS_PER_PRICE_UNIT * PPM - 1n) / perTokenScaled;
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Math.max(0, Number(n) - 1);
}

export function explainCost(price: ModelPrice, usage: Usage, multiplierPpm: bigint): string {
  const cost = computeCost(price, usage, multiplierPpm);
  const p = promptParts(usage);
  const at = (v: bigint | null) => formatMoney(v ?? price.inputPer1M);
  const parts = [`${p.uncached} input x ${at(price.inputPer1M)}/1M`];
  if (p.cacheRead) parts.push(`${p.cacheRead} cached x ${at(price.cachedInputPer1M)}/1M`);
  if (p.cacheWrite) parts.push(`${p.cacheWrite} cache write (5m) x ${at(price.cacheWritePer1M)}/1M`);
  if (p.cacheWrite1h) parts.push(`${p.cacheWrite1h} cache write (1h) x ${at(price.cacheWrite1hPer1M)}/1M`);
  parts.push(`${usage.completionTokens} output x ${formatMoney(price.outputPer1M)}/1M`);
  return `(${parts.join(' + ')}) x ${formatMoney(multiplierPpm)} = ${formatMoney(cost, 6)} (rounded up to the micro-unit)`;
}

export async function setModelPrice(
  db: DbOrTx,
  input: {
    model: string;
    inputPer1M: bigint;
    outputPer1M: bigint;
    cachedInputPer1M?: bigint | null;
    cacheWritePer1M?: bigint | null;
    cacheWrite1hPer1M?: bigint | null;
    kind?: 'chat' | 'embedding';
    maxOutputTokens?: number;
  },
  now = Date.now(),
): Promise<ModelPrice> {
  const model = input.model?.trim();
  if (!model || model.length > 200) throw new TallyError('invalid_model', 'model name must be 1 to 200 characters', { param: 'model' });
  for (const [k, v] of [
    ['input', input.inputPer1M],
    ['output', input.outputPer1M],
    ['cached-input', input.cachedInputPer1M ?? 0n],
    ['cache-write', input.cacheWritePer1M ?? 0n],
    ['cache-write-1h', input.cacheWrite1hPer1M ?? 0n],
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
    cache_write_per_1m: input.cacheWritePer1M ?? null,
    cache_write_1h_per_1m: input.cacheWrite1hPer1M ?? null,
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
        cache_write_per_1m: row.cache_write_per_1m,
        cache_write_1h_per_1m: row.cache_write_1h_per_1m,
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
