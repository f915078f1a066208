import type { Db, DbOrTx } from '../../db/index.ts';
import { hmacHex, safeEqual, randomBase62 } from '../../lib/crypto.ts';
import { TallyError } from '../../lib/errors.ts';
import { parseMoney, formatMoney } from '../../ledger/money.ts';
import { PaymentSignatureError } from '../errors.ts';
import { findOrder, type Order } from '../orders.ts';
import type { CallbackInput, Checkout, CheckoutLinks, PaymentProvider, QueryResult, RefundRequest, RefundResult, VerifiedCallback } from './types.ts';

// A built-in provider for demos and tests. Its pay page (routes/sandboxPay.ts)
// plays the customer and the provider at once: it records a trade in the
// sandbox's own table (the provider's books) and calls Tally back over HTTP
// with an HMAC-signed body, exactly as a real provider would.
//
// Whoever presses its buttons credits a balance without paying, so it is off
// unless the operator turns it on (TALLY_PAYMENT_SANDBOX=on), and its page and
// buttons belong to the order's owner alone.

export const SANDBOX_SIGNATURE_HEADER = 'x-sandbox-signature';
export type SandboxOutcome = 'succeed' | 'fail' | 'late' | 'twice' | 'never' | 'pay_again';
export const SANDBOX_OUTCOMES: SandboxOutcome[] = ['succeed', 'fail', 'late', 'twice', 'never', 'pay_again'];

export const signSandbox = (secret: string, body: string) => hmacHex(`tally:sandbox:${secret}`, body);

export interface SandboxNotice {
  order_id: string;
  trade_id: string;
  status: 'paid' | 'failed';
  amount: string;
  currency: string;
}

/**
 * The sandbox order `id` as its owner may see it. A missing order, an order of
 * another provider and another user's order all answer the same 404: order
 * ids are not an oracle, and nobody pays or fails someone else's order.
 */
export async function sandboxOrderOfOwner(db: DbOrTx, id: string, userId: string): Promise<Order> {
  const o = await findOrder(db, id);
  if (o?.provider !== 'sandbox' || o.userId !== userId) throw new TallyError('order_not_found', 'no sandbox order of yours has this id');
  return o;
}

export class SandboxProvider implements PaymentProvider {
  readonly name = 'sandbox' as const;
  readonly refundsIdempotent = true; // keyed by refund id
  readonly currencies = null;
  constructor(
    private readonly db: Db,
    private readonly secret: string,
    private readonly now: () => number = Date.now,
  ) {}

  async createCheckout(order: Order, links: CheckoutLinks): Promise<Checkout> {
    return { providerRef: order.id, checkoutUrl: `${links.baseUrl}/api/payments/sandbox/pay/${order.id}`, qr: null };
  }

  async verifyCallback(input: CallbackInput): Promise<VerifiedCallback> {
    const raw = input.rawBody === null ? '' : input.rawBody.toString();
    const sig = input.headers[SANDBOX_SIGNATURE_HEADER];
    if (typeof sig !== 'string' || !safeEqual(sig, signSandbox(this.secret, raw)))
      throw new PaymentSignatureError('the sandbox signature does not match the body');
    let n: SandboxNotice;
    try {
      n = JSON.parse(raw);
    } catch {
      throw new PaymentSignatureError('the sandbox callback body is not JSON');
    }
    const facts =
      n.status === 'paid'
        ? [{ type: 'payment_succeeded' as const, orderId: n.order_id, tradeId: n.trade_id, amount: parseMoney(n.amount), currency: n.currency }]
        : [{ type: 'payment_failed' as const, orderId: n.order_id, reason: 'the sandbox payment was declined' }];
    return { eventId: null, eventType: `sandbox.${n.status}`, facts, payload: n };
  }

  async queryOrder(order: Order): Promise<QueryResult> {
    const trades = await this.db.selectFrom('payment_sandbox_trades').selectAll().where('order_id', '=', order.id).orderBy('id').execute();
    const paid = trades.find((t) => t.state === 'paid');
    if (paid) return { state: 'paid', tradeId: paid.id, amount: BigInt(paid.amount), currency: paid.currency, payload: { trade_id: paid.id } };
    if (trades.some((t) => t.state === 'failed')) return { state: 'failed', reason: 'the sandbox payment was declined' };
    return { state: 'unpaid' };
  }

  async refund(_order: Order, req: RefundRequest): Promise<RefundResult> {
    return { providerRefundId: `sbr_${req.refundId}`, status: 'succeeded' };
  }

  /** The provider side of a payment: book the trade, return the signed notice to deliver. */
  async recordTrade(order: Order, state: 'paid' | 'failed'): Promise<{ body: string; signature: string; tradeId: string }> {
    const tradeId = `sbt_${randomBase62(20)}`;
    await this.db
      .insertInto('payment_sandbox_trades')
      .values({ id: tradeId, order_id: order.id, state, amount: order.amount, currency: order.currency, created_at: this.now() })
      .execute();
    const notice: SandboxNotice = { order_id: order.id, trade_id: tradeId, status: state, amount: formatMoney(order.amount), currency: order.currency };
    const body = JSON.stringify(notice);
    return { body, signature: signSandbox(this.secret, body), tradeId };
  }
}
