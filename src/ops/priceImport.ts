import type { DbOrTx } from '../db/index.ts';
import { withTransaction } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { formatMoney } from '../ledger/money.ts';
import { listPrices, setModelPrice, type ModelPrice } from '../gateway/pricing.ts';
import { priceView } from '../gateway/present.ts';
import { recordAudit, type Actor } from '../audit/index.ts';

// `tally model import FILE`: prices from a public JSON price catalog, in one
// of two shapes:
// - LiteLLM's model_prices_and_context_window.json: { "<model>": {
//   input_cost_per_token, output_cost_per_token, cache_read_input_token_cost,
//   max_output_tokens, mode } }, costs in USD per token;
// - models.dev's api.json: { "<provider>": { models: { "<model>": { cost:
//   { input, output, cache_read }, limit: { output } } } } }, costs in USD per 1M tokens.
// The costs are JSON numbers, so they arrive as doubles; each is turned back
// into its shortest decimal text (what the file said, for any literal of up to
// 15 significant digits) and converted to micro-units by integer arithmetic on
// that text: 2.5e-06 per token is exactly 2.50 per 1M, never 2.4999999.
// A price finer than a micro-unit per 1M is rounded UP (the platform never
// undercharges by rounding) and the entry says so.

/** The largest catalog file read (LiteLLM's whole file is about 1.5 MB). */
export const MAX_CATALOG_BYTES = 32 * 1024 * 1024;
const MAX_EXPONENT = 40;
const TEXT_MODES = new Set(['chat', 'completion', 'responses', 'embedding']);

export interface CatalogPrice {
  model: string;
  kind: 'chat' | 'embedding';
  inputPer1M: bigint;
  outputPer1M: bigint;
  cachedInputPer1M: bigint | null;
  maxOutputTokens: number | null;
  /** Fields that were finer than a micro-unit per 1M and were rounded up. */
  rounded: string[];
}

export interface ParsedCatalog {
  format: 'litellm' | 'models.dev';
  prices: CatalogPrice[];
  /** Entries that are well formed but not importable (image models, no token prices): model → why. */
  skipped: Array<{ model: string; reason: string }>;
  /** Malformed entries, refused: model → what is wrong. */
  refused: Array<{ model: string; reason: string }>;
}

/**
 * A non-negative decimal text (optionally with an exponent) times 10^scale, as
 * an integer, rounded up; `exact` is false when it was rounded. Integer
 * arithmetic only; the exponent is bounded so the work stays proportional to
 * the text.
 */
export function scaleDecimal(text: string, scale: number): { value: bigint; exact: boolean } | null {
  const m = /^(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d{1,3}))?$/.exec(text.trim());
  if (!m) return null;
  const [, whole, frac = '', exp = '0'] = m;
  const e = Number(exp) + scale - frac.length;
  if (Math.abs(Number(exp)) > MAX_EXPONENT) return null;
  const digits = BigInt(whole + frac);
  if (e >= 0) return { value: digits * 10n ** BigInt(e), exact: true };
  const div = 10n ** BigInt(-e);
  const q = digits / div;
  return digits % div === 0n ? { value: q, exact: true } : { value: q + 1n, exact: false };
}

/** A JSON cost (number, or a decimal string) in micro-units per 1M tokens; `perToken`: the file gives USD per token. */
function costField(entry: Record<string, unknown>, field: string, perToken: boolean, model: string, rounded: string[], path = field): bigint | null {
  const raw = field.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), entry);
  if (raw === undefined || raw === null) return null;
  const text = typeof raw === 'number' && Number.isFinite(raw) && raw >= 0 ? String(raw) : typeof raw === 'string' ? raw : null;
  const scaled = text === null ? null : scaleDecimal(text, perToken ? 12 : 6);
  if (!scaled) throw new TallyError('invalid_price_catalog', `${model}: ${path} must be a non-negative number, got ${JSON.stringify(raw)?.slice(0, 40)}`);
  if (!scaled.exact) rounded.push(path);
  return scaled.value;
}

function maxOutputOf(raw: unknown, model: string, path: string): number | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1)
    throw new TallyError('invalid_price_catalog', `${model}: ${path} must be a whole number of tokens, got ${JSON.stringify(raw)?.slice(0, 40)}`);
  return Math.min(raw, 10_000_000);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function litellmEntry(model: string, e: Record<string, unknown>): CatalogPrice | string {
  const mode = typeof e.mode === 'string' ? e.mode : 'chat';
  if (!TEXT_MODES.has(mode)) return `mode "${mode}" is not imported (token-priced chat, completion, responses and embedding models only)`;
  const rounded: string[] = [];
  const input = costField(e, 'input_cost_per_token', true, model, rounded);
  const output = costField(e, 'output_cost_per_token', true, model, rounded);
  if (input === null || (output === null && mode !== 'embedding')) return 'no input_cost_per_token / output_cost_per_token';
  return {
    model,
    kind: mode === 'embedding' ? 'embedding' : 'chat',
    inputPer1M: input,
    outputPer1M: output ?? 0n,
    cachedInputPer1M: costField(e, 'cache_read_input_token_cost', true, model, rounded),
    maxOutputTokens: maxOutputOf(e.max_output_tokens, model, 'max_output_tokens'),
    rounded,
  };
}

