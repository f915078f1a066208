import type { KeyPrincipal } from '../../accounts/keyCache.ts';
import { TallyError } from '../../lib/errors.ts';
import { formatMoney } from '../../ledger/money.ts';
import type { Group } from '../groups.ts';
import { affordableOutputTokens, computeCost, costBound, isMediaKind, type ModelPrice } from '../pricing.ts';
import { quoteMedia } from '../media/quote.ts';
import { estimatePrompt, promptFloor } from '../promptEstimate.ts';
import type { Reservation, ReserveRefusal } from '../reservations.ts';
import { budgetsOf } from '../budgets.ts';
import type { RelayDeps, RequestCharge } from './requestCharge.ts';

// Step 2: the most this call can cost, held before anything is sent. The
// bound is the prompt's estimate (promptEstimate.ts) plus every choice's
// output cap, at the group's price; the prompt at the highest price a prompt
// token can have (pricing.ts costBound: a cache write may cost more than
// plain input, and whether the upstream writes the prompt to its cache is
// known only from the answer's usage). A wallet that cannot pay even the
// prompt's floor and the least output is refused before any tokenizer work;
// one that cannot pay the bound gets max_tokens lowered to what it can pay
// (TALLY_OVERSPEND=cap, at least TALLY_MIN_OUTPUT_TOKENS), else a 402. The
// key's spend limit and its budgets (budgets.ts: the key's own, and its team
// member's) are held against the same way, each refusing with its own 402.

export async function quote(d: RelayDeps, c: RequestCharge): Promise<void> {
  const { call, price, group, principal } = c;
  // An image or audio call is held on its media basis (media/quote.ts); a media model cannot be used for text.
  if (call.media) return quoteMedia(d, c);
  if (isMediaKind(price.kind))
    throw new TallyError('invalid_request', `"${call.model}" is a media model (${price.kind}); call it on its images or audio endpoint`, { param: 'model' });
  const cfg = d.config;
  const n = call.choices;
  const producesOutput = n > 0;
  const maxOut = producesOutput ? (call.requestedMax ?? price.maxOutputTokens) : 0;
  const leastOut = cfg.overspend === 'cap' ? Math.min(maxOut, cfg.minOutputTokens) : maxOut;
  await refuseUnaffordable(
    d,
    principal,
    computeCost(price, { promptTokens: promptFloor(call.prompt), completionTokens: n * leastOut, cachedTokens: 0 }, group.multiplierPpm),
  );
  const counted = estimatePrompt(call.prompt);
  const estimate = counted instanceof Promise ? await counted : counted;
  c.estimate = estimate;
  const promptBound = estimate.bound;
  // Tokens per minute (limits.ts), taken on the request's bound (prompt bound + every choice's output cap), corrected when it settles.
  if (c.limitTicket?.limits.tpm) await d.limits.tokens(c.limitTicket, promptBound + n * maxOut, c.inbound.res);
  let reservation = await reserveOrRefresh(d, principal, costBound(price, promptBound, n * maxOut, group.multiplierPpm));
  if (!('walletId' in reservation)) {
    const refusal = reservation;
    // Cap max_tokens to what the wallet (or key limit, or budget) can pay, if allowed and worth it.
    if (cfg.overspend === 'cap' && producesOutput) {
      const perChoice = Math.floor(affordableOutputTokens(price, promptBound, group.multiplierPpm, refusal.usable) / n);
      if (perChoice >= cfg.minOutputTokens) {
        const capped = Math.min(perChoice, maxOut);
        const bound = costBound(price, promptBound, n * capped, group.multiplierPpm);
        const second = await d.book.reserve(principal.walletId, principal.key, bound, budgetsOf(principal));
        if ('walletId' in second) {
          reservation = second;
          c.maxTokensCap = capped;
          c.cappedBy = refusal.limit;
        }
      }
    }
    if (!('walletId' in reservation)) throw insufficient(refusal);
  }
  c.reservation = reservation;
  c.log.held = reservation.amount;
  c.log.pricing = pricingSnapshot(price, group);
}

/** 402 unless the wallet (and key limit) can pay `least`; re-reads the wallet once first (a top-up may have landed). */
async function refuseUnaffordable(d: RelayDeps, p: KeyPrincipal, least: bigint): Promise<void> {
  if (least <= 0n) return;
  let refusal = await d.book.check(p.walletId, p.key, least, budgetsOf(p));
  if (refusal?.limit === 'wallet') {
    await d.settlement.refreshWallet(p.walletId);
    refusal = await d.book.check(p.walletId, p.key, least, budgetsOf(p));
  }
  if (refusal) throw insufficient(refusal);
}

/** Reserve; if refused, re-read the wallet once (a top-up may have landed) and try again. */
export async function reserveOrRefresh(d: RelayDeps, p: KeyPrincipal, amount: bigint): Promise<Reservation | ReserveRefusal> {
  const first = await d.book.reserve(p.walletId, p.key, amount, budgetsOf(p));
  if ('walletId' in first || first.limit !== 'wallet') return first;
  await d.settlement.refreshWallet(p.walletId);
  return d.book.reserve(p.walletId, p.key, amount, budgetsOf(p));
}

/** The 402 for a refusal: budget_exceeded (naming the budget, its period and when it resets) or insufficient_balance. */
export function insufficient(r: ReserveRefusal): TallyError {
  if (r.budget) {
    const b = r.budget;
    return new TallyError('budget_exceeded', r.message, {
      details: {
        limit: 'budget',
        budget: b.ref,
        amount: formatMoney(b.amount),
        period: b.period,
        period_key: b.periodKey,
        resets_at: b.resetsAt,
        needed: formatMoney(r.needed, 6),
        available: formatMoney(r.usable > 0n ? r.usable : 0n, 6),
      },
    });
  }
  return new TallyError('insufficient_balance', r.message, {
    details: { limit: r.limit, needed: formatMoney(r.needed, 6), available: formatMoney(r.usable > 0n ? r.usable : 0n, 6) },
  });
}

// The pricing snapshot stored with each log row, built once per price and group
// (price objects are replaced when the catalog reloads, so the cache follows).
const snapshots = new WeakMap<ModelPrice, Map<string, string>>();

const optional = (v: bigint | null): string | null => (v === null ? null : String(v));

function pricingSnapshot(price: ModelPrice, group: Group): string {
  let byGroup = snapshots.get(price);
  if (!byGroup) snapshots.set(price, (byGroup = new Map()));
  const k = `${group.name}\u0000${group.multiplierPpm}`;
  let json = byGroup.get(k);
  if (json === undefined) {
    json = JSON.stringify({
      input_per_1m: String(price.inputPer1M),
      output_per_1m: String(price.outputPer1M),
      cached_input_per_1m: optional(price.cachedInputPer1M),
      cache_write_per_1m: optional(price.cacheWritePer1M),
      cache_write_1h_per_1m: optional(price.cacheWrite1hPer1M),
      tier_above: price.tierAbove === null ? null : String(price.tierAbove),
      tier_input_per_1m: optional(price.tierInputPer1M),
      tier_output_per_1m: optional(price.tierOutputPer1M),
      multiplier_ppm: String(group.multiplierPpm),
      group: group.name,
    });
    byGroup.set(k, json);
  }
  return json;
}
