import { sql } from 'kysely';
import type { DbOrTx } from '../db/index.ts';
import type { BudgetPeriod } from '../db/schema.ts';
import { rowToApiKey } from '../accounts/apiKeys.ts';
import { keyView } from '../accounts/present.ts';
import { getAccount } from '../ledger/accounts.ts';
import { formatMoney, toBig } from '../ledger/money.ts';
import { periodStartMs } from '../gateway/budgets.ts';
import { listMembers, type Member } from './members.ts';
import type { Team } from './teams.ts';

// What a team looks like to its members and to staff. A member sees the team,
// its wallet, who is in it, and their own keys and spend; an owner or admin
// (and staff) sees every team key and every member's spend this period.

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * When the member's budget period began (a member without a budget: this
 * calendar month), in TALLY_TIMEZONE, as the budget itself counts it
 * (src/gateway/budgets.ts).
 */
export function periodStart(period: BudgetPeriod | null, now: number, timeZone = 'UTC'): number {
  return periodStartMs(period ?? 'month', now, timeZone);
}

/** What each member's team keys spent since `since` (requests and tasks charged to the team wallet), by user id. */
export async function teamSpendSince(db: DbOrTx, team: Team, since: number): Promise<Map<string, bigint>> {
  const requests = await db
    .selectFrom('request_logs as l')
    .innerJoin('api_keys as k', 'k.id', 'l.key_id')
    .select(['k.user_id', sql<string>`coalesce(sum(l.charged_amount), 0)`.as('spent')])
    .where('k.team_id', '=', team.id)
    .where('l.created_at', '>=', since)
    .groupBy('k.user_id')
    .execute();
  const tasks = await db
    .selectFrom('tasks')
    .select(['user_id', sql<string>`coalesce(sum(charged), 0)`.as('spent')])
    .where('wallet_account_id', '=', team.walletId)
    .where('created_at', '>=', since)
    .groupBy('user_id')
    .execute();
  const out = new Map<string, bigint>();
  for (const r of [...requests, ...tasks]) out.set(r.user_id, (out.get(r.user_id) ?? 0n) + toBig(r.spent));
  return out;
}

export function memberView(m: Member, spent: bigint | null) {
  return {
    id: m.id,
    email: m.email,
    user_id: m.userId,
    role: m.role,
    status: m.status,
    budget: m.budget === null ? null : formatMoney(m.budget),
    budget_period: m.budgetPeriod,
    ...(spent === null ? {} : { spent_this_period: formatMoney(spent) }),
    created_at: iso(m.createdAt),
  };
}

export async function walletView(db: DbOrTx, team: Team) {
  const a = await getAccount(db, team.walletId);
  return { id: a.id, balance: formatMoney(a.balance), available: formatMoney(a.available), currency: a.currency };
}

export const teamSummary = (t: Team) => ({ id: t.id, name: t.name, owner_user_id: t.ownerUserId, wallet_id: t.walletId, created_at: iso(t.createdAt) });

/**
 * The team as `viewer` sees it: `all` (an owner, an admin, staff) gets every
 * member's spend and every team key; otherwise only the viewer's own.
 */
export async function teamDetail(db: DbOrTx, team: Team, viewer: { userId: string | null; all: boolean; role?: string }, now: number, timeZone = 'UTC') {
  const members = await listMembers(db, team.id);
  const spend = new Map<string, bigint>();
  const starts = new Map<number, Map<string, bigint>>();
  for (const m of members) {
    if (!m.userId || (!viewer.all && m.userId !== viewer.userId)) continue;
    const since = periodStart(m.budgetPeriod, now, timeZone);
    let bySince = starts.get(since);
    if (!bySince) starts.set(since, (bySince = await teamSpendSince(db, team, since)));
    spend.set(m.userId, bySince.get(m.userId) ?? 0n);
  }
  let keys = db.selectFrom('api_keys').selectAll().where('team_id', '=', team.id).orderBy('id', 'desc');
  if (!viewer.all) keys = keys.where('user_id', '=', viewer.userId ?? '');
  const keyRows = await keys.limit(500).execute();
  return {
    ...teamSummary(team),
    ...(viewer.role ? { role: viewer.role } : {}),
    wallet: await walletView(db, team),
    members: members.map((m) => memberView(m, m.userId && spend.has(m.userId) ? spend.get(m.userId)! : null)),
    keys: keyRows.map((r) => ({ ...keyView(rowToApiKey(r)), user_id: r.user_id })),
  };
}
