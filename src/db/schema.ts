import type { Generated } from 'kysely';

// Column types as stored. Integers come back as bigint from both databases
// (better-sqlite3 safeIntegers, pg int8 parser); times are epoch milliseconds;
// booleans are 0/1 integers on both. Repositories normalise rows with toBig/toNum.
type Int = bigint | number;

export interface LedgerAccountsTable {
  id: string; // 'user:<userId>' for wallets, 'system:<name>' for system accounts
  type: 'wallet' | 'system';
  user_id: string | null;
  name: string;
  currency: string;
  balance: Int; // posted: credits - debits
  pending_debits: Int; // sum of pending holds debiting this account
  overdraft_limit: Int | null; // null = may go negative without limit (system accounts)
  created_at: Int;
}

export interface LedgerTransfersTable {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: Int;
  kind: string;
  reference: string | null;
  idempotency_key: string;
  hold_id: string | null;
  reverses_transfer_id: string | null;
  debit_balance_after: Int;
  credit_balance_after: Int;
  metadata: string | null; // JSON
  created_at: Int;
}

export interface LedgerHoldsTable {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: Int;
  kind: string;
  reference: string | null;
  idempotency_key: string;
  status: 'pending' | 'posted' | 'voided' | 'expired';
  posted_amount: Int | null;
  transfer_id: string | null;
  expires_at: Int;
  created_at: Int;
  resolved_at: Int | null;
  metadata: string | null;
}

export interface UsersTable {
  id: string;
  email: string;
  email_normalized: string;
  nickname: string;
  password_hash: string;
  role: 'user' | 'support' | 'admin';
  status: 'active' | 'disabled';
  group_name: string;
  created_at: Int;
  /** Requests per minute, tokens per minute, requests in flight: null = not set here (src/gateway/limits.ts). */
  rpm: Generated<number | null>;
  tpm: Generated<Int | null>;
  concurrency: Generated<number | null>;
  /** When the owner proved the mailbox; null: not yet (0021_accounts). */
  email_verified_at: Generated<Int | null>;
  /** The language of account mails, 'en' or 'zh'; null: English. */
  language: Generated<string | null>;
  /** Set while staff have the account disabled (0023); the audit log keeps the history. */
  disabled_at: Generated<Int | null>;
  disabled_reason: Generated<string | null>;
}

export interface SessionsTable {
  id: string;
  token_hash: string;
  user_id: string;
  ip: string | null;
  user_agent: string | null;
  created_at: Int;
  expires_at: Int;
  revoked_at: Int | null;
  /** When this session last proved a second factor (0022_two_factor); null: never. */
  two_factor_at: Generated<Int | null>;
  /** Last use, written at most once a minute (0023); null: not used since it was opened. */
  last_seen_at: Generated<Int | null>;
}

export interface ApiKeysTable {
  id: string;
  user_id: string;
  name: string;
  key_hash: string;
  display: string;
  label: 'live' | 'test';
  status: 'active' | 'revoked';
  expires_at: Int | null;
  spend_limit: Int | null;
  spent: Int;
  models: string | null; // JSON array, null = all the group allows
  ip_allowlist: string | null; // JSON array of CIDRs, null = any
  created_at: Int;
  revoked_at: Int | null;
  last_used_at: Int | null;
  /** Requests per minute, tokens per minute, requests in flight: null = not set here (src/gateway/limits.ts). */
  rpm: Generated<number | null>;
  tpm: Generated<Int | null>;
  concurrency: Generated<number | null>;
  /** A budget: this much per budget_period ('day' | 'week' | 'month' | 'total'); null = none. */
  budget: Generated<Int | null>;
  budget_period: Generated<BudgetPeriod | null>;
  /** A team key spends the team's wallet (teams.wallet_account_id), not its user's. */
  team_id: Generated<string | null>;
}

export interface AuditLogTable {
  id: string;
  actor: string; // 'user:<id>' | 'admin_token' | 'cli' | 'system'
  action: string;
  target: string | null;
  reason: string | null;
  data: string | null; // JSON, secrets stripped
  before_state: string | null; // JSON snapshot before the action (0005)
  after_state: string | null; // JSON snapshot after the action (0005)
  created_at: Int;
}

export interface SettingsTable {
  key: string;
  value: string;
  updated_at: Int;
}

