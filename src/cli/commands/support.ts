import type { Command } from 'commander';
import { runCommand } from '../run.ts';
import { resolveUser } from '../../accounts/users.ts';
import { classifyBillingCases, parseHints } from '../../support/doctor/index.ts';

export function supportCommands(program: Command) {
  const support = program.command('support').description('support: the billing doctor');
  support
    .command('diagnose')
    .description("classify a user's open billing cases with their evidence, cause and next step")
    .requiredOption('--user <idOrEmail>', 'user id (usr_...) or email')
    .option('--problem <class>', 'narrow to one case class, e.g. paid_not_credited')
    .option('--amount <decimal>', 'amount the user mentions, e.g. 10.00')
    .option('--order-time <iso>', 'approximate order time')
    .option('--reference <tail>', 'last 4+ characters of an order id or redeem code')
    .option('--key <last4>', 'last 4 characters of the API key being called')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const user = await resolveUser(ctx.db, o.user);
        const hints = parseHints({ problem: o.problem, amount: o.amount, order_time: o.orderTime, reference: o.reference, key: o.key });
        const d = await classifyBillingCases({ ctx, input: { userId: user.id, hints, audience: 'staff' } });
        const human = [`${d.user.account} (${d.user.id}): balance ${d.balance.balance} ${d.balance.currency}, ${d.summary.en}`];
        for (const c of d.cases) {
          human.push(
            '',
            `[${c.class}] ${c.state}: ${c.title.en}`,
            `  cause: ${c.cause.en}`,
            `  原因: ${c.cause.zh}`,
            `  next: ${c.next_step.en}`,
            ...c.evidence.map((e) => `  - ${e}`),
            `  help: ${c.help.url}`,
          );
          if (c.fix) human.push(`  fix: ${c.fix.label.en} (POST ${c.fix.path})`);
        }
        return { result: { ok: true, ...d }, human };
      }),
    );
}
