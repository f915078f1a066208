import type { IncomingHttpHeaders } from 'node:http';
import type { Protocol } from '../index.ts';
import { parseOpenAICall } from './parse.ts';
import { STREAM_BROKEN_EVENT, writeOpenAIError } from './errors.ts';

// OpenAI's API as callers speak it: chat completions, legacy completions and
// embeddings (GET /v1/models is a fastify route: src/app/routes/openai.ts).

/** `Authorization: Bearer sk-...` (a bare key is taken too). */
function bearerKey(h: IncomingHttpHeaders): string | undefined {
  const a = h.authorization;
  if (!a) return undefined;
  return a.startsWith('Bearer ') ? a.slice(7).trim() : a.trim();
}

export const openaiProtocol: Protocol = {
  name: 'openai',
  routes: [
    ['/chat/completions', 'chat.completions'],
    ['/completions', 'completions'],
    ['/embeddings', 'embeddings'],
  ],
  apiKey: bearerKey,
  parse: parseOpenAICall,
  writeError: writeOpenAIError,
  streamBrokenEvent: STREAM_BROKEN_EVENT,
  requestIdHeader: null,
};
