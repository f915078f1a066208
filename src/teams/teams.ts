import type { Selectable } from 'kysely';
import { type DbOrTx, isUniqueViolation, withTransaction } from '../db/index.ts';
import type { TeamsTable } from '../db/schema.ts';
import { recordAudit, type Actor } from '../audit/index.ts';
import { openTeamWallet, teamWalletId } from '../ledger/accounts.ts';
import { TallyError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { normalizeEmail, type User } from '../accounts/users.ts';

// A team: a name, a wallet (`team:<id>`, a ledger account like a user's wallet
// but owned by no user) and members (members.ts). The team and its wallet and
// its first owner are written in one transaction with the audit row, so a team
// without a wallet or without an owner cannot exist.

export interface Team {
  id: string;
  name: string;
  ownerUserId: string;
  walletId: string;
  status: 'active' | 'deleted';
  createdAt: number;
}

export const rowToTeam = (r: Selectable<TeamsTable>): Team => ({
  id: r.id,
  name: r.name,
  ownerUserId: r.owner_user_id,
  walletId: r.wallet_account_id,
  status: r.status,
  createdAt: Number(r.created_at),
});

const normalizeName = (name: string) => name.trim().toLowerCase().replace(/\s+/g, ' ');

export async function createTeam(db: DbOrTx, input: { name: string; owner: User; actor: Actor; currency?: string; now?: number }): Promise<Team> {
  const name = input.name?.trim() ?? '';
  if (!name || name.length > 100) throw new TallyError('invalid_name', 'a team name is 1 to 100 characters', { param: 'name' });
  const now = input.now ?? Date.now();
  const id = newId('team');
  const row = {
    id,
    name,
    name_normalized: normalizeName(name),
    owner_user_id: input.owner.id,
    wallet_account_id: teamWalletId(id),
    status: 'active' as const,
    created_at: now,
    updated_at: now,
  };
  try {
    await withTransaction(db, async (tx) => {
      await tx.insertInto('teams').values(row).execute();
      await openTeamWallet(tx, { teamId: id, currency: input.currency, now });
      await tx
        .insertInto('team_members')
        .values({
          id: newId('tmb'),
          team_id: id,
          email_normalized: normalizeEmail(input.owner.email),
          user_id: input.owner.id,
          role: 'owner',
          budget: null,
          budget_period: null,
          status: 'active',
          invited_by: null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await recordAudit(tx, {
        actor: input.actor,
        action: 'team.create',
        target: `team:${id}`,
        data: { name, owner: input.owner.id },
        after: { name, owner: input.owner.id, wallet: row.wallet_account_id },
        now,
      });
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw new TallyError('team_name_taken', `a team named "${name}" already exists`, { param: 'name' });
    throw e;
  }
  return rowToTeam(row);
}

export async function findTeam(db: DbOrTx, id: string): Promise<Team | null> {
  const r = await db.selectFrom('teams').selectAll().where('id', '=', id).where('status', '=', 'active').executeTakeFirst();
  return r ? rowToTeam(r) : null;
}

export async function getTeam(db: DbOrTx, id: string): Promise<Team> {
  const t = await findTeam(db, id);
  if (!t) throw new TallyError('team_not_found', `no team ${id.slice(0, 60)}`, { param: 'team' });
  return t;
}

/** A team by id (team_...) or by name, as the CLI's --team takes it. */
export async function resolveTeam(db: DbOrTx, idOrName: string): Promise<Team> {
  if (/^team_[0-9A-Za-z]+$/.test(idOrName)) return getTeam(db, idOrName);
  const r = await db.selectFrom('teams').selectAll().where('name_normalized', '=', normalizeName(idOrName)).where('status', '=', 'active').executeTakeFirst();
  if (!r) throw new TallyError('team_not_found', `no team named "${idOrName.slice(0, 100)}"`, { param: 'team' });
  return rowToTeam(r);
}

export async function listTeams(db: DbOrTx, opts: { limit?: number } = {}): Promise<Team[]> {
  const rows = await db
    .selectFrom('teams')
    .selectAll()
    .where('status', '=', 'active')
    .orderBy('id', 'desc')
    .limit(Math.min(opts.limit ?? 100, 500))
    .execute();
  return rows.map(rowToTeam);
}
