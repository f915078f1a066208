import { createHash } from 'node:crypto';
import { safeEqual } from '../../lib/crypto.ts';
import { parseMoney } from '../../ledger/money.ts';
import { PaymentSignatureError, refundOutcomeUnknown } from '../errors.ts';
import { formatForProvider } from '../currency.ts';
import type { Order } from '../orders.ts';
import type { CallbackInput, Checkout, CheckoutLinks, PaymentProvider, QueryResult, RefundRequest, RefundResult, VerifiedCallback } from './types.ts';

// EPay (易支付, the "彩虹易支付" protocol). The order id is the out_trade_no.
// sign = lowercase md5( k1=v1&k2=v2…  + merchant key ) over the non-empty
// parameters except sign/sign_type, sorted by key (ASCII). Notify arrives as
// GET or POST; only trade_status=TRADE_SUCCESS means paid; the merchant must
// answer the plain text `success` or the platform retries.

export function epaySign(params: Record<string, string | undefined | null>, key: string): string {
  const base = Object.keys(params)
    .filter((k) => k !== 'sign' && k !== 'sign_type' && params[k] !== undefined && params[k] !== null && params[k] !== '')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  return createHash('md5')
    .update(base + key, 'utf8')
    .digest('hex');
}

export interface EpayConfig {
  pid: string;
  key: string;
  url: string;
}

export class EpayProvider implements PaymentProvider {
  readonly name = 'epay' as const;
  readonly refundsIdempotent = false; // act=refund has no request id: a repeat could refund twice
  readonly currencies = ['CNY'];
  constructor(
    private readonly cfg: EpayConfig,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async createCheckout(order: Order, links: CheckoutLinks): Promise<Checkout> {
    const params: Record<string, string> = {
      pid: this.cfg.pid,
      type: order.method ?? 'alipay',
      out_trade_no: order.id,
      notify_url: links.notifyUrl,
      return_url: links.returnUrl,
      name: `Tally top-up ${order.id.slice(-8)}`,
      money: formatForProvider(order.amount, order.currency),
    };
    const sign = epaySign(params, this.cfg.key);
    const qs = new URLSearchParams({ ...params, sign, sign_type: 'MD5' });
    return { providerRef: order.id, checkoutUrl: `${this.cfg.url}/submit.php?${qs.toString()}`, qr: null };
  }

  async verifyCallback(input: CallbackInput): Promise<VerifiedCallback> {
    const p = input.params;
    const expected = epaySign(p, this.cfg.key);
    // Constant-time comparison: a timing oracle would let anyone forge a notify byte by byte.
    if (typeof p.sign !== 'string' || !safeEqual(p.sign.toLowerCase(), expected))
      throw new PaymentSignatureError('the EPay sign does not match the parameters');
    if (p.pid !== this.cfg.pid) throw new PaymentSignatureError('the EPay notify is for another merchant (pid)');
    if (p.trade_status !== 'TRADE_SUCCESS') {
      return {
        eventId: null,
        eventType: `epay.${p.trade_status ?? 'unknown'}`,
        facts: [{ type: 'ignored', reason: `trade_status ${p.trade_status ?? '(none)'} is not a success` }],
        payload: p,
      };
    }
    let amount: bigint;
    try {
      amount = parseMoney(p.money);
    } catch {
      throw new PaymentSignatureError('the EPay notify has no valid money');
    }
    return {
      eventId: null,
      eventType: 'epay.TRADE_SUCCESS',
      facts: [{ type: 'payment_succeeded', orderId: p.out_trade_no ?? '', tradeId: p.trade_no ?? '', amount, currency: 'CNY' }],
      payload: p,
    };
  }

  async queryOrder(order: Order): Promise<QueryResult> {
    const qs = new URLSearchParams({ act: 'order', pid: this.cfg.pid, key: this.cfg.key, out_trade_no: order.id });
    let body: any;
    try {
      const res = await this.fetchImpl(`${this.cfg.url}/api.php?${qs.toString()}`, { signal: AbortSignal.timeout(10_000) });
      body = await res.json();
    } catch (e) {
      return { state: 'unknown', reason: `EPay order query failed: ${(e as Error).message}` };
    }
    const payload = { code: body?.code, status: body?.status, trade_no: body?.trade_no, money: body?.money, msg: body?.msg };
    if (Number(body?.code) !== 1) return { state: 'unpaid', payload };
    if (Number(body?.status) !== 1) return { state: 'unpaid', payload };
    return { state: 'paid', tradeId: String(body.trade_no), amount: parseMoney(String(body.money)), currency: 'CNY', payload };
  }

  /** Rainbow-EPay merchants expose act=refund; where it is missing or refuses, the refund is recorded as manual. */
  async refund(order: Order, req: RefundRequest): Promise<RefundResult> {
    const form = new URLSearchParams({
      act: 'refund',
      pid: this.cfg.pid,
      key: this.cfg.key,
      out_trade_no: order.id,
      money: formatForProvider(req.amount, order.currency),
    });
    const tradeNo = req.tradeId ?? order.providerTradeId;
    if (tradeNo) form.set('trade_no', tradeNo);
    try {
      const res = await this.fetchImpl(`${this.cfg.url}/api.php?act=refund`, { method: 'POST', body: form, signal: AbortSignal.timeout(10_000) });
      const body: any = await res.json().catch(() => null);
      if (res.ok && Number(body?.code) === 1) return { providerRefundId: `epay:${req.refundId}`, status: 'succeeded' };
      return {
        providerRefundId: null,
        status: 'manual',
        note: `EPay refused the refund (${String(body?.msg ?? res.status).slice(0, 200)}); return the money by hand in the EPay merchant console`,
      };
    } catch (e) {
      throw refundOutcomeUnknown('epay', 'the refund request did not get an answer', e);
    }
  }
}
