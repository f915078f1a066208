import { randomBytes } from 'node:crypto';
import type { Selectable } from 'kysely';
import { withTransaction, type DbOrTx } from '../db/index.ts';
import type { SignupInvitesTable } from '../db/schema.ts';
import { newId } from '../lib/ids.ts';
import { sha256Hex } from '../lib/crypto.ts';
import { TallyError } from '../lib/errors.ts';
import { recordAudit, actorLabel, type Actor } from '../audit/index.ts';
import { normalizeEmail } from './users.ts';

// Sign-up invitations (TALLY_SIGNUP=invite): a single-use link an admin makes,
// optionally for one address and a group. The token is shown once, in the
// link; only its sha256 is stored. An invitation only ever makes a plain user:
// a leaked link must not hand out a staff role.

export const INVITE_TTL_DAYS = { default: 7, max: 90 };

export interface SignupInvite {
  id: string;
  email: string | null;
  role: 'user';
  group: string | null;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  usedBy: string | null;
  revokedAt: number | null;
  status: 'active' | 'used' | 'revoked' | 'expired';
}

function rowToInvite(r: Selectable<SignupInvitesTable>, now: number): SignupInvite {
  const usedAt = r.used_at === null ? null : Number(r.used_at);
  const revokedAt = r.revoked_at === null ? null : Number(r.revoked_at);
  const expiresAt = Number(r.expires_at);
  return {
    id: r.id,
    email: r.email_normalized,
    role: r.role,
    group: r.group_name,
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    expiresAt,
    usedAt,
    usedBy: r.used_by,
    revokedAt,
    status: usedAt !== null ? 'used' : revokedAt !== null ? 'revoked' : expiresAt <= now ? 'expired' : 'active',
  };
}

export async function createSignupInvite(
  db: DbOrTx,
  input: { email?: string | null; group?: string | null; days?: number; actor: Actor; now: number },
): Promise<{ invite: SignupInvite; token: string }> {
  const days = input.days ?? INVITE_TTL_DAYS.default;
  if (!Number.isInteger(days) || days < 1 || days > INVITE_TTL_DAYS.max) {
    throw new TallyError('invalid_expiry', `expires_in_days must be a whole number from 1 to ${INVITE_TTL_DAYS.max}`, { param: 'expires_in_days' });
  }
  const email = input.email?.trim() ? normalizeEmail(input.email) : null;
  if (email !== null && !/^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]{2,}$/.test(email)) {
    throw new TallyError('invalid_email', `"${email.slice(0, 80)}" is not a valid email address`, { param: 'email' });
  }
  const token = randomBytes(24).toString('base64url');
  const row = {
    id: newId('inv'),
    token_hash: sha256Hex(token),
    email_normalized: email,
    role: 'user' as const,
    group_name: input.group?.trim() || null,
    created_by: actorLabel(input.actor),
    created_at: input.now,
    expires_at: input.now + days * 86400_000,
    used_at: null,
    used_by: null,
    revoked_at: null,
  };
  await withTransaction(db, async (tx) => {
    await tx.insertInto('signup_invites').values(row).execute();
    await recordAudit(tx, { actor: input.actor, action: 'invite.create', target: row.id, data: { email, group: row.group_name, days }, now: input.now });
  });
  return { invite: rowToInvite(row, input.now), token };
}

export async function listSignupInvites(db: DbOrTx, opts: { now: number; limit?: number }): Promise<SignupInvite[]> {
  const rows = await db
    .selectFrom('signup_invites')
    .selectAll()
    .orderBy('created_at', 'desc')
    .limit(Math.min(opts.limit ?? 100, 200))
    .execute();
  return rows.map((r) => rowToInvite(r, opts.now));
}

export async function revokeSignupInvite(db: DbOrTx, input: { id: string; actor: Actor; now: number }): Promise<SignupInvite> {
  return withTransaction(db, async (tx) => {
    const r = await tx
      .updateTable('signup_invites')
      .set({ revoked_at: input.now })
      .where('id', '=', input.id)
      .where('revoked_at', 'is', null)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    const row = await tx.selectFrom('signup_invites').selectAll().where('id', '=', input.id).executeTakeFirst();
    if (!row) throw new TallyError('invite_not_found', `no invitation with id ${input.id}`);
    if (Number(r.numUpdatedRows ?? 0) > 0) await recordAudit(tx, { actor: input.actor, action: 'invite.revoke', target: input.id, now: input.now });
    return rowToInvite(row, input.now);
  });
}

const badInvite = (why: string) => new TallyError('invalid_invite', `this invitation cannot be used: ${why}; ask for a new one`, { param: 'invite' });

/** The invitation a token names, if it can still be used by this address (nothing is spent). */
export async function checkSignupInvite(db: DbOrTx, input: { token: string; email: string; now: number }): Promise<SignupInvite> {
  if (!input.token || input.token.length > 100) throw badInvite('the link is not valid');
  const row = await db.selectFrom('signup_invites').selectAll().where('token_hash', '=', sha256Hex(input.token)).executeTakeFirst();
  if (!row) throw badInvite('the link is not valid');
  const invite = rowToInvite(row, input.now);
  if (invite.status !== 'active') throw badInvite(`it is ${invite.status}`);
  if (invite.email !== null && invite.email !== normalizeEmail(input.email)) throw badInvite('it was made for another e-mail address');
  return invite;
}

/** Spends an invitation inside the sign-up's transaction: one conditional UPDATE, so two sign-ups with one link make one account. */
export async function spendSignupInvite(tx: DbOrTx, input: { id: string; userId: string; now: number }): Promise<void> {
  const r = await tx
    .updateTable('signup_invites')
    .set({ used_at: input.now, used_by: input.userId })
    .where('id', '=', input.id)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', input.now)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows ?? 0) !== 1) throw badInvite('it was just used');
}
