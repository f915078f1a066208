import type { Dispatcher } from 'undici';
import type { GatewayCall } from '../../call.ts';
import type { RuntimeChannel } from '../../catalog.ts';

// The request to an `anthropic` channel. Its base URL is the one Anthropic's
// SDK takes (https://api.anthropic.com, or a proxy's root), to which the SDK
// appends /v1/messages; a base that already ends in /v1 is taken as meant.
// Headers: the channel's key as x-api-key, the caller's anthropic-version
// (2023-06-01 when the caller sent none: an OpenAI caller, or a bare client)
// and anthropic-beta, forwarded as they came.

export const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';

/** `<base>/v1<suffix>`. The catalog gives a base without a path the prefix /v1. */
export function anthropicPath(ch: RuntimeChannel, suffix: string): string {
  const p = ch.pathPrefix;
  return (p.endsWith('/v1') ? p : `${p}/v1`) + suffix;
}

function anthropicHeaders(ch: RuntimeChannel, forward: Record<string, string> | null, accept: string): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    accept,
    'anthropic-version': forward?.['anthropic-version'] || DEFAULT_ANTHROPIC_VERSION,
  };
  const beta = forward?.['anthropic-beta'];
  if (beta) h['anthropic-beta'] = beta;
  if (ch.apiKey) h['x-api-key'] = ch.apiKey;
  return h;
}

/**
 * The upstream body: the caller's body with the upstream model name and,
 * when quote.ts lowered it (`maxTokens` > 0), the output cap. When neither
 * changes, the caller's own JSON text goes as it came (nothing to add:
 * an Anthropic stream always reports its usage).
 */
export function anthropicBody(call: GatewayCall, upstreamModel: string, maxTokens: number): string {
  if (maxTokens === 0 && upstreamModel === call.model) return call.raw;
  const b: Record<string, any> = { ...call.body, model: upstreamModel };
  if (maxTokens > 0) {
    b.max_tokens = maxTokens;
    // Extended thinking must leave room for the answer (budget_tokens < max_tokens, at least 1,024);
    // a cap too low for any thinking turns it off rather than have the upstream refuse the request.
    const t = b.thinking;
    if (t && typeof t === 'object' && t.type === 'enabled' && typeof t.budget_tokens === 'number' && t.budget_tokens >= maxTokens) {
      if (maxTokens - 1 >= 1024) b.thinking = { ...t, budget_tokens: maxTokens - 1 };
      else delete b.thinking;
    }
  }
  return JSON.stringify(b);
}

export function anthropicRequest(ch: RuntimeChannel, call: GatewayCall, upstreamModel: string, maxTokens: number): Dispatcher.DispatchOptions {
  return {
    path: anthropicPath(ch, '/messages'),
    method: 'POST',
    headers: anthropicHeaders(ch, call.forwardHeaders, call.stream ? 'text/event-stream' : 'application/json'),
    body: anthropicBody(call, upstreamModel, maxTokens),
    headersTimeout: ch.firstByteTimeoutMs,
    bodyTimeout: ch.firstByteTimeoutMs,
  };
}

/** A count is quick or not worth waiting for: past this, Tally counts itself (countTokens.ts). */
const COUNT_TIMEOUT_MS = 10_000;

/** POST /v1/messages/count_tokens for the caller's body (the model renamed), outside billing. */
export function anthropicCountTokens(ch: RuntimeChannel, call: GatewayCall, upstreamModel: string): Dispatcher.DispatchOptions {
  const timeout = Math.min(ch.firstByteTimeoutMs, COUNT_TIMEOUT_MS);
  return {
    path: anthropicPath(ch, '/messages/count_tokens'),
    method: 'POST',
    headers: anthropicHeaders(ch, call.forwardHeaders, 'application/json'),
    body: upstreamModel === call.model ? call.raw : JSON.stringify({ ...call.body, model: upstreamModel }),
    headersTimeout: timeout,
    bodyTimeout: timeout,
  };
}

/** The smallest real request (`tally channel test`): a 1-token message. Anthropic has no embeddings, so `kind` does not change it. */
export function anthropicProbe(ch: RuntimeChannel, upstreamModel: string, _kind: 'chat' | 'embedding'): Dispatcher.DispatchOptions {
  return {
    path: anthropicPath(ch, '/messages'),
    method: 'POST',
    headers: anthropicHeaders(ch, null, 'application/json'),
    body: JSON.stringify({ model: upstreamModel, max_tokens: 1, messages: [{ role: 'user', content: 'ping' }] }),
    headersTimeout: ch.firstByteTimeoutMs,
    bodyTimeout: ch.firstByteTimeoutMs,
  };
}
