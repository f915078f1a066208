import type { Catalog, RuntimeChannel } from './catalog.ts';
import type { Channel } from './channels.ts';
import type { ModelPrice } from './pricing.ts';
import { formatMoney } from '../ledger/money.ts';

// How channels and prices are shown to staff, the same in the admin API and the CLI (never a channel's API key).

export function channelView(catalog: Catalog, c: Channel) {
  const rt = catalog.channels.find((x) => x.id === c.id);
  return {
    id: c.id,
    name: c.name,
    type: c.type,
    base_url: c.baseUrl,
    models: c.models,
    model_map: c.modelMap,
    priority: c.priority,
    weight: c.weight,
    status: c.status,
    status_reason: c.statusReason,
    // Probes (src/ops/probes.ts): whether they may enable it again, and whether Tally (not an operator) disabled it.
    auto_recover: c.autoRecover,
    auto_disabled: c.autoDisabled,
    has_api_key: c.hasApiKey,
    ...(c.type === 'azure' ? { api_version: c.apiVersion } : {}),
    ...(c.type === 'openai' ? { responses_api: c.responsesApi } : {}),
    timeouts_ms: { connect: c.connectTimeoutMs, first_byte: c.firstByteTimeoutMs, total: c.totalTimeoutMs },
    health: rt ? rt.breaker.snapshot(Date.now()) : null,
    // Several keys: how many, each one's last 4 characters masked, whether it is in rotation, and its breaker (never a key).
    ...(rt && rt.keyCount > 1 ? { api_keys: keysView(rt) } : {}),
  };
}

function keysView(rt: RuntimeChannel) {
  const now = Date.now();
  return {
    count: rt.keyCount,
    keys: rt.keyHints.map((hint, i) => {
      const view = rt.keys.find((k) => k.keyIndex === i);
      return { key: `...${hint}`, needs_attention: rt.keysAttention.includes(i), health: view ? view.breaker.snapshot(now) : null };
    }),
  };
}

const optionalPrice = (v: bigint | null): string | null => (v === null ? null : formatMoney(v));

export const priceView = (p: ModelPrice) => ({
  model: p.model,
  kind: p.kind,
  input_per_1m: formatMoney(p.inputPer1M),
  output_per_1m: formatMoney(p.outputPer1M),
  cached_input_per_1m: optionalPrice(p.cachedInputPer1M),
  cache_write_per_1m: optionalPrice(p.cacheWritePer1M),
  cache_write_1h_per_1m: optionalPrice(p.cacheWrite1hPer1M),
  max_output_tokens: p.maxOutputTokens,
  // The long-context tier, only when the model has one (the view of a model without one is unchanged).
  ...(p.tierAbove === null
    ? {}
    : { tier_above: p.tierAbove, tier_input_per_1m: formatMoney(p.tierInputPer1M!), tier_output_per_1m: formatMoney(p.tierOutputPer1M!) }),
  // Media prices, only those set (the view of a token-priced model is unchanged).
  ...(p.perImage === null ? {} : { per_image: formatMoney(p.perImage) }),
  ...(p.perImageSizes === null ? {} : { per_image_sizes: Object.fromEntries(Object.entries(p.perImageSizes).map(([k, v]) => [k, formatMoney(v)])) }),
  ...(p.perSecond === null ? {} : { per_second: formatMoney(p.perSecond) }),
  ...(p.perRequest === null ? {} : { per_request: formatMoney(p.perRequest) }),
  ...(p.maxSeconds === null ? {} : { max_seconds: p.maxSeconds }),
});

/** A model's media prices in words (CLI), or ''. */
export function mediaPriceText(p: ModelPrice): string {
  const parts: string[] = [];
  if (p.perImage !== null) parts.push(`${formatMoney(p.perImage)} per image`);
  for (const [size, v] of Object.entries(p.perImageSizes ?? {})) parts.push(`${formatMoney(v)} per ${size} image`);
  if (p.perSecond !== null) parts.push(`${formatMoney(p.perSecond)} per second of audio`);
  if (p.perRequest !== null) parts.push(`${formatMoney(p.perRequest)} per request`);
  return parts.length ? `; ${parts.join(', ')}` : '';
}
