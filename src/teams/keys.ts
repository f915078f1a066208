import type { DbOrTx } from '../db/index.ts';
import type { BudgetPeriod } from '../db/schema.ts';
import { teamWalletId } from '../ledger/accounts.ts';
import type { TeamRole } from './members.ts';

/** A team member's budget as the relay enforces it (src/gateway/budgets.ts): spend of `ref` per `period`. */
export interface MemberBudget {
  ref: string;
  amount: bigint;
  period: BudgetPeriod;
}

/** What a team key's principal carries (accounts/keyCache.ts). */
export interface TeamKeyContext {
  walletId: string;
  team: { id: string; role: TeamRole };
  memberBudget: MemberBudget | null;
}

export const memberBudgetRef = (teamId: string, userId: string) => `member:${teamId}:${userId}`;

/**
 * For a team key: the team wallet it spends, the member's role and budget; or
 * null when its user is no longer an active member of an active team (the key
 * must then be refused, even before its revocation reaches this instance).
 */
export async function teamKeyContext(db: DbOrTx, teamId: string, userId: string): Promise<TeamKeyContext | null> {
  const m = await db
    .selectFrom('team_members as m')
    .innerJoin('teams as t', 't.id', 'm.team_id')
    .select(['m.role', 'm.budget', 'm.budget_period', 't.wallet_account_id'])
    .where('m.team_id', '=', teamId)
    .where('m.user_id', '=', userId)
    .where('m.status', '=', 'active')
    .where('t.status', '=', 'active')
    .executeTakeFirst();
  if (!m) return null;
  return {
    walletId: m.wallet_account_id || teamWalletId(teamId),
    team: { id: teamId, role: m.role },
    memberBudget: m.budget === null ? null : { ref: memberBudgetRef(teamId, userId), amount: BigInt(m.budget), period: m.budget_period ?? 'month' },
  };
}
