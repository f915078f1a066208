import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { runCommand } from '../run.ts';
import { parsePositiveMoney, formatMoney } from '../../ledger/money.ts';
import { parseExpiry } from '../../lib/validate.ts';
import { TallyError } from '../../lib/errors.ts';
import { generateRedeemBatch, redeemCodesCsv } from '../../redeem/index.ts';

const WHOLE_NUMBER_CODES = { count: 'invalid_count', 'max-uses': 'invalid_max_uses' } as const;

const wholeNumber = (v: string | undefined, field: keyof typeof WHOLE_NUMBER_CODES, fallback?: number): number => {
  if (v === undefined && fallback !== undefined) return fallback;
  if (!v || !/^\d+$/.test(v)) throw new TallyError(WHOLE_NUMBER_CODES[field], `--${field} must be a whole number`, { param: field });
  return Number(v);
};

export function redeemCommands(program: Command) {
  const redeem = program.command('redeem').description('redeem codes');
  redeem
    .command('generate')
    .description('generate a batch of redeem codes; the codes are printed (or written to --csv) this once and never stored in plaintext')
    .requiredOption('--count <n>', 'how many codes')
    .requiredOption('--amount <decimal>', 'credited per redemption, e.g. 10.00')
    .option('--expires <iso>', 'expiry time, e.g. 2027-01-31T00:00:00Z')
    .option('--batch <name>', 'a name to recognise the batch by')
    .option('--max-uses <n>', 'redemptions per code (each by a different account)', '1')
    .option('--csv <file>', 'write the codes to this CSV file (mode 0600) instead of printing them')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const { batch, codes } = await generateRedeemBatch(ctx.db, {
          count: wholeNumber(o.count, 'count'),
          amount: parsePositiveMoney(o.amount),
          expiresAt: parseExpiry(o.expires),
          name: o.batch ?? null,
          maxUses: wholeNumber(o.maxUses, 'max-uses', 1),
          currency: ctx.config.currency,
          secret: ctx.config.secret,
          actor: { type: 'cli' },
          now: ctx.now(),
        });
        if (o.csv) writeFileSync(o.csv, redeemCodesCsv(batch, codes), { mode: 0o600 });
        const expires = batch.expiresAt === null ? null : new Date(batch.expiresAt).toISOString();
        const summary = `batch ${batch.id}${batch.name ? ` (${batch.name})` : ''}: ${codes.length} code(s) of ${formatMoney(batch.amount)} ${batch.currency}, ${batch.maxUses} use(s) each, ${expires ? `expiring ${expires}` : 'no expiry'}`;
        return {
          result: {
            ok: true,
            batch: {
              id: batch.id,
              name: batch.name,
              amount: formatMoney(batch.amount),
              currency: batch.currency,
              max_uses: batch.maxUses,
              code_count: batch.codeCount,
              expires_at: expires,
            },
            codes: codes.map((c) => ({ id: c.id, code: c.code, display: c.display })),
            ...(o.csv ? { csv: o.csv } : {}),
          },
          human: o.csv
            ? [summary, `wrote the codes to ${o.csv} (shown only this once; Tally keeps only the last 4 characters)`]
            : [summary, ...codes.map((c) => c.code), '(the codes are shown only this once; Tally keeps only the last 4 characters)'],
        };
      }),
    );
}
