import type { Command } from 'commander';
import { readFileSync, statSync } from 'node:fs';
import { runCommand } from '../run.ts';
import { TallyError } from '../../lib/errors.ts';
import { applyPriceImport, MAX_CATALOG_BYTES, parseMarkup, parsePriceCatalog, planPriceImport, type ImportPlan } from '../../ops/priceImport.ts';

/** The catalog file, parsed; bounded in size before it is read. */
function readCatalog(file: string): unknown {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new TallyError('invalid_price_catalog', `cannot read ${file}: no such file`);
  }
  if (size > MAX_CATALOG_BYTES)
    throw new TallyError('price_catalog_too_large', `${file} is ${size} bytes; a price catalog may be at most ${MAX_CATALOG_BYTES} bytes`);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TallyError('invalid_price_catalog', `${file} is not valid JSON: ${(e as Error).message.slice(0, 200)}`);
  }
}

const LISTED = 50;

function planLines(plan: ImportPlan, applied: boolean): string[] {
  const lines = [
    `${plan.format} catalog: ${plan.added.length} added, ${plan.changed.length} changed, ${plan.unchanged} unchanged, ${plan.skipped.length} skipped, ${plan.refused.length} refused`,
  ];
  for (const a of plan.added.slice(0, LISTED))
    lines.push(
      `+ ${a.model}: input ${a.input_per_1m}/1M, output ${a.output_per_1m}/1M${a.cached_input_per_1m === null ? '' : `, cached ${a.cached_input_per_1m}/1M`}, max output ${a.max_output_tokens}`,
    );
  for (const c of plan.changed.slice(0, LISTED))
    lines.push(
      `~ ${c.model}: ${Object.entries(c.changes)
        .map(([k, v]) => `${k} ${v.from ?? 'unset'} → ${v.to ?? 'unset'}`)
        .join(', ')}`,
    );
  const more = Math.max(0, plan.added.length - LISTED) + Math.max(0, plan.changed.length - LISTED);
  if (more) lines.push(`… and ${more} more (--json lists them all)`);
  for (const r of plan.refused.slice(0, LISTED)) lines.push(`! refused ${r.reason}`);
  for (const r of plan.rounded.slice(0, LISTED)) lines.push(`  note: ${r.model}: ${r.fields.join(', ')} finer than a micro-unit per 1M, rounded up`);
  lines.push(
    applied
      ? `applied: ${plan.writes.length} price(s) written`
      : plan.writes.length
        ? 'dry run: nothing written; add --apply to write these prices'
        : 'nothing to change',
  );
  return lines;
}

export function modelImportCommand(model: Command): void {
  model
    .command('import')
    .description("load prices from a JSON price catalog (LiteLLM's model_prices_and_context_window.json or models.dev's api.json); a dry run unless --apply")
    .argument('<file>', 'the catalog file')
    .option('--apply', 'write the added and changed prices (audited); without it nothing is written')
    .option('--only <a,b>', 'only these models')
    .option('--markup <factor>', 'multiply every catalog price by this decimal, e.g. 1.2 (rounded up to the micro-unit)')
    .option('--json', 'print one JSON object')
    .action((file: string, o) =>
      runCommand(o, async (ctx) => {
        const markupPpm = o.markup === undefined ? undefined : parseMarkup(o.markup);
        const only = o.only
          ? String(o.only)
              .split(',')
              .map((s: string) => s.trim())
              .filter(Boolean)
          : undefined;
        const catalog = parsePriceCatalog(readCatalog(file));
        const plan = await planPriceImport(ctx.db, catalog, { only, markupPpm });
        const applied = o.apply ? await applyPriceImport(ctx.db, plan, { type: 'cli' }, file) : 0;
        if (applied) await ctx.events.publish({ type: 'catalog_changed' });
        const { writes: _w, ...view } = plan;
        return { result: { ok: true, applied: !!o.apply, written: applied, ...view }, human: planLines(plan, !!o.apply) };
      }),
    );
}
