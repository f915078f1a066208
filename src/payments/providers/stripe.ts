import { createRequire } from 'node:module';
import type Stripe from 'stripe';
import { z } from 'zod';
import { PaymentEventShapeError, PaymentSignatureError, providerUnavailable, refundOutcomeUnknown } from '../errors.ts';
import { toMinorUnits, fromMinorUnits } from '../currency.ts';
import type { Order } from '../orders.ts';
import type {
  CallbackInput,
  Checkout,
  CheckoutLinks,
  PaymentFact,
  PaymentProvider,
  QueryResult,
  RefundRequest,
  RefundResult,
  RefundState,
  VerifiedCallback,
} from './types.ts';

// Stripe Checkout. The webhook is verified by the `stripe` package on the raw
// body (HMAC over "<t>.<body>", 300 s tolerance). Events arrive duplicated and
// out of order: callbacks.ts drops repeats by event id, and each event is
// reduced to a fact about the session that the order state machine applies
// monotonically, so a late `expired` or `completed(unpaid)` cannot undo a credit.

export interface StripeConfig {
  secretKey: string;
  webhookSecret: string | null;
  /** e.g. http://127.0.0.1:12111 for a local stand-in; the real API when null. */
  apiBase: string | null;
}

export function stripeClient(cfg: StripeConfig): Stripe {
  const opts: Stripe.StripeConfig = { maxNetworkRetries: 2, timeout: 20_000 };
  if (cfg.apiBase) {
    const u = new URL(cfg.apiBase);
    opts.host = u.hostname;
    opts.port = Number(u.port || (u.protocol === 'http:' ? 80 : 443));
    opts.protocol = u.protocol.replace(':', '') as 'http' | 'https';
  }
  // Loaded on first use: the SDK costs ~15 MB of memory, which installs that do not take Stripe should not pay.
  const StripeSdk = createRequire(import.meta.url)('stripe') as typeof Stripe;
  return new StripeSdk(cfg.secretKey, opts);
}

const REFUND_REASONS = new Set(['duplicate', 'requested_by_customer', 'fraudulent']);

// The fields Tally reads from each event's object, checked before anything is
// applied: a signed event of another shape (an API version change, a bug at
// either end) is answered 400 and recorded instead of failing half-way with a
// 500 that Stripe would retry for days.
const id = z.string().min(1).max(255);
const ref = z.union([z.string().max(255), z.object({ id: z.string().max(255) })]).nullish();
const minor = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const currency = z.string().regex(/^[A-Za-z]{3}$/, 'a 3-letter currency code');
const metadata = z.record(z.string(), z.string()).nullish();
const SessionShape = z.object({
  id,
  client_reference_id: z.string().max(255).nullish(),
  metadata,
  payment_intent: ref,
  payment_status: z.string().max(64),
  status: z.string().max(64).nullish(),
  currency: currency.nullish(),
  amount_total: minor.nullish(),
});
/** A session whose payment counts as money: its amount and currency are required. */
const PaidSessionShape = SessionShape.extend({ currency, amount_total: minor });
const ChargeShape = z.object({ id, currency, amount_refunded: minor, payment_intent: ref, metadata });
const RefundShape = z.object({ id, status: z.string().max(64).nullish(), failure_reason: z.string().max(255).nullish() });
const DisputeClosedShape = z.object({ id, status: z.string().max(64) });
const DisputeShape = z.object({ id, currency, amount: minor, reason: z.string().max(255), payment_intent: ref, charge: ref, metadata });
const EventShape = z.object({ id, type: z.string().min(1).max(255), data: z.object({ object: z.record(z.string(), z.unknown()) }) });

type SessionFields = z.infer<typeof SessionShape>;
const orderIdOf = (s: { client_reference_id?: string | null; metadata?: Record<string, string> | null }) => s.client_reference_id ?? s.metadata?.order_id ?? '';
const idOf = (x: string | { id: string } | null | undefined) => (typeof x === 'string' ? x : (x?.id ?? null));

export function sessionFacts(raw: Stripe.Checkout.Session | SessionFields, eventType: string): PaymentFact[] {
  const s = SessionShape.parse(raw);
  const orderId = orderIdOf(s);
  const paid = () => {
    const p = PaidSessionShape.parse(s);
    const currency = p.currency.toUpperCase();
    return { type: 'payment_succeeded' as const, orderId, tradeId: idOf(p.payment_intent) ?? p.id, amount: fromMinorUnits(p.amount_total, currency), currency };
  };
  switch (eventType) {
    case 'checkout.session.completed':
      // Only payment_status=paid is money; `unpaid` means an async method (bank debit) is still running.
      if (s.payment_status === 'paid') return [paid()];
      if (s.payment_status === 'unpaid')
        return [{ type: 'payment_pending', orderId, reason: 'checkout completed; the payment method confirms asynchronously' }];
      return [{ type: 'ignored', reason: `payment_status ${s.payment_status}` }];
    case 'checkout.session.async_payment_succeeded':
      return [paid()];
    case 'checkout.session.async_payment_failed':
      return [{ type: 'payment_failed', orderId, reason: 'the asynchronous payment failed at Stripe' }];
    case 'checkout.session.expired':
      return [{ type: 'checkout_expired', orderId }];
    default:
      return [{ type: 'ignored', reason: `unhandled event ${eventType}` }];
  }
}

