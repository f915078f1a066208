import type { Db } from '../../db/index.ts';
import type { PaymentSettings, ProviderName } from '../settings.ts';
import { TallyError } from '../../lib/errors.ts';
import type { PaymentProvider } from './types.ts';
import { SandboxProvider } from './sandbox.ts';
import { StripeProvider } from './stripe.ts';
import { EpayProvider } from './epay.ts';

export interface Payments {
  settings: PaymentSettings;
  providers: Map<ProviderName, PaymentProvider>;
  provider(name: string): PaymentProvider;
}

/**
 * Builds the configured providers once, when the context is built (src/context.ts):
 * the settings are checked there, so a bad configuration fails at start.
 */
export function buildPayments(settings: PaymentSettings, deps: { db: Db; secret: string; now: () => number }): Payments {
  const providers = new Map<ProviderName, PaymentProvider>();
  for (const name of settings.providers) {
    if (name === 'sandbox') providers.set(name, new SandboxProvider(deps.db, deps.secret, deps.now));
    else if (name === 'stripe' && settings.stripe) providers.set(name, new StripeProvider(settings.stripe, deps.now));
    else if (name === 'epay' && settings.epay) providers.set(name, new EpayProvider(settings.epay));
  }
  return {
    settings,
    providers,
    provider(name: string) {
      const pr = providers.get(name as ProviderName);
      if (!pr && name === 'sandbox') {
        throw new TallyError(
          'sandbox_disabled',
          `the sandbox payment provider is off on this server (it credits balances without real money; an operator enables it for demos and tests with TALLY_PAYMENT_SANDBOX=on); enabled: ${[...providers.keys()].join(', ') || 'none'}`,
          { param: 'provider' },
        );
      }
      if (!pr)
        throw new TallyError(
          'unknown_provider',
          `payment provider "${String(name).slice(0, 40)}" is not enabled here; enabled: ${[...providers.keys()].join(', ') || 'none'}`,
          { param: 'provider' },
        );
      return pr;
    },
  };
}

export type { PaymentProvider } from './types.ts';
