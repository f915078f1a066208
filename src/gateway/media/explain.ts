import { formatMoney } from '../../ledger/money.ts';
import { computeMediaCost, type MediaUnit } from '../pricing.ts';

// The arithmetic of a media charge, for GET /api/usage/:id and the billing
// doctor: the units billed x the unit price x the multiplier = the cost, from
// the pricing snapshot stored with the log row (media/quote.ts, with the unit
// price media/bill.ts charged at).

const PER: Record<MediaUnit, (n: number, price: string) => string> = {
  image: (n, p) => `${n} image${n === 1 ? '' : 's'} x ${p}`,
  audio_ms: (n, p) => `${n} ms of audio x ${p}/s`,
  character: (n, p) => `${n} characters x ${p}/1M`,
  request: (n, p) => `${n} request x ${p}`,
};

export function mediaArithmetic(p: Record<string, any>, row: { media_unit?: string | null; media_units?: unknown }) {
  const pricing = {
    basis: p.basis as string,
    kind: p.kind as string,
    ...(p.per_image === null ? {} : { per_image: formatMoney(BigInt(p.per_image)) }),
    ...(p.per_image_sizes
      ? { per_image_sizes: Object.fromEntries(Object.entries(p.per_image_sizes).map(([k, v]) => [k, formatMoney(BigInt(v as string))])) }
      : {}),
    ...(p.per_second === null ? {} : { per_second: formatMoney(BigInt(p.per_second)) }),
    ...(p.per_request === null ? {} : { per_request: formatMoney(BigInt(p.per_request)) }),
    ...(p.basis === 'character' ? { input_per_1m_characters: formatMoney(BigInt(p.input_per_1m)) } : {}),
    multiplier: formatMoney(BigInt(p.multiplier_ppm), 1),
    group: p.group as string,
  };
  const unit = row.media_unit as MediaUnit | null | undefined;
  if (!unit || !(unit in PER) || p.unit_price === undefined) return { pricing, explanation: null };
  const n = Number(row.media_units ?? 0);
  const unitPrice = BigInt(p.unit_price);
  const mult = BigInt(p.multiplier_ppm);
  const cost = computeMediaCost(unit, n, unitPrice, mult);
  return {
    pricing,
    explanation: `${PER[unit](n, formatMoney(unitPrice))} x ${formatMoney(mult)} = ${formatMoney(cost, 6)} (rounded up to the micro-unit)`,
  };
}