export interface ChannelsTable {
  id: string;
  name: string;
  type: 'openai' | 'anthropic' | 'gemini' | 'azure' | 'demo';
  base_url: string;
  api_key_enc: string | null;
  models: string;
  model_map: string | null;
  priority: Int;
  weight: Int;
  connect_timeout_ms: Int;
  first_byte_timeout_ms: Int;
  total_timeout_ms: Int;
  /** Azure OpenAI: the api-version sent with every request; null for other types. */
  api_version: string | null;
  /** Several upstream keys: all of them, encrypted as one JSON array (api_key_enc keeps the first); null: one key or none. */
  api_keys_enc: string | null;
  /** JSON array of the indexes of keys an upstream refused (401/403), out of rotation; null: none. */
  keys_attention: string | null;
  /** 1: an openai channel whose upstream also speaks the Responses API natively (Responses callers pass through); 0: chat only. */
  responses_api: Int;
  status: 'enabled' | 'disabled' | 'needs_attention';
  status_reason: string | null;
  created_at: Int;
  updated_at: Int;
  /** 1: probes enable the channel again after consecutive healthy probes when it was auto_disabled (0024). */
  auto_recover: Generated<Int>;
  /** 1: a probe or the relay took it out of rotation (needs_attention), not an operator. */
  auto_disabled: Generated<Int>;
  probe_ok_streak: Generated<Int>;
  /** The probe interval this channel was last claimed for (one instance probes it per interval). */
  probe_slot: Int | null;
}

export interface ModelPricesTable {
  model: string;
  kind: 'chat' | 'embedding' | 'image' | 'speech' | 'transcription' | 'video';
  input_per_1m: Int;
  output_per_1m: Int;
  cached_input_per_1m: Int | null;
  /** A 5-minute prompt-cache write; null: billed at the input price. */
  cache_write_per_1m: Int | null;
  /** A 1-hour prompt-cache write; null: billed at the input price. */
  cache_write_1h_per_1m: Int | null;
  /** The long-context tier: above this many prompt tokens the tier prices apply to the whole request; null: no tier. */
  tier_above: Int | null;
  tier_input_per_1m: Int | null;
  tier_output_per_1m: Int | null;
  /** Media prices (0015): per image returned (and per size, JSON), per second of audio, per request; null: not priced that way. */
  per_image: Int | null;
  per_image_sizes: string | null;
  per_second: Int | null;
  per_request: Int | null;
  /** The most audio seconds a per-second request is held for when the file's length cannot be read. */
  max_seconds: Int | null;
  max_output_tokens: Int;
  updated_at: Int;
  /** What the operator pays upstream per 1M tokens (0025, the dashboard's margin); null: unknown. */
  upstream_input_per_1m: Generated<Int | null>;
  upstream_output_per_1m: Generated<Int | null>;
  upstream_cached_input_per_1m: Generated<Int | null>;
}

export interface GroupsTable {
  name: string;
  multiplier_ppm: Int;
  models: string | null;
  created_at: Int;
  updated_at: Int;
  /** Requests per minute, tokens per minute, requests in flight: null = not set here (src/gateway/limits.ts). */
  rpm: Generated<number | null>;
  tpm: Generated<Int | null>;
  concurrency: Generated<number | null>;
}

export interface RequestLogsTable {
  id: string;
  user_id: string | null;
  key_id: string | null;
  key_display: string | null;
  group_name: string | null;
  endpoint: string;
  model: string | null;
  upstream_model: string | null;
  channel_id: string | null;
  attempts: Int;
  stream: Int;
  status: Int;
  error_code: string | null;
  error_message: string | null;
  prompt_tokens: Int;
  completion_tokens: Int;
  cached_tokens: Int;
  /** Prompt tokens written to a 5-minute prompt cache (part of prompt_tokens). */
  cache_write_tokens: Int;
  /** Prompt tokens written to a 1-hour prompt cache (part of prompt_tokens). */
  cache_write_1h_tokens: Int;
  /** Output tokens the provider reported apart from completion_tokens (Gemini thoughts); billed as output. */
  reasoning_tokens: Int;
  /** Input tokens the provider reported apart from prompt_tokens (Gemini tool-use prompt); billed as input. */
  tool_use_prompt_tokens: Int;
  /** The media unit billed ('image', 'audio_ms', 'character', 'request'), or null; and how many (0015). */
  media_unit: string | null;
  media_units: Int;
  usage_source: string | null;
  held: Int;
  cost: Int;
  charged_amount: Int;
  uncollected: Int;
  charged: Int;
  charge_reason: string;
  transfer_id: string | null;
  pricing: string | null;
  latency_ms: Int | null;
  ttfb_ms: Int | null;
  client_ip: string | null;
  created_at: Int;
}

export interface RedeemBatchesTable {
  id: string;
  name: string | null;
  amount: Int; // micro-units per redemption
  currency: string;
  max_uses: Int; // per code
  code_count: Int;
  expires_at: Int | null;
  status: 'active' | 'disabled';
  created_by: string; // actor label
  created_at: Int;
  disabled_at: Int | null;
  disabled_reason: string | null;
}

