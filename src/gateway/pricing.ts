import type { Selectable } from 'kysely';
import type { DbOrTx } from '../db/index.ts';
import type { ModelPricesTable } from '../db/schema.ts';
import { TallyError } from '../lib/errors.ts';
import { divCeil, formatMoney, parseMoney, toBig } from '../ledger/money.ts';

// Prices are micro-units per 1M tokens; group multipliers are parts per
// million (1_000_000 = 1.0x). A cost is computed in bigint and rounded up
// once, at the end: ceil(sum(tokens x price) x multiplier / 1e6 / 1e6).
// A model priced for prompt caching has a price per cache read and per cache
// write (5-minute, 1-hour); one left unset bills those tokens at the input
// price, so a model without cache prices costs what it always did.
// A model may also have a long-context tier: above `tierAbove` prompt tokens
// (the whole prompt, cache reads and writes and tool-use prompt included) the
// tier's input and output prices apply to the WHOLE request, as Gemini and
// Claude price long context. Cache reads and writes keep their own prices
// (unset: the input price in force, i.e. the tier's input price in the tier).
export const TOKENS_PER_PRICE_UNIT = 1_000_000n;
export const PPM = 1_000_000n;

/** What a model is for: the text endpoints (chat, embedding), a media endpoint (images, audio speech, audio transcriptions and translations) or video tasks. */
export type ModelKind = 'chat' | 'embedding' | 'image' | 'speech' | 'transcription' | 'video';
export const MODEL_KINDS: readonly ModelKind[] = ['chat', 'embedding', 'image', 'speech', 'transcription', 'video'];

export interface ModelPrice {
  model: string;
  kind: ModelKind;
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
  /** The long-context tier: above this many prompt tokens the tier prices apply to the whole request; null: no tier. */
  tierAbove: number | null;
  /** The tier's input price (null: no tier). */
  tierInputPer1M: bigint | null;
  /** The tier's output price (null: no tier). */
  tierOutputPer1M: bigint | null;
  /**
   * The bound's prices when the bound's prompt exceeds tierAbove: the highest
   * prompt (and output) price of either price set. Derived once (modelPrice);
   * equal to promptBoundPer1M / outputPer1M when there is no tier.
   */
  tierPromptBoundPer1M: bigint;
  tierOutputBoundPer1M: bigint;
  /** Media prices (see MediaPrices); null when the model is not priced that way. */
  perImage: bigint | null;
  perImageSizes: Record<string, bigint> | null;
  perSecond: bigint | null;
  perRequest: bigint | null;
  maxSeconds: number | null;
  maxOutputTokens: number;
  updatedAt: number;
}

type MediaFields = 'perImage' | 'perImageSizes' | 'perSecond' | 'perRequest' | 'maxSeconds';
type PriceInput = Omit<
  ModelPrice,
  'promptBoundPer1M' | 'tierPromptBoundPer1M' | 'tierOutputBoundPer1M' | 'tierAbove' | 'tierInputPer1M' | 'tierOutputPer1M' | MediaFields
> &
  Partial<Pick<ModelPrice, 'tierAbove' | 'tierInputPer1M' | 'tierOutputPer1M' | MediaFields>>;

/** A ModelPrice with its derived bounds. */
export function modelPrice(p: PriceInput): ModelPrice {
  let bound = p.inputPer1M;
  for (const v of [p.cachedInputPer1M, p.cacheWritePer1M, p.cacheWrite1hPer1M]) if (v !== null && v > bound) bound = v;
  const tierAbove = p.tierAbove ?? null;
  const tierIn = tierAbove === null ? null : (p.tierInputPer1M ?? null);
  const tierOut = tierAbove === null ? null : (p.tierOutputPer1M ?? null);
  const hasTier = tierIn !== null && tierOut !== null;
  const tierPromptBound = hasTier && tierIn > bound ? tierIn : bound;
  const tierOutputBound = hasTier && tierOut > p.outputPer1M ? tierOut : p.outputPer1M;
  return {
    ...p,
    perImage: p.perImage ?? null,
    perImageSizes: p.perImageSizes ?? null,
    perSecond: p.perSecond ?? null,
    perRequest: p.perRequest ?? null,
    maxSeconds: p.maxSeconds ?? null,
    promptBoundPer1M: bound,
    tierAbove: hasTier ? tierAbove : null,
    tierInputPer1M: hasTier ? tierIn : null,
    tierOutputPer1M: hasTier ? tierOut : null,
    tierPromptBoundPer1M: tierPromptBound,
    tierOutputBoundPer1M: tierOutputBound,
  };
}

