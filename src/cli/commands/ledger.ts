import type { Command } from 'commander';
import { runCommand } from '../run.ts';
import { verifyBooks } from '../../verifyBooks.ts';
import { expireHolds } from '../../ledger/holds.ts';
import { deadLetterFile, settleDeadLetters } from '../../gateway/deadLetters.ts';

export function ledgerCommands(program: Command) {
  const ledger = program.command('ledger').description('the double-entry ledger');
  ledger
    .command('verify')
    .description('check every ledger invariant, and that request logs, orders and refunds agree with the ledger; exits 1 on any violation')
    .option('--sweep', 'first void holds past their timeout (what a running server does every few seconds)')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const swept = o.sweep ? await expireHolds(ctx.db) : 0;
        const r = await verifyBooks(ctx.db, { now: ctx.now() });
        const lines = r.checks.flatMap((c) => [`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`, ...(c.violations ?? []).map((v) => `       ${v}`)]);
        lines.push(
          `${r.accounts} accounts, ${r.transfers} transfers, ${r.holds} holds${o.sweep ? `, ${swept} expired holds voided` : ''}: ${r.ok ? 'ledger OK' : 'LEDGER VIOLATIONS FOUND'}`,
        );
        return { result: { ...r, swept }, human: lines, exitCode: r.ok ? 0 : 1 };
      }),
    );

  ledger
    .command('settle-dead-letters')
    .description('write the request settlements a server could not commit (data/unsettled.jsonl) to the ledger, exactly once')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const settled = await settleDeadLetters(deadLetterFile(ctx.config.dataDir), ctx.settlement, ctx.now());
        if (!settled) return { result: { ok: true, settled: 0 }, human: 'no dead-lettered settlements' };
        return { result: { ok: true, settled }, human: `settled ${settled} dead-lettered request(s)` };
      }),
    );
}
