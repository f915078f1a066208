import type { Selectable } from 'kysely';
import { checkLimits, limitsOf, type Limits } from './apiKeys.ts';
import type { UsersTable } from '../db/schema.ts';
import { withTransaction, isUniqueViolation, type DbOrTx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { likeContains } from '../lib/sqlLike.ts';
import { TallyError } from '../lib/errors.ts';
import { openWallet, getAccount, walletAccountId } from '../ledger/accounts.ts';
import { hashPassword, generatePassword, checkPasswordStrength } from './passwords.ts';
import { activateInvites } from '../teams/invites.ts';
import { recordAudit, type Actor } from '../audit/index.ts';

export type Role = 'user' | 'support' | 'admin';
export const ROLES: Role[] = ['user', 'support', 'admin'];

export interface User {
  id: string;
  email: string;
  nickname: string;
  role: Role;
  status: 'active' | 'disabled';
  group: string;
  createdAt: number;
  /** The user's own limits across all their keys (src/gateway/limits.ts). */
  limits: Limits;
  /** Whether the owner proved the mailbox (accounts an admin or the CLI made count as proved). */
  emailVerified: boolean;
}

export function rowToUser(r: Selectable<UsersTable>): User {
  return {
    id: r.id,
    email: r.email,
    nickname: r.nickname,
    role: r.role,
    status: r.status,
    group: r.group_name,
    createdAt: Number(r.created_at),
    limits: limitsOf(r),
    emailVerified: r.email_verified_at !== null && r.email_verified_at !== undefined,
  };
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]{2,}$/;

export const isEmailAddress = (email: string): boolean => EMAIL.test(email.trim());

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Masks an email for support views: "alice@example.com" → "a***e@example.com". */
export function maskEmail(email: string): string {
  const [local, domain] = email.split('@');
  if (!domain) return '***';
  const m = local.length <= 2 ? `${local[0] ?? ''}*` : `${local[0]}***${local[local.length - 1]}`;
  return `${m}@${domain}`;
}

export interface CreateUserInput {
  email: string;
  password?: string;
  nickname?: string;
  role?: Role;
  group?: string;
  /** Already hashed (hashPassword) and checked by the caller: a sign-up hashes before its transaction opens. */
  passwordHash?: string;
}

/** Creates a user and their wallet in one transaction. Returns the generated password when none was given. */
export async function createUser(
  db: DbOrTx,
  input: CreateUserInput,
  opts: {
    actor?: Actor;
    currency?: string;
    now?: number;
    /** A self sign-up: the address is not proved yet, and team invitations to it wait for the proof (src/accounts/signup.ts). */
    unverified?: boolean;
    language?: string | null;
  } = {},
): Promise<{ user: User; generatedPassword: string | null }> {
  const email = input.email?.trim();
  if (!email || !EMAIL.test(email)) throw new TallyError('invalid_email', `"${(email ?? '').slice(0, 80)}" is not a valid email address`, { param: 'email' });
  const role = input.role ?? 'user';
  if (!ROLES.includes(role)) throw new TallyError('invalid_role', `role must be one of ${ROLES.join(', ')}`, { param: 'role' });
  const generatedPassword = input.password || input.passwordHash ? null : generatePassword();
  const password = input.password ?? generatedPassword;
  const weak = password === null ? null : checkPasswordStrength(password);
  if (weak) throw new TallyError('weak_password', weak, { param: 'password' });
  const passwordHash = input.passwordHash ?? (await hashPassword(password!));
  const now = opts.now ?? Date.now();
  const row = {
    id: newId('usr'),
    email,
    email_normalized: normalizeEmail(email),
    nickname: input.nickname?.trim() || email.split('@')[0],
    password_hash: passwordHash,
    role,
    status: 'active' as const,
    group_name: input.group ?? 'default',
    created_at: now,
    rpm: null,
    tpm: null,
    concurrency: null,
    email_verified_at: opts.unverified ? null : now,
    language: opts.language ?? null,
    disabled_at: null,
    disabled_reason: null,
  };
  try {
    await withTransaction(db, async (tx) => {
      await tx.insertInto('users').values(row).execute();
      await openWallet(tx, { userId: row.id, currency: opts.currency, now });
      await recordAudit(tx, { actor: opts.actor ?? { type: 'system' }, action: 'user.create', target: row.id, data: { role } });
      // Team invitations to this address become active memberships now (src/teams/invites.ts); a self
      // sign-up's only once it proves the address (src/accounts/verification.ts), or anyone could claim them.
      if (!opts.unverified) await activateInvites(tx, { userId: row.id, emailNormalized: row.email_normalized, now });
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw new TallyError('email_taken', `a user with email ${email} already exists`);
    throw e;
  }
  return { user: rowToUser(row), generatedPassword };
}

export async function findUserByEmail(db: DbOrTx, email: string): Promise<(User & { passwordHash: string }) | null> {
  const r = await db.selectFrom('users').selectAll().where('email_normalized', '=', normalizeEmail(email)).executeTakeFirst();
  return r ? { ...rowToUser(r), passwordHash: r.password_hash } : null;
}

export async function getUser(db: DbOrTx, id: string): Promise<User> {
  const r = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  if (!r) throw new TallyError('user_not_found', `no user with id ${id}`);
  return rowToUser(r);
}

/** Accepts a user id (usr_...) or an email, as the CLI's --user does. */
export async function resolveUser(db: DbOrTx, idOrEmail: string): Promise<User> {
  if (!idOrEmail) throw new TallyError('user_required', 'name a user by id (usr_...) or email');
  if (idOrEmail.includes('@')) {
    const u = await findUserByEmail(db, idOrEmail);
    if (!u) throw new TallyError('user_not_found', `no user with email ${idOrEmail}`);
    const { passwordHash: _omit, ...user } = u;
    return user;
  }
  return getUser(db, idOrEmail);
}

export async function listUsers(db: DbOrTx, filter: { query?: string; limit?: number } = {}): Promise<User[]> {
  let q = db
    .selectFrom('users')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(Math.min(filter.limit ?? 50, 200));
  if (filter.query) {
    const query = filter.query;
    q = q.where((eb) => eb.or([likeContains('email_normalized', normalizeEmail(query)), eb('id', '=', query), likeContains('nickname', query)]));
  }
  return (await q.execute()).map(rowToUser);
}

export async function getUserBalance(db: DbOrTx, userId: string) {
  const acc = await getAccount(db, walletAccountId(userId));
  return { balance: acc.balance, pending: acc.pendingDebits, available: acc.available, currency: acc.currency };
}

/** Sets (or clears, with null) a user's limits across all their keys; audited. Fields left undefined keep their value. */
export async function setUserLimits(db: DbOrTx, input: { userId: string; limits: Partial<Limits>; actor: Actor }): Promise<User> {
  checkLimits(input.limits);
  const set: Record<string, number | null> = {};
  for (const k of ['rpm', 'tpm', 'concurrency'] as const) if (input.limits[k] !== undefined) set[k] = input.limits[k];
  return withTransaction(db, async (tx) => {
    const user = await getUser(tx, input.userId);
    if (Object.keys(set).length) await tx.updateTable('users').set(set).where('id', '=', user.id).execute();
    await recordAudit(tx, { actor: input.actor, action: 'user.set_limits', target: user.id, data: set });
    return getUser(tx, user.id);
  });
}
