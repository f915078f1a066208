import type { IncomingHttpHeaders } from 'node:http';
import type { Protocol } from '../index.ts';
import { STREAM_BROKEN_EVENT, writeAnthropicError } from './errors.ts';
import { parseAnthropicCall } from './parse.ts';

// Anthropic's Messages API as callers speak it (Claude Code, Anthropic's SDKs):
// POST /v1/messages, stream and not, and POST /v1/messages/count_tokens
// (never charged: countTokens.ts). Claude Code adds `?beta=true`; the query
// string is not part of the route. GET /v1/models answers in Anthropic's list
// shape when the request carries anthropic-version (src/app/routes/openai.ts).

/** `x-api-key: sk-...` (Anthropic's SDK with apiKey, Claude Code with ANTHROPIC_API_KEY), else `Authorization: Bearer sk-...` (ANTHROPIC_AUTH_TOKEN, SDK 1.x). */
export function anthropicApiKey(h: IncomingHttpHeaders): string | undefined {
  const x = h['x-api-key'];
  if (typeof x === 'string' && x) return x.trim();
  const a = h.authorization;
  if (!a) return undefined;
  return /^Bearer\s/i.test(a) ? a.slice(7).trim() : a.trim();
}

export const anthropicProtocol: Protocol = {
  name: 'anthropic',
  routes: [
    ['/messages', 'messages'],
    ['/messages/count_tokens', 'messages.count_tokens'],
  ],
  apiKey: anthropicApiKey,
  parse: parseAnthropicCall,
  writeError: writeAnthropicError,
  streamBrokenEvent: STREAM_BROKEN_EVENT,
  requestIdHeader: 'request-id',
  countAnswer: (tokens) => ({ input_tokens: tokens }),
};
