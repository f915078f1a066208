import { TallyError } from '../lib/errors.ts';
import { MICROS_PER_UNIT, formatMoney } from '../ledger/money.ts';

// Providers speak minor units (Stripe: cents) or 2-decimal strings (EPay);
// Tally keeps micro-units. An amount that a currency cannot represent exactly
// is refused at order creation, so a conversion never rounds a payment.
const ZERO_DECIMAL = new Set(['JPY', 'KRW', 'VND', 'CLP', 'ISK', 'UGX', 'XAF', 'XOF']);

export const minorUnitMicros = (currency: string): bigint => (ZERO_DECIMAL.has(currency.toUpperCase()) ? MICROS_PER_UNIT : MICROS_PER_UNIT / 100n);

export function toMinorUnits(amount: bigint, currency: string): bigint {
  const unit = minorUnitMicros(currency);
  if (amount % unit !== 0n)
    throw new TallyError('invalid_amount', `${currency} amounts have at most ${unit === MICROS_PER_UNIT ? 0 : 2} decimal places`, { param: 'amount' });
  return amount / unit;
}

export const fromMinorUnits = (minor: bigint | number, currency: string): bigint => BigInt(minor) * minorUnitMicros(currency);

/** "10.00" for a 2-decimal currency; what EPay's `money` carries. */
export const formatForProvider = (amount: bigint, currency: string): string => formatMoney(amount, minorUnitMicros(currency) === MICROS_PER_UNIT ? 0 : 2);

/** Credit in the platform currency: amount × rate, rounded down (never credit a fraction nobody paid). */
export const convertAtRate = (amount: bigint, rateMicros: bigint): bigint => (amount * rateMicros) / MICROS_PER_UNIT;
