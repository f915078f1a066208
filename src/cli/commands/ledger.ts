import type { Command } from 'commander';
import { runCommand } from '../run.ts';
import { verifyBooks } from '../../verifyBooks.ts';
import { expireHolds } from '../../ledger/holds.ts';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { SettlementItem } from '../../gateway/settlement.ts';

const BIGINT_LOG_FIELDS = ['held', 'cost', 'charged_amount', 'uncollected'] as const;

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
        const file = join(ctx.config.dataDir, 'unsettled.jsonl');
        if (!existsSync(file)) return { result: { ok: true, settled: 0 }, human: 'no dead-lettered settlements' };
        const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
        for (const line of lines) {
          const { item } = JSON.parse(line) as { item: any };
          for (const f of BIGINT_LOG_FIELDS) item.log[f] = BigInt(item.log[f]);
          const restored: SettlementItem = { ...item, cost: BigInt(item.cost) };
          // A request already in the ledger is skipped by the queue's per-item path.
          ctx.settlement.enqueue(restored);
        }
        await ctx.settlement.flush();
        renameSync(file, `${file}.settled-${Date.now()}`);
        return { result: { ok: true, settled: lines.length }, human: `settled ${lines.length} dead-lettered request(s)` };
      }),
    );
}
