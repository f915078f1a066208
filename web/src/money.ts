// Money arrives as decimal strings ("10.00", "-0.000123"). Sums and
// comparisons are done in integer micro-units (BigInt); a float only ever
// decides the width of a chart bar.
const SCALE = 6;

export function toMicros(s: string): bigint {
  const m = /^(-)?(\d+)(?:\.(\d+))?$/.exec(s.trim());
  if (!m) return 0n;
  const frac = (m[3] ?? '').slice(0, SCALE).padEnd(SCALE, '0');
  const v = BigInt(m[2]) * 10n ** BigInt(SCALE) + BigInt(frac || '0');
  return m[1] ? -v : v;
}

/** Micro-units to a decimal string with at least 2 and at most 6 decimals. */
export function fromMicros(v: bigint, minDecimals = 2): string {
  const neg = v < 0n;
  const a = neg ? -v : v;
  const whole = a / 1_000_000n;
  let frac = (a % 1_000_000n).toString().padStart(SCALE, '0').replace(/0+$/, '');
  if (frac.length < minDecimals) frac = frac.padEnd(minDecimals, '0');
  return `${neg ? '-' : ''}${whole}${frac ? '.' + frac : ''}`;
}

/** "12.3400" → "12.34", keeping at least two decimals. */
export const tidy = (s: string) => fromMicros(toMicros(s));

export const ratio = (part: bigint, whole: bigint) => (whole === 0n ? 0 : Number((part * 10_000n) / whole) / 10_000);
