import type { Command } from 'commander';
import { runCommand } from '../run.ts';
import { resolveUser } from '../../accounts/users.ts';
import { formatMoney, parsePositiveMoney } from '../../ledger/money.ts';
import { TallyError } from '../../lib/errors.ts';
import type { BudgetPeriod } from '../../db/schema.ts';
import type { AppContext } from '../../context.ts';
import { compensateUser } from '../../payments/compensation.ts';
import {
  addMember,
  createTeam,
  listMembers,
  listTeams,
  removeMember,
  resolveTeam,
  teamDetail,
  teamSummary,
  updateMember,
  walletView,
} from '../../teams/index.ts';

// `tally team ...`: the operator's view of teams (src/teams). The CLI acts as
// staff (actor `cli`): it may manage any team's members; every change is audited.

const CLI = { type: 'cli' } as const;

async function memberByEmail(ctx: AppContext, teamId: string, email: string) {
  const m = (await listMembers(ctx.db, teamId)).find((x) => x.email === email.trim().toLowerCase() || x.userId === email);
  if (!m) throw new TallyError('team_member_not_found', `${email} is not a member of this team`, { param: 'email' });
  return m;
}

export function teamCommands(program: Command) {
  const team = program.command('team').description('teams: a shared wallet, members with roles and budgets, team keys');

  team
    .command('create')
    .description('create a team, its wallet (team:<id>) and its owner')
    .requiredOption('--name <name>')
    .requiredOption('--owner <idOrEmail>', 'the owning user (must have an account)')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const owner = await resolveUser(ctx.db, o.owner);
        const t = await createTeam(ctx.db, { name: o.name, owner, actor: CLI, currency: ctx.config.currency, now: ctx.now() });
        return { result: { ok: true, ...teamSummary(t) }, human: `created team ${t.id} (${t.name}), owner ${owner.email}, wallet ${t.walletId}` };
      }),
    );

  team
    .command('add-member')
    .description('add a member by e-mail (invited until the address has an account)')
    .requiredOption('--team <idOrName>')
    .requiredOption('--email <email>')
    .option('--role <role>', 'owner | admin | member', 'member')
    .option('--budget <decimal>', 'a spend budget per period, e.g. 5.00')
    .option('--budget-period <period>', 'day | week | month | total (default month)')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const t = await resolveTeam(ctx.db, o.team);
        const m = await addMember(ctx.db, {
          team: t,
          email: o.email,
          role: o.role,
          budget: o.budget ? parsePositiveMoney(o.budget, 'budget') : null,
          budgetPeriod: (o.budgetPeriod as BudgetPeriod | undefined) ?? null,
          actor: CLI,
          by: null,
          now: ctx.now(),
        });
        const budget = m.budget === null ? '' : `, budget ${formatMoney(m.budget)}/${m.budgetPeriod}`;
        return {
          result: {
            ok: true,
            member: {
              id: m.id,
              email: m.email,
              role: m.role,
              status: m.status,
              budget: m.budget === null ? null : formatMoney(m.budget),
              budget_period: m.budgetPeriod,
            },
          },
          human: `${m.email} is ${m.status === 'active' ? 'a member' : 'invited (no account yet)'} of ${t.name} as ${m.role}${budget}`,
        };
      }),
    );

  team
    .command('set-member')
    .description("change a member's role or budget")
    .requiredOption('--team <idOrName>')
    .requiredOption('--email <email>')
    .option('--role <role>', 'owner | admin | member')
    .option('--budget <decimal>', 'a budget, or "none" to remove it')
    .option('--budget-period <period>', 'day | week | month | total')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const t = await resolveTeam(ctx.db, o.team);
        const before = await memberByEmail(ctx, t.id, o.email);
        const budget = o.budget === undefined ? undefined : o.budget === 'none' ? null : parsePositiveMoney(o.budget, 'budget');
        const m = await updateMember(ctx.db, {
          team: t,
          memberId: before.id,
          role: o.role,
          budget,
          budgetPeriod: o.budgetPeriod ?? null,
          actor: CLI,
          by: null,
          now: ctx.now(),
        });
        if (m.userId) await ctx.events.publish({ type: 'user_changed', userId: m.userId });
        return {
          result: { ok: true, member: { id: m.id, email: m.email, role: m.role } },
          human: `${m.email}: ${m.role}${m.budget === null ? '' : `, budget ${formatMoney(m.budget)}/${m.budgetPeriod}`}`,
        };
      }),
    );

  team
    .command('remove-member')
    .description('remove a member; their team keys are revoked at once (on every instance when Redis is configured)')
    .requiredOption('--team <idOrName>')
    .requiredOption('--email <email>')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const t = await resolveTeam(ctx.db, o.team);
        const m = await memberByEmail(ctx, t.id, o.email);
        const r = await removeMember(ctx.db, { team: t, memberId: m.id, actor: CLI, by: null, now: ctx.now() });
        for (const hash of r.revokedHashes) await ctx.events.publish({ type: 'key_changed', hash });
        return {
          result: { ok: true, member: m.id, keys_revoked: r.revokedHashes.length },
          human: `removed ${m.email} from ${t.name}; ${r.revokedHashes.length} team key(s) revoked`,
        };
      }),
    );

  team
    .command('list')
    .description('teams with their wallets')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const teams = await listTeams(ctx.db);
        const rows = await Promise.all(teams.map(async (t) => ({ ...teamSummary(t), wallet: await walletView(ctx.db, t) })));
        return {
          result: { ok: true, teams: rows },
          human: rows.length ? rows.map((t) => `${t.id}  ${t.name}  balance ${t.wallet.balance} (available ${t.wallet.available})`) : 'no teams',
        };
      }),
    );

  team
    .command('show')
    .description("a team: members, roles, budgets, the wallet, each member's spend this period, team keys")
    .argument('<idOrName>')
    .option('--json', 'print one JSON object')
    .action((idOrName, o) =>
      runCommand(o, async (ctx) => {
        const t = await resolveTeam(ctx.db, idOrName);
        const d = await teamDetail(ctx.db, t, { userId: null, all: true }, ctx.now(), ctx.config.timeZone);
        return {
          result: { ok: true, team: d },
          human: [
            `${d.id}  ${d.name}  wallet ${d.wallet.id}: balance ${d.wallet.balance}, available ${d.wallet.available}`,
            ...d.members.map(
              (m) =>
                `  ${m.email}  ${m.role}  ${m.status}${m.budget ? `  budget ${m.budget}/${m.budget_period}` : ''}${'spent_this_period' in m ? `  spent ${m.spent_this_period}` : ''}`,
            ),
            `  ${d.keys.length} team key(s)`,
          ],
        };
      }),
    );

  team
    .command('compensate')
    .description("grant a goodwill credit to a team's wallet, with a reason and the support ticket; audited")
    .requiredOption('--team <idOrName>')
    .requiredOption('--amount <decimal>')
    .requiredOption('--reason <text>')
    .requiredOption('--ticket <ref>')
    .option('--idempotency-key <key>')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const t = await resolveTeam(ctx.db, o.team);
        const amount = parsePositiveMoney(o.amount);
        const r = await compensateUser(ctx.db, {
          userId: t.ownerUserId,
          teamId: t.id,
          amount,
          reason: o.reason,
          ticket: o.ticket,
          actor: CLI,
          idempotencyKey: o.idempotencyKey,
        });
        return {
          result: { ok: true, transfer_id: r.transfer.id, replayed: r.replayed, amount: formatMoney(amount), team_id: t.id },
          human: `${r.replayed ? 'already applied' : 'compensated'}: ${formatMoney(amount)} to team ${t.name} (${r.transfer.id}, ticket ${o.ticket})`,
        };
      }),
    );
}
