import type { DbOrTx } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { formatMoney, toBig } from '../ledger/money.ts';
import { explainCost, modelPrice, priceSet } from './pricing.ts';
import { mediaArithmetic } from './media/explain.ts';

export interface UsageFilter {
  userId: string;
  model?: string;
  keyId?: string;
  charged?: boolean;
  since?: number;
  until?: number;
  before?: string;
  limit?: number;
}

/** One request log row as the account API and the support views show it (key masked, money as decimals). */
export function usageView(r: any) {
  return {
    id: r.id,
    created_at: new Date(Number(r.created_at)).toISOString(),
    endpoint: r.endpoint,
    model: r.model,
    upstream_model: r.upstream_model,
    key: r.key_display,
    key_id: r.key_id,
    group: r.group_name,
    stream: Number(r.stream) === 1,
    status: Number(r.status),
    error_code: r.error_code,
    error_message: r.error_message,
    prompt_tokens: Number(r.prompt_tokens),
    completion_tokens: Number(r.completion_tokens),
    cached_tokens: Number(r.cached_tokens),
    cache_write_tokens: Number(r.cache_write_tokens ?? 0),
    cache_write_1h_tokens: Number(r.cache_write_1h_tokens ?? 0),
    reasoning_tokens: Number(r.reasoning_tokens ?? 0),
    tool_use_prompt_tokens: Number(r.tool_use_prompt_tokens ?? 0),
    // A media request: the units it was billed in (images, audio ms, characters, requests), only on such rows.
    ...(r.media_unit ? { media_unit: r.media_unit as string, media_units: Number(r.media_units) } : {}),
    usage_source: r.usage_source,
    cost: formatMoney(toBig(r.cost), 6),
    charged: Number(r.charged) === 1,
    charged_amount: formatMoney(toBig(r.charged_amount), 6),
    uncollected: formatMoney(toBig(r.uncollected), 6),
    charge_reason: r.charge_reason,
    transfer_id: r.transfer_id,
    attempts: Number(r.attempts),
    latency_ms: r.latency_ms === null ? null : Number(r.latency_ms),
    ttfb_ms: r.ttfb_ms === null ? null : Number(r.ttfb_ms),
    client_ip: r.client_ip,
  };
}

function usageQuery(db: DbOrTx, f: UsageFilter) {
  let q = db
    .selectFrom('request_logs')
    .selectAll()
    .where('user_id', '=', f.userId)
    .orderBy('id', 'desc')
    .limit(Math.min(f.limit ?? 50, 500));
  if (f.model) q = q.where('model', '=', f.model);
  if (f.keyId) q = q.where('key_id', '=', f.keyId);
  if (f.charged !== undefined) q = q.where('charged', '=', f.charged ? 1 : 0);
  if (f.since !== undefined) q = q.where('created_at', '>=', f.since);
  if (f.until !== undefined) q = q.where('created_at', '<', f.until);
  if (f.before) q = q.where('id', '<', f.before);
  return q;
}

export async function listUsage(db: DbOrTx, f: UsageFilter) {
  return (await usageQuery(db, f).execute()).map(usageView);
}

/** The same rows, each with the prices it was charged at and the arithmetic (for the billing doctor's evidence). */
export async function listUsageWithArithmetic(db: DbOrTx, f: UsageFilter) {
  return (await usageQuery(db, f).execute()).map((r) => {
    const view = usageView(r);
    return { ...view, ...chargeArithmetic(r, view) };
  });
}

const optionalPrice = (v: string | null | undefined): bigint | null => (v === null || v === undefined ? null : BigInt(v));
const shownPrice = (v: bigint | null) => (v === null ? null : formatMoney(v));

/**
 * The prices a request was charged at (the snapshot stored with its row) and
 * the arithmetic: each token count x its price x the multiplier = the cost.
 * A snapshot from before the cache-write prices existed has none: such tokens
 * were billed at the input price, which is what an unset price means; one
 * from before the long-context tier has no tier (price_set 'base').
 */
function chargeArithmetic(r: { pricing: string | null; model: string | null }, view: ReturnType<typeof usageView>) {
  if (!r.pricing) return { pricing: null, explanation: null };
  const p = JSON.parse(r.pricing);
  if (p.basis !== undefined && p.basis !== 'tokens') return mediaArithmetic(p, r as { media_unit?: string | null; media_units?: unknown });
  const price = modelPrice({
    model: r.model ?? '',
    kind: 'chat',
    inputPer1M: BigInt(p.input_per_1m),
    outputPer1M: BigInt(p.output_per_1m),
    cachedInputPer1M: optionalPrice(p.cached_input_per_1m),
    cacheWritePer1M: optionalPrice(p.cache_write_per_1m),
    cacheWrite1hPer1M: optionalPrice(p.cache_write_1h_per_1m),
    tierAbove: p.tier_above === null || p.tier_above === undefined ? null : Number(p.tier_above),
    tierInputPer1M: optionalPrice(p.tier_input_per_1m),
    tierOutputPer1M: optionalPrice(p.tier_output_per_1m),
    maxOutputTokens: 0,
    updatedAt: 0,
  });
  const usage = {
    promptTokens: view.prompt_tokens,
    completionTokens: view.completion_tokens,
    cachedTokens: view.cached_tokens,
    cacheWriteTokens: view.cache_write_tokens,
    cacheWrite1hTokens: view.cache_write_1h_tokens,
    reasoningTokens: view.reasoning_tokens,
    toolUsePromptTokens: view.tool_use_prompt_tokens,
  };
  return {
    pricing: {
      input_per_1m: formatMoney(price.inputPer1M),
      output_per_1m: formatMoney(price.outputPer1M),
      cached_input_per_1m: shownPrice(price.cachedInputPer1M),
      cache_write_per_1m: shownPrice(price.cacheWritePer1M),
      cache_write_1h_per_1m: shownPrice(price.cacheWrite1hPer1M),
      multiplier: formatMoney(BigInt(p.multiplier_ppm), 1),
      group: p.group as string,
      // A model with a long-context tier: the tier and which price set this request was charged at ('base' or 'tier').
      ...(price.tierAbove === null
        ? {}
        : {
            tier_above: price.tierAbove,
            tier_input_per_1m: shownPrice(price.tierInputPer1M),
            tier_output_per_1m: shownPrice(price.tierOutputPer1M),
            price_set: priceSet(price, usage),
          }),
    },
    explanation: explainCost(price, usage, BigInt(p.multiplier_ppm)),
  };
}

/** One request with the arithmetic of its charge: tokens x price x multiplier = cost. */
export async function explainUsage(db: DbOrTx, input: { userId: string | null; requestId: string }) {
  let q = db.selectFrom('request_logs').selectAll().where('id', '=', input.requestId);
  if (input.userId) q = q.where('user_id', '=', input.userId);
  const r = await q.executeTakeFirst();
  if (!r) throw new TallyError('request_not_found', `no request ${input.requestId} on this account`);
  const view = usageView(r);
  return { ...view, ...chargeArithmetic(r, view) };
}