/** The facts of one verified event; throws (zod) when a field Tally reads is missing or of another type. */
function eventFacts(type: string, obj: Record<string, unknown>): PaymentFact[] {
  if (type.startsWith('checkout.session.')) return sessionFacts(obj as SessionFields, type);
  if (type === 'charge.refunded') {
    const c = ChargeShape.parse(obj);
    const ccy = c.currency.toUpperCase();
    return [
      {
        type: 'provider_refunded',
        orderId: c.metadata?.order_id ?? null,
        tradeId: idOf(c.payment_intent) ?? c.id,
        refundedTotal: fromMinorUnits(c.amount_refunded, ccy),
        currency: ccy,
        refundRef: `${c.id}:${c.amount_refunded}`,
      },
    ];
  }
  if (type === 'charge.refund.updated' || type === 'refund.updated' || type === 'refund.failed') {
    const r = RefundShape.parse(obj);
    return [{ type: 'refund_status', providerRefundId: r.id, status: refundState(r.status), reason: r.failure_reason ?? null }];
  }
  if (type === 'charge.dispute.closed') {
    const d = DisputeClosedShape.parse(obj);
    return [{ type: 'dispute_closed', disputeId: d.id, status: d.status }];
  }
  if (type === 'charge.dispute.created') {
    const d = DisputeShape.parse(obj);
    const ccy = d.currency.toUpperCase();
    return [
      {
        type: 'dispute_opened',
        orderId: d.metadata?.order_id ?? null,
        tradeId: idOf(d.payment_intent) ?? idOf(d.charge) ?? d.id,
        amount: fromMinorUnits(d.amount, ccy),
        currency: ccy,
        disputeId: d.id,
        reason: d.reason,
      },
    ];
  }
  return [{ type: 'ignored', reason: `unhandled event ${type}` }];
}

/** Where the shape is wrong, as field paths and expectations (never the values, which may be personal data). */
function shapeProblem(e: unknown): string {
  if (e instanceof z.ZodError) {
    return e.issues
      .slice(0, 3)
      .map((i) => `data.object${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`)
      .join('; ')
      .slice(0, 300);
  }
  return `unreadable (${e instanceof Error ? e.name : 'error'})`;
}

/** The order an event names, when it names one as Stripe documents (for the note on its timeline). */
function namedOrderId(obj: unknown): string | null {
  if (!obj || typeof obj !== 'object') return null;
  const o = obj as { client_reference_id?: unknown; metadata?: unknown };
  if (typeof o.client_reference_id === 'string' && o.client_reference_id) return o.client_reference_id.slice(0, 64);
  const m = o.metadata && typeof o.metadata === 'object' ? (o.metadata as { order_id?: unknown }).order_id : undefined;
  return typeof m === 'string' && m ? m.slice(0, 64) : null;
}

export class StripeProvider implements PaymentProvider {
  readonly name = 'stripe' as const;
  readonly refundsIdempotent = true; // idempotencyKey tally-refund-<refund id>
  readonly currencies = null;
  readonly client: Stripe;
  constructor(
    private readonly cfg: StripeConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.client = stripeClient(cfg);
  }

