import type { DbOrTx } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { formatMoney, toBig } from '../ledger/money.ts';

// What the operator pays the upstream provider for a model, per 1M tokens
// (0025). Optional: the operator dashboard reports a model's margin (price
// charged − upstream cost) only when it is set, and "unknown" otherwise, never
// zero. It prices nothing a user pays, so it lives beside the model's price
// row and the relay never reads it.

export interface UpstreamCost {
  inputPer1M: bigint;
  outputPer1M: bigint;
  /** A prompt token read from a prompt cache; null: the input cost. */
  cachedInputPer1M: bigint | null;
}

/** Sets (or with null clears) a priced model's upstream cost; refused for a model that has no price. */
export async function setUpstreamCost(db: DbOrTx, model: string, cost: UpstreamCost | null, now = Date.now()): Promise<void> {
  if (cost) {
    for (const [k, v] of [
      ['upstream input', cost.inputPer1M],
      ['upstream output', cost.outputPer1M],
      ['upstream cached input', cost.cachedInputPer1M ?? 0n],
    ] as const) {
      if (v < 0n) throw new TallyError('invalid_price', `${k} cost must not be negative`, { param: k.replaceAll(' ', '_') });
    }
  }
  const r = await db
    .updateTable('model_prices')
    .set({
      upstream_input_per_1m: cost?.inputPer1M ?? null,
      upstream_output_per_1m: cost?.outputPer1M ?? null,
      upstream_cached_input_per_1m: cost?.cachedInputPer1M ?? null,
      updated_at: now,
    })
    .where('model', '=', model)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1)
    throw new TallyError('model_not_found', `"${model}" has no price; set its price first, then its upstream cost`, { param: 'model' });
}

const orNull = (v: unknown) => (v === null || v === undefined ? null : toBig(v));

/** Every model's upstream cost that is set. */
export async function listUpstreamCosts(db: DbOrTx): Promise<Map<string, UpstreamCost>> {
  const rows = await db
    .selectFrom('model_prices')
    .select(['model', 'upstream_input_per_1m', 'upstream_output_per_1m', 'upstream_cached_input_per_1m'])
    .where('upstream_input_per_1m', 'is not', null)
    .where('upstream_output_per_1m', 'is not', null)
    .execute();
  return new Map(
    rows.map((r) => [
      r.model,
      { inputPer1M: toBig(r.upstream_input_per_1m), outputPer1M: toBig(r.upstream_output_per_1m), cachedInputPer1M: orNull(r.upstream_cached_input_per_1m) },
    ]),
  );
}

/** The upstream cost fields of a price view (none when unchanged). */
export function upstreamCostView(c: UpstreamCost | null | undefined): Record<string, string | null> {
  if (c === undefined) return {};
  return {
    upstream_input_per_1m: c ? formatMoney(c.inputPer1M) : null,
    upstream_output_per_1m: c ? formatMoney(c.outputPer1M) : null,
    upstream_cached_input_per_1m: c?.cachedInputPer1M == null ? null : formatMoney(c.cachedInputPer1M),
  };
}
