// Errors are one registry of stable codes (as fastify does with FST_ERR_*).
// Every code is declared here once, with its HTTP status and type; code below
// the HTTP edge throws `new TallyError(code, message, { param, details })` and
// cannot choose another status. The edge writes it in the caller's protocol
// (src/gateway/protocols/<name>/errors.ts; the account API: src/app/errors.ts). Messages say what to fix and never contain a secret.

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

export interface ErrorSpec {
  readonly status: number;
  readonly type: ErrorType;
  /** Whether the same request may succeed if sent again (sets `x-should-retry: false` when not). */
  readonly retryable: boolean;
}

function e(status: number, opts: { type?: ErrorType; retryable?: boolean } = {}): ErrorSpec {
  return { status, type: opts.type ?? defaultType(status), retryable: opts.retryable ?? (status >= 500 || status === 429) };
}

export const ERRORS = {
  // 400: the request is wrong; the message says what to fix
  amount_too_large: e(400),
  amount_too_small: e(400),
  cannot_reverse_reversal: e(400),
  currency_mismatch: e(400),
  illegal_transition: e(400),
  invalid_amount: e(400),
  invalid_base_url: e(400),
  invalid_budget: e(400),
  invalid_channel_type: e(400),
  invalid_count: e(400),
  invalid_currency: e(400),
  invalid_email: e(400),
  invalid_event: e(400),
  invalid_expiry: e(400),
  invalid_field: e(400),
  invalid_format: e(400),
  invalid_group: e(400),
  invalid_idempotency_key: e(400),
  invalid_ip_allowlist: e(400),
  invalid_json: e(400),
  invalid_key_hint: e(400),
  invalid_limit: e(400),
  invalid_max_output: e(400),
  invalid_max_uses: e(400),
  invalid_message: e(400),
  invalid_method: e(400),
  invalid_model: e(400),
  invalid_model_map: e(400),
  invalid_models: e(400),
  invalid_multiplier: e(400),
  invalid_name: e(400),
  invalid_next_review_at: e(400),
  invalid_order_time: e(400),
  invalid_outcome: e(400),
  invalid_payment_config: e(400),
  invalid_payment_rate: e(400),
  invalid_price: e(400),
  invalid_priority: e(400),
  invalid_reason: e(400),
  invalid_reference: e(400),
  invalid_refund_amount: e(400),
  invalid_request: e(400),
  invalid_role: e(400),
  invalid_signature: e(400),
  invalid_status: e(400),
  invalid_time: e(400),
  invalid_timeout: e(400),
  invalid_view: e(400),
  invalid_weight: e(400),
  invalid_webhook_url: e(400),
  json_too_deep: e(400),
  mistyped: e(400),
  no_payment_provider: e(400),
  post_exceeds_hold: e(400),
  previous_response_not_found: e(400),
  prompt_blocked: e(400),
  provider_reference_required: e(400),
  reason_required: e(400),
  reason_too_long: e(400),
  same_account: e(400),
  sandbox_disabled: e(400),
  sandbox_not_enabled: e(400),
  ticket_required: e(400),
  too_long: e(400),
  trade_ambiguous: e(400),
  trade_required: e(400),
  unknown_provider: e(400),
  unsupported_channel_type: e(400),
  unsupported_currency: e(400),
  untranslatable_field: e(400),
  upstream_rejected_request: e(400, { type: 'invalid_request_error' }),
  user_required: e(400),
  weak_password: e(400),
  // 401: who is calling is unknown
  invalid_metrics_token: e(401),
  api_key_expired: e(401),
  api_key_revoked: e(401),
  invalid_admin_token: e(401),
  invalid_api_key: e(401),
  invalid_credentials: e(401),
  missing_api_key: e(401),
  not_signed_in: e(401),
  // 402: the wallet, the key's limit or a budget cannot pay
  budget_exceeded: e(402, { type: 'insufficient_balance' }),
  insufficient_balance: e(402, { type: 'insufficient_balance' }),
  // 403: known caller, not allowed
  account_disabled: e(403),
  approval_required: e(403),
  cross_origin_refused: e(403),
  forbidden: e(403),
  ip_not_allowed: e(403),
  model_not_allowed: e(403),
  self_action_forbidden: e(403),
  self_approval_forbidden: e(403),
  // 404: no such thing (or not yours)
  account_not_found: e(404),
  approval_not_found: e(404),
  batch_not_found: e(404),
  channel_not_found: e(404),
  code_not_found: e(404),
  help_page_not_found: e(404),
  hold_not_found: e(404),
  key_not_found: e(404),
  model_not_found: e(404),
  not_found: e(404),
  order_not_found: e(404),
  redemption_not_found: e(404),
  request_not_found: e(404),
  route_not_found: e(404),
  task_not_found: e(404),
  team_member_not_found: e(404),
  team_not_found: e(404),
  ticket_not_found: e(404),
  trade_not_found: e(404),
  transfer_not_found: e(404),
  user_not_found: e(404),
  // 405
  method_not_allowed: e(405),
  // 409: the state does not allow it now
  already_redeemed: e(409),
  already_redeemed_by_another_account: e(409),
  already_reversed: e(409),
  approval_already_decided: e(409),
  approval_expired: e(409),
  approval_in_progress: e(409),
  channel_exists: e(409),
  disabled: e(409),
  duplicate_already_decided: e(409),
  email_taken: e(409),
  expired: e(409),
  hold_expired: e(409),
  hold_not_pending: e(409),
  idempotency_key_reused: e(409),
  illegal_ticket_transition: e(409),
  last_team_owner: e(409),
  not_a_duplicate: e(409),
  order_changed: e(409, { retryable: true }),
  order_not_cancelable: e(409),
  order_not_refundable: e(409),
  overdraft_in_use: e(409),
  provider_says_not_paid: e(409),
  provider_unavailable: e(409),
  refund_exceeds_balance: e(409),
  refund_in_progress: e(409),
  task_not_cancellable: e(409),
  team_member_exists: e(409),
  team_name_taken: e(409),
  task_not_ready: e(409),
  ticket_changed: e(409),
  ticket_closed: e(409),
  // 413
  body_too_large: e(413),
  upstream_request_too_large: e(413),
  // 415
  unsupported_media_type: e(415),
  // 422
  upstream_unprocessable: e(422),
  // 429: slow down
  rate_limited: e(429, { type: 'rate_limit_error' }),
  upstream_rate_limited: e(429, { type: 'rate_limit_error' }),
  // 499: the client went away
  client_closed_request: e(499, { retryable: false }),
  // 500: our fault
  internal_error: e(500, { type: 'internal_error' }),
  // 502: an upstream or provider failed
  payment_provider_error: e(502, { retryable: true }),
  refund_outcome_unknown: e(502, { retryable: false }),
  upstream_auth_failed: e(502, { type: 'upstream_error' }),
  upstream_error: e(502, { type: 'upstream_error' }),
  upstream_unreachable: e(502, { type: 'upstream_error' }),
  // 503: nothing can serve it now
  model_not_priced: e(503, { type: 'unavailable_error' }),
  no_channel_available: e(503, { type: 'unavailable_error' }),
  upstream_overloaded: e(503, { type: 'unavailable_error' }),
  // 504: an upstream was too slow
  upstream_timeout: e(504, { type: 'timeout_error' }),
  // The operator dashboard, request search and price import (src/ops)
  invalid_stats_range: e(400),
  invalid_stats_grouping: e(400),
  invalid_cursor: e(400),
  invalid_price_catalog: e(400),
  price_catalog_too_large: e(413),
  // Accounts: sign-up, invitations, e-mail verification, passwords (src/accounts/signup.ts and neighbours)
  signup_closed: e(403),
  invite_required: e(403),
  invalid_invite: e(403),
  captcha_failed: e(400),
  common_password: e(400),
  invalid_token: e(400),
  invalid_current_password: e(400),
  email_not_verified: e(403),
  email_already_verified: e(409),
  verification_off: e(409),
  invite_not_found: e(404),
  // Two-factor and OpenID Connect sign-in (src/accounts/twoFactor, src/accounts/oidc.ts)
  invalid_two_factor_code: e(400),
  two_factor_challenge_invalid: e(401),
  two_factor_setup_required: e(403),
  second_factor_required: e(403),
  oidc_email_unverified: e(403),
  oidc_signup_closed: e(403),
  oidc_not_configured: e(404),
  two_factor_already_enabled: e(409),
  two_factor_not_enabled: e(409),
  two_factor_not_started: e(409),
  oidc_link_conflict: e(409),
  oidc_failed: e(502, { type: 'upstream_error', retryable: false }),
  // Sessions and user administration (issue 17 C)
  session_not_found: e(404),
  group_not_found: e(404),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}

export class TallyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: ErrorType;
  readonly param: string | null;
  readonly details: Record<string, unknown> | undefined;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: { param?: string | null; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause ? { cause: opts.cause } : undefined);
    const spec: ErrorSpec = ERRORS[code];
    this.name = 'TallyError';
    this.code = code;
    this.status = spec.status;
    this.type = spec.type;
    this.retryable = spec.retryable;
    this.param = opts.param ?? null;
    this.details = opts.details;
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

/** The registry as a Markdown table (README "Error codes"; `tally admin errors`). */
export function errorTableMarkdown(): string {
  const rows = (Object.entries(ERRORS) as Array<[string, ErrorSpec]>).sort(([a, x], [b, y]) => x.status - y.status || a.localeCompare(b));
  return [
    '| code | HTTP | type | retry |',
    '|---|---|---|---|',
    ...rows.map(([c, s]) => `| \`${c}\` | ${s.status} | ${s.type} | ${s.retryable ? 'yes' : 'no'} |`),
  ].join('\n');
}

export function isTallyError(e: unknown): e is TallyError {
  return e instanceof TallyError;
}
