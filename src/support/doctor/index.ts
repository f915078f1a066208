import type { ServiceContext } from '../../service.ts';
import { getUser, getUserBalance, maskEmail } from '../../accounts/users.ts';
import { listStatement, walletAccountId, formatMoney } from '../../ledger/index.ts';
import { paymentCases } from './payments.ts';
import { redeemCases } from './redeem.ts';
import { requestCases } from './requests.ts';
import { taskCases } from './tasks.ts';
import { identityCases, MIN_USER_REFERENCE } from './identity.ts';
import type { Audience, DiagnoseHints, DoctorEnv, SupportCase } from './types.ts';

export * from './types.ts';
export { parseHints } from './hints.ts';
export { countDiagnosis, limitDiagnosis, DOCTOR_LIMITS, type DoctorLimits } from './limits.ts';

/**
 * The billing doctor: reads one user's orders (with their timelines), ledger,
 * redeem attempts, request log and video tasks (with their timelines), and
 * classifies every open case with its evidence, its most likely cause in
 * Chinese and English, and the next step.
 * Read-only: the one fix it offers (ask the provider now) is a separate call.
 */
export async function classifyBillingCases({ ctx, input }: { ctx: ServiceContext; input: { userId: string; hints?: DiagnoseHints; audience?: Audience } }) {
  const user = await getUser(ctx.db, input.userId);
  const hints = input.hints ?? {};
  const env: DoctorEnv = { ctx, userId: user.id, email: user.email, hints, audience: input.audience ?? 'user', now: ctx.now() };
  const statement = await listStatement(ctx.db, walletAccountId(user.id), { limit: 500 });
  const found: SupportCase[] = [
    ...(await identityCases(env)),
    ...(await paymentCases(env, statement)),
    ...(await redeemCases(env)),
    ...(await requestCases(env)),
    ...(await taskCases(env)),
  ];
  const cases = hints.problem ? found.filter((c) => c.class === hints.problem) : found;
  // Open cases before explained ones; otherwise in the order found.
  cases.sort((a, b) => (a.state === b.state ? 0 : a.state === 'open' ? -1 : 1));
  const bal = await getUserBalance(ctx.db, user.id);
  // A user's short reference is matched against their own records only; say how to look further.
  const shortRef = env.audience === 'user' && !!hints.reference && hints.reference.replace(/^[a-z]{3}_/, '').length < MIN_USER_REFERENCE;
  const none = shortRef
    ? {
        en: `No open billing case found in this account's records. If the order may be on another account, give its full id (or at least its last ${MIN_USER_REFERENCE} characters).`,
        zh: `本账号的记录中未发现待处理的账务问题。如果订单可能在另一个账号下,请提供完整订单号(或至少末 ${MIN_USER_REFERENCE} 位)。`,
      }
    : {
        en: 'No open billing case found in the records. Add a hint (order id tail, amount, time) or open a ticket.',
        zh: '记录中未发现待处理的账务问题。可以补充提示(订单号末位、金额、时间)或提交工单。',
      };
  return {
    user: { id: user.id, account: maskEmail(user.email) },
    generated_at: new Date(env.now).toISOString(),
    hints: hintsView(hints),
    balance: { balance: formatMoney(bal.balance), available: formatMoney(bal.available), currency: bal.currency },
    cases,
    summary: cases.length
      ? {
          en: `${cases.length} case(s): ${[...new Set(cases.map((c) => c.class))].join(', ')}`,
          zh: `共 ${cases.length} 个问题:${[...new Set(cases.map((c) => c.class))].join('、')}`,
        }
      : none,
  };
}

export type Diagnosis = Awaited<ReturnType<typeof classifyBillingCases>>;

function hintsView(h: DiagnoseHints) {
  return {
    problem: h.problem ?? null,
    method: h.method ?? null,
    order_time: h.orderTime ? new Date(h.orderTime).toISOString() : null,
    amount: h.amount !== undefined ? formatMoney(h.amount) : null,
    reference: h.reference ?? null,
    key: h.key ?? null,
    page_message: h.pageMessage ?? null,
    submitted_twice: h.submittedTwice ?? null,
  };
}
