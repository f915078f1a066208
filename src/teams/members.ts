import type { Selectable } from 'kysely';
import { sql } from 'kysely';
import { type DbOrTx, type Tx, isUniqueViolation, withTransaction } from '../db/index.ts';
import type { BudgetPeriod, TeamMembersTable } from '../db/schema.ts';
import { recordAudit, type Actor } from '../audit/index.ts';
import { TallyError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { formatMoney, toBig } from '../ledger/money.ts';
import { normalizeEmail } from '../accounts/users.ts';
import type { Team } from './teams.ts';

// Members of a team, their role and optional budget. Rules (issue 16):
// - only an owner or an admin manages members; an admin cannot touch an owner
//   (role, budget, removal) nor make anyone an owner;
// - a team always keeps an owner: the last owner can neither leave, be
//   removed, nor be demoted. Every change first locks the team's row, so two
//   owners demoting each other at once cannot both succeed;
// - an invitation names an e-mail address. If the address has an account the
//   member is active at once; otherwise the member is `invited` and becomes
//   active when an account with that address is created (activateInvites,
//   called in createUser's transaction);
// - leaving or removal revokes the member's keys of this team in the same
//   transaction; the caller broadcasts the revocations (every instance drops
//   them from its key cache at once);
// - every change writes an audit row in its transaction.

export type TeamRole = 'owner' | 'admin' | 'member';
export const TEAM_ROLES: TeamRole[] = ['owner', 'admin', 'member'];
export const BUDGET_PERIODS: BudgetPeriod[] = ['day', 'week', 'month', 'total'];

export interface Member {
  id: string;
  teamId: string;
  email: string;
  userId: string | null;
  role: TeamRole;
  budget: bigint | null;
  budgetPeriod: BudgetPeriod | null;
  status: 'invited' | 'active' | 'removed';
  invitedBy: string | null;
  createdAt: number;
  updatedAt: number;
}

export const rowToMember = (r: Selectable<TeamMembersTable>): Member => ({
  id: r.id,
  teamId: r.team_id,
  email: r.email_normalized,
  userId: r.user_id ?? null,
  role: r.role,
  budget: r.budget === null ? null : toBig(r.budget),
  budgetPeriod: r.budget_period ?? null,
  status: r.status,
  invitedBy: r.invited_by ?? null,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

/** What the audit rows keep of a member (no secrets here; the e-mail is the invitation's subject). */
const memberState = (m: Member | null) =>
  m && { role: m.role, status: m.status, budget: m.budget === null ? null : formatMoney(m.budget), budget_period: m.budgetPeriod, user_id: m.userId };

/** A budget is an amount above zero and a period, or neither. */
export function checkBudget(
  budget: bigint | null | undefined,
  period: BudgetPeriod | null | undefined,
): { budget: bigint | null; period: BudgetPeriod | null } {
  if (budget === undefined || budget === null) {
    if (period) throw new TallyError('invalid_request', 'a budget period needs a budget amount', { param: 'budget' });
    return { budget: null, period: null };
  }
  if (budget <= 0n) throw new TallyError('invalid_amount', 'a budget must be greater than zero', { param: 'budget' });
  const p = period ?? 'month';
  if (!BUDGET_PERIODS.includes(p))
    throw new TallyError('invalid_request', `budget period must be one of ${BUDGET_PERIODS.join(', ')}`, { param: 'budget_period' });
  return { budget, period: p };
}

function checkRole(role: string | undefined): TeamRole {
  const r = (role ?? 'member') as TeamRole;
  if (!TEAM_ROLES.includes(r)) throw new TallyError('invalid_role', `a team role is one of ${TEAM_ROLES.join(', ')}`, { param: 'role' });
  return r;
}

export async function listMembers(db: DbOrTx, teamId: string, opts: { includeRemoved?: boolean } = {}): Promise<Member[]> {
  let q = db.selectFrom('team_members').selectAll().where('team_id', '=', teamId).orderBy('created_at').orderBy('id');
  if (!opts.includeRemoved) q = q.where('status', '!=', 'removed');
  return (await q.execute()).map(rowToMember);
}

/** The caller's active membership of a team, or null. */
export async function findMembership(db: DbOrTx, teamId: string, userId: string): Promise<Member | null> {
  const r = await db
    .selectFrom('team_members')
    .selectAll()
    .where('team_id', '=', teamId)
    .where('user_id', '=', userId)
    .where('status', '=', 'active')
    .executeTakeFirst();
  return r ? rowToMember(r) : null;
}

async function getMember(tx: DbOrTx, teamId: string, memberId: string): Promise<Member> {
  const r = await tx.selectFrom('team_members').selectAll().where('team_id', '=', teamId).where('id', '=', memberId).executeTakeFirst();
  if (!r || r.status === 'removed') throw new TallyError('team_member_not_found', `no member ${memberId.slice(0, 60)} in this team`, { param: 'member' });
  return rowToMember(r);
}

/** Serializes member changes of one team (see the header: the last owner). */
async function lockTeam(tx: Tx, team: Team, now: number): Promise<void> {
  await tx.updateTable('teams').set({ updated_at: now }).where('id', '=', team.id).execute();
}

async function activeOwners(tx: Tx, teamId: string): Promise<number> {
  const r = await tx
    .selectFrom('team_members')
    .select(sql<string>`count(*)`.as('n'))
    .where('team_id', '=', teamId)
    .where('role', '=', 'owner')
    .where('status', '=', 'active')
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

const forbidden = (message: string) => new TallyError('forbidden', message);

/**
 * May `by` (the acting member; null for staff and the CLI) change `target`?
 * `grants`: the role the change gives, if any.
 */
function assertMayManage(by: Member | null, target: Member | null, grants?: TeamRole): void {
  if (!by) return;
  if (by.role === 'member') throw forbidden("only the team's owners and admins manage its members");
  if (by.role === 'admin') {
    if (target?.role === 'owner') throw forbidden("an admin cannot change or remove the team's owner");
    if (grants === 'owner') throw forbidden('only an owner can make someone an owner');
  }
}

/** Keys of this member on this team, revoked; returns their hashes for the caller to broadcast. */
export async function revokeMemberTeamKeys(tx: DbOrTx, teamId: string, userId: string, now: number): Promise<string[]> {
  const rows = await tx
    .updateTable('api_keys')
    .set({ status: 'revoked', revoked_at: sql`coalesce(revoked_at, ${now})` })
    .where('team_id', '=', teamId)
    .where('user_id', '=', userId)
    .where('status', '=', 'active')
    .returning(['id', 'key_hash'])
    .execute();
  return rows.map((r) => r.key_hash);
}

export interface AddMemberInput {
  team: Team;
  email: string;
  role?: string;
  budget?: bigint | null;
  budgetPeriod?: BudgetPeriod | null;
  actor: Actor;
  /** The acting member (owner or admin); null for staff and the CLI. */
  by: Member | null;
  now?: number;
}

/** Adds (or invites) a member by e-mail. A removed member may be added again. */
export async function addMember(db: DbOrTx, input: AddMemberInput): Promise<Member> {
  const email = normalizeEmail(input.email ?? '');
  if (!/^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]{2,}$/.test(email))
    throw new TallyError('invalid_email', `"${email.slice(0, 80)}" is not a valid email address`, { param: 'email' });
  const role = checkRole(input.role);
  const { budget, period } = checkBudget(input.budget, input.budgetPeriod);
  assertMayManage(input.by, null, role);
  const now = input.now ?? Date.now();
  try {
    return await withTransaction(db, async (tx) => {
      await lockTeam(tx, input.team, now);
      // An account that has not proved this address (a self sign-up before its verification link) is only invited:
      // the seat is taken when the address is proved (src/accounts/verification.ts), not by whoever typed it first.
      const user = await tx
        .selectFrom('users')
        .select(['id', 'status'])
        .where('email_normalized', '=', email)
        .where('email_verified_at', 'is not', null)
        .executeTakeFirst();
      const existing = await tx
        .selectFrom('team_members')
        .selectAll()
        .where('team_id', '=', input.team.id)
        .where('email_normalized', '=', email)
        .executeTakeFirst();
      if (existing && existing.status !== 'removed')
        throw new TallyError('team_member_exists', `${email} is already ${existing.status === 'invited' ? 'invited to' : 'a member of'} this team`, {
          param: 'email',
        });
      const values = {
        user_id: user?.id ?? null,
        role,
        budget,
        budget_period: period,
        status: user ? ('active' as const) : ('invited' as const),
        invited_by: input.by?.userId ?? null,
        updated_at: now,
      };
      let id: string;
      if (existing) {
        id = existing.id;
        await tx.updateTable('team_members').set(values).where('id', '=', id).execute();
      } else {
        id = newId('tmb');
        await tx
          .insertInto('team_members')
          .values({ id, team_id: input.team.id, email_normalized: email, created_at: now, ...values })
          .execute();
      }
      const member = await getMember(tx, input.team.id, id);
      await recordAudit(tx, {
        actor: input.actor,
        action: 'team.member.add',
        target: `team:${input.team.id}`,
        data: { member: id, email, role },
        before: existing ? memberState(rowToMember(existing)) : null,
        after: memberState(member),
        now,
      });
      return member;
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw new TallyError('team_member_exists', `${email} is already in this team`, { param: 'email' });
    throw e;
  }
}

export interface UpdateMemberInput {
  team: Team;
  memberId: string;
  role?: string;
  /** undefined: unchanged; null: no budget. */
  budget?: bigint | null;
  budgetPeriod?: BudgetPeriod | null;
  actor: Actor;
  by: Member | null;
  now?: number;
}

/** Changes a member's role and/or budget. */
export async function updateMember(db: DbOrTx, input: UpdateMemberInput): Promise<Member> {
  const role = input.role === undefined ? undefined : checkRole(input.role);
  const budget = input.budget === undefined ? undefined : checkBudget(input.budget, input.budgetPeriod);
  const now = input.now ?? Date.now();
  return withTransaction(db, async (tx) => {
    await lockTeam(tx, input.team, now);
    const before = await getMember(tx, input.team.id, input.memberId);
    assertMayManage(input.by, before, role);
    const set: { updated_at: number; role?: TeamRole; budget?: bigint | null; budget_period?: BudgetPeriod | null } = { updated_at: now };
    if (role) set.role = role;
    if (budget) {
      set.budget = budget.budget;
      set.budget_period = budget.period;
    }
    await tx.updateTable('team_members').set(set).where('id', '=', before.id).execute();
    if (before.role === 'owner' && role && role !== 'owner' && (await activeOwners(tx, input.team.id)) === 0)
      throw new TallyError('last_team_owner', 'the team needs an owner: make another member owner first');
    const after = await getMember(tx, input.team.id, before.id);
    await recordAudit(tx, {
      actor: input.actor,
      action: role && role !== before.role ? 'team.member.role' : 'team.member.budget',
      target: `team:${input.team.id}`,
      data: { member: before.id, email: before.email },
      before: memberState(before),
      after: memberState(after),
      now,
    });
    return after;
  });
}

/**
 * Removes a member (by an owner, an admin or staff) or lets one leave
 * (`leaving`: by themselves). Their keys of this team are revoked in the
 * same transaction; the returned hashes must be broadcast (key_changed).
 */
export async function removeMember(
  db: DbOrTx,
  input: { team: Team; memberId: string; actor: Actor; by: Member | null; leaving?: boolean; now?: number },
): Promise<{ member: Member; revokedHashes: string[] }> {
  const now = input.now ?? Date.now();
  return withTransaction(db, async (tx) => {
    await lockTeam(tx, input.team, now);
    const before = await getMember(tx, input.team.id, input.memberId);
    if (!input.leaving) assertMayManage(input.by, before);
    await tx.updateTable('team_members').set({ status: 'removed', updated_at: now }).where('id', '=', before.id).execute();
    if (before.role === 'owner' && before.status === 'active' && (await activeOwners(tx, input.team.id)) === 0)
      throw new TallyError('last_team_owner', 'the last owner cannot leave or be removed: make another member owner first');
    const revokedHashes = before.userId ? await revokeMemberTeamKeys(tx, input.team.id, before.userId, now) : [];
    const after = await getMemberAnyStatus(tx, before.id);
    await recordAudit(tx, {
      actor: input.actor,
      action: input.leaving ? 'team.member.leave' : 'team.member.remove',
      target: `team:${input.team.id}`,
      data: { member: before.id, email: before.email, keys_revoked: revokedHashes.length },
      before: memberState(before),
      after: memberState(after),
      now,
    });
    return { member: after, revokedHashes };
  });
}

async function getMemberAnyStatus(tx: DbOrTx, id: string): Promise<Member> {
  return rowToMember(await tx.selectFrom('team_members').selectAll().where('id', '=', id).executeTakeFirstOrThrow());
}
