import { listOrders, listOrderEvents, listRefunds, type Order, type OrderEvent } from '../../payments/index.ts';
import { listOrderTrades } from '../../payments/supportLookup.ts';
import type { StatementEntry } from '../../ledger/transfers.ts';
import { formatMoney } from '../../ledger/money.ts';
import { helpFor } from './helpLinks.ts';
import { nearTime, refMatches } from './hints.ts';
import { iso, money, orderRecord, tail } from './view.ts';
import type { CaseClass, DoctorEnv, SupportCase, Bilingual } from './types.ts';

// Payment cases, read from the payments module's own functions: the order,
// its append-only event timeline, its trades and refunds, and the ledger entry
// that credited it.

const WINDOW_MS = 30 * 86400_000;

function orderMatchesHints(env: DoctorEnv, o: Order): boolean {
  const h = env.hints;
  if (!refMatches(h, o.id)) return false;
  if (h.amount !== undefined && h.amount !== o.amount && h.amount !== o.creditAmount) return false;
  if (h.method && h.method !== o.method && h.method !== o.provider) return false;
  return nearTime(h, o.createdAt);
}

/** The last time Tally asked the provider about this order, and what it heard. */
function lastCheck(o: Order, events: OrderEvent[]): { en: string; zh: string } {
  const polled = [...events].reverse().find((e) => ['reconcile', 'return_page', 'support'].includes(e.source));
  if (polled)
    return {
      en: `last provider check ${iso(polled.createdAt)}: ${polled.reason ?? polled.to ?? polled.kind}`,
      zh: `最近一次向支付渠道核对:${iso(polled.createdAt)},结果:${polled.reason ?? polled.to ?? polled.kind}`,
    };
  if (o.checkAttempts > 0)
    return {
      en: `checked with the provider ${o.checkAttempts} time(s); the answer was "not paid yet"`,
      zh: `已向支付渠道核对 ${o.checkAttempts} 次,结果均为"尚未支付"`,
    };
  return { en: 'not checked with the provider yet', zh: '尚未向支付渠道核对' };
}

function make(
  env: DoctorEnv,
  cls: CaseClass,
  state: SupportCase['state'],
  o: Order | null,
  parts: { title: Bilingual; cause: Bilingual; next: Bilingual; evidence: string[]; records: Record<string, unknown[]> },
  fix = false,
): SupportCase {
  const c: SupportCase = {
    class: cls,
    state,
    title: parts.title,
    cause: parts.cause,
    next_step: parts.next,
    evidence: parts.evidence,
    records: parts.records,
    help: helpFor(cls),
  };
  if (fix && o) {
    c.fix = {
      action: 'check_with_provider',
      order_id: o.id,
      label: { en: 'Check with the payment provider now', zh: '立即向支付渠道核对' },
      path: env.audience === 'user' ? `/api/support/orders/${o.id}/check` : `/api/admin/support/orders/${o.id}/check`,
    };
  }
  return c;
}