export interface RedeemCodesTable {
  id: string;
  batch_id: string;
  code_hash: string; // HMAC-SHA256(TALLY_SECRET, normalised code); the plaintext is never stored
  display: string; // TALLY-****-****-****-****-XXXX
  max_uses: Int;
  uses: Int;
  status: 'active' | 'disabled';
  created_at: Int;
  disabled_at: Int | null;
  disabled_reason: string | null;
}

export interface RedeemRedemptionsTable {
  id: string;
  code_id: string;
  batch_id: string;
  user_id: string;
  amount: Int;
  transfer_id: string;
  status: 'credited' | 'reversed';
  created_at: Int;
  reversed_at: Int | null;
  reversal_transfer_id: string | null;
  reversal_reason: string | null;
}

export interface RedeemAttemptsTable {
  id: string;
  user_id: string | null;
  ip: string | null;
  code_display: string; // masked
  code_id: string | null;
  outcome: string;
  created_at: Int;
  times: Generated<number>; // refused attempts folded into this row (rate_limited); 1 otherwise
  last_at: Int | null; // the latest of them
  fold_key: string | null; // rate_limited rows: account + window, unique
}

export interface PaymentOrdersTable {
  id: string;
  user_id: string;
  provider: string;
  method: string | null;
  status: string;
  amount: Int;
  currency: string;
  credit_amount: Int;
  credit_currency: string;
  exchange_rate: string;
  provider_ref: string | null;
  provider_trade_id: string | null;
  checkout_url: string | null;
  status_reason: string | null;
  refunded_amount: Int;
  refunded_credit: Int;
  credit_transfer_id: string | null;
  possible_duplicate_of: string | null;
  expires_at: Int;
  paid_at: Int | null;
  credited_at: Int | null;
  next_check_at: Int | null;
  check_attempts: Int;
  lease_owner: string | null;
  lease_until: Int | null;
  created_at: Int;
  updated_at: Int;
  /** An order that funds a team (0018): credited to `team:<id>`, refunded from it. Null: the payer's wallet. */
  team_id: Generated<string | null>;
}

export interface PaymentOrderEventsTable {
  id: string;
  order_id: string;
  kind: 'transition' | 'refused' | 'note';
  from_status: string | null;
  to_status: string | null;
  source: string;
  reason: string | null;
  payload: string | null; // JSON, secrets stripped
  created_at: Int;
}

export interface PaymentTradesTable {
  id: string;
  provider: string;
  trade_id: string;
  order_id: string;
  amount: Int;
  currency: string;
  outcome: 'credited' | 'duplicate_payment' | 'flagged';
  decision: string | null;
  created_at: Int;
}

export interface PaymentRefundsTable {
  id: string;
  order_id: string;
  amount: Int;
  credit_amount: Int;
  from_wallet: Int;
  uncollected: Int;
  reason: string;
  note: string | null;
  origin: 'support' | 'provider' | 'dispute' | 'duplicate';
  status: 'pending' | 'succeeded' | 'manual' | 'failed' | 'reversed';
  provider_refund_id: string | null;
  forced: Int;
  actor: string;
  created_at: Int;
  updated_at: Int;
}

export interface PaymentProviderEventsTable {
  id: string;
  provider: string;
  type: string;
  order_id: string | null;
  received_at: Int;
}

export interface PaymentSandboxTradesTable {
  id: string;
  order_id: string;
  state: 'paid' | 'failed';
  amount: Int;
  currency: string;
  created_at: Int;
}

export interface SupportTicketsTable {
  id: string;
  user_id: string;
  subject: string;
  status: 'open' | 'waiting_on_user' | 'waiting_on_support' | 'resolved' | 'closed';
  fields: string; // JSON, redacted
  diagnosis: string | null; // JSON
  redactions: string | null; // JSON
  assignee: string | null;
  created_at: Int;
  updated_at: Int;
  resolved_at: Int | null;
  closed_at: Int | null;
}

export interface SupportTicketMessagesTable {
  id: string;
  ticket_id: string;
  author: string;
  author_role: 'user' | 'support';
  body: string;
  redactions: string | null;
  created_at: Int;
}

export interface SupportHandoffNotesTable {
  id: string;
  ticket_id: string;
  owner: string;
  environment: string | null;
  capability: string | null;
  last_known_good: string | null;
  observed_symptom: string | null;
  evidence_collected: string | null;
  next_review_at: Int | null;
  author: string;
  created_at: Int;
}

