import type { Dispatcher } from 'undici';
import type { Endpoint, GatewayCall } from '../../call.ts';
import type { RuntimeChannel } from '../../catalog.ts';
import { mediaPath, mediaRequest } from '../../media/request.ts';

// The request to an `openai` channel (any OpenAI-compatible upstream):
// `<base>/chat/completions` (or /completions, /embeddings) with a Bearer key;
// a Responses call (to a channel that declares responses_api) goes to `<base>/responses`.

/** The path of each endpoint (an Anthropic caller's call arrives here translated to chat.completions: charge/translation.ts). */
const UPSTREAM_PATH: Partial<Record<Endpoint, string>> = {
  'chat.completions': '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
  responses: '/responses',
};

/** Lowers the output cap in whichever field the client used (max_tokens when it used none: every upstream knows it). */
function capMaxTokens(out: Record<string, any>, from: Record<string, any>, n: number): void {
  if (from.max_completion_tokens !== undefined) out.max_completion_tokens = n;
  if (from.max_tokens !== undefined || from.max_completion_tokens === undefined) out.max_tokens = n;
}

/**
 * The upstream body: the client's body with the upstream model name, the
 * output cap when quote.ts lowered it (`maxTokens` > 0), and for streams
 * `stream_options.include_usage` (Tally bills from it). When nothing else
 * changes and the model is not renamed, the client's own JSON text is reused,
 * with the usage option appended if it is missing, rather than serialising
 * the body again.
 */
export function upstreamBody(call: GatewayCall, upstreamModel: string, maxTokens: number): string {
  if (call.endpoint === 'responses') return responsesBody(call, upstreamModel, maxTokens);
  const body = call.body;
  const so = body.stream_options;
  if (maxTokens === 0 && upstreamModel === call.model) {
    if (!call.stream || so?.include_usage === true) return call.raw;
    if (so === undefined) {
      const close = call.raw.lastIndexOf('}');
      if (close > 0) return `${call.raw.slice(0, close)},"stream_options":{"include_usage":true}${call.raw.slice(close)}`;
    }
  }
  const b: Record<string, any> = { ...body, model: upstreamModel };
  if (maxTokens > 0) capMaxTokens(b, body, maxTokens);
  if (call.stream) b.stream_options = { ...(so ?? {}), include_usage: true };
  return JSON.stringify(b);
}

/**
 * A Responses body, passed through: the client's JSON text as is unless the
 * model is renamed or quote.ts lowered the output cap below the caller's
 * max_output_tokens (or set one where the caller set none). A Responses
 * stream always reports usage, so nothing is added for it.
 */
function responsesBody(call: GatewayCall, upstreamModel: string, maxTokens: number): string {
  const body = call.body;
  const max = body.max_output_tokens;
  const lowers = maxTokens > 0 && !(typeof max === 'number' && max <= maxTokens);
  if (!lowers && upstreamModel === call.model) return call.raw;
  const b: Record<string, any> = { ...body, model: upstreamModel };
  if (lowers) b.max_output_tokens = maxTokens;
  return JSON.stringify(b);
}

/** The smallest real request (`tally channel test`): a 1-token chat, or a short embedding. */
export function openaiProbe(ch: RuntimeChannel, upstreamModel: string, kind: 'chat' | 'embedding'): Dispatcher.DispatchOptions {
  const body =
    kind === 'embedding' ? { model: upstreamModel, input: 'ping' } : { model: upstreamModel, messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 };
  return {
    path: ch.pathPrefix + (kind === 'embedding' ? '/embeddings' : '/chat/completions'),
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(ch.apiKey ? { authorization: `Bearer ${ch.apiKey}` } : {}) },
    headersTimeout: ch.firstByteTimeoutMs,
    bodyTimeout: ch.firstByteTimeoutMs,
  };
}

export function openaiRequest(ch: RuntimeChannel, call: GatewayCall, upstreamModel: string, maxTokens: number): Dispatcher.DispatchOptions {
  if (call.media) return mediaRequest(ch, call, upstreamModel, ch.pathPrefix + mediaPath(call), ch.apiKey ? { authorization: `Bearer ${ch.apiKey}` } : {});
  const accept = call.stream ? 'text/event-stream' : 'application/json';
  return {
    path: ch.pathPrefix + (UPSTREAM_PATH[call.endpoint] ?? '/chat/completions'),
    method: 'POST',
    headers: ch.apiKey ? { 'content-type': 'application/json', accept, authorization: `Bearer ${ch.apiKey}` } : { 'content-type': 'application/json', accept },
    body: upstreamBody(call, upstreamModel, maxTokens),
    headersTimeout: ch.firstByteTimeoutMs,
    bodyTimeout: ch.firstByteTimeoutMs,
  };
}