function modelsDevEntry(model: string, e: Record<string, unknown>): CatalogPrice | string {
  if (!isObject(e.cost)) return 'no cost';
  const rounded: string[] = [];
  const input = costField(e, 'cost.input', false, model, rounded);
  const output = costField(e, 'cost.output', false, model, rounded);
  if (input === null || output === null) return 'no cost.input / cost.output';
  return {
    model,
    kind: 'chat',
    inputPer1M: input,
    outputPer1M: output,
    cachedInputPer1M: costField(e, 'cost.cache_read', false, model, rounded),
    maxOutputTokens: maxOutputOf(isObject(e.limit) ? e.limit.output : undefined, model, 'limit.output'),
    rounded,
  };
}

const samePrice = (a: CatalogPrice, b: CatalogPrice) =>
  a.inputPer1M === b.inputPer1M && a.outputPer1M === b.outputPer1M && a.cachedInputPer1M === b.cachedInputPer1M && a.maxOutputTokens === b.maxOutputTokens;

/** Reads a catalog (already JSON-parsed). Each entry is taken, skipped with a reason, or refused with what is wrong. */
export function parsePriceCatalog(doc: unknown): ParsedCatalog {
  if (!isObject(doc)) throw new TallyError('invalid_price_catalog', 'the catalog must be a JSON object keyed by model (LiteLLM) or by provider (models.dev)');
  const values = Object.values(doc);
  const modelsDev = values.length > 0 && values.every((v) => isObject(v) && isObject(v.models));
  const out: ParsedCatalog = { format: modelsDev ? 'models.dev' : 'litellm', prices: [], skipped: [], refused: [] };
  const take = (model: string, read: () => CatalogPrice | string) => {
    try {
      const r = read();
      if (typeof r === 'string') out.skipped.push({ model, reason: r });
      else out.prices.push(r);
    } catch (e) {
      if (!(e instanceof TallyError)) throw e;
      out.refused.push({ model, reason: e.message });
    }
  };
  if (modelsDev) {
    for (const [provider, p] of Object.entries(doc)) {
      for (const [model, e] of Object.entries((p as { models: Record<string, unknown> }).models)) {
        take(model, () => (isObject(e) ? modelsDevEntry(model, e) : `${provider}/${model} is not an object`));
      }
    }
    // One model name listed by several providers at different prices is ambiguous: refused, not guessed.
    const seen = new Map<string, CatalogPrice>();
    const conflicting = new Set<string>();
    for (const p of out.prices) {
      const first = seen.get(p.model);
      if (!first) seen.set(p.model, p);
      else if (!samePrice(first, p)) conflicting.add(p.model);
    }
    out.prices = [...seen.values()].filter((p) => !conflicting.has(p.model));
    for (const m of conflicting)
      out.refused.push({ model: m, reason: `${m}: listed by several providers at different prices; import one provider's part of the file` });
  } else {
    for (const [model, e] of Object.entries(doc)) {
      if (model === 'sample_spec') continue;
      take(model, () => (isObject(e) ? litellmEntry(model, e) : 'not an object'));
    }
  }
  for (const p of out.prices) {
    if (p.model.length > 200) {
      out.refused.push({ model: p.model.slice(0, 60), reason: 'a model name is at most 200 characters' });
    }
  }
  out.prices = out.prices.filter((p) => p.model.length <= 200);
  return out;
}

/** A decimal markup ("1.2") in parts per million; 1 = 1_000_000. */
export function parseMarkup(text: string): bigint {
  const s = scaleDecimal(text, 6);
  if (!s?.exact || s.value <= 0n || s.value > 100_000_000n)
    throw new TallyError('invalid_request', `--markup "${text.slice(0, 20)}" must be a decimal from 0.000001 to 100, e.g. 1.2 for 20% over the catalog`, {
      param: 'markup',
    });
  return s.value;
}

const marked = (v: bigint, ppm: bigint) => (v * ppm + 999_999n) / 1_000_000n;

export interface PriceChange {
  model: string;
  changes: Record<string, { from: string | number | null; to: string | number | null }>;
}

export interface ImportPlan {
  format: ParsedCatalog['format'];
  added: Array<{ model: string; kind: string; input_per_1m: string; output_per_1m: string; cached_input_per_1m: string | null; max_output_tokens: number }>;
  changed: PriceChange[];
  unchanged: number;
  skipped: ParsedCatalog['skipped'];
  refused: ParsedCatalog['refused'];
  rounded: Array<{ model: string; fields: string[] }>;
  /** What setModelPrice is called with for each added or changed model. */
  writes: Array<{ input: Parameters<typeof setModelPrice>[1]; before: ModelPrice | null }>;
}

