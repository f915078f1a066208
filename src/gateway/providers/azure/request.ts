import type { Dispatcher } from 'undici';
import type { Endpoint, GatewayCall } from '../../call.ts';
import type { RuntimeChannel } from '../../catalog.ts';
import { upstreamBody } from '../openai/request.ts';
import { mediaPath, mediaRequest } from '../../media/request.ts';

// The request to an `azure` channel (Azure OpenAI): the base URL is the
// resource (https://{resource}.openai.azure.com), the mapped model name is the
// deployment, and every call carries the channel's api-version and the
// `api-key` header: <base>/openai/deployments/{deployment}/chat/completions?api-version=...
// The body is OpenAI's, `model` being the deployment (Azure goes by the path).

const ENDPOINT_PATH: Partial<Record<Endpoint, string>> = { 'chat.completions': '/chat/completions', completions: '/completions', embeddings: '/embeddings' };

/** The default api-version when a channel has none (a GA version that serves chat, completions and embeddings). */
export const AZURE_DEFAULT_API_VERSION = '2024-10-21';

export function azurePath(ch: RuntimeChannel, deployment: string, endpointPath: string): string {
  return `${ch.pathPrefix}/openai/deployments/${encodeURIComponent(deployment)}${endpointPath}?api-version=${encodeURIComponent(ch.apiVersion ?? AZURE_DEFAULT_API_VERSION)}`;
}

export function azureRequest(ch: RuntimeChannel, call: GatewayCall, deployment: string, maxTokens: number): Dispatcher.DispatchOptions {
  if (call.media) return mediaRequest(ch, call, deployment, azurePath(ch, deployment, mediaPath(call)), ch.apiKey ? { 'api-key': ch.apiKey } : {});
  const accept = call.stream ? 'text/event-stream' : 'application/json';
  return {
    path: azurePath(ch, deployment, ENDPOINT_PATH[call.endpoint] ?? '/chat/completions'),
    method: 'POST',
    headers: ch.apiKey ? { 'content-type': 'application/json', accept, 'api-key': ch.apiKey } : { 'content-type': 'application/json', accept },
    body: upstreamBody(call, deployment, maxTokens),
    headersTimeout: ch.firstByteTimeoutMs,
    bodyTimeout: ch.firstByteTimeoutMs,
  };
}

/** The smallest real request (`tally channel test`): a 1-token chat, or a short embedding, to the deployment. */
export function azureProbe(ch: RuntimeChannel, deployment: string, kind: 'chat' | 'embedding'): Dispatcher.DispatchOptions {
  // `model` as in every relayed body (Azure goes by the deployment in the path).
  const body =
    kind === 'embedding' ? { model: deployment, input: 'ping' } : { model: deployment, messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 };
  return {
    path: azurePath(ch, deployment, kind === 'embedding' ? '/embeddings' : '/chat/completions'),
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(ch.apiKey ? { 'api-key': ch.apiKey } : {}) },
    headersTimeout: ch.firstByteTimeoutMs,
    bodyTimeout: ch.firstByteTimeoutMs,
  };
}
