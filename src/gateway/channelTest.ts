import type { Catalog } from './catalog.ts';
import { TallyError } from '../lib/errors.ts';
import { stripSecrets, upstreamMessage } from './upstreamErrors.ts';

/**
 * Sends one tiny real request to a channel (its provider's probe: a 1-token
 * chat, or a short embedding) straight to the upstream, outside billing, and
 * reports what happened. Used by `tally channel test` and the admin API.
 */
export async function testChannel(catalog: Catalog, channelId: string, opts: { reload?: boolean } = {}) {
  // The probe worker (src/ops/probes.ts) reloads once per round, not once per channel.
  if (opts.reload !== false) await catalog.reload();
  const ch = catalog.channels.find((c) => c.id === channelId);
  if (!ch) throw new TallyError('channel_not_found', `no channel ${channelId}`);
  // A stored channel of a type this version has no provider adapter for (providers/index.ts) is not probed.
  if (!ch.provider) throw new TallyError('unsupported_channel_type', `channel "${ch.name}" has type "${ch.type}", which this version cannot send requests to`);
  const model = ch.models[0];
  const upstreamModel = ch.modelMap[model] ?? model;
  const kind = catalog.prices.get(model)?.kind ?? 'chat';
  const started = Date.now();
  try {
    const res = await ch.pool.request(ch.provider.probe(ch, upstreamModel, kind === 'embedding' ? 'embedding' : 'chat'));
    const text = await res.body.text();
    const ok = res.statusCode < 400;
    return {
      ok,
      channel: ch.name,
      model,
      upstream_model: upstreamModel,
      status: res.statusCode,
      latency_ms: Date.now() - started,
      message: ok ? 'upstream answered' : stripSecrets(upstreamMessage(text), [ch.apiKey]),
      /** The upstream's own error code or type (OpenAI's insufficient_quota), when it sent one. */
      error_code: ok ? null : upstreamErrorCode(text),
    };
  } catch (e) {
    return {
      ok: false,
      channel: ch.name,
      model,
      upstream_model: upstreamModel,
      status: 0,
      latency_ms: Date.now() - started,
      message: `could not reach upstream: ${(e as { code?: string }).code ?? (e as Error).message}`,
      error_code: null,
    };
  }
}

function upstreamErrorCode(body: string): string | null {
  try {
    const e = JSON.parse(body)?.error;
    const code = e?.code ?? e?.type ?? e?.status;
    return typeof code === 'string' ? code.slice(0, 60) : null;
  } catch {
    return null;
  }
}
