import { TallyError } from '../lib/errors.ts';

// Money is an integer number of micro-units (1 USD = 1_000_000) held as bigint.
// Decimal strings ("10.00") at every API edge; no float ever touches money.

export type Micros = bigint;

export const MICROS_PER_UNIT = 1_000_000n;
/** Largest amount accepted at an edge: 1e12 units (a trillion dollars). */
export const MAX_MICROS = 1_000_000_000_000n * MICROS_PER_UNIT;

const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

export interface ParseOptions {
  /** Name of the field, used in error messages and as the error's param. */
  field?: string;
  allowNegative?: boolean;
  allowZero?: boolean;
}

/**
 * Parses a decimal string (or a bigint) into micro-units. Numbers are refused:
 * a JSON number has already been through a float and may not be what the user
 * typed (0.1 + 0.2), so every edge takes strings.
 */
export function parseMoney(input: unknown, opts: ParseOptions = {}): Micros {
  const field = opts.field ?? 'amount';
  if (typeof input === 'bigint') return checkRange(input, field, opts);
  if (typeof input === 'number') {
    throw new TallyError('invalid_amount', `${field} must be a decimal string such as "10.00", not a JSON number`, { param: field });
  }
  if (typeof input !== 'string') throw new TallyError('invalid_amount', `${field} is required, as a decimal string such as "10.00"`, { param: field });
  const s = input.trim();
  const m = DECIMAL.exec(s);
  if (!m) throw new TallyError('invalid_amount', `${field} "${s.slice(0, 40)}" is not a decimal number; write it like "10.00"`, { param: field });
  const [, sign, whole, frac = ''] = m;
  if (frac.length > 6) throw new TallyError('invalid_amount', `${field} has more than 6 decimal places; the smallest unit is 0.000001`, { param: field });
  if (whole.length > 13) throw new TallyError('invalid_amount', `${field} is too large; the maximum is ${formatMoney(MAX_MICROS)}`, { param: field });
  let v = BigInt(whole) * MICROS_PER_UNIT + BigInt(frac.padEnd(6, '0'));
  if (sign) v = -v;
  return checkRange(v, field, opts);
}

function checkRange(v: bigint, field: string, opts: ParseOptions): Micros {
  if (v < 0n && !opts.allowNegative) throw new TallyError('invalid_amount', `${field} must not be negative`, { param: field });
  if (v === 0n && opts.allowZero === false) throw new TallyError('invalid_amount', `${field} must be greater than zero`, { param: field });
  if (v > MAX_MICROS || v < -MAX_MICROS)
    throw new TallyError('invalid_amount', `${field} is too large; the maximum is ${formatMoney(MAX_MICROS)}`, { param: field });
  return v;
}

/** A positive amount: the usual case for credits, holds and prices. */
export function parsePositiveMoney(input: unknown, field = 'amount'): Micros {
  return parseMoney(input, { field, allowZero: false });
}

/**
 * Formats micro-units as a decimal string with at least `minDecimals` places
 * and no trailing zeros beyond them: 10_000_000n → "10.00", 1_500n → "0.0015".
 */
export function formatMoney(v: Micros, minDecimals = 2): string {
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const whole = abs / MICROS_PER_UNIT;
  let frac = (abs % MICROS_PER_UNIT).toString().padStart(6, '0');
  while (frac.length > minDecimals && frac.endsWith('0')) frac = frac.slice(0, -1);
  return `${neg ? '-' : ''}${whole}${frac.length ? '.' + frac : ''}`;
}

/** Integer division rounding up (toward +infinity) for non-negative operands. */
export function divCeil(a: bigint, b: bigint): bigint {
  if (b <= 0n) throw new RangeError('divCeil: divisor must be positive');
  if (a <= 0n) return -(-a / b);
  return (a + b - 1n) / b;
}

/** Normalises a value read from either database (bigint, number or numeric string) to bigint. */
export function toBig(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`unsafe integer from database: ${v}`);
    return BigInt(v);
  }
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  if (v === null || v === undefined) return 0n;
  throw new TypeError(`not an integer: ${String(v)}`);
}
