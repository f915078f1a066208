// Staff verbs on a user's account: disable and enable it, move it to another
// pricing group, change its role, sign it out everywhere. The HTTP routes
// (src/app/routes/admin/userAdmin.ts) and the CLI (`tally user ...`) call
// these; who may call them is the permission table's rule (requireStaff), and
// the rule that nobody acts on their own account is checked here so that both
// share it. Each change is one transaction with its audit row (fail closed)
// and a conditional UPDATE (two admins at once change it once). The caller
// publishes `user_changed` after the commit so every instance drops the
// user's cached keys: a disabled user's keys stop, a new group prices the
// next request.
import { withTransaction, type DbOrTx } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { recordAudit, type Actor } from '../audit/index.ts';
import { assertNotSelf } from '../support/permissions.ts';
import { groupExists } from '../gateway/groups.ts';
import { getUser, ROLES, type Role, type User } from './users.ts';
import { revokeAllSessions } from './sessions.ts';

export const REASON_MAX = 500;

export interface UserAdminResult {
  user: User;
  /** False when the account already was in that state: nothing was written. */
  changed: boolean;
  /** How many of the user's sessions ended. */
  sessionsEnded: number;
}

function requireReason(reason: string | null | undefined, what: string): string {
  const r = reason?.trim() ?? '';
  if (!r) throw new TallyError('reason_required', `say why you ${what} (reason); it is kept in the audit log`, { param: 'reason' });
  if (r.length > REASON_MAX) throw new TallyError('reason_too_long', `the reason must be at most ${REASON_MAX} characters`, { param: 'reason' });
  return r;
}

function optionalReason(reason: string | null | undefined): string | null {
  const r = reason?.trim() ?? '';
  if (r.length > REASON_MAX) throw new TallyError('reason_too_long', `the reason must be at most ${REASON_MAX} characters`, { param: 'reason' });
  return r || null;
}

/** Disables an account: sign-in refused, every session ended, its keys (personal and team) refused with account_disabled. */
export async function disableUser(db: DbOrTx, input: { userId: string; reason: string; actor: Actor; now: number }): Promise<UserAdminResult> {
  assertNotSelf(input.actor, input.userId, 'disable');
  const reason = requireReason(input.reason, 'disable this account');
  return withTransaction(db, async (tx) => {
    const before = await getUser(tx, input.userId);
    const r = await tx
      .updateTable('users')
      .set({ status: 'disabled', disabled_at: input.now, disabled_reason: reason })
      .where('id', '=', before.id)
      .where('status', '=', 'active')
      .executeTakeFirst();
    const changed = Number(r.numUpdatedRows ?? 0) === 1;
    // Sessions end even when it was disabled already: a session cannot outlive a disabled account.
    const sessionsEnded = await revokeAllSessions(tx, before.id, { now: input.now });
    if (changed)
      await recordAudit(tx, {
        actor: input.actor,
        action: 'user.disable',
        target: before.id,
        reason,
        data: { sessions_ended: sessionsEnded },
        before: { status: before.status },
        after: { status: 'disabled' },
        now: input.now,
      });
    return { user: await getUser(tx, before.id), changed, sessionsEnded };
  });
}

/** Enables a disabled account again: its keys work at once; it signs in anew (its old sessions stay ended). */
export async function enableUser(db: DbOrTx, input: { userId: string; reason?: string | null; actor: Actor; now: number }): Promise<UserAdminResult> {
  const reason = optionalReason(input.reason);
  return withTransaction(db, async (tx) => {
    const before = await getUser(tx, input.userId);
    const r = await tx
      .updateTable('users')
      .set({ status: 'active', disabled_at: null, disabled_reason: null })
      .where('id', '=', before.id)
      .where('status', '=', 'disabled')
      .executeTakeFirst();
    const changed = Number(r.numUpdatedRows ?? 0) === 1;
    if (changed)
      await recordAudit(tx, {
        actor: input.actor,
        action: 'user.enable',
        target: before.id,
        reason,
        before: { status: before.status },
        after: { status: 'active' },
        now: input.now,
      });
    return { user: await getUser(tx, before.id), changed, sessionsEnded: 0 };
  });
}

