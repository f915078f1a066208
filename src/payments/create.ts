import type { PaymentsContext } from './context.ts';
import { withTransaction } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { TallyError } from '../lib/errors.ts';
import { parsePositiveMoney, formatMoney } from '../ledger/money.ts';
import { toMinorUnits, convertAtRate } from './currency.ts';
import { findOrder, recordOrderEvent, transitionOrder, type Order } from './orders.ts';
import { providerUnavailable } from './errors.ts';

export interface CreateOrderInput {
  userId: string;
  amount: unknown;
  currency?: string;
  provider?: string;
  method?: string;
  /** A team top-up: credits the team wallet (the caller checked the user may fund it: src/teams). */
  teamId?: string | null;
  /** This Tally's public base URL, for notify/return/pay-page links. */
  baseUrl: string;
}

/**
 * A top-up order: the amount the user pays, the credit in the platform
 * currency at the operator's rate (snapshotted on the order, so a later rate
 * change never alters it), an expiry, and where to pay.
 */
export async function createOrder(ctx: PaymentsContext, input: CreateOrderInput): Promise<Order> {
  const pay = ctx.payments;
  const providerName = input.provider ?? pay.settings.defaultProvider;
  if (!providerName) throw new TallyError('no_payment_provider', 'no payment provider is configured on this server', { param: 'provider' });
  const provider = pay.provider(providerName);
  const currency = (input.currency ?? provider.currencies?.[0] ?? pay.settings.platformCurrency).toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency)) throw new TallyError('invalid_currency', 'currency must be a 3-letter code such as USD or CNY', { param: 'currency' });
  if (provider.currencies && !provider.currencies.includes(currency))
    throw new TallyError('unsupported_currency', `${provider.name} accepts ${provider.currencies.join(', ')}`, { param: 'currency' });
  const rate = pay.settings.rates.get(currency);
  if (!rate)
    throw new TallyError(
      'unsupported_currency',
      `no exchange rate for ${currency} is configured (TALLY_PAYMENT_RATES); accepted: ${[...pay.settings.rates.keys()].join(', ')}`,
      { param: 'currency' },
    );
  const amount = parsePositiveMoney(input.amount);
  toMinorUnits(amount, currency); // refuses amounts the currency cannot represent
  const credit = convertAtRate(amount, rate);
  const { minCredit, maxCredit, platformCurrency } = pay.settings;
  if (credit < minCredit)
    throw new TallyError(
      'amount_too_small',
      `the minimum top-up is ${formatMoney(minCredit)} ${platformCurrency} (this order would credit ${formatMoney(credit)})`,
      { param: 'amount' },
    );
  if (credit > maxCredit)
    throw new TallyError(
      'amount_too_large',
      `the maximum top-up is ${formatMoney(maxCredit)} ${platformCurrency} (this order would credit ${formatMoney(credit)})`,
      { param: 'amount' },
    );
  if (input.method !== undefined && !/^[a-z0-9_]{1,20}$/.test(input.method))
    throw new TallyError('invalid_method', 'method is a short payment-method code such as alipay or wxpay', { param: 'method' });

  const now = ctx.now();
  const id = newId('ord');
  await withTransaction(ctx.db, async (tx) => {
    await tx
      .insertInto('payment_orders')
      .values({
        id,
        user_id: input.userId,
        team_id: input.teamId ?? null,
        provider: provider.name,
        method: input.method ?? null,
        status: 'created',
        amount,
        currency,
        credit_amount: credit,
        credit_currency: platformCurrency,
        exchange_rate: formatMoney(rate, 0),
        provider_ref: null,
        provider_trade_id: null,
        checkout_url: null,
        status_reason: null,
        refunded_amount: 0n,
        refunded_credit: 0n,
        credit_transfer_id: null,
        possible_duplicate_of: null,
        expires_at: now + pay.settings.expiryMs,
        paid_at: null,
        credited_at: null,
        next_check_at: now + pay.settings.reconcileAfterMs,
        check_attempts: 0,
        lease_owner: null,
        lease_until: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await recordOrderEvent(tx, {
      orderId: id,
      kind: 'transition',
      from: null,
      to: 'created',
      source: 'user',
      reason: `top-up of ${formatMoney(amount)} ${currency} → ${formatMoney(credit)} ${platformCurrency} at ${formatMoney(rate, 0)}`,
      now,
    });
  });
  const order = (await findOrder(ctx.db, id))!;
  const base = input.baseUrl.replace(/\/$/, '');
  let checkout;
  try {
    checkout = await provider.createCheckout(order, {
      baseUrl: base,
      notifyUrl: `${base}/api/payments/${provider.name === 'stripe' ? 'stripe/webhook' : `${provider.name}/notify`}`,
      returnUrl: `${base}/api/orders/${id}/return`,
    });
  } catch (e) {
    await transitionOrder(ctx.db, {
      orderId: id,
      to: 'failed',
      source: 'system',
      reason: `the provider could not start a checkout: ${(e as Error).message.slice(0, 300)}`,
      now: ctx.now(),
    });
    throw e instanceof Error && 'code' in e ? e : providerUnavailable(provider.name, 'could not start a checkout', e);
  }
  await transitionOrder(ctx.db, {
    orderId: id,
    to: 'pending',
    source: 'system',
    reason: 'waiting for the customer to pay',
    payload: checkout.payload ?? null,
    now: ctx.now(),
    only: ['created'],
    set: { provider_ref: checkout.providerRef, checkout_url: checkout.checkoutUrl },
  });
  return (await findOrder(ctx.db, id))!;
}
