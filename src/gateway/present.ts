import type { Catalog } from './catalog.ts';
import type { Channel } from './channels.ts';

// How a channel is shown to staff, the same in the admin API and the CLI (never its API key).

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
    has_api_key: c.hasApiKey,
    timeouts_ms: { connect: c.connectTimeoutMs, first_byte: c.firstByteTimeoutMs, total: c.totalTimeoutMs },
    health: rt ? rt.breaker.snapshot(Date.now()) : null,
  };
}
