import { getUser, maskEmail } from '../../accounts/users.ts';
import { findKeysByLast4 } from '../../accounts/keyLookup.ts';
import { listApiKeys } from '../../accounts/apiKeys.ts';
import { findOrdersByIdSuffix } from '../../payments/supportLookup.ts';
import { explainOrder } from '../../payments/index.ts';
import { helpFor } from './helpLinks.ts';
import { iso, money, tail } from './view.ts';
import type { DoctorEnv, SupportCase } from './types.ts';

// "I paid, where is my balance?" is often "you paid on another of your
// accounts": the signed-in account, the account that placed the order, the
// account that owns the key being called and the account that redeemed the
// code can all differ. For staff a hint (order id tail, key tail) finds the
// record wherever it is; the other account is shown by masked email only.
//
// A user learns about another account's record only that it belongs to
// another account: no email, amount, status, time or id. And only when the
// answer cannot be used to probe: an order is looked up across accounts only
// by its whole id or at least its last 8 characters (random, 40 bits; the
// doctor is rate-limited), and the other hints (amount, time, method) do not
// change the answer, so it cannot confirm a guessed amount. A key tail is 4
// characters, too few for that: a user is told only whether it is one of their
// own keys.

/** How much of an order id a user must quote before the doctor looks beyond their own account. */
export const MIN_USER_REFERENCE = 8;

const ORDER_CLASSES = ['payment_failed', 'order_processing', 'duplicate_payment', 'refund_or_compensation'];

export async function identityCases(env: DoctorEnv): Promise<SupportCase[]> {
  return env.audience === 'user' ? userIdentityCases(env) : staffIdentityCases(env);
}

async function userIdentityCases(env: DoctorEnv): Promise<SupportCase[]> {
  const { ctx, userId, hints } = env;
  const cases: SupportCase[] = [];
  const me = maskEmail(env.email);
  const ref = hints.reference;
  if (ref && ref.replace(/^[a-z]{3}_/, '').length >= MIN_USER_REFERENCE) {
    const found = await findOrdersByIdSuffix(ctx.db, ref, 2);
    if (found.length && !found.some((o) => o.userId === userId)) {
      cases.push({
        class: hints.problem && ORDER_CLASSES.includes(hints.problem) ? hints.problem : 'paid_not_credited',
        state: 'open',
        title: { en: 'The order belongs to another account', zh: '该订单属于另一个账号' },
        cause: {
          en: `The order ending ${ref} was not placed by the signed-in account ${me}: it belongs to another account, and any payment for it is credited there.`,
          zh: `尾号 ${ref} 的订单不是当前登录的账号 ${me} 创建的:它属于另一个账号,其付款也入账到那个账号。`,
        },
        next_step: {
          en: 'If you have another account, sign in to it to see the order and its balance. If not, open a ticket with the full order id and support will check it.',
          zh: '如果您还有其他账号,请登录该账号查看订单和余额。否则请提交工单并附上完整订单号,客服会核实。',
        },
        evidence: [`order ending ${ref}: not on ${me}`],
        records: {},
        help: helpFor('paid_not_credited'),
        identity: { signed_in_account: me, order_account: 'another_account' },
      });
    }
  }
  if (hints.key) {
    const key = hints.key;
    const mine = (await listApiKeys(ctx.db, userId)).some((k) => k.display.endsWith(key));
    if (!mine) {
      const cls = hints.problem === 'unexpected_balance_drop' || hints.problem === 'charged_for_failed_request' ? hints.problem : 'insufficient_balance';
      cases.push({
        class: cls,
        state: 'open',
        title: { en: "The API key is not one of this account's keys", zh: '正在调用的 API Key 不属于当前账号' },
        cause: {
          en: `No key of the signed-in account ${me} ends with ${key}. A key ending ${key} belongs to another account (or the characters were misread): its requests are charged to that account, and a top-up on ${me} does not reach it.`,
          zh: `当前登录的账号 ${me} 没有以 ${key} 结尾的 Key。以 ${key} 结尾的 Key 属于另一个账号(或末位看错了):它的请求从那个账号扣费,在 ${me} 的充值不会用于该 Key。`,
        },
        next_step: {
          en: `Create a key on ${me} and put it in your client, or sign in to the account that owns the key and top up there.`,
          zh: `请在 ${me} 创建新 Key 并配置到客户端,或登录该 Key 所属的账号充值。`,
        },
        evidence: [`no key of ${me} ends with ${key}`],
        records: {},
        help: helpFor(cls),
        identity: { signed_in_account: me, key_account: 'not_this_account' },
      });
    }
  }
  return cases;
}

