import type { DbOrTx } from '../db/index.ts';
import { recordAudit } from '../audit/index.ts';

/**
 * Invitations to this address become memberships of its new account. Called
 * in the transaction that creates the user (accounts/users.ts createUser: an
 * admin, the CLI or a sign-up), so the account and its memberships appear
 * together. Imports nothing from accounts/, which imports it.
 */
export async function activateInvites(tx: DbOrTx, input: { userId: string; emailNormalized: string; now: number }): Promise<number> {
  const rows = await tx
    .updateTable('team_members')
    .set({ user_id: input.userId, status: 'active', updated_at: input.now })
    .where('email_normalized', '=', input.emailNormalized)
    .where('status', '=', 'invited')
    .returning(['id', 'team_id', 'role'])
    .execute();
  for (const r of rows)
    await recordAudit(tx, {
      actor: { type: 'system' },
      action: 'team.member.activate',
      target: `team:${r.team_id}`,
      data: { member: r.id, user_id: input.userId, role: r.role },
      now: input.now,
    });
  return rows.length;
}

/** Whether a team owner invited this address (a sign-up in TALLY_SIGNUP=invite mode may use it instead of an admin's link). */
export async function hasPendingTeamInvite(db: DbOrTx, emailNormalized: string): Promise<boolean> {
  const r = await db.selectFrom('team_members').select('id').where('email_normalized', '=', emailNormalized).where('status', '=', 'invited').executeTakeFirst();
  return Boolean(r);
}
