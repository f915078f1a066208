import { formatMoney } from '../ledger/money.ts';
import type { Order } from './orders.ts';

// What support would say, in the user's two languages: what the status means
// and what happens next. Shown by GET /api/orders/:id.
export function explainOrder(o: Order, now: number): { en: string; zh: string } {
  const paid = `${formatMoney(o.amount)} ${o.currency}`;
  const credit = `${formatMoney(o.creditAmount)} ${o.creditCurrency}`;
  const at = (ms: number | null) => (ms ? new Date(ms).toISOString() : '');
  switch (o.status) {
    case 'created':
    case 'pending': {
      if (now > o.expiresAt) {
        return {
          en: `This order passed its payment deadline (${at(o.expiresAt)}). If you paid anyway, the payment provider's confirmation will still credit ${credit}; Tally checks with the provider automatically${o.nextCheckAt ? ` (next check ${at(o.nextCheckAt)})` : ''}.`,
          zh: `该订单已超过支付期限(${at(o.expiresAt)})。如果您已经付款,支付渠道确认后仍会为您入账 ${credit};系统会自动向支付渠道核对${o.nextCheckAt ? `(下次核对时间 ${at(o.nextCheckAt)})` : ''}。`,
        };
      }
      return {
        en: `Waiting for your payment of ${paid} or for the payment provider to confirm it; confirmation usually takes under a minute. The order expires at ${at(o.expiresAt)}.${o.nextCheckAt ? ` Tally checks with the provider automatically at ${at(o.nextCheckAt)}.` : ''}`,
        zh: `正在等待您支付 ${paid} 或等待支付渠道确认,通常不到一分钟。订单将于 ${at(o.expiresAt)} 过期。${o.nextCheckAt ? `系统会在 ${at(o.nextCheckAt)} 自动向支付渠道核对。` : ''}`,
      };
    }
    case 'paid':
      return {
        en: `The provider confirmed your payment of ${paid}; the credit of ${credit} is being added to your balance.`,
        zh: `支付渠道已确认您支付的 ${paid},${credit} 正在入账。`,
      };
    case 'credited':
      return {
        en: `Paid and credited: ${credit} was added to your balance at ${at(o.creditedAt)} (see your ledger, reference ${o.id}). Nothing else to do.`,
        zh: `已支付并入账:${credit} 已于 ${at(o.creditedAt)} 加入您的余额(余额流水中的关联订单号为 ${o.id})。无需其他操作。`,
      };
    case 'failed':
      return {
        en: `The payment did not go through (${o.statusReason ?? 'declined by the provider'}). No money was credited or taken by Tally; you can create a new order. If your bank shows a charge, contact support with this order id.`,
        zh: `支付未成功(${o.statusReason ?? '支付渠道拒绝'})。未入账;您可以重新下单。如果银行显示已扣款,请带上此订单号联系客服。`,
      };
    case 'expired':
      return {
        en: `The order expired at ${at(o.expiresAt)} without a confirmed payment. If you did pay, the provider's confirmation still credits it automatically; otherwise create a new order.`,
        zh: `订单已于 ${at(o.expiresAt)} 过期,未收到支付确认。如果您确实已付款,支付渠道确认后仍会自动入账;否则请重新下单。`,
      };
    case 'canceled':
      return { en: 'The order was canceled; nothing was charged or credited.', zh: '订单已取消,未扣款也未入账。' };
    case 'flagged':
      return {
        en: `The payment needs a check by support (${o.statusReason ?? 'the amount reported by the provider did not match'}); nothing was credited yet. Support has been notified; you do not need to pay again.`,
        zh: `该支付需要客服人工核对(${o.statusReason ?? '支付渠道报告的金额与订单不符'}),暂未入账。客服已收到通知,请勿重复支付。`,
      };
    case 'refunded':
      return {
        en: `Refunded in full (${paid}) to the original payment method; the credit was taken back from your balance. Banks usually show it within 5–10 business days.`,
        zh: `已全额退款(${paid})至原支付方式,对应余额已扣回。银行通常在 5–10 个工作日内到账。`,
      };
    case 'partially_refunded':
      return {
        en: `Partly refunded: ${formatMoney(o.refundedAmount)} ${o.currency} of ${paid} went back to the original payment method and ${formatMoney(o.refundedCredit)} ${o.creditCurrency} of credit was taken back.`,
        zh: `已部分退款:${paid} 中的 ${formatMoney(o.refundedAmount)} ${o.currency} 已退回原支付方式,扣回余额 ${formatMoney(o.refundedCredit)} ${o.creditCurrency}。`,
      };
    case 'disputed':
      return {
        en: 'The payment is disputed with your bank (chargeback); the credit was taken back while the dispute is open. Support will contact you.',
        zh: '该笔支付已被发起争议(拒付),争议期间对应余额已扣回。客服会与您联系。',
      };
  }
}
