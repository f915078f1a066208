import type { Order } from '../orders.ts';

// One interface for every payment provider: create a checkout, verify a
// callback, ask about an order, refund. Routes and the reconcile worker only
// ever see this; provider quirks stay in providers/<name>.ts.

export interface CheckoutLinks {
  /** Where the provider calls back (server to server). */
  notifyUrl: string;
  /** Where the user's browser goes after paying. */
  returnUrl: string;
  /** This Tally's own base URL (sandbox pay pages live here). */
  baseUrl: string;
}

export interface Checkout {
  providerRef: string | null;
  checkoutUrl: string;
  /** A payload to render as a QR code, when the provider offers one. */
  qr?: string | null;
  payload?: unknown;
}

/** What a verified callback or a query says happened, normalised across providers. */
export type PaymentFact =
  | { type: 'payment_succeeded'; orderId: string; tradeId: string; amount: bigint; currency: string }
  | { type: 'payment_pending'; orderId: string; reason: string }
  | { type: 'payment_failed'; orderId: string; reason: string }
  | { type: 'checkout_expired'; orderId: string }
  /** Cumulative refunded total reported by the provider for a trade. */
  | { type: 'provider_refunded'; orderId: string | null; tradeId: string; refundedTotal: bigint; currency: string; refundRef: string }
  | { type: 'dispute_opened'; orderId: string | null; tradeId: string; amount: bigint; currency: string; disputeId: string; reason: string }
  /** A dispute ended: `won` (the merchant keeps the money) or `lost`. */
  | { type: 'dispute_closed'; disputeId: string; status: string }
  /** A refund Tally asked for changed state at the provider (a `pending` refund finished or failed). */
  | { type: 'refund_status'; providerRefundId: string; status: RefundState; reason: string | null }
  | { type: 'ignored'; reason: string };

export interface VerifiedCallback {
  /** The provider's event id when it has one (Stripe); used to drop repeats. */
  eventId: string | null;
  eventType: string;
  facts: PaymentFact[];
  payload: unknown;
}

export interface CallbackInput {
  rawBody: Buffer | string | null;
  headers: Record<string, string | string[] | undefined>;
  params: Record<string, string>;
}

export type QueryResult =
  | { state: 'paid'; tradeId: string; amount: bigint; currency: string; payload?: unknown }
  | { state: 'unpaid'; payload?: unknown }
  | { state: 'failed'; reason: string; payload?: unknown }
  | { state: 'expired'; payload?: unknown }
  | { state: 'unknown'; reason: string };

export interface RefundRequest {
  refundId: string;
  amount: bigint; // in the order's currency
  reason: string;
  /** The provider trade to refund when it is not the order's credited one (a duplicate payment). */
  tradeId?: string;
}

export type RefundState = 'pending' | 'succeeded' | 'failed' | 'canceled';

export interface RefundResult {
  providerRefundId: string | null;
  /** `manual`: the provider has no refund API; an operator returns the money by hand. */
  status: 'succeeded' | 'pending' | 'manual';
  note?: string;
}

export interface PaymentProvider {
  readonly name: 'sandbox' | 'stripe' | 'epay';
  readonly currencies: string[] | null; // null = any the operator has a rate for
  /**
   * Whether sending the same refund (same refundId) twice refunds once: true
   * when the provider deduplicates it (Stripe's idempotency key). An
   * interrupted refund is only sent again to such a provider.
   */
  readonly refundsIdempotent: boolean;
  createCheckout(order: Order, links: CheckoutLinks): Promise<Checkout>;
  /** Throws PaymentSignatureError when the callback is not authentic. */
  verifyCallback(input: CallbackInput): Promise<VerifiedCallback>;
  queryOrder(order: Order): Promise<QueryResult>;
  refund(order: Order, req: RefundRequest): Promise<RefundResult>;
  /** Where the provider can report on a refund later (Stripe): its current state. */
  queryRefund?(providerRefundId: string): Promise<{ status: RefundState; reason: string | null }>;
}