export interface SupportApprovalsTable {
  id: string;
  action: string;
  target: string;
  target_user_id: string;
  value: Int;
  params: string; // JSON
  reason: string;
  request_key: string | null;
  status: 'pending' | 'approved' | 'executed' | 'failed' | 'rejected' | 'expired';
  requested_by: string;
  requested_by_user_id: string | null;
  decided_by: string | null;
  decided_by_user_id: string | null;
  decision_reason: string | null;
  result: string | null; // JSON
  created_at: Int;
  expires_at: Int;
  decided_at: Int | null;
  updated_at: Int;
}

/** A response a Responses-native upstream stored: which channel holds it, whose it is (src/gateway/responsePins.ts). */
export interface ResponsePinsTable {
  response_id: string;
  channel_id: string;
  /** Which of the channel's keys created it: its fingerprint (catalog.ts keyRefOf), never the key. */
  key_ref: string;
  user_id: string;
  created_at: Int;
}

/** Where an asynchronous task is: live (submitting, queued, in_progress) or ended (the rest). */
export type TaskStatus = 'submitting' | 'queued' | 'in_progress' | 'completed' | 'failed' | 'cancelled' | 'expired';

/** An asynchronous task (a video) and its money (src/gateway/tasks/). */
export interface TasksTable {
  id: string;
  kind: 'video';
  user_id: string;
  key_id: string;
  key_display: string;
  group_name: string;
  model: string;
  upstream_model: string;
  channel_id: string;
  /** Which of the channel's keys submitted it (catalog.ts keyRefOf): polls and downloads use the same key. */
  key_ref: string;
  /** The upstream's id for the task; never shown to the user. Null until the upstream accepted it. */
  upstream_id: string | null;
  status: TaskStatus;
  progress: number;
  seconds: number;
  size: string | null;
  prompt: string | null;
  /** The task whose video this one remixes, or null. */
  remix_of: string | null;
  hold_id: string;
  held: Int;
  charged: Int;
  transfer_id: string | null;
  pricing: string;
  error_code: string | null;
  error_message: string | null;
  request_id: string;
  polls: number;
  next_poll_at: Int;
  lease_owner: string | null;
  lease_until: Int | null;
  deadline_at: Int;
  created_at: Int;
  updated_at: Int;
  finished_at: Int | null;
  deleted_at: Int | null;
  /** The budgets and periods its hold counted in (JSON [{ref, periodKey}]), or null (0019_budgets). */
  budgets: Generated<string | null>;
  /** The wallet its hold is on (0018): a team key's task holds the team wallet. Null: the user's (rows from before). */
  wallet_account_id: Generated<string | null>;
}

/** A task's timeline: what happened to it and to its money, in order. */
export interface TaskEventsTable {
  id: string;
  task_id: string;
  type: string;
  status: string | null;
  detail: string | null;
  instance: string | null;
  created_at: Int;
}

export type BudgetPeriod = 'day' | 'week' | 'month' | 'total';

export interface TeamsTable {
  id: string;
  name: string;
  name_normalized: string;
  owner_user_id: string;
  /** `team:<id>`: the ledger account team keys spend and top-ups to the team fund. */
  wallet_account_id: string;
  status: 'active' | 'deleted';
  created_at: Int;
  updated_at: Int;
}

export interface TeamMembersTable {
  id: string;
  team_id: string;
  email_normalized: string;
  /** Set once the invited address belongs to an account. */
  user_id: string | null;
  role: 'owner' | 'admin' | 'member';
  budget: Int | null;
  budget_period: BudgetPeriod | null;
  status: 'invited' | 'active' | 'removed';
  invited_by: string | null;
  created_at: Int;
  updated_at: Int;
}

/** What a budget spent in one period: budget_ref `key:<id>` or `member:<team>:<user>`, period_key `2026-12-01` / `2026-W49` / `2026-12` / `total`. */
export interface BudgetSpendTable {
  budget_ref: string;
  period_key: string;
  spent: Int;
  updated_at: Int;
}

/** Alert thresholds of a user (`user:<id>`) or team (`team:<id>`). */
export interface AlertSettingsTable {
  owner_ref: string;
  balance_below: Int | null;
  email: number;
  webhook_url: string | null;
  /** The language of alert e-mails: 'en' | 'zh' (null: en). Migration 0020. */
  language: string | null;
  updated_at: Int;
}

/** The last state of one alert (e.g. `balance:user:<id>` below/above), so it fires once per crossing. */
export interface AlertStateTable {
  subject: string;
  state: string;
  updated_at: Int;
}

