import type { Selectable } from 'kysely';
import type { BudgetPeriod, ApiKeysTable } from '../db/schema.ts';
import { BlockList, isIP } from 'node:net';
import { sql } from 'kysely';
import type { DbOrTx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { TallyError } from '../lib/errors.ts';
import { randomBase62, sha256Hex } from '../lib/crypto.ts';
import { toBig } from '../ledger/money.ts';

// API keys: `sk-` + 48 base62 characters (~285 bits). Stored as sha256 (a
// key is already high-entropy, so a slow hash buys nothing and would cost the
// hot path); shown once at creation; afterwards only `sk-…last4`.
export const KEY_PREFIX = 'sk-';
const KEY_BODY = 48;

export interface ApiKey {
  id: string;
  userId: string;
  name: string;
  display: string;
  label: 'live' | 'test';
  status: 'active' | 'revoked';
  expiresAt: number | null;
  spendLimit: bigint | null;
  spent: bigint;
  models: string[] | null;
  ipAllowlist: string[] | null;
  createdAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
  /** Its own limits (src/gateway/limits.ts: the most specific set limit wins). */
  limits: Limits;
  /** Its budget per period, or null (src/gateway/budgets.ts). */
  budget: bigint | null;
  budgetPeriod: BudgetPeriod | null;
  /** Set for a team key: it spends the team's wallet. */
  teamId: string | null;
}

export function rowToApiKey(r: Selectable<ApiKeysTable>): ApiKey {
  return {
    id: r.id,
    userId: r.user_id,
    name: r.name,
    display: r.display,
    label: r.label,
    status: r.status,
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    spendLimit: r.spend_limit === null ? null : toBig(r.spend_limit),
    spent: toBig(r.spent),
    models: r.models ? JSON.parse(r.models) : null,
    ipAllowlist: r.ip_allowlist ? JSON.parse(r.ip_allowlist) : null,
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
    limits: limitsOf(r),
    budget: r.budget === null || r.budget === undefined ? null : toBig(r.budget),
    budgetPeriod: r.budget_period ?? null,
    teamId: r.team_id ?? null,
  };
}

/** Requests per minute, tokens per minute and requests in flight as stored on a key, user or group (null: not set there). */
export interface Limits {
  rpm: number | null;
  tpm: number | null;
  concurrency: number | null;
}

/** The largest value each limit takes (a larger one is surely a mistake). */
const LIMIT_MAX = { rpm: 1_000_000, tpm: 1_000_000_000_000, concurrency: 100_000 } as const;

/** Checks limits given by a caller: each a whole number from 1 up, or null (not set). */
export function checkLimits(l: Partial<Limits>): Partial<Limits> {
  for (const k of ['rpm', 'tpm', 'concurrency'] as const) {
    const v = l[k];
    if (v === undefined || v === null) continue;
    if (!Number.isSafeInteger(v) || v < 1 || v > LIMIT_MAX[k])
      throw new TallyError('invalid_limit', `${k} must be a whole number from 1 to ${LIMIT_MAX[k]} (or null for no limit of its own)`, { param: k });
  }
  return l;
}

/** Sets (or clears, with null) a key's own limits; fields left undefined keep their value. */
export async function setKeyLimits(db: DbOrTx, keyId: string, limits: Partial<Limits>): Promise<ApiKey> {
  checkLimits(limits);
  const set: Record<string, number | null> = {};
  for (const k of ['rpm', 'tpm', 'concurrency'] as const) if (limits[k] !== undefined) set[k] = limits[k];
  if (Object.keys(set).length) await db.updateTable('api_keys').set(set).where('id', '=', keyId).execute();
  const r = await db.selectFrom('api_keys').selectAll().where('id', '=', keyId).executeTakeFirst();
  if (!r) throw new TallyError('key_not_found', `no API key ${keyId}`);
  return rowToApiKey(r);
}

export function limitsOf(r: { rpm?: unknown; tpm?: unknown; concurrency?: unknown }): Limits {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return { rpm: n(r.rpm), tpm: n(r.tpm), concurrency: n(r.concurrency) };
}

export const hashApiKey = (key: string) => sha256Hex(key);
export const displayKey = (key: string) => `${KEY_PREFIX}…${key.slice(-4)}`;
export const looksLikeApiKey = (s: string) => s.startsWith(KEY_PREFIX) && s.length >= 20 && s.length <= 200;

export interface CreateKeyInput {
  userId: string;
  name?: string;
  label?: 'live' | 'test';
  expiresAt?: number | null;
  spendLimit?: bigint | null;
  models?: string[] | null;
  ipAllowlist?: string[] | null;
  /** Its own requests per minute, tokens per minute and requests in flight (unset: the user's or group's, if any). */
  limits?: Partial<Limits>;
  /** A budget per period (src/gateway/budgets.ts): both set, or neither. */
  budget?: bigint | null;
  budgetPeriod?: BudgetPeriod | null;
  /** A team key (spends the team wallet); the caller checked the user is an active member (src/teams). */
  teamId?: string | null;
}

/** A budget and its period: both or neither, the amount above zero. */
function checkBudget(budget: bigint | null | undefined, period: BudgetPeriod | null | undefined): { budget: bigint | null; period: BudgetPeriod | null } {
  const b = budget ?? null;
  const p = period ?? null;
  if (b === null && p === null) return { budget: null, period: null };
  if (b === null) throw new TallyError('invalid_budget', 'a budget period needs a budget amount (budget, e.g. "5.00")', { param: 'budget' });
  if (p === null) throw new TallyError('invalid_budget', 'a budget needs a period: budget_period day, week, month or total', { param: 'budget_period' });
  if (b <= 0n) throw new TallyError('invalid_budget', 'a budget must be greater than zero', { param: 'budget' });
  return { budget: b, period: p };
}

export function parseCidr(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const parts = entry.trim().split('/');
  const [address, p] = parts;
  const v = isIP(address);
  if (!v || parts.length > 2) throw new TallyError('invalid_ip_allowlist', `"${entry}" is not an IP address or CIDR range`, { param: 'ip_allowlist' });
  const max = v === 4 ? 32 : 128;
  // "10.0.0.0/" must not read as /0 (allow everyone): the prefix is digits or absent.
  if (p !== undefined && !/^\d{1,3}$/.test(p))
    throw new TallyError('invalid_ip_allowlist', `"${entry}" has an invalid prefix length`, { param: 'ip_allowlist' });
  const prefix = p === undefined ? max : Number(p);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max)
    throw new TallyError('invalid_ip_allowlist', `"${entry}" has an invalid prefix length`, { param: 'ip_allowlist' });
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

export function buildIpAllowlist(entries: string[]): BlockList {
  const list = new BlockList();
  for (const e of entries) {
    const c = parseCidr(e);
    list.addSubnet(c.address, c.prefix, c.family);
  }
  return list;
}

export function ipAllowed(list: BlockList, ip: string): boolean {
  const addr = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  const v = isIP(addr);
  if (!v) return false;
  return list.check(addr, v === 4 ? 'ipv4' : 'ipv6');
}

export async function createApiKey(db: DbOrTx, input: CreateKeyInput, now = Date.now()): Promise<{ key: ApiKey; secret: string }> {
  const name = (input.name ?? 'default').trim();
  if (!name || name.length > 100) throw new TallyError('invalid_name', 'key name must be 1 to 100 characters', { param: 'name' });
  if (input.expiresAt !== undefined && input.expiresAt !== null && (!Number.isFinite(input.expiresAt) || input.expiresAt <= now)) {
    throw new TallyError('invalid_expiry', 'expiry must be a time in the future', { param: 'expires_at' });
  }
  if (input.spendLimit !== undefined && input.spendLimit !== null && input.spendLimit <= 0n)
    throw new TallyError('invalid_limit', 'spend limit must be greater than zero', { param: 'limit' });
  if (input.models) {
    if (!Array.isArray(input.models) || input.models.some((m) => typeof m !== 'string' || !m.trim()))
      throw new TallyError('invalid_models', 'models must be a list of model names', { param: 'models' });
  }
  if (input.ipAllowlist) buildIpAllowlist(input.ipAllowlist);
  const budget = checkBudget(input.budget, input.budgetPeriod);
  const secret = KEY_PREFIX + randomBase62(KEY_BODY);
  const row = {
    id: newId('key'),
    user_id: input.userId,
    name,
    key_hash: hashApiKey(secret),
    display: displayKey(secret),
    label: input.label ?? 'live',
    status: 'active' as const,
    expires_at: input.expiresAt ?? null,
    spend_limit: input.spendLimit ?? null,
    spent: 0n,
    models: input.models ? JSON.stringify(input.models.map((m) => m.trim())) : null,
    ip_allowlist: input.ipAllowlist?.length ? JSON.stringify(input.ipAllowlist) : null,
    created_at: now,
    revoked_at: null,
    last_used_at: null,
    rpm: checkLimits(input.limits ?? {}).rpm ?? null,
    tpm: input.limits?.tpm ?? null,
    concurrency: input.limits?.concurrency ?? null,
    budget: budget.budget,
    budget_period: budget.period,
    team_id: input.teamId ?? null,
  };
  await db.insertInto('api_keys').values(row).execute();
  return { key: rowToApiKey(row), secret };
}

export async function listApiKeys(db: DbOrTx, userId: string): Promise<ApiKey[]> {
  const rows = await db.selectFrom('api_keys').selectAll().where('user_id', '=', userId).orderBy('id', 'desc').execute();
  return rows.map(rowToApiKey);
}

export async function findApiKeyByHash(db: DbOrTx, hash: string): Promise<ApiKey | null> {
  const r = await db.selectFrom('api_keys').selectAll().where('key_hash', '=', hash).executeTakeFirst();
  return r ? rowToApiKey(r) : null;
}

/** Revokes a key of this user. Returns its hash so the caller can drop it from caches. */
export async function revokeApiKey(db: DbOrTx, input: { userId: string; keyId: string; now?: number }): Promise<{ key: ApiKey; hash: string }> {
  const now = input.now ?? Date.now();
  const r = await db
    .updateTable('api_keys')
    .set({ status: 'revoked', revoked_at: sql`coalesce(revoked_at, ${now})` })
    .where('id', '=', input.keyId)
    .where('user_id', '=', input.userId)
    .returningAll()
    .executeTakeFirst();
  // Another user's key id answers exactly like a missing one.
  if (!r) throw new TallyError('key_not_found', `no API key ${input.keyId} on this account`);
  return { key: rowToApiKey(r), hash: r.key_hash };
}

/**
 * Sets (or, with nulls, removes) a key's budget. What it spent in the current
 * period stays counted: a new amount applies to the same period. The caller
 * tells the reservation book (forgetBudget) and the key caches.
 */
export async function setKeyBudget(
  db: DbOrTx,
  input: { userId: string | null; keyId: string; budget: bigint | null; budgetPeriod: BudgetPeriod | null },
): Promise<{ key: ApiKey; hash: string }> {
  const b = checkBudget(input.budget, input.budgetPeriod);
  let q = db.updateTable('api_keys').set({ budget: b.budget, budget_period: b.period }).where('id', '=', input.keyId);
  if (input.userId !== null) q = q.where('user_id', '=', input.userId);
  const r = await q.returningAll().executeTakeFirst();
  if (!r) throw new TallyError('key_not_found', `no API key ${input.keyId}${input.userId !== null ? ' on this account' : ''}`);
  return { key: rowToApiKey(r), hash: r.key_hash };
}

/** Adds settled spend to a key (used by the relay's settlement, in its transaction). */
export async function addKeySpend(db: DbOrTx, keyId: string, amount: bigint, now = Date.now()): Promise<void> {
  if (amount <= 0n) return;
  await db
    .updateTable('api_keys')
    .set({ spent: sql`spent + ${amount}`, last_used_at: now })
    .where('id', '=', keyId)
    .execute();
}