export async function paymentCases(env: DoctorEnv, statement: StatementEntry[]): Promise<SupportCase[]> {
  const { ctx, userId, hints, now } = env;
  const all = await listOrders(ctx.db, { userId, limit: 200 });
  const focused = hints.reference !== undefined || hints.amount !== undefined || hints.orderTime !== undefined || hints.method !== undefined;
  const orders = all.filter((o) => now - o.createdAt <= WINDOW_MS || focused).filter((o) => orderMatchesHints(env, o));
  const byRef = new Map<string, StatementEntry[]>();
  for (const e of statement) if (e.reference) byRef.set(e.reference, [...(byRef.get(e.reference) ?? []), e]);
  const ledgerOf = (id: string) =>
    (byRef.get(id) ?? []).map((e) => ({
      type: 'ledger_entry',
      transfer_id: e.transferId,
      kind: e.kind,
      amount: formatMoney(e.amount),
      balance_after: formatMoney(e.balanceAfter),
      at: iso(e.createdAt),
    }));
  const cases: SupportCase[] = [];

  for (const o of orders) {
    const events = await listOrderEvents(ctx.db, o.id);
    const rec = { orders: [orderRecord(o, events)], ledger: ledgerOf(o.id) };
    const head = `order ${tail(o.id)}: ${money(o.amount, o.currency)} via ${o.provider}${o.method ? `/${o.method}` : ''}, created ${iso(o.createdAt)}, now ${o.status}`;
    const trades = await listOrderTrades(ctx.db, o.id);
    const dupTrades = trades.filter((t) => t.outcome === 'duplicate_payment');

    if (o.status === 'failed') {
      cases.push(
        make(
          env,
          'payment_failed',
          'open',
          o,
          {
            title: { en: 'The payment did not go through', zh: '支付失败' },
            cause: {
              en: `The provider declined or could not complete the payment (${o.statusReason ?? 'no reason given'}). Nothing was credited or taken by Tally.`,
              zh: `支付渠道拒绝或未完成该笔支付(${o.statusReason ?? '未提供原因'})。系统没有入账,也没有扣款。`,
            },
            next: {
              en: 'Create a new order. If your bank shows a charge for this order, use "check with the provider now" or send support the last 6 characters of the order id.',
              zh: '请重新下单。如果银行显示该订单已扣款,请点击"立即向支付渠道核对",或把订单号末 6 位发给客服。',
            },
            evidence: [
              head,
              `failed: ${o.statusReason ?? '—'}`,
              ...events.filter((e) => e.to === 'failed').map((e) => `${iso(e.createdAt)} ${e.from}→failed (${e.source})`),
            ],
            records: rec,
          },
          true,
        ),
      );
      continue;
    }
    if (
      o.status === 'created' ||
      o.status === 'pending' ||
      (o.status === 'expired' && (focused || hints.problem === 'paid_not_credited' || hints.problem === 'order_processing'))
    ) {
      const check = lastCheck(o, events);
      const expired = o.status === 'expired' || now > o.expiresAt;
      const claimsPaid = hints.problem === 'paid_not_credited';
      cases.push(
        make(
          env,
          claimsPaid ? 'paid_not_credited' : 'order_processing',
          'open',
          o,
          {
            title: {
              en: expired ? 'The order expired without a confirmed payment' : 'The order is waiting for the provider',
              zh: expired ? '订单已过期,未收到支付确认' : '订单处理中,等待支付渠道确认',
            },
            cause: {
              en: `The payment provider has not confirmed this payment yet (${check.en}).${expired ? ` The order's deadline passed at ${iso(o.expiresAt)}; a payment that arrives later is still credited.` : ''}`,
              zh: `支付渠道尚未确认该笔支付(${check.zh})。${expired ? `订单已于 ${iso(o.expiresAt)} 过期;之后到达的支付仍会入账。` : ''}`,
            },
            next: {
              en: 'Use "check with the provider now": if the provider has the money, the order is credited at once (exactly once). If it still says unpaid and you were charged, send support the order id tail and the time of payment.',
              zh: '点击"立即向支付渠道核对":如果渠道已收款,订单会立即入账(只入账一次)。如果仍显示未支付但您已被扣款,请把订单号末 6 位和付款时间发给客服。',
            },
            evidence: [head, check.en, `next automatic check: ${iso(o.nextCheckAt) ?? 'none scheduled'}`, `expires ${iso(o.expiresAt)}`],
            records: rec,
          },
          true,
        ),
      );
      continue;
    }
    if (o.status === 'paid' || o.status === 'flagged') {
      const amountMismatch = o.status === 'flagged' && /reported .* but the order is for/.test(o.statusReason ?? '');
      cases.push(
        make(env, 'paid_not_credited', 'open', o, {
          title: { en: 'Paid, but not credited yet', zh: '已支付但余额未到账' },
          cause:
            o.status === 'paid'
              ? { en: 'The provider confirmed the payment and the credit is being booked right now.', zh: '支付渠道已确认付款,正在入账。' }
              : amountMismatch
                ? {
                    en: `The provider's callback arrived but the amount did not match the order (${o.statusReason}); it was held for a support check instead of being credited.`,
                    zh: `支付渠道回调已到达,但金额与订单不符(${o.statusReason}),因此没有自动入账,等待客服核对。`,
                  }
                : {
                    en: `The payment needs a support check (${o.statusReason ?? 'flagged'}); nothing was credited yet.`,
                    zh: `该支付需要客服核对(${o.statusReason ?? '已标记'}),暂未入账。`,
                  },
          next: {
            en: 'Do not pay again. Support checks the provider record and credits the order by hand with the provider reference, or refunds it.',
            zh: '请勿重复支付。客服会核对支付渠道记录,凭渠道流水号人工入账或退款。',
          },
          evidence: [
            head,
            `status reason: ${o.statusReason ?? '—'}`,
            ...trades.map((t) => `trade …${t.tradeId.slice(-6)} ${money(t.amount, t.currency)} → ${t.outcome} at ${iso(t.createdAt)}`),
          ],
          records: {
            ...rec,
            trades: trades.map((t) => ({
              type: 'trade',
              trade: `…${t.tradeId.slice(-6)}`,
              amount: formatMoney(t.amount),
              currency: t.currency,
              outcome: t.outcome,
              at: iso(t.createdAt),
            })),
          },
        }),
      );
      continue;
    }
    // Credited (or refunded/disputed) orders.
    if (dupTrades.length || o.possibleDuplicateOf) {
      cases.push(
        make(env, 'duplicate_payment', 'open', o, {
          title: { en: 'Paid twice', zh: '重复支付' },
          cause: dupTrades.length
            ? {
                en: `The provider took a second payment for an order that was already credited (${dupTrades.length} extra payment(s) of ${money(dupTrades[0].amount, dupTrades[0].currency)}). The extra payment was not credited; it waits for a refund decision.`,
                zh: `该订单已入账后,支付渠道又收到了 ${dupTrades.length} 笔重复付款(每笔 ${money(dupTrades[0].amount, dupTrades[0].currency)})。重复的款项未入账,等待退款处理。`,
              }
            : {
                en: `Two orders for the same amount were paid and credited within minutes (${tail(o.id)} and ${tail(o.possibleDuplicateOf!)}); both were credited, so this may be a double top-up.`,
                zh: `几分钟内两笔相同金额的订单都已支付并入账(${tail(o.id)} 与 ${tail(o.possibleDuplicateOf!)}),可能是重复充值。`,
              },
          next: {
            en: 'Support refunds the extra payment to the original payment method (the credit of the refunded order is taken back from the balance), or keeps it as balance if you prefer.',
            zh: '客服可将重复的款项原路退回(退款订单对应的余额会扣回),也可以按您的意愿保留为余额。',
          },
          evidence: [
            head,
            ...dupTrades.map(
              (t) => `duplicate trade …${t.tradeId.slice(-6)} ${money(t.amount, t.currency)} at ${iso(t.createdAt)} (decision: ${t.decision ?? 'pending'})`,
            ),
            ...(o.possibleDuplicateOf ? [`possible duplicate of order ${tail(o.possibleDuplicateOf)}`] : []),
          ],
          records: {
            ...rec,
            trades: trades.map((t) => ({
              type: 'trade',
              trade: `…${t.tradeId.slice(-6)}`,
              amount: formatMoney(t.amount),
              currency: t.currency,
              outcome: t.outcome,
              decision: t.decision,
              at: iso(t.createdAt),
            })),
          },
        }),
      );
    }
    if (['refunded', 'partially_refunded', 'disputed'].includes(o.status)) {
      const refunds = await listRefunds(ctx.db, o.id);
      cases.push(
        make(env, 'refund_or_compensation', 'explained', o, {
          title: { en: o.status === 'disputed' ? 'Payment disputed' : 'Refunded', zh: o.status === 'disputed' ? '支付争议中' : '已退款' },
          cause: {
            en: `${money(o.refundedAmount, o.currency)} of ${money(o.amount, o.currency)} went back to the original payment method and ${money(o.refundedCredit)} of credit was taken back from the balance.`,
            zh: `${money(o.amount, o.currency)} 中的 ${money(o.refundedAmount, o.currency)} 已原路退回,余额扣回 ${money(o.refundedCredit)}。`,
          },
          next: {
            en: 'Banks usually show a refund within 5–10 business days. If it has not arrived after that, send support the order id tail.',
            zh: '银行通常在 5–10 个工作日内到账。超过时间仍未到账,请把订单号末 6 位发给客服。',
          },
          evidence: [
            head,
            ...refunds.map((r) => `refund ${tail(r.id)} ${money(r.amount, o.currency)} (${r.reason}, ${r.origin}, ${r.status}) at ${iso(r.createdAt)}`),
          ],
          records: {
            ...rec,
            refunds: refunds.map((r) => ({
              type: 'refund',
              id: r.id,
              amount: formatMoney(r.amount),
              credit_taken_back: formatMoney(r.creditAmount),
              reason: r.reason,
              origin: r.origin,
              status: r.status,
              at: iso(r.createdAt),
            })),
          },
        }),
      );
      continue;
    }
    if (o.status === 'credited' && focused && (hints.problem === 'paid_not_credited' || !hints.problem) && !dupTrades.length && !o.possibleDuplicateOf) {
      cases.push(
        make(env, 'paid_not_credited', 'explained', o, {
          title: { en: 'This order was credited', zh: '该订单已入账' },
          cause: {
            en: `The order was paid and ${money(o.creditAmount)} was credited at ${iso(o.creditedAt)} (ledger entry ${o.creditTransferId ? tail(o.creditTransferId) : '—'}). If the balance looks lower, requests spent it since: see the ledger.`,
            zh: `该订单已支付,${money(o.creditAmount)} 已于 ${iso(o.creditedAt)} 入账(流水 ${o.creditTransferId ? tail(o.creditTransferId) : '—'})。如果余额看起来偏少,是之后的请求消费了,请查看余额流水。`,
          },
          next: {
            en: 'Compare the ledger entries after the credit; if you are signed in to a different account than the one that paid, sign in to that one.',
            zh: '请核对入账之后的余额流水;如果当前登录的账号不是付款的账号,请登录付款账号查看。',
          },
          evidence: [head, `credited ${iso(o.creditedAt)} by transfer ${o.creditTransferId ?? '—'}`],
          records: rec,
        }),
      );
    }
  }

  // Two open orders for one amount: the page was submitted twice.
  if (hints.submittedTwice) {
    const open = orders.filter((o) => ['created', 'pending'].includes(o.status));
    const same = open.filter((o) => open.some((p) => p.id !== o.id && p.amount === o.amount && Math.abs(p.createdAt - o.createdAt) < 30 * 60_000));
    if (same.length >= 2) {
      cases.push(
        make(env, 'duplicate_payment', 'open', null, {
          title: { en: 'Two orders were created for one top-up', zh: '一次充值创建了两个订单' },
          cause: {
            en: `${same.length} unpaid orders for ${money(same[0].amount, same[0].currency)} were created within 30 minutes; only the ones actually paid will be credited.`,
            zh: `30 分钟内创建了 ${same.length} 个 ${money(same[0].amount, same[0].currency)} 的未支付订单;只有实际付款的订单会入账。`,
          },
          next: {
            en: 'Pay only one of them; the others expire on their own. If you paid both, both are credited and support can refund one.',
            zh: '只需支付其中一个,其余的会自动过期。如果两个都付了款,两笔都会入账,客服可以退回其中一笔。',
          },
          evidence: same.map((o) => `order ${tail(o.id)} ${money(o.amount, o.currency)} ${o.status} created ${iso(o.createdAt)}`),
          records: { orders: same.map((o) => orderRecord(o, [])) },
        }),
      );
    }
  }

  // Compensation credits on the statement (goodwill from support, with the ticket).
  const comp = statement.filter((e) => e.kind === 'compensation' && (now - e.createdAt <= WINDOW_MS || hints.problem === 'refund_or_compensation'));
  if (comp.length && (!hints.reference || comp.some((e) => refMatches(hints, e.reference ?? '')))) {
    cases.push(
      make(env, 'refund_or_compensation', 'explained', null, {
        title: { en: 'Compensation credited', zh: '补偿已入账' },
        cause: { en: `Support credited ${comp.length} compensation(s) to the balance.`, zh: `客服已向余额发放 ${comp.length} 笔补偿。` },
        next: { en: 'Nothing to do; the ledger shows each one with its reason and ticket.', zh: '无需操作;余额流水中每一笔都附有原因和工单号。' },
        evidence: comp.map(
          (e) =>
            `${iso(e.createdAt)} +${formatMoney(e.amount)} compensation: ${String(e.metadata?.reason ?? '')} (ticket ${String(e.metadata?.ticket ?? '—')})`,
        ),
        records: {
          ledger: comp.map((e) => ({
            type: 'ledger_entry',
            transfer_id: e.transferId,
            kind: e.kind,
            amount: formatMoney(e.amount),
            reason: e.metadata?.reason ?? null,
            ticket: e.metadata?.ticket ?? null,
            at: iso(e.createdAt),
          })),
        },
      }),
    );
  }
  return cases;
}
