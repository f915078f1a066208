// Teams (issue 16): a team owns a wallet (`team:<id>`) its team keys spend,
// members with a role and an optional budget, invitations by e-mail. This
// module owns the `teams` and `team_members` tables; routes: src/app/routes/teams.ts,
// CLI: src/cli/commands/team.ts.
export { createTeam, findTeam, getTeam, resolveTeam, listTeams, type Team } from './teams.ts';
export {
  addMember,
  updateMember,
  removeMember,
  listMembers,
  findMembership,
  revokeMemberTeamKeys,
  checkBudget,
  TEAM_ROLES,
  BUDGET_PERIODS,
  type Member,
  type TeamRole,
} from './members.ts';
export { activateInvites } from './invites.ts';
export { requireTeamRole, listTeamsOfUser } from './access.ts';
export { teamKeyContext, memberBudgetRef, type MemberBudget, type TeamKeyContext } from './keys.ts';
export { teamDetail, teamSummary, memberView, walletView, teamSpendSince, periodStart } from './views.ts';
