import type { ServerResponse } from 'node:http';
import type { TallyError } from '../../../lib/errors.ts';

// The one place OpenAI-shaped errors are written: the relay's answers, the
// fast path's refusals (body too large, bad JSON) and, through the fastify
// error handler, every other route under the OpenAI prefixes (GET /v1/models).

/** OpenAI shape: { error: { message, type, param, code } }. */
export function openAIError(err: TallyError) {
  return { error: { message: err.message, type: err.type, param: err.param, code: err.code, ...(err.details ? { details: err.details } : {}) } };
}

/** Writes `err` as the whole answer, with the headers OpenAI's SDKs read (retry-after, x-should-retry). */
export function writeOpenAIError(res: ServerResponse, err: TallyError, requestId: string): void {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': requestId };
  if (!err.retryable) headers['x-should-retry'] = 'false';
  const ra = err.details?.retry_after;
  if (err.status === 429) headers['retry-after'] = typeof ra === 'string' ? ra : '1';
  const body = JSON.stringify(openAIError(err));
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(err.status, headers);
  res.end(body);
}

/** The last event of a stream the upstream broke off (the status line went out long ago). */
export const STREAM_BROKEN_EVENT = `data: ${JSON.stringify({
  error: { message: 'the upstream provider closed the stream before it finished', type: 'upstream_error', code: 'upstream_disconnected' },
})}\n\n`;
