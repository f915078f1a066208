import type { ServerResponse } from 'node:http';
import type { TallyError } from '../../../lib/errors.ts';

// The one place Anthropic-shaped errors are written: the relay's answers on
// /v1/messages and count_tokens, the fast path's refusals (body too large, bad
// JSON), an SSE stream broken off mid-way, and (through the fastify error
// handler) GET /v1/models when the caller speaks Anthropic.
//
// Anthropic's status and type follow the registry's status, with one change:
// the registry's 503 ("nothing can serve it now") is Anthropic's
// 529 overloaded_error, the status Anthropic's SDKs and Claude Code retry on.

const TYPES: Partial<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/** The status an error is answered with in Anthropic's protocol. */
export function anthropicStatus(err: TallyError): number {
  return err.status === 503 ? 529 : err.status;
}

/** Anthropic's error type for a status (a 4xx not listed is invalid_request_error, a 5xx api_error). */
export function anthropicErrorType(status: number): string {
  return TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/**
 * Anthropic shape: { type: "error", error: { type, message, details }, request_id }.
 * `details.error_code` is Tally's stable code (Anthropic's SDK reads it as `errorCode`).
 */
export function anthropicError(err: TallyError, requestId?: string) {
  return {
    type: 'error',
    error: { type: anthropicErrorType(anthropicStatus(err)), message: err.message, details: { error_code: err.code, ...(err.details ?? {}) } },
    ...(requestId ? { request_id: requestId } : {}),
  };
}

/** Writes `err` as the whole answer, with `request-id` (what Anthropic's SDK reads) and `x-request-id`. */
export function writeAnthropicError(res: ServerResponse, err: TallyError, requestId: string): void {
  const status = anthropicStatus(err);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'request-id': requestId, 'x-request-id': requestId };
  if (!err.retryable) headers['x-should-retry'] = 'false';
  const ra = err.details?.retry_after;
  if (status === 429 || status === 529) headers['retry-after'] = typeof ra === 'string' ? ra : '1';
  const body = JSON.stringify(anthropicError(err, requestId));
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(status, headers);
  res.end(body);
}

/** The event that ends a stream the upstream broke off (the status line went out long ago). */
export const STREAM_BROKEN_EVENT = `event: error\ndata: ${JSON.stringify({
  type: 'error',
  error: { type: 'api_error', message: 'the upstream provider closed the stream before it finished', details: { error_code: 'upstream_disconnected' } },
})}\n\n`;
