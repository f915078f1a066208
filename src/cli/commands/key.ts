import type { Command } from 'commander';
import { runCommand } from '../run.ts';
import { resolveUser } from '../../accounts/users.ts';
import { createApiKey, setKeyBudget } from '../../accounts/apiKeys.ts';
import { describeBudget, parseBudgetPeriod } from '../../gateway/budgets.ts';
import { TallyError } from '../../lib/errors.ts';
import { parsePositiveMoney } from '../../ledger/money.ts';
import { keyView } from '../../accounts/present.ts';
import { parseExpiry } from '../../lib/validate.ts';
import { findMembership, resolveTeam } from '../../teams/index.ts';

const list = (s?: string) =>
  s
    ? s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : null;

/** A limit option: absent (undefined: unchanged), `none` (null: no limit of its own) or a whole number. */
export function limitOption(v: string | undefined, name: string): number | null | undefined {
  if (v === undefined) return undefined;
  if (v === 'none') return null;
  if (!/^\d{1,13}$/.test(v)) throw new TallyError('invalid_limit', `--${name} must be a whole number, or none to remove it`, { param: name });
  return Number(v);
}

export function keyCommands(program: Command) {
  const key = program.command('key').description('API keys');
  key
    .command('create')
    .description('create an API key; the full key is printed once')
    .requiredOption('--user <idOrEmail>')
    .option('--name <name>', 'a name to recognise the key by', 'default')
    .option('--models <a,b>', 'only these models')
    .option('--limit <decimal>', 'spend limit, e.g. 5.00')
    .option('--expires <iso>', 'expiry time, e.g. 2027-01-31T00:00:00Z')
    .option('--ip <cidrs>', 'IP allowlist, e.g. 10.0.0.0/8,203.0.113.7')
    .option('--label <label>', 'live | test', 'live')
    .option('--rpm <n>', "requests per minute for this key (default: the user's or group's, if any)")
    .option('--tpm <n>', 'tokens per minute for this key')
    .option('--concurrency <n>', 'requests in flight at once for this key')
    .option('--budget <decimal>', 'a budget per period, e.g. 5.00 (with --budget-period)')
    .option('--budget-period <period>', 'day | week | month | total (calendar periods in TALLY_TIMEZONE)')
    .option('--team <idOrName>', 'a team key: spends the team wallet (the user must be an active member)')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const user = await resolveUser(ctx.db, o.user);
        const team = o.team ? await resolveTeam(ctx.db, o.team) : null;
        if (team && !(await findMembership(ctx.db, team.id, user.id)))
          throw new TallyError('forbidden', `${user.email} is not an active member of team ${team.name}`);
        const { key: k, secret } = await createApiKey(
          ctx.db,
          {
            userId: user.id,
            name: o.name,
            label: o.label,
            models: list(o.models),
            spendLimit: o.limit ? parsePositiveMoney(o.limit, 'limit') : null,
            expiresAt: parseExpiry(o.expires),
            ipAllowlist: list(o.ip),
            limits: { rpm: limitOption(o.rpm, 'rpm'), tpm: limitOption(o.tpm, 'tpm'), concurrency: limitOption(o.concurrency, 'concurrency') },
            budget: o.budget ? parsePositiveMoney(o.budget, 'budget') : null,
            budgetPeriod: parseBudgetPeriod(o.budgetPeriod),
            teamId: team?.id ?? null,
          },
          ctx.now(),
        );
        return {
          result: { ok: true, ...keyView(k), user_id: user.id, key: secret },
          human: [`created key ${k.id} (${k.name}) for ${user.email}`, secret, '(the full key is shown only this once)'],
        };
      }),
    );

  key
    .command('set-budget')
    .description("set or remove a key's budget (what it spent in the current period stays counted)")
    .requiredOption('--key <id>')
    .option('--budget <decimal>', 'a budget per period, e.g. 5.00')
    .option('--budget-period <period>', 'day | week | month | total')
    .option('--none', 'remove the budget')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        if (!o.none && !o.budget)
          throw new TallyError('invalid_budget', 'give --budget 5.00 --budget-period day|week|month|total, or --none', { param: 'budget' });
        const { key: k, hash } = await setKeyBudget(ctx.db, {
          userId: null,
          keyId: o.key,
          budget: o.none ? null : parsePositiveMoney(o.budget, 'budget'),
          budgetPeriod: o.none ? null : parseBudgetPeriod(o.budgetPeriod),
        });
        // Running servers drop the key from their caches (through Redis when configured; else within the cache's minute).
        await ctx.events.publish({ type: 'key_changed', hash });
        return {
          result: { ok: true, ...keyView(k) },
          human: k.budget === null ? `key ${k.id} has no budget` : `key ${k.id}: budget ${describeBudget(k.budget, k.budgetPeriod!)}`,
        };
      }),
    );
}
