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
}

export interface AuditLogTable {
  id: string;
  actor: string; // 'user:<id>' | 'admin_token' | 'cli' | 'system'
  action: string;
  target: string | null;
  reason: string | null;
  data: string | null; // JSON, secrets stripped
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
  type: 'openai' | 'anthropic' | 'gemini' | 'demo';
  base_url: string;
  api_key_enc: string | null;
  models: string;
  model_map: string | null;
  priority: Int;
  weight: Int;
  connect_timeout_ms: Int;
  first_byte_timeout_ms: Int;
  total_timeout_ms: Int;
  status: 'enabled' | 'disabled' | 'needs_attention';
  status_reason: string | null;
  created_at: Int;
  updated_at: Int;
}

export interface ModelPricesTable {
  model: string;
  kind: 'chat' | 'embedding';
  input_per_1m: Int;
  output_per_1m: Int;
  cached_input_per_1m: Int | null;
  max_output_tokens: Int;
  updated_at: Int;
}

export interface GroupsTable {
  name: string;
  multiplier_ppm: Int;
  models: string | null;
  created_at: Int;
  updated_at: Int;
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
}

// Generated is re-exported for modules that add tables with defaults.
export type { Generated };
