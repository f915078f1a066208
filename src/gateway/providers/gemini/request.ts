import type { Dispatcher } from 'undici';
import type { GatewayCall } from '../../call.ts';
import type { RuntimeChannel } from '../../catalog.ts';

// The request to a `gemini` channel. Its base URL is the one Google's SDK
// takes (https://generativelanguage.googleapis.com, or a proxy's root), to
// which Tally appends /v1beta/models/{model}:{method}; a base that already
// ends in an API version (/v1beta, /v1, /v1alpha) is taken as meant. The
// channel's key goes as x-goog-api-key (never in the URL, which proxies log).
// A stream is always asked for as SSE (?alt=sse); a caller that wanted
// Google's JSON-array framing gets it from the tap (sse.ts).
//
// The call's body is a Gemini request: the caller's own (a Gemini caller) or
// one translation built (charge/translation.ts); the model is never in the
// body, only in the path (the upstream name), so the caller's JSON goes byte
// for byte unless the output cap is lowered.

/** `<base>/<version>/models/<model>:<method>`. */
export function geminiPath(ch: RuntimeChannel, model: string, method: string): string {
  const p = ch.pathPrefix;
  const root = /\/v1(beta|alpha)?$/.test(p) ? p : `${p}/v1beta`;
  const name = model.startsWith('models/') ? model.slice(7) : model;
  return `${root}/models/${encodeURIComponent(name)}:${method}`;
}

function geminiHeaders(ch: RuntimeChannel, accept: string): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', accept };
  if (ch.apiKey) h['x-goog-api-key'] = ch.apiKey;
  return h;
}

/** The upstream body: the caller's, with generationConfig.maxOutputTokens lowered when quote.ts capped it (`maxTokens` > 0). */
export function geminiBody(call: GatewayCall, maxTokens: number): string {
  if (maxTokens === 0) return call.raw;
  const g = call.body.generationConfig;
  return JSON.stringify({ ...call.body, generationConfig: { ...(g && typeof g === 'object' ? g : {}), maxOutputTokens: maxTokens } });
}

export function geminiRequest(ch: RuntimeChannel, call: GatewayCall, upstreamModel: string, maxTokens: number): Dispatcher.DispatchOptions {
  return {
    path: geminiPath(ch, upstreamModel, call.stream ? 'streamGenerateContent?alt=sse' : 'generateContent'),
    method: 'POST',
    headers: geminiHeaders(ch, call.stream ? 'text/event-stream' : 'application/json'),
    body: geminiBody(call, maxTokens),
    headersTimeout: ch.firstByteTimeoutMs,
    bodyTimeout: ch.firstByteTimeoutMs,
  };
}

/** A count is quick or not worth waiting for: past this, Tally counts itself (countTokens.ts). */
const COUNT_TIMEOUT_MS = 10_000;

/**
 * POST :countTokens for a Gemini caller's countTokens body, outside billing:
 * `{contents…}` as it came, or `{generateContentRequest}` with its model set
 * to the upstream's (`models/<name>`, which Google requires there).
 */
export function geminiCountTokens(ch: RuntimeChannel, call: GatewayCall, upstreamModel: string): Dispatcher.DispatchOptions {
  const timeout = Math.min(ch.firstByteTimeoutMs, COUNT_TIMEOUT_MS);
  const g = call.body.generateContentRequest;
  const name = upstreamModel.startsWith('models/') ? upstreamModel : `models/${upstreamModel}`;
  const body = g && typeof g === 'object' ? JSON.stringify({ ...call.body, generateContentRequest: { ...g, model: name } }) : call.raw;
  return {
    path: geminiPath(ch, upstreamModel, 'countTokens'),
    method: 'POST',
    headers: geminiHeaders(ch, 'application/json'),
    body,
    headersTimeout: timeout,
    bodyTimeout: timeout,
  };
}

/** `{totalTokens}` of a countTokens answer. */
export function readGeminiCount(text: string): number | null {
  const n = (JSON.parse(text) as { totalTokens?: unknown }).totalTokens;
  return typeof n === 'number' ? n : null;
}

/** The smallest real request (`tally channel test`): a 1-token generateContent, or an embedContent for an embedding model. */
export function geminiProbe(ch: RuntimeChannel, upstreamModel: string, kind: 'chat' | 'embedding'): Dispatcher.DispatchOptions {
  const body =
    kind === 'embedding'
      ? { content: { parts: [{ text: 'ping' }] } }
      : { contents: [{ role: 'user', parts: [{ text: 'ping' }] }], generationConfig: { maxOutputTokens: 1 } };
  return {
    path: geminiPath(ch, upstreamModel, kind === 'embedding' ? 'embedContent' : 'generateContent'),
    method: 'POST',
    headers: geminiHeaders(ch, 'application/json'),
    body: JSON.stringify(body),
    headersTimeout: ch.firstByteTimeoutMs,
    bodyTimeout: ch.firstByteTimeoutMs,
  };
}
