import type { ServerResponse } from 'node:http';
import type { TallyError } from '../../../lib/errors.ts';

// The one place Gemini-shaped errors are written: the relay's answers on
// :generateContent, :streamGenerateContent and :countTokens, the fast path's
// refusals (body too large, bad JSON), a stream broken off mid-way, and
// (through the fastify error handler) GET /v1beta/models.
//
// Google's shape is {error: {code, message, status, details}}: `code` the
// HTTP status, `status` the google.rpc.Code name for it. Tally's stable error
// code goes in a google.rpc.ErrorInfo detail (`reason`, domain "tally"), where
// Google puts its own reasons (API_KEY_INVALID…); a 429's retry-after also
// goes in a google.rpc.RetryInfo detail (`retryDelay`), which Gemini CLI reads.
//
// Tally's 402 (the wallet or the key's limit cannot pay) keeps its HTTP status
// and is named FAILED_PRECONDITION, the name Google gives "billing is not
// enabled for this project". Not 429 RESOURCE_EXHAUSTED, although Google
// words its own quota errors that way: the @google/genai SDK and Gemini CLI
// retry a 429 (and Gemini CLI switches to a fallback model), and a top-up is
// not something a retry brings.

const STATUS_NAMES: Partial<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  402: 'FAILED_PRECONDITION',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'UNIMPLEMENTED',
  409: 'ABORTED',
  413: 'INVALID_ARGUMENT',
  415: 'INVALID_ARGUMENT',
  422: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Google's status name for an HTTP status (a 4xx not listed is INVALID_ARGUMENT, a 5xx INTERNAL). */
export function geminiStatusName(status: number): string {
  return STATUS_NAMES[status] ?? (status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT');
}

/** Google shape, Tally's code in an ErrorInfo detail. */
export function geminiError(err: TallyError) {
  const metadata: Record<string, string> = {};
  if (err.param) metadata.param = err.param;
  for (const [k, v] of Object.entries(err.details ?? {})) if (typeof v === 'string' || typeof v === 'number') metadata[k] = String(v);
  const details: Array<Record<string, unknown>> = [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: err.code, domain: 'tally', metadata }];
  const ra = err.details?.retry_after;
  if (err.status === 429) details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${typeof ra === 'string' ? ra : '1'}s` });
  return { error: { code: err.status, message: err.message, status: geminiStatusName(err.status), details } };
}

/** Writes `err` as the whole answer, with x-request-id (and retry-after on a 429). */
export function writeGeminiError(res: ServerResponse, err: TallyError, requestId: string): void {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=UTF-8', 'x-request-id': requestId };
  if (!err.retryable) headers['x-should-retry'] = 'false';
  const ra = err.details?.retry_after;
  if (err.status === 429) headers['retry-after'] = typeof ra === 'string' ? ra : '1';
  const body = JSON.stringify(geminiError(err));
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(err.status, headers);
  res.end(body);
}

/**
 * The last event of a stream the upstream broke off: a `data: {"error":…}`
 * chunk, what Google sends when a stream fails after its headers (the SDK
 * throws it as an ApiError).
 */
export const STREAM_BROKEN_EVENT = `data: ${JSON.stringify({
  error: {
    code: 503,
    message: 'the upstream provider closed the stream before it finished',
    status: 'UNAVAILABLE',
    details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'upstream_disconnected', domain: 'tally', metadata: {} }],
  },
})}\r\n\r\n`;
