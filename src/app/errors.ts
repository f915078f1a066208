import { TallyError, isTallyError } from '../lib/errors.ts';

// The edge maps TallyError (and fastify's own errors) to each protocol's shape.

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: unknown;
}

/** Turns anything thrown into a TallyError; unknown errors become a 500 that hides internals. */
export function normalizeError(e: unknown): TallyError {
  if (isTallyError(e)) return e;
  const f = (e ?? {}) as FastifyLikeError;
  if (f?.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || f?.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return new TallyError('invalid_json', 'the request body is not valid JSON');
  }
  if (f?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new TallyError('body_too_large', 'the request body is larger than this server accepts');
  }
  if (f?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new TallyError('unsupported_media_type', 'send the body as JSON with "Content-Type: application/json"');
  }
  if (f?.validation) return new TallyError('invalid_request', f.message ?? 'invalid request');
  if (f?.statusCode === 404) return new TallyError('route_not_found', f.message ?? 'no such route');
  if (f?.statusCode === 405) return new TallyError('method_not_allowed', f.message ?? 'this route does not take that method');
  if (typeof f?.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) {
    return new TallyError('invalid_request', f.message ?? 'invalid request');
  }
  return new TallyError('internal_error', 'an internal error occurred; it has been logged with this request id', { cause: e });
}

/** Console/account API shape: { error: { code, message, param?, details? } }. */
export function accountApiError(err: TallyError, requestId: string) {
  return {
    error: {
      code: err.code,
      message: err.message,
      ...(err.param ? { param: err.param } : {}),
      ...(err.details ? { details: err.details } : {}),
      request_id: requestId,
    },
  };
}

// OpenAI's shape is written by src/gateway/protocols/openai/errors.ts, Anthropic's by
// src/gateway/protocols/anthropic/errors.ts.
