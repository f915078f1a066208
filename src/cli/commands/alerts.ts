import type { Command } from 'commander';
import { runCommand } from '../run.ts';
import { resolveUser } from '../../accounts/users.ts';
import { resolveTeam } from '../../teams/index.ts';
import { walletAccountId } from '../../ledger/accounts.ts';
import { formatMoney } from '../../ledger/money.ts';
import { TallyError } from '../../lib/errors.ts';
import type { AppContext } from '../../context.ts';
import { changeAlertSettings, readAlertSettings, type AlertSettings } from '../../alerts/index.ts';

// `tally alerts show|set`: the operator's view of a user's or a team's alert
// settings (the same change as PUT /api/alerts: a new threshold is judged at once).

async function ownerOf(ctx: AppContext, o: { user?: string; team?: string }): Promise<string> {
  if (!!o.user === !!o.team) throw new TallyError('invalid_request', 'name exactly one owner: --user EMAIL or --team NAME', { param: 'user' });
  if (o.user) return walletAccountId((await resolveUser(ctx.db, o.user)).id);
  return (await resolveTeam(ctx.db, o.team!)).walletId;
}

function shown(s: AlertSettings) {
  return {
    owner: s.owner,
    balance_below: s.balanceBelow === null ? null : formatMoney(s.balanceBelow),
    email: s.email,
    webhook_url: s.webhookUrl,
    language: s.language,
  };
}

const human = (s: AlertSettings) =>
  `${s.owner}: balance below ${s.balanceBelow === null ? 'none' : formatMoney(s.balanceBelow)}, e-mail ${s.email ? 'on' : 'off'}, webhook ${s.webhookUrl ?? 'none'}, language ${s.language}`;

function onOff(v: string | undefined, name: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'on' || v === 'off') return v === 'on';
  throw new TallyError('invalid_request', `--${name} takes on or off`, { param: name });
}

const noneOr = (v: string | undefined) => (v === undefined ? undefined : v === 'none' ? null : v);

export function alertCommands(program: Command) {
  const alerts = program.command('alerts').description("a user's or a team's alerts: balance threshold, e-mail, webhook");
  alerts
    .command('show')
    .description('the alert settings of a user or a team')
    .option('--user <idOrEmail>')
    .option('--team <idOrName>')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const s = await readAlertSettings(ctx.db, await ownerOf(ctx, o));
        return { result: shown(s), human: human(s) };
      }),
    );
  alerts
    .command('set')
    .description('change alert settings; a field not given stays as it is')
    .option('--user <idOrEmail>')
    .option('--team <idOrName>')
    .option('--balance-below <amount>', 'alert when the spendable balance falls below this, or none')
    .option('--email <on|off>', 'send alerts by e-mail (needs TALLY_SMTP_URL)')
    .option('--webhook <url>', 'post alerts to this URL (needs TALLY_WEBHOOK_SECRET), or none')
    .option('--language <en|zh>', 'the language of the alert mails')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        if (o.language !== undefined && o.language !== 'en' && o.language !== 'zh')
          throw new TallyError('invalid_request', '--language takes en or zh', { param: 'language' });
        const s = await changeAlertSettings(ctx, await ownerOf(ctx, o), {
          balanceBelow: noneOr(o.balanceBelow),
          email: onOff(o.email, 'email'),
          webhookUrl: noneOr(o.webhook),
          language: o.language,
        });
        return { result: { ok: true, ...shown(s) }, human: human(s) };
      }),
    );
}
