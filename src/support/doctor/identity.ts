import { getUser, maskEmail } from '../../accounts/users.ts';
import { findKeysByLast4 } from '../../accounts/keyLookup.ts';
import { findOrdersByIdSuffix } from '../../payments/supportLookup.ts';
import { explainOrder } from '../../payments/index.ts';
import { helpFor } from './helpLinks.ts';
import { iso, money, tail } from './view.ts';
import type { DoctorEnv, SupportCase } from './types.ts';

// "I paid, where is my balance?" is often "you paid on another of your
// accounts": the signed-in account, the account that placed the order, the
// account that owns the key being called and the account that redeemed the
// code can all differ. A hint (order id tail, key tail) finds the record
// wherever it is; the other account is shown by masked email only.

export async function identityCases(env: DoctorEnv): Promise<SupportCase[]> {
  const { ctx, userId, hints } = env;
  const cases: SupportCase[] = [];
  const me = maskEmail(env.email);
  if (hints.reference && hints.reference.length >= 4) {
    const found = (await findOrdersByIdSuffix(ctx.db, hints.reference, 3)).filter((o) => hints.amount === undefined || hints.amount === o.amount || hints.amount === o.creditAmount);
    // Only an unambiguous match is reported: a short tail shared by several orders says nothing.
    if (found.length === 1 && found[0].userId !== userId) {
      const o = found[0];
      const owner = maskEmail((await getUser(ctx.db, o.userId)).email);
      // The other account's full order id stays out: the user quoted its tail, the tail is what they get back.
      const raw = explainOrder(o, env.now);
      const ex = { en: raw.en.split(o.id).join(tail(o.id)), zh: raw.zh.split(o.id).join(tail(o.id)) };
      cases.push({
        class: hints.problem && ['payment_failed', 'order_processing', 'duplicate_payment', 'refund_or_compensation'].includes(hints.problem) ? hints.problem : 'paid_not_credited',
        state: 'open',
        title: { en: 'The order belongs to another account', zh: '该订单属于另一个账号' },
        cause: { en: `Order ${tail(o.id)} (${money(o.amount, o.currency)}, ${o.status}) was placed by ${owner}, not by the signed-in account ${me}. Its credit goes to ${owner}. ${ex.en}`, zh: `订单 ${tail(o.id)}(${money(o.amount, o.currency)},${o.status})由账号 ${owner} 创建,而不是当前登录的 ${me}。入账到 ${owner}。${ex.zh}` },
        next_step: { en: `Sign in as ${owner} to see and use that balance. If you need it on this account, open a ticket from both accounts.`, zh: `请登录 ${owner} 查看和使用该余额。如需转到当前账号,请分别从两个账号提交工单。` },
        evidence: [`order ${tail(o.id)} owner ${owner}; signed in as ${me}`, `created ${iso(o.createdAt)}, status ${o.status}`],
        records: { orders: [{ type: 'order', id: `${tail(o.id)}`, status: o.status, amount: money(o.amount, o.currency), created_at: iso(o.createdAt), account: owner }] },
        help: helpFor('paid_not_credited'),
        identity: { signed_in_account: me, order_account: owner },
      });
    }
  }
  if (hints.key) {
    const keys = await findKeysByLast4(ctx.db, hints.key, 3);
    if (keys.length === 1 && keys[0].userId !== userId) {
      const owner = maskEmail((await getUser(ctx.db, keys[0].userId)).email);
      const cls = hints.problem === 'unexpected_balance_drop' || hints.problem === 'charged_for_failed_request' ? hints.problem : 'insufficient_balance';
      cases.push({
        class: cls, state: 'open',
        title: { en: 'The API key belongs to another account', zh: '正在调用的 API Key 属于另一个账号' },
        cause: { en: `The key ${keys[0].display} belongs to ${owner}, not to the signed-in account ${me}: its requests are charged to ${owner}'s balance, and a top-up on ${me} does not reach it.`, zh: `Key ${keys[0].display} 属于 ${owner},而不是当前登录的 ${me}:它的请求从 ${owner} 的余额扣费,在 ${me} 的充值不会用于该 Key。` },
        next_step: { en: `Create a key on ${me} and put it in your client, or top up ${owner}.`, zh: `请在 ${me} 创建新 Key 并配置到客户端,或为 ${owner} 充值。` },
        evidence: [`key ${keys[0].display} owner ${owner}; signed in as ${me}`],
        records: {},
        help: helpFor(cls),
        identity: { signed_in_account: me, key_account: owner },
      });
    }
  }
  return cases;
}
