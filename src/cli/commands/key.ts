import type { Command } from 'commander';
import { runCommand } from '../run.ts';
import { resolveUser } from '../../accounts/users.ts';
import { createApiKey } from '../../accounts/apiKeys.ts';
import { parsePositiveMoney } from '../../ledger/money.ts';
import { keyView } from '../../accounts/present.ts';
import { parseExpiry } from '../../lib/validate.ts';
import { TallyError } from '../../lib/errors.ts';
import { findMembership, resolveTeam } from '../../teams/index.ts';

const list = (s?: string) =>
  s
    ? s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : null;

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
}
