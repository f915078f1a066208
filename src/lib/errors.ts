// Errors are a registry of stable codes (as fastify does with FST_ERR_*).
// Code below the HTTP edge throws TallyError; the edge maps it to the caller's
// protocol (OpenAI, Anthropic or the account API's shape). Messages say what
// to fix and never contain a secret.

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'conflict_error'
  | 'insufficient_balance'
  | 'rate_limit_error'
  | 'upstream_error'
  | 'unavailable_error'
  | 'timeout_error'
  | 'internal_error';

export class TallyError extends Error {
  readonly code: string;
  readonly status: number;
  readonly type: ErrorType;
  readonly param: string | null;
  readonly details: Record<string, unknown> | undefined;
  readonly retryable: boolean;

  constructor(
    code: string,
    message: string,
    opts: { status?: number; type?: ErrorType; param?: string | null; details?: Record<string, unknown>; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, opts.cause ? { cause: opts.cause } : undefined);
    this.name = 'TallyError';
    this.code = code;
    this.status = opts.status ?? 400;
    this.type = opts.type ?? defaultType(this.status);
    this.param = opts.param ?? null;
    this.details = opts.details;
    this.retryable = opts.retryable ?? (this.status >= 500 || this.status === 429);
  }
}

function defaultType(status: number): ErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 402) return 'insufficient_balance';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 409) return 'conflict_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 502) return 'upstream_error';
  if (status === 503) return 'unavailable_error';
  if (status === 504) return 'timeout_error';
  if (status >= 500) return 'internal_error';
  return 'invalid_request_error';
}

export function isTallyError(e: unknown): e is TallyError {
  return e instanceof TallyError;
}

export const invalid = (code: string, message: string, param?: string) =>
  new TallyError(code, message, { status: 400, param: param ?? null, retryable: false });
export const notFound = (code: string, message: string) => new TallyError(code, message, { status: 404, retryable: false });
export const conflict = (code: string, message: string, details?: Record<string, unknown>) =>
  new TallyError(code, message, { status: 409, details, retryable: false });