/** Alerts to deliver (e-mail or webhook), retried with backoff. */
export interface AlertOutboxTable {
  id: string;
  owner_ref: string;
  channel: 'email' | 'webhook';
  target: string;
  kind: string;
  payload: string;
  status: 'pending' | 'sent' | 'failed';
  attempts: number;
  next_attempt_at: Int;
  last_error: string | null;
  created_at: Int;
  sent_at: Int | null;
}

export interface Database {
  ledger_accounts: LedgerAccountsTable;
  ledger_transfers: LedgerTransfersTable;
  ledger_holds: LedgerHoldsTable;
  users: UsersTable;
  sessions: SessionsTable;
  api_keys: ApiKeysTable;
  audit_log: AuditLogTable;
  settings: SettingsTable;
  channels: ChannelsTable;
  model_prices: ModelPricesTable;
  groups: GroupsTable;
  request_logs: RequestLogsTable;
  redeem_batches: RedeemBatchesTable;
  redeem_codes: RedeemCodesTable;
  redeem_redemptions: RedeemRedemptionsTable;
  redeem_attempts: RedeemAttemptsTable;
  payment_orders: PaymentOrdersTable;
  payment_order_events: PaymentOrderEventsTable;
  payment_trades: PaymentTradesTable;
  payment_refunds: PaymentRefundsTable;
  payment_provider_events: PaymentProviderEventsTable;
  payment_sandbox_trades: PaymentSandboxTradesTable;
  support_tickets: SupportTicketsTable;
  support_ticket_messages: SupportTicketMessagesTable;
  support_handoff_notes: SupportHandoffNotesTable;
  support_approvals: SupportApprovalsTable;
  response_pins: ResponsePinsTable;
  tasks: TasksTable;
  task_events: TaskEventsTable;
  teams: TeamsTable;
  team_members: TeamMembersTable;
  budget_spend: BudgetSpendTable;
  alert_settings: AlertSettingsTable;
  alert_state: AlertStateTable;
  alert_outbox: AlertOutboxTable;
  account_tokens: AccountTokensTable;
  signup_invites: SignupInvitesTable;
  two_factor: TwoFactorTable;
  two_factor_recovery_codes: TwoFactorRecoveryCodesTable;
  two_factor_challenges: TwoFactorChallengesTable;
  oidc_links: OidcLinksTable;
  channel_probes: ChannelProbesTable;
}

/** E-mail verification and password reset links (src/accounts/emailTokens.ts): only the token's sha256 is kept. */
export interface AccountTokensTable {
  id: string;
  purpose: 'verify' | 'reset';
  token_hash: string;
  user_id: string;
  /** The address the link was sent to: a verification counts only while the account still has it. */
  email_normalized: string;
  created_at: Int;
  expires_at: Int;
  used_at: Int | null;
}

/** An admin's single-use sign-up links (src/accounts/signupInvites.ts). */
export interface SignupInvitesTable {
  id: string;
  token_hash: string;
  /** Only this address may use it; null: any. */
  email_normalized: string | null;
  role: 'user';
  group_name: string | null;
  created_by: string;
  created_at: Int;
  expires_at: Int;
  used_at: Int | null;
  used_by: string | null;
  revoked_at: Int | null;
}

// Two-factor and OpenID Connect (0022_two_factor; src/accounts/twoFactor, src/accounts/oidc.ts).
export interface TwoFactorTable {
  user_id: string;
  /** The TOTP secret, encrypted with TALLY_SECRET. */
  secret_enc: string;
  /** null: set up but not confirmed with a code yet. */
  enabled_at: Int | null;
  /** The last TOTP time step accepted (replays are refused). */
  last_step: Int | null;
  created_at: Int;
}

export interface TwoFactorRecoveryCodesTable {
  id: string;
  user_id: string;
  code_hash: string;
  used_at: Int | null;
  created_at: Int;
}

export interface TwoFactorChallengesTable {
  id: string;
  token_hash: string;
  user_id: string;
  attempts: Generated<number>;
  created_at: Int;
  expires_at: Int;
  used_at: Int | null;
}

export interface OidcLinksTable {
  issuer: string;
  subject: string;
  user_id: string;
  created_at: Int;
}

/** One channel probe (src/ops/probes.ts): a tiny real request outside billing. */
export interface ChannelProbesTable {
  id: string;
  channel_id: string;
  model: string;
  ok: Int;
  status: Int;
  latency_ms: Int;
  /** auth | quota | rate_limited | upstream_error | unreachable | rejected; null when ok. */
  error_class: string | null;
  /** The upstream's message, secrets masked, at most 300 characters. */
  error_message: string | null;
  created_at: Int;
}

// Generated is re-exported for modules that add tables with defaults.
export type { Generated };