/**
 * Token counts of one request, in one convention whatever the provider: the
 * prompt total includes the tokens read from and written to a prompt cache
 * (OpenAI's convention; Anthropic reports its input_tokens without them, so
 * its reader adds them up). Tokens a provider reports OUTSIDE its prompt and
 * completion counts are kept apart, never folded in, so the log row shows
 * exactly what the provider reported and what was billed:
 * - reasoningTokens: output tokens reported apart from completionTokens
 *   (Gemini thoughtsTokenCount), billed at the output price. OpenAI chat's
 *   completion_tokens_details.reasoning_tokens is INCLUDED in
 *   completion_tokens: its reader must not set this field.
 * - toolUsePromptTokens: input tokens reported apart from promptTokens
 *   (Gemini toolUsePromptTokenCount), billed at the input price.
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
  /** Output tokens reported outside completionTokens (Gemini thoughtsTokenCount); billed as output. */
  reasoningTokens?: number;
  /** Input tokens reported outside promptTokens (Gemini toolUsePromptTokenCount); billed as input. */
  toolUsePromptTokens?: number;
}

const orNull = (v: bigint | number | null): bigint | null => (v === null ? null : toBig(v));

/** A price row (its upstream cost, 0025, is the dashboard's: src/gateway/upstreamCost.ts). */
export function rowToPrice(r: Omit<Selectable<ModelPricesTable>, `upstream_${string}`>): ModelPrice {
  return modelPrice({
    model: r.model,
    kind: r.kind,
    inputPer1M: toBig(r.input_per_1m),
    outputPer1M: toBig(r.output_per_1m),
    cachedInputPer1M: orNull(r.cached_input_per_1m),
    cacheWritePer1M: orNull(r.cache_write_per_1m),
    cacheWrite1hPer1M: orNull(r.cache_write_1h_per_1m),
    tierAbove: r.tier_above === null ? null : Number(r.tier_above),
    tierInputPer1M: orNull(r.tier_input_per_1m),
    tierOutputPer1M: orNull(r.tier_output_per_1m),
    perImage: orNull(r.per_image ?? null),
    perImageSizes: r.per_image_sizes ? parseImageSizes(r.per_image_sizes) : null,
    perSecond: orNull(r.per_second ?? null),
    perRequest: orNull(r.per_request ?? null),
    maxSeconds: r.max_seconds === null || r.max_seconds === undefined ? null : Number(r.max_seconds),
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

const count = (n: number | undefined): number => (n !== undefined && n > 0 ? n : 0);

/** Every output token of a usage: completion plus reasoning reported apart. */
export const outputTokens = (u: Usage): number => count(u.completionTokens) + count(u.reasoningTokens);

/** Every input token of a usage: the prompt total plus tool-use prompt reported apart (what the tier threshold is compared with). */
export const inputTokens = (u: Usage): number => count(u.promptTokens) + count(u.toolUsePromptTokens);

/** Whether this usage is priced at the long-context tier: more than tierAbove input tokens (exactly tierAbove is not). */
export const inTier = (price: ModelPrice, u: Usage): boolean => price.tierAbove !== null && inputTokens(u) > price.tierAbove;

/**
 * The exact cost of a usage: each prompt part at its price (a cache read at
 * the cached-input price, a 5-minute or 1-hour cache write at its write price;
 * an unset one at the input price in force), tool-use prompt tokens at the
 * input price, the completion and reasoning at the output price, times the
 * group multiplier, rounded up once. Above the long-context threshold the
 * tier's input and output prices are the ones in force for the whole request.
 */
export function computeCost(price: ModelPrice, usage: Usage, multiplierPpm: bigint): bigint {
  const p = promptParts(usage);
  const tier = inTier(price, usage);
  const input = tier ? price.tierInputPer1M! : price.inputPer1M;
  const output = tier ? price.tierOutputPer1M! : price.outputPer1M;
  const raw =
    BigInt(p.uncached + count(usage.toolUsePromptTokens)) * input +
    BigInt(p.cacheRead) * (price.cachedInputPer1M ?? input) +
    BigInt(p.cacheWrite) * (price.cacheWritePer1M ?? input) +
    BigInt(p.cacheWrite1h) * (price.cacheWrite1hPer1M ?? input) +
    BigInt(outputTokens(usage)) * output;
  return divCeil(raw * multiplierPpm, TOKENS_PER_PRICE_UNIT * PPM);
}

/** The bound's prompt and output prices for a prompt of at most this many tokens (allocation-free). */
const boundInTier = (price: ModelPrice, promptTokens: number): boolean => price.tierAbove !== null && promptTokens > price.tierAbove;

/**
 * The most a request with this prompt and output can cost: every prompt token
 * at the highest prompt price (promptBoundPer1M), or, when the prompt could
 * exceed the long-context threshold, at the highest of either price set
 * (tierPromptBoundPer1M, tierOutputBoundPer1M). Never below computeCost of
 * any usage with at most these counts.
 */
export function costBound(price: ModelPrice, promptTokens: number, completionTokens: number, multiplierPpm: bigint): bigint {
  const tier = boundInTier(price, promptTokens);
  const raw =
    BigInt(promptTokens) * (tier ? price.tierPromptBoundPer1M : price.promptBoundPer1M) +
    BigInt(completionTokens) * (tier ? price.tierOutputBoundPer1M : price.outputPer1M);
  return divCeil(raw * multiplierPpm, TOKENS_PER_PRICE_UNIT * PPM);
}

/** The most output tokens `budget` can pay for after the prompt (priced as in costBound), or 0. */
export function affordableOutputTokens(price: ModelPrice, promptTokens: number, multiplierPpm: bigint, budget: bigint): number {
  const out = boundInTier(price, promptTokens) ? price.tierOutputBoundPer1M : price.outputPer1M;
  if (out === 0n) return Number.MAX_SAFE_INTEGER;
  const promptCost = costBound(price, promptTokens, 0, multiplierPpm);
  const left = budget - promptCost;
  if (left <= 0n) return 0;
  // Largest n with ceil((prompt*bound + n*out) * m / 1e12) <= budget; computed conservatively.
  const perTokenScaled = out * multiplierPpm;
  const n = (left * TOKENS_PER_PRICE_UNIT * PPM - 1n) / perTokenScaled;
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Math.max(0, Number(n) - 1);
}

/** Which price set a usage was charged at: 'base', or 'tier' (long context, above tierAbove prompt tokens). */
export const priceSet = (price: ModelPrice, usage: Usage): 'base' | 'tier' => (inTier(price, usage) ? 'tier' : 'base');

export function explainCost(price: ModelPrice, usage: Usage, multiplierPpm: bigint): string {
  const cost = computeCost(price, usage, multiplierPpm);
  const p = promptParts(usage);
  const tier = inTier(price, usage);
  const input = tier ? price.tierInputPer1M! : price.inputPer1M;
  const output = tier ? price.tierOutputPer1M! : price.outputPer1M;
  const at = (v: bigint | null) => formatMoney(v ?? input);
  const parts = [`${p.uncached} input x ${at(input)}/1M`];
  if (usage.toolUsePromptTokens) parts.push(`${usage.toolUsePromptTokens} tool-use prompt x ${at(input)}/1M`);
  if (p.cacheRead) parts.push(`${p.cacheRead} cached x ${at(price.cachedInputPer1M)}/1M`);
  if (p.cacheWrite) parts.push(`${p.cacheWrite} cache write (5m) x ${at(price.cacheWritePer1M)}/1M`);
  if (p.cacheWrite1h) parts.push(`${p.cacheWrite1h} cache write (1h) x ${at(price.cacheWrite1hPer1M)}/1M`);
  parts.push(`${usage.completionTokens} output x ${formatMoney(output)}/1M`);
  if (usage.reasoningTokens) parts.push(`${usage.reasoningTokens} reasoning x ${formatMoney(output)}/1M`);
  const tierNote = tier ? ` [long-context prices: prompt above ${price.tierAbove} tokens]` : '';
  return `(${parts.join(' + ')}) x ${formatMoney(multiplierPpm)} = ${formatMoney(cost, 6)} (rounded up to the micro-unit)${tierNote}`;
}

export async function setModelPrice(
  db: DbOrTx,
  input: {
    model: string;
    /** Per 1M input tokens (a `speech` model: per 1M input characters); with outputPer1M, unless a media price is set. */
    inputPer1M?: bigint;
    outputPer1M?: bigint;
    cachedInputPer1M?: bigint | null;
    cacheWritePer1M?: bigint | null;
    cacheWrite1hPer1M?: bigint | null;
    /** The long-context tier: all three or none. */
    tierAbove?: number | null;
    tierInputPer1M?: bigint | null;
    tierOutputPer1M?: bigint | null;
    /** Media prices: any one alone prices a model (token prices are then 0 unless given). */
    perImage?: bigint | null;
    perImageSizes?: Record<string, bigint> | null;
    perSecond?: bigint | null;
    perRequest?: bigint | null;
    maxSeconds?: number | null;
    /** Unset: 'image' with a per-image price, 'transcription' with a per-second price, else 'chat'. */
    kind?: ModelKind;
    maxOutputTokens?: number;
  },
  now = Date.now(),
): Promise<ModelPrice> {
  const model = input.model?.trim();
  if (!model || model.length > 200) throw new TallyError('invalid_model', 'model name must be 1 to 200 characters', { param: 'model' });
  const media = checkMediaPrices(input);
  if (!media.priced && (input.inputPer1M === undefined || input.outputPer1M === undefined))
    throw new TallyError('invalid_price', 'a price needs --input and --output (per 1M tokens), or a media price: --per-image, --per-second or --per-request', {
      param: input.inputPer1M === undefined ? 'input' : 'output',
    });
  const inputPer1M = input.inputPer1M ?? 0n;
  const outputPer1M = input.outputPer1M ?? 0n;
  for (const [k, v] of [
    ['input', inputPer1M],
    ['output', outputPer1M],
    ['cached-input', input.cachedInputPer1M ?? 0n],
    ['cache-write', input.cacheWritePer1M ?? 0n],
    ['cache-write-1h', input.cacheWrite1hPer1M ?? 0n],
    ['tier-input', input.tierInputPer1M ?? 0n],
    ['tier-output', input.tierOutputPer1M ?? 0n],
  ] as const) {
    if (v < 0n) throw new TallyError('invalid_price', `${k} price must not be negative`, { param: k });
  }
  const tierAbove = input.tierAbove ?? null;
  const tierIn = input.tierInputPer1M ?? null;
  const tierOut = input.tierOutputPer1M ?? null;
  if ((tierAbove === null) !== (tierIn === null) || (tierAbove === null) !== (tierOut === null))
    throw new TallyError('invalid_price', 'a long-context tier needs all three of tier-above, tier-input and tier-output (or none)', { param: 'tier-above' });
  if (tierAbove !== null && (!Number.isInteger(tierAbove) || tierAbove < 1 || tierAbove > 100_000_000))
    throw new TallyError('invalid_price', 'tier-above must be a whole number of prompt tokens from 1 to 100,000,000', { param: 'tier-above' });
  const maxOut = input.maxOutputTokens ?? 4096;
  if (!Number.isInteger(maxOut) || maxOut < 1 || maxOut > 10_000_000)
    throw new TallyError('invalid_max_output', 'max output tokens must be a whole number from 1 to 10,000,000', { param: 'max_output_tokens' });
  const row = {
    model,
    kind: media.kind,
    input_per_1m: inputPer1M,
    output_per_1m: outputPer1M,
    cached_input_per_1m: input.cachedInputPer1M ?? null,
    cache_write_per_1m: input.cacheWritePer1M ?? null,
    cache_write_1h_per_1m: input.cacheWrite1hPer1M ?? null,
    tier_above: tierAbove,
    tier_input_per_1m: tierIn,
    tier_output_per_1m: tierOut,
    per_image: input.perImage ?? null,
    per_image_sizes: input.perImageSizes ? JSON.stringify(Object.fromEntries(Object.entries(input.perImageSizes).map(([k, v]) => [k, String(v)]))) : null,
    per_second: input.perSecond ?? null,
    per_request: input.perRequest ?? null,
    max_seconds: input.maxSeconds ?? null,
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
        tier_above: row.tier_above,
        tier_input_per_1m: row.tier_input_per_1m,
        tier_output_per_1m: row.tier_output_per_1m,
        per_image: row.per_image,
        per_image_sizes: row.per_image_sizes,
        per_second: row.per_second,
        per_request: row.per_request,
        max_seconds: row.max_seconds,
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

// Media prices. A media model (kind image, speech, transcription) may be
// priced per image returned (optionally per size: `perImageSizes`, the
// per-image price for any other size), per second of audio, per request, or
// by tokens (gpt-image-1 and gpt-4o-transcribe report usage; a `speech`
// model's input price is per 1M input CHARACTERS, as OpenAI prices tts-1).
// Every media cost is integer micro-units, rounded up once, times the group
// multiplier, like computeCost.

/** The units a media request is billed in (the request log's media_unit). */
export type MediaUnit = 'image' | 'audio_ms' | 'character' | 'request';

/** The most seconds a per-second request is held for when its audio length cannot be read and the model sets no max_seconds. */
export const DEFAULT_MAX_SECONDS = 3600;

/** A per-size price's key: a size, optionally with a quality ("1024x1024", "1024x1024/hd"). */
const IMAGE_SIZE = /^(\d{1,5}x\d{1,5}|auto)(\/[a-z]{1,20})?$/;

/** Per-size image prices from "1024x1536=0.06" entries (CLI) or a {size: "0.06"} object (admin API). */
export function parseImageSizePrices(entries: string[] | Record<string, string>): Record<string, bigint> {
  const pairs = Array.isArray(entries)
    ? entries.map((e) => {
        const eq = e.indexOf('=');
        if (eq < 1) throw new TallyError('invalid_price', `per-image-size "${e}" must be SIZE=PRICE, e.g. 1024x1536=0.06`, { param: 'per-image-size' });
        return [e.slice(0, eq).trim(), e.slice(eq + 1).trim()] as const;
      })
    : Object.entries(entries);
  const out: Record<string, bigint> = {};
  for (const [size, v] of pairs) out[size] = parseMoney(v, { field: `per-image-size ${size}` });
  return out;
}

function parseImageSizes(json: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const [k, v] of Object.entries(JSON.parse(json) as Record<string, string>)) out[k] = BigInt(v);
  return out;
}

/** Checks the media prices of a setModelPrice input and decides the model's kind. */
function checkMediaPrices(input: {
  kind?: ModelKind;
  perImage?: bigint | null;
  perImageSizes?: Record<string, bigint> | null;
  perSecond?: bigint | null;
  perRequest?: bigint | null;
  maxSeconds?: number | null;
}): { priced: boolean; kind: ModelKind } {
  if (input.kind !== undefined && !MODEL_KINDS.includes(input.kind))
    throw new TallyError('invalid_price', `kind must be one of ${MODEL_KINDS.join(', ')}`, { param: 'kind' });
  for (const [k, v] of [
    ['per-image', input.perImage],
    ['per-second', input.perSecond],
    ['per-request', input.perRequest],
  ] as const) {
    if (v != null && v < 0n) throw new TallyError('invalid_price', `${k} price must not be negative`, { param: k });
  }
  const sizes = input.perImageSizes ?? null;
  if (sizes) {
    if (input.perImage == null)
      throw new TallyError('invalid_price', 'per-image-size needs --per-image too (the price of any other size)', { param: 'per-image-size' });
    for (const [size, v] of Object.entries(sizes)) {
      if (!IMAGE_SIZE.test(size))
        throw new TallyError(
          'invalid_price',
          `per-image-size "${size}" must be WIDTHxHEIGHT or WIDTHxHEIGHT/QUALITY, e.g. 1024x1536=0.06 or 1024x1024/hd=0.08`,
          { param: 'per-image-size' },
        );
      if (v < 0n) throw new TallyError('invalid_price', `per-image-size ${size} price must not be negative`, { param: 'per-image-size' });
    }
  }
  const ms = input.maxSeconds ?? null;
  if (ms !== null && (!Number.isInteger(ms) || ms < 1 || ms > 86_400))
    throw new TallyError('invalid_price', 'max-seconds must be a whole number of seconds from 1 to 86,400', { param: 'max-seconds' });
  const kind = input.kind ?? (input.perImage != null ? 'image' : input.perSecond != null ? 'transcription' : 'chat');
  if (input.perImage != null && kind !== 'image') throw new TallyError('invalid_price', 'per-image prices a model of kind image', { param: 'per-image' });
  if (input.perSecond != null && kind !== 'transcription' && kind !== 'video')
    throw new TallyError('invalid_price', 'per-second prices a model of kind transcription or video', { param: 'per-second' });
  if (input.perRequest != null && !isMediaKind(kind))
    throw new TallyError('invalid_price', 'per-request prices a media model (kind image, speech, transcription or video)', { param: 'per-request' });
  return { priced: input.perImage != null || input.perSecond != null || input.perRequest != null, kind };
}

export const isMediaKind = (k: ModelKind): boolean => k === 'image' || k === 'speech' || k === 'transcription' || k === 'video';

/**
 * The price of one image of `size` and `quality`: the table's "SIZE/QUALITY"
 * price, else its "SIZE" price, else the per-image price; null: not priced
 * per image. (DALL-E 3: 1024x1024 0.04, 1024x1024/hd 0.08, 1024x1792 0.08...)
 */
export function imagePrice(price: ModelPrice, size: string | null, quality: string | null = null): bigint | null {
  if (price.perImage === null) return null;
  const table = price.perImageSizes;
  if (!table || size === null) return price.perImage;
  // Own keys only: a size named like an Object.prototype key ("constructor", "toString") is just an unpriced size.
  const own = (key: string): bigint | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);
  return (quality !== null ? own(`${size}/${quality}`) : undefined) ?? own(size) ?? price.perImage;
}

/** The highest price one image can have when its quality (and, `size` null, its size) is not known yet. */
export function maxImagePrice(price: ModelPrice, size: string | null = null): bigint | null {
  if (price.perImage === null) return null;
  let max = price.perImage;
  for (const [key, v] of Object.entries(price.perImageSizes ?? {})) {
    if (size !== null && key !== size && !key.startsWith(`${size}/`)) continue;
    if (v > max) max = v;
  }
  return max;
}

/**
 * The exact cost of `count` media units: images at `unitPrice` each, audio
 * milliseconds at the per-second price (/1000), characters at the input
 * price per 1M, requests at the per-request price; times the multiplier,
 * rounded up once.
 */
export function computeMediaCost(unit: MediaUnit, count: number, unitPrice: bigint, multiplierPpm: bigint): bigint {
  const n = BigInt(count > 0 ? count : 0);
  const divisor = unit === 'audio_ms' ? 1000n : unit === 'character' ? TOKENS_PER_PRICE_UNIT : 1n;
  return divCeil(n * unitPrice * multiplierPpm, divisor * PPM);
}