async function staffIdentityCases(env: DoctorEnv): Promise<SupportCase[]> {
  const { ctx, userId, hints } = env;
  const cases: SupportCase[] = [];
  const me = maskEmail(env.email);
  if (hints.reference && hints.reference.length >= 4) {
    const found = (await findOrdersByIdSuffix(ctx.db, hints.reference, 3)).filter(
      (o) => hints.amount === undefined || hints.amount === o.amount || hints.amount === o.creditAmount,
    );
    // Only an unambiguous match is reported: a short tail shared by several orders says nothing.
    if (found.length === 1 && found[0].userId !== userId) {
      const o = found[0];
      const owner = maskEmail((await getUser(ctx.db, o.userId)).email);
      // The other account's full order id stays out: the user quoted its tail, the tail is what they get back.
      const raw = explainOrder(o, env.now);
      const ex = { en: raw.en.split(o.id).join(tail(o.id)), zh: raw.zh.split(o.id).join(tail(o.id)) };
      cases.push({
        class: hints.problem && ORDER_CLASSES.includes(hints.problem) ? hints.problem : 'paid_not_credited',
        state: 'open',
        title: { en: 'The order belongs to another account', zh: '该订单属于另一个账号' },
        cause: {
          en: `Order ${tail(o.id)} (${money(o.amount, o.currency)}, ${o.status}) was placed by ${owner}, not by the signed-in account ${me}. Its credit goes to ${owner}. ${ex.en}`,
          zh: `订单 ${tail(o.id)}(${money(o.amount, o.currency)},${o.status})由账号 ${owner} 创建,而不是当前登录的 ${me}。入账到 ${owner}。${ex.zh}`,
        },
        next_step: {
          en: `Sign in as ${owner} to see and use that balance. If you need it on this account, open a ticket from both accounts.`,
          zh: `请登录 ${owner} 查看和使用该余额。如需转到当前账号,请分别从两个账号提交工单。`,
        },
        evidence: [`order ${tail(o.id)} owner ${owner}; signed in as ${me}`, `created ${iso(o.createdAt)}, status ${o.status}`],
        records: {
          orders: [{ type: 'order', id: `${tail(o.id)}`, status: o.status, amount: money(o.amount, o.currency), created_at: iso(o.createdAt), account: owner }],
        },
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
        class: cls,
        state: 'open',
        title: { en: 'The API key belongs to another account', zh: '正在调用的 API Key 属于另一个账号' },
        cause: {
          en: `The key ${keys[0].display} belongs to ${owner}, not to the signed-in account ${me}: its requests are charged to ${owner}'s balance, and a top-up on ${me} does not reach it.`,
          zh: `Key ${keys[0].display} 属于 ${owner},而不是当前登录的 ${me}:它的请求从 ${owner} 的余额扣费,在 ${me} 的充值不会用于该 Key。`,
        },
        next_step: {
          en: `Create a key on ${me} and put it in your client, or top up ${owner}.`,
          zh: `请在 ${me} 创建新 Key 并配置到客户端,或为 ${owner} 充值。`,
        },
        evidence: [`key ${keys[0].display} owner ${owner}; signed in as ${me}`],
        records: {},
        help: helpFor(cls),
        identity: { signed_in_account: me, key_account: owner },
      });
    }
  }
  return cases;
}
