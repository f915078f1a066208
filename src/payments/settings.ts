import type { Config } from '../config/index.ts';
import { parseMoney, MICROS_PER_UNIT } from '../ledger/money.ts';
import { TallyError } from '../lib/errors.ts';

// Operator settings for payments, read from the environment (TALLY_PAYMENT_*).
export type ProviderName = 'sandbox' | 'stripe' | 'epay';
const KNOWN: readonly ProviderName[] = ['sandbox', 'stripe', 'epay'];

export interface PaymentSettings {
  platformCurrency: string;
  providers: ProviderName[];
  defaultProvider: ProviderName | null;
  /** Rate in micro-units: 1 unit of the key currency = rate/1e6 platform units. */
  rates: Map<string, bigint>;
  minCredit: bigint;
  maxCredit: bigint;
  expiryMs: number;
  reconcileAfterMs: number;
  reconcileIntervalMs: number;
  stuckAfterMs: number;
  duplicateWindowMs: number;
  stripe: { secretKey: string; webhookSecret: string | null; apiBase: string | null } | null;
  epay: { pid: string; key: string; url: string } | null;
}

/**
 * Reads and checks the payment configuration. Called once when the context is
 * built, so a mistyped rate or a provider listed without its keys stops the
 * server at start instead of failing the first customer's order.
 */
export function paymentSettings(config: Config): PaymentSettings {
  const e = config.env;
  const rates = new Map<string, bigint>([[config.currency, MICROS_PER_UNIT]]);
  for (const part of (e.TALLY_PAYMENT_RATES ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = /^([A-Z]{3})=(\d+(?:\.\d{1,6})?)$/.exec(part);
    if (!m)
      throw new TallyError(
        'invalid_payment_rate',
        `TALLY_PAYMENT_RATES: "${part.slice(0, 40)}" is not like CNY=0.138 (a 3-letter currency code = its value in ${config.currency})`,
      );
    rates.set(m[1], parseMoney(m[2], { field: 'TALLY_PAYMENT_RATES', allowZero: false }));
  }
  const stripe = e.TALLY_STRIPE_SECRET_KEY
    ? { secretKey: e.TALLY_STRIPE_SECRET_KEY, webhookSecret: e.TALLY_STRIPE_WEBHOOK_SECRET ?? null, apiBase: e.TALLY_STRIPE_API_BASE ?? null }
    : null;
  const epay =
    e.TALLY_EPAY_PID && e.TALLY_EPAY_KEY && e.TALLY_EPAY_URL
      ? { pid: e.TALLY_EPAY_PID, key: e.TALLY_EPAY_KEY, url: e.TALLY_EPAY_URL.replace(/\/$/, '') }
      : null;
  // The sandbox credits balances without real money: it is on only when the
  // operator says so, never as a side effect of demo mode or a provider list.
  const sandbox = e.TALLY_PAYMENT_SANDBOX === 'on';
  let providers: ProviderName[];
  if (e.TALLY_PAYMENT_PROVIDERS) {
    providers = e.TALLY_PAYMENT_PROVIDERS.split(',')
      .map((x) => x.trim())
      .filter(Boolean) as ProviderName[];
    if (providers.includes('sandbox') && !sandbox) {
      throw new TallyError(
        'sandbox_not_enabled',
        'TALLY_PAYMENT_PROVIDERS lists sandbox, but the sandbox lets users credit themselves without paying: set TALLY_PAYMENT_SANDBOX=on as well to enable it (demos and tests only)',
      );
    }
    for (const name of providers) {
      if (!KNOWN.includes(name)) {
        throw new TallyError(
          'invalid_payment_config',
          `TALLY_PAYMENT_PROVIDERS: "${String(name).slice(0, 40)}" is not a payment provider; known: ${KNOWN.join(', ')}`,
        );
      }
    }
    if (providers.includes('stripe') && !stripe) {
      throw new TallyError('invalid_payment_config', 'TALLY_PAYMENT_PROVIDERS lists stripe, but TALLY_STRIPE_SECRET_KEY is not set');
    }
    if (providers.includes('epay') && !epay) {
      throw new TallyError(
        'invalid_payment_config',
        'TALLY_PAYMENT_PROVIDERS lists epay, but TALLY_EPAY_PID, TALLY_EPAY_KEY and TALLY_EPAY_URL are not all set',
      );
    }
  } else {
    providers = [...(sandbox ? (['sandbox'] as const) : []), ...(stripe ? (['stripe'] as const) : []), ...(epay ? (['epay'] as const) : [])];
  }
  // Half an EPay configuration would otherwise leave EPay silently off.
  const epayVars = [e.TALLY_EPAY_PID, e.TALLY_EPAY_KEY, e.TALLY_EPAY_URL];
  if (!epay && epayVars.some(Boolean)) {
    throw new TallyError('invalid_payment_config', 'EPay is half configured: set all of TALLY_EPAY_PID, TALLY_EPAY_KEY and TALLY_EPAY_URL, or none');
  }
  if (epay && !/^https?:\/\/[^/\s]+/.test(epay.url)) {
    throw new TallyError('invalid_payment_config', 'TALLY_EPAY_URL must be an http(s) URL such as https://pay.example.com');
  }
  const minCredit = parseMoney(e.TALLY_PAYMENT_MIN, { field: 'TALLY_PAYMENT_MIN' });
  const maxCredit = parseMoney(e.TALLY_PAYMENT_MAX, { field: 'TALLY_PAYMENT_MAX' });
  if (minCredit > maxCredit) {
    throw new TallyError(
      'invalid_payment_config',
      `TALLY_PAYMENT_MIN (${e.TALLY_PAYMENT_MIN}) is above TALLY_PAYMENT_MAX (${e.TALLY_PAYMENT_MAX}): no order could be created`,
    );
  }
  return {
    platformCurrency: config.currency,
    providers,
    defaultProvider: providers[0] ?? null,
    rates,
    minCredit,
    maxCredit,
    expiryMs: e.TALLY_PAYMENT_EXPIRY_MS,
    reconcileAfterMs: e.TALLY_PAYMENT_RECONCILE_AFTER_MS,
    reconcileIntervalMs: e.TALLY_PAYMENT_RECONCILE_INTERVAL_MS,
    stuckAfterMs: e.TALLY_PAYMENT_STUCK_AFTER_MS,
    duplicateWindowMs: e.TALLY_PAYMENT_DUPLICATE_WINDOW_MS,
    stripe,
    epay,
  };
}