  async createCheckout(order: Order, links: CheckoutLinks): Promise<Checkout> {
    const params: Stripe.Checkout.SessionCreateParams = {
      mode: 'payment',
      client_reference_id: order.id,
      metadata: { order_id: order.id },
      payment_intent_data: { metadata: { order_id: order.id } },
      line_items: [
        {
          quantity: 1,
          price_data: {
            currency: order.currency.toLowerCase(),
            unit_amount: Number(toMinorUnits(order.amount, order.currency)),
            product_data: { name: 'Tally balance top-up' },
          },
        },
      ],
      success_url: `${links.returnUrl}?session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: links.returnUrl,
    };
    // Stripe accepts an expiry between 30 minutes and 24 hours out; otherwise its default (24 h) applies.
    const expSec = Math.floor(order.expiresAt / 1000);
    if (order.expiresAt - this.now() >= 30 * 60_000 && order.expiresAt - this.now() <= 24 * 3600_000) params.expires_at = expSec;
    try {
      const s = await this.client.checkout.sessions.create(params, { idempotencyKey: `tally-checkout-${order.id}` });
      return { providerRef: s.id, checkoutUrl: s.url ?? '', qr: null, payload: { id: s.id } };
    } catch (e) {
      throw providerUnavailable('stripe', `could not create a checkout session: ${(e as Error).message}`, e);
    }
  }

  async verifyCallback(input: CallbackInput): Promise<VerifiedCallback> {
    if (!this.cfg.webhookSecret) throw new PaymentSignatureError('TALLY_STRIPE_WEBHOOK_SECRET is not set; webhooks cannot be verified');
    const sig = input.headers['stripe-signature'];
    if (typeof sig !== 'string' || input.rawBody === null) throw new PaymentSignatureError('missing Stripe-Signature header or body');
    let event: Stripe.Event;
    try {
      event = this.client.webhooks.constructEvent(input.rawBody, sig, this.cfg.webhookSecret, 300);
    } catch (e) {
      // The package parses the body only after the signature checked out.
      if (e instanceof SyntaxError) throw new PaymentEventShapeError({ id: null, type: null, orderId: null, problem: 'the body is not JSON' });
      throw new PaymentSignatureError(`Stripe signature verification failed: ${(e as Error).message}`);
    }
    const env = EventShape.safeParse(event);
    if (!env.success) {
      const e = event as unknown as { id?: unknown; type?: unknown; data?: { object?: unknown } };
      const problem = env.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.map(String).join('.') || '(event)'}: ${i.message}`)
        .join('; ')
        .slice(0, 300);
      throw new PaymentEventShapeError({
        id: typeof e?.id === 'string' ? e.id.slice(0, 255) : null,
        type: typeof e?.type === 'string' ? e.type.slice(0, 255) : null,
        orderId: namedOrderId(e?.data?.object),
        problem,
      });
    }
    const obj = event.data.object as any;
    let facts: PaymentFact[];
    try {
      facts = eventFacts(event.type, obj);
    } catch (e) {
      throw new PaymentEventShapeError({ id: event.id, type: event.type, orderId: namedOrderId(obj), problem: shapeProblem(e) });
    }
    return {
      eventId: event.id,
      eventType: event.type,
      facts,
      payload: {
        id: event.id,
        type: event.type,
        object: {
          id: obj?.id,
          object: obj?.object,
          status: obj?.status,
          payment_status: obj?.payment_status,
          amount_total: obj?.amount_total,
          amount_refunded: obj?.amount_refunded,
          amount: obj?.amount,
          currency: obj?.currency,
          payment_intent: obj?.payment_intent,
        },
      },
    };
  }

  async queryOrder(order: Order): Promise<QueryResult> {
    if (!order.providerRef) return { state: 'unpaid' };
    let s: Stripe.Checkout.Session;
    try {
      s = await this.client.checkout.sessions.retrieve(order.providerRef);
    } catch (e) {
      return { state: 'unknown', reason: `Stripe session lookup failed: ${(e as Error).message}` };
    }
    const payload = { id: s.id, status: s.status, payment_status: s.payment_status, amount_total: s.amount_total, currency: s.currency };
    if (s.payment_status === 'paid') {
      const currency = (s.currency ?? '').toUpperCase();
      return { state: 'paid', tradeId: idOf(s.payment_intent as any) ?? s.id, amount: fromMinorUnits(s.amount_total ?? 0, currency), currency, payload };
    }
    if (s.status === 'expired') return { state: 'expired', payload };
    return { state: 'unpaid', payload };
  }

  async queryRefund(providerRefundId: string): Promise<{ status: RefundState; reason: string | null }> {
    try {
      const r = await this.client.refunds.retrieve(providerRefundId);
      return { status: refundState(r.status), reason: r.failure_reason ?? null };
    } catch (e) {
      throw providerUnavailable('stripe', `could not look up refund ${providerRefundId}: ${(e as Error).message}`, e);
    }
  }

  async refund(order: Order, req: RefundRequest): Promise<RefundResult> {
    const target = req.tradeId ?? order.providerTradeId;
    if (!target) throw providerUnavailable('stripe', 'the order has no payment intent to refund');
    if (!/^(pi|ch|py)_/.test(target))
      throw providerUnavailable('stripe', `trade ${target.slice(0, 64)} is not a payment intent or charge; refund it in the Stripe dashboard`);
    try {
      const r = await this.client.refunds.create(
        {
          ...(target.startsWith('pi_') ? { payment_intent: target } : { charge: target }),
          amount: Number(toMinorUnits(req.amount, order.currency)),
          ...(REFUND_REASONS.has(req.reason) ? { reason: req.reason as Stripe.RefundCreateParams.Reason } : {}),
          metadata: { order_id: order.id, refund_id: req.refundId },
        },
        { idempotencyKey: `tally-refund-${req.refundId}` },
      );
      return { providerRefundId: r.id, status: r.status === 'succeeded' ? 'succeeded' : 'pending' };
    } catch (e) {
      // A refusal (invalid request, card, permission) is definite; no answer or a Stripe 5xx is not.
      const err = e as { type?: string; statusCode?: number; message?: string };
      if (err.type === 'StripeConnectionError' || err.type === 'StripeAPIError' || !err.statusCode || err.statusCode >= 500) {
        throw refundOutcomeUnknown('stripe', `no definite answer to the refund (${err.message ?? 'connection error'})`, e);
      }
      throw providerUnavailable('stripe', `the refund was not accepted: ${err.message}`, e);
    }
  }
}

/** Stripe's refund statuses: pending, requires_action (still pending), succeeded, failed, canceled. */
function refundState(status: string | null | undefined): RefundState {
  return status === 'succeeded' || status === 'failed' || status === 'canceled' ? status : 'pending';
}
