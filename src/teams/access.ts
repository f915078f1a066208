import type { DbOrTx } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { findMembership, rowToMember, type Member, type TeamRole } from './members.ts';
import { findTeam, rowToTeam, type Team } from './teams.ts';

/**
 * The caller's team and membership, when they hold one of `roles` there.
 * Someone who is not an active member gets the same 404 as for a team that
 * does not exist (team ids are not to be probed); a member without the role, 403.
 */
export async function requireTeamRole(
  db: DbOrTx,
  teamId: string,
  userId: string,
  roles: TeamRole[] = ['owner', 'admin', 'member'],
): Promise<{ team: Team; member: Member }> {
  const team = await findTeam(db, teamId);
  const member = team ? await findMembership(db, team.id, userId) : null;
  if (!team || !member) throw new TallyError('team_not_found', `no team ${teamId.slice(0, 60)} that you are a member of`, { param: 'team' });
  if (!roles.includes(member.role)) throw new TallyError('forbidden', `this needs the role ${roles.join(' or ')} in the team; you are ${member.role}`);
  return { team, member };
}

/** The teams a user is an active member of, with their role in each. */
export async function listTeamsOfUser(db: DbOrTx, userId: string): Promise<Array<{ team: Team; member: Member }>> {
  const rows = await db
    .selectFrom('team_members as m')
    .innerJoin('teams as t', 't.id', 'm.team_id')
    .selectAll('m')
    .select(['t.name', 't.owner_user_id', 't.wallet_account_id', 't.status as team_status', 't.created_at as team_created_at'])
    .where('m.user_id', '=', userId)
    .where('m.status', '=', 'active')
    .where('t.status', '=', 'active')
    .orderBy('t.id')
    .execute();
  return rows.map((r) => ({
    team: rowToTeam({
      id: r.team_id,
      name: r.name,
      name_normalized: '',
      owner_user_id: r.owner_user_id,
      wallet_account_id: r.wallet_account_id,
      status: r.team_status,
      created_at: r.team_created_at,
      updated_at: r.team_created_at,
    }),
    member: rowToMember(r),
  }));
}
