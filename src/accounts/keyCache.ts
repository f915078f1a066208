import { walletAccountId } from '../ledger/accounts.ts';
import type { BlockList } from 'node:net';
import type { DbOrTx } from '../db/index.ts';
import { TallyError, type ErrorCode } from '../lib/errors.ts';
import { findApiKeyByHash, hashApiKey, looksLikeApiKey, buildIpAllowlist, ipAllowed, type ApiKey } from './apiKeys.ts';
import { getUser, type User } from './users.ts';
import { teamKeyContext, type MemberBudget } from '../teams/keys.ts';
import type { TeamRole } from '../teams/members.ts';

export interface KeyPrincipal {
  key: ApiKey;
  user: User;
  hash: string;
  ipList: BlockList | null;
  /** The ledger account this key spends: its user's wallet, or its team's (a team key). */
  walletId: string;
  /** A team key's team and its user's role there; null for a personal key. */
  team: { id: string; role: TeamRole } | null;
  /** A team key's member budget (enforced by src/gateway/budgets.ts); null without one. */
  memberBudget?: MemberBudget | null;
}

interface Entry {
  value: KeyPrincipal | null; // null = known-bad key (negative cache)
  until: number;
}

const unauthorized = (code: ErrorCode, message: string) => new TallyError(code, message);

/**
 * Verifies API keys from memory. A hit costs one sha256 and one Map lookup.
 * Entries live `ttlMs` so changes made elsewhere (another instance, the CLI)
 * are picked up; a revocation on this instance calls `invalidate` and takes
 * effect at once, and with Redis configured it is broadcast to the others.
 */
export class KeyCache {
  private readonly entries = new Map<string, Entry>();
  constructor(
    private readonly db: DbOrTx,
    private readonly opts: { ttlMs?: number; negativeTtlMs?: number; maxEntries?: number; now?: () => number } = {},
  ) {}

  private now() {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  async authenticate(rawKey: string | undefined | null, ip: string): Promise<KeyPrincipal> {
    if (!rawKey)
      throw unauthorized(
        'missing_api_key',
        'no API key: send "Authorization: Bearer sk-..." (Anthropic clients: x-api-key; Gemini clients: x-goog-api-key or ?key=)',
      );
    if (!looksLikeApiKey(rawKey)) throw unauthorized('invalid_api_key', 'the API key is not a Tally key (it should start with "sk-")');
    const hash = hashApiKey(rawKey);
    const now = this.now();
    let entry = this.entries.get(hash);
    if (!entry || entry.until <= now) {
      entry = await this.load(hash, now);
    }
    const p = entry.value;
    if (!p) throw unauthorized('invalid_api_key', 'the API key is not valid; check that it was copied whole, or create a new one in the console');
    if (p.key.status !== 'active') throw unauthorized('api_key_revoked', 'this API key was revoked; create a new one in the console');
    if (p.key.expiresAt !== null && p.key.expiresAt <= now)
      throw unauthorized('api_key_expired', `this API key expired at ${new Date(p.key.expiresAt).toISOString()}`);
    if (p.user.status !== 'active') throw unauthorized('account_disabled', 'the account that owns this API key is disabled');
    if (p.ipList && !ipAllowed(p.ipList, ip)) {
      throw new TallyError('ip_not_allowed', `requests from ${ip} are not allowed for this API key (IP allowlist)`);
    }
    return p;
  }

  private async load(hash: string, now: number): Promise<Entry> {
    const key = await findApiKeyByHash(this.db, hash);
    let entry: Entry;
    if (!key) entry = { value: null, until: now + (this.opts.negativeTtlMs ?? 5_000) };
    else {
      const user = await getUser(this.db, key.userId);
      const ipList = key.ipAllowlist ? buildIpAllowlist(key.ipAllowlist) : null;
      let value: KeyPrincipal = { key, user, hash, ipList, walletId: walletAccountId(user.id), team: null, memberBudget: null };
      if (key.teamId) {
        // A team key spends the team wallet; one whose user left the team is refused as revoked
        // (its revocation is in the database already; this covers a cache entry loaded in between).
        const t = await teamKeyContext(this.db, key.teamId, user.id);
        value = t ? { ...value, ...t } : { ...value, key: { ...key, status: 'revoked' }, walletId: `team:${key.teamId}` };
      }
      entry = { value, until: now + (this.opts.ttlMs ?? 60_000) };
    }
    if (this.entries.size >= (this.opts.maxEntries ?? 100_000)) this.entries.clear();
    this.entries.set(hash, entry);
    return entry;
  }

  invalidate(hash: string): void {
    this.entries.delete(hash);
  }

  /** Drops every cached key of a user (disabled account, group change). */
  invalidateUser(userId: string): void {
    for (const [h, e] of this.entries) if (e.value?.user.id === userId) this.entries.delete(h);
  }

  clear(): void {
    this.entries.clear();
  }
}