const money = (v: bigint | null) => (v === null ? null : formatMoney(v));

/** What importing would change, against the prices stored now. Writes nothing. */
export async function planPriceImport(db: DbOrTx, catalog: ParsedCatalog, opts: { only?: string[]; markupPpm?: bigint } = {}): Promise<ImportPlan> {
  const ppm = opts.markupPpm ?? 1_000_000n;
  let prices = catalog.prices;
  if (opts.only?.length) {
    const listed = new Set([...prices.map((p) => p.model), ...catalog.skipped.map((s) => s.model), ...catalog.refused.map((s) => s.model)]);
    const missing = opts.only.filter((m) => !listed.has(m));
    if (missing.length) throw new TallyError('model_not_found', `not in the catalog: ${missing.slice(0, 20).join(', ')}`, { param: 'only' });
    const only = new Set(opts.only);
    prices = prices.filter((p) => only.has(p.model));
    catalog = { ...catalog, skipped: catalog.skipped.filter((s) => only.has(s.model)), refused: catalog.refused.filter((s) => only.has(s.model)) };
  }
  const current = new Map((await listPrices(db)).map((p) => [p.model, p]));
  const plan: ImportPlan = {
    format: catalog.format,
    added: [],
    changed: [],
    unchanged: 0,
    skipped: catalog.skipped,
    refused: catalog.refused,
    rounded: [],
    writes: [],
  };
  for (const c of prices) {
    const input = marked(c.inputPer1M, ppm);
    const output = marked(c.outputPer1M, ppm);
    const cached = c.cachedInputPer1M === null ? null : marked(c.cachedInputPer1M, ppm);
    if (c.rounded.length) plan.rounded.push({ model: c.model, fields: c.rounded });
    const old = current.get(c.model);
    if (!old) {
      const maxOut = c.maxOutputTokens ?? 4096;
      plan.added.push({
        model: c.model,
        kind: c.kind,
        input_per_1m: formatMoney(input),
        output_per_1m: formatMoney(output),
        cached_input_per_1m: money(cached),
        max_output_tokens: maxOut,
      });
      plan.writes.push({
        before: null,
        input: { model: c.model, kind: c.kind, inputPer1M: input, outputPer1M: output, cachedInputPer1M: cached, maxOutputTokens: maxOut },
      });
      continue;
    }
    const maxOut = c.maxOutputTokens ?? old.maxOutputTokens;
    const changes: PriceChange['changes'] = {};
    if (old.inputPer1M !== input) changes.input_per_1m = { from: formatMoney(old.inputPer1M), to: formatMoney(input) };
    if (old.outputPer1M !== output) changes.output_per_1m = { from: formatMoney(old.outputPer1M), to: formatMoney(output) };
    if (old.cachedInputPer1M !== cached) changes.cached_input_per_1m = { from: money(old.cachedInputPer1M), to: money(cached) };
    if (old.maxOutputTokens !== maxOut) changes.max_output_tokens = { from: old.maxOutputTokens, to: maxOut };
    if (!Object.keys(changes).length) {
      plan.unchanged++;
      continue;
    }
    plan.changed.push({ model: c.model, changes });
    // Everything the catalog does not speak of (kind, cache writes, long-context tier, media prices) stays as it is.
    plan.writes.push({
      before: old,
      input: {
        model: c.model,
        kind: old.kind,
        inputPer1M: input,
        outputPer1M: output,
        cachedInputPer1M: cached,
        cacheWritePer1M: old.cacheWritePer1M,
        cacheWrite1hPer1M: old.cacheWrite1hPer1M,
        tierAbove: old.tierAbove,
        tierInputPer1M: old.tierInputPer1M,
        tierOutputPer1M: old.tierOutputPer1M,
        perImage: old.perImage,
        perImageSizes: old.perImageSizes,
        perSecond: old.perSecond,
        perRequest: old.perRequest,
        maxSeconds: old.maxSeconds,
        maxOutputTokens: maxOut,
      },
    });
  }
  return plan;
}

/** Writes a plan's added and changed prices in one transaction, one audit row each. */
export async function applyPriceImport(db: DbOrTx, plan: ImportPlan, actor: Actor, source: string): Promise<number> {
  return withTransaction(db, async (tx) => {
    for (const w of plan.writes) {
      const p = await setModelPrice(tx, w.input);
      await recordAudit(tx, {
        actor,
        action: 'model.import_price',
        target: p.model,
        reason: `imported from ${source}`,
        before: w.before ? priceView(w.before) : null,
        after: priceView(p),
      });
    }
    return plan.writes.length;
  });
}