/** Moves a user to another pricing group (its multiplier, models and limits apply from the next request). */
export async function setUserGroup(
  db: DbOrTx,
  input: { userId: string; group: string; reason?: string | null; actor: Actor; now: number },
): Promise<UserAdminResult> {
  assertNotSelf(input.actor, input.userId, 'change the pricing group');
  const group = input.group?.trim() ?? '';
  if (!/^[\w.-]{1,64}$/.test(group)) throw new TallyError('invalid_group', 'group must be 1 to 64 letters, digits, _ . -', { param: 'group' });
  const reason = optionalReason(input.reason);
  return withTransaction(db, async (tx) => {
    if (!(await groupExists(tx, group)))
      throw new TallyError('group_not_found', `no pricing group "${group}"; create it first (tally group set, or the Groups page)`, { param: 'group' });
    const before = await getUser(tx, input.userId);
    const r = await tx.updateTable('users').set({ group_name: group }).where('id', '=', before.id).where('group_name', '!=', group).executeTakeFirst();
    const changed = Number(r.numUpdatedRows ?? 0) === 1;
    if (changed)
      await recordAudit(tx, {
        actor: input.actor,
        action: 'user.set_group',
        target: before.id,
        reason,
        before: { group: before.group },
        after: { group },
        now: input.now,
      });
    return { user: await getUser(tx, before.id), changed, sessionsEnded: 0 };
  });
}

/**
 * Changes a user's role. Privileges changed: every session of that user ends
 * (a session opened as support must not carry admin rights, nor the reverse),
 * so they sign in again under the new role.
 */
export async function setUserRole(db: DbOrTx, input: { userId: string; role: Role; reason: string; actor: Actor; now: number }): Promise<UserAdminResult> {
  assertNotSelf(input.actor, input.userId, 'change the role');
  if (!ROLES.includes(input.role)) throw new TallyError('invalid_role', `role must be one of ${ROLES.join(', ')}`, { param: 'role' });
  const reason = requireReason(input.reason, 'change the role');
  return withTransaction(db, async (tx) => {
    const before = await getUser(tx, input.userId);
    const r = await tx.updateTable('users').set({ role: input.role }).where('id', '=', before.id).where('role', '!=', input.role).executeTakeFirst();
    const changed = Number(r.numUpdatedRows ?? 0) === 1;
    let sessionsEnded = 0;
    if (changed) {
      sessionsEnded = await revokeAllSessions(tx, before.id, { now: input.now });
      await recordAudit(tx, {
        actor: input.actor,
        action: 'user.set_role',
        target: before.id,
        reason,
        data: { sessions_ended: sessionsEnded },
        before: { role: before.role },
        after: { role: input.role },
        now: input.now,
      });
    }
    return { user: await getUser(tx, before.id), changed, sessionsEnded };
  });
}

/** Signs a user out everywhere (a lost laptop, a shared password): every session ends; API keys are not touched. */
export async function signOutUser(db: DbOrTx, input: { userId: string; reason?: string | null; actor: Actor; now: number }): Promise<UserAdminResult> {
  const reason = optionalReason(input.reason);
  return withTransaction(db, async (tx) => {
    const user = await getUser(tx, input.userId);
    const sessionsEnded = await revokeAllSessions(tx, user.id, { now: input.now });
    await recordAudit(tx, { actor: input.actor, action: 'user.sign_out', target: user.id, reason, data: { sessions_ended: sessionsEnded }, now: input.now });
    return { user, changed: sessionsEnded > 0, sessionsEnded };
  });
}

/** What the staff user page shows about a disabled account. */
export async function disabledState(db: DbOrTx, userId: string): Promise<{ disabledAt: number | null; disabledReason: string | null }> {
  const r = await db.selectFrom('users').select(['disabled_at', 'disabled_reason']).where('id', '=', userId).executeTakeFirst();
  return { disabledAt: r?.disabled_at == null ? null : Number(r.disabled_at), disabledReason: r?.disabled_reason ?? null };
}
