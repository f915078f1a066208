import type { IncomingHttpHeaders } from 'node:http';
import type { Endpoint } from '../../call.ts';
import type { PathMatch, Protocol } from '../index.ts';
import { STREAM_BROKEN_EVENT, writeGeminiError } from './errors.ts';
import { parseGeminiCall } from './parse.ts';
import { GeminiArrayFraming } from './framing.ts';

// Google's Gemini API as callers speak it (the @google/genai SDK, Gemini CLI):
// POST /v1beta/models/{model}:generateContent, :streamGenerateContent
// (?alt=sse, or a JSON array without it) and :countTokens (never charged:
// charge/countTokens.ts); GET /v1beta/models is a fastify route
// (src/app/routes/gemini.ts). The model is in the path, so these are pattern
// routes (`matchPath`), served for each API prefix P at P + "beta" and P when P
// ends in /v1 (the defaults /v1 and /api/v1 give /v1beta, /v1, /api/v1beta and
// /api/v1: the SDK's base URL is then http://host or http://host/api, with
// apiVersion v1beta or v1), else at P/v1beta and P/v1.

/** `x-goog-api-key` (the SDK, Gemini CLI), else `?key=` (REST examples, curl), else `Authorization: Bearer`. */
export function geminiApiKey(h: IncomingHttpHeaders, url?: string): string | undefined {
  const x = h['x-goog-api-key'];
  if (typeof x === 'string' && x) return x.trim();
  const q = url?.indexOf('?') ?? -1;
  if (url && q >= 0) {
    const k = new URLSearchParams(url.slice(q + 1)).get('key');
    if (k) return k.trim();
  }
  const a = h.authorization;
  if (!a) return undefined;
  return /^Bearer\s/i.test(a) ? a.slice(7).trim() : a.trim();
}

const METHODS: Record<string, Endpoint> = {
  generateContent: 'gemini.generate',
  streamGenerateContent: 'gemini.generate',
  countTokens: 'gemini.count_tokens',
};

// The model is everything up to the last colon: Tally's model names may hold "/" (vendor/model) or ":" (llama3:8b).
const MODEL_METHOD = /^\/models\/(.+):([A-Za-z]+)$/;

/** `/models/{model}:{method}` → the endpoint, the model and the method; null for another path or method. */
export function matchGeminiPath(path: string): PathMatch | null {
  const m = MODEL_METHOD.exec(path);
  if (!m) return null;
  const endpoint = METHODS[m[2]];
  if (!endpoint) return null;
  let model: string;
  try {
    model = decodeURIComponent(m[1]);
  } catch {
    return null;
  }
  return { endpoint, params: { model, method: m[2] } };
}

/** The version roots for an API prefix: /v1 → /v1beta and /v1; /x → /x/v1beta and /x/v1. */
export function geminiRoots(apiPrefix: string): string[] {
  return apiPrefix.endsWith('/v1') ? [`${apiPrefix}beta`, apiPrefix] : [`${apiPrefix}/v1beta`, `${apiPrefix}/v1`];
}

export const geminiProtocol: Protocol = {
  name: 'gemini',
  routes: [],
  apiKey: geminiApiKey,
  matchPath: matchGeminiPath,
  roots: geminiRoots,
  countAnswer: (tokens) => ({ totalTokens: tokens }),
  streamFraming: (call) => (call.arrayStream ? new GeminiArrayFraming() : null),
  parse: parseGeminiCall,
  writeError: writeGeminiError,
  streamBrokenEvent: STREAM_BROKEN_EVENT,
  requestIdHeader: null,
};
