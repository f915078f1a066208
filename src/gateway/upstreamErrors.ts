import { TallyError, type ErrorCode } from '../lib/errors.ts';

// Upstream failures, classified for failover and for the caller. Upstream
// messages are kept (they help the user) with anything secret-looking masked.

const SECRETISH = /\b(sk|pk|rk|key|sess)-[A-Za-z0-9_-]{6,}/g;

export function stripSecrets(message: string, known: Array<string | null> = []): string {
  let out = message;
  for (const k of known) if (k && k.length >= 6) out = out.split(k).join(`${k.slice(0, 3)}…${k.slice(-4)}`);
  out = out.replace(SECRETISH, (m) => `${m.slice(0, m.indexOf('-') + 1)}…${m.slice(-4)}`);
  return out.length > 1000 ? out.slice(0, 1000) + '…' : out;
}

export function upstreamMessage(body: string): string {
  try {
    const j = JSON.parse(body);
    const m = j?.error?.message ?? j?.message ?? j?.error;
    // Google's shape {error: {code, message, status}}: the status name says what kind (RESOURCE_EXHAUSTED, UNAVAILABLE…).
    if (typeof m === 'string' && typeof j?.error?.status === 'string') return `${j.error.status}: ${m}`;
    if (typeof m === 'string') return m;
  } catch {
    /* not JSON */
  }
  return body.slice(0, 300) || 'no body';
}

export interface AttemptFailure {
  /** May another channel be tried? (connect errors, timeouts, 429, 5xx before any byte reached the client) */
  failover: boolean;
  /** Should this channel be disabled until an operator looks? (401/403) */
  needsAttention: boolean;
  /** Counts against the channel's breaker. */
  breaker: boolean;
  error: TallyError;
}

/** An upstream 4xx the caller should see with its own status; any other is a 400 (a 404 included: the model path is Tally's). */
const REJECTED: Partial<Record<number, ErrorCode>> = { 413: 'upstream_request_too_large', 422: 'upstream_unprocessable' };

/**
 * Google answers a wrong key with 400 INVALID_ARGUMENT and an ErrorInfo
 * detail whose reason is API_KEY_INVALID (or API_KEY_EXPIRED…): Tally's
 * credentials, not the caller's request, so it is classified as a 401.
 */
function googleKeyRefused(status: number, body: string): boolean {
  if (status !== 400 || !body.includes('API_KEY_')) return false;
  try {
    const details = JSON.parse(body)?.error?.details;
    return Array.isArray(details) && details.some((d) => typeof d?.reason === 'string' && /^API_KEY_/.test(d.reason));
  } catch {
    return false;
  }
}

export function classifyStatus(status: number, body: string, apiKey: string | null, channelName: string, retryAfter: string | null): AttemptFailure {
  const msg = stripSecrets(upstreamMessage(body), [apiKey]);
  if (googleKeyRefused(status, body)) status = 401;
  if (status === 401 || status === 403) {
    return {
      failover: true,
      needsAttention: true,
      breaker: true,
      error: new TallyError('upstream_auth_failed', `upstream channel "${channelName}" refused Tally's credentials (${status}); the operator has been alerted`),
    };
  }
  if (status === 429) {
    return {
      failover: true,
      needsAttention: false,
      breaker: false,
      error: new TallyError('upstream_rate_limited', `the upstream provider is rate limiting: ${msg}`, {
        details: retryAfter ? { retry_after: retryAfter } : undefined,
      }),
    };
  }
  if (status === 529) {
    // Anthropic's overloaded_error: another channel may have room (and the caller's SDK retries a 503/529).
    return {
      failover: true,
      needsAttention: false,
      breaker: true,
      error: new TallyError('upstream_overloaded', `the upstream provider is overloaded (529): ${msg}`, {
        details: retryAfter ? { retry_after: retryAfter } : undefined,
      }),
    };
  }
  if (status >= 500) {
    return {
      failover: true,
      needsAttention: false,
      breaker: true,
      error: new TallyError('upstream_error', `upstream error ${status}: ${msg}`),
    };
  }
  // Other 4xx: the request itself is wrong; another channel would say the same.
  return {
    failover: false,
    needsAttention: false,
    breaker: false,
    error: new TallyError(REJECTED[status] ?? 'upstream_rejected_request', `the upstream provider rejected the request (${status}): ${msg}`),
  };
}

export function classifyNetworkError(e: unknown, channelName: string): AttemptFailure {
  const code = (e as { code?: string })?.code ?? '';
  const name = (e as { name?: string })?.name ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || name === 'TimeoutError' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return {
      failover: true,
      needsAttention: false,
      breaker: true,
      error: new TallyError('upstream_timeout', `upstream channel "${channelName}" did not answer in time`),
    };
  }
  return {
    failover: true,
    needsAttention: false,
    breaker: true,
    error: new TallyError('upstream_unreachable', `could not reach upstream channel "${channelName}" (${code || name || 'network error'})`),
  };
}
