import { listRedeemAttempts, type RedeemAttempt } from '../../redeem/index.ts';
import { getCodeFacts, listCodeRedemptions, findCodesByLast4, findUserRedemptionsByLast4, type CodeFacts } from '../../redeem/lookup.ts';
import { getUser } from '../../accounts/users.ts';
import { formatMoney } from '../../ledger/money.ts';
import { helpFor } from './helpLinks.ts';
import { nearTime } from './hints.ts';
import { iso, maskEmail, maskIp } from './view.ts';
import type { DoctorEnv, SupportCase, Bilingual } from './types.ts';

// "My redeem code didn't work": every attempt is on record with the masked
// code and its outcome, so the doctor can say which of mistyped / not found /
// expired / disabled / already redeemed (and by which account, masked) it was.

const WINDOW_MS = 30 * 86400_000;

const CAUSES: Record<string, (a: RedeemAttempt, code: CodeFacts | null) => Bilingual> = {
  invalid_format: () => ({
    en: 'What was typed is not in the shape of a redeem code (TALLY-XXXX-XXXX-XXXX-XXXX-XXXX).',
    zh: '输入的内容不是兑换码格式(TALLY-XXXX-XXXX-XXXX-XXXX-XXXX)。',
  }),
  mistyped: () => ({
    en: 'The code was mistyped: its last (check) character does not match the others, so one character is wrong or two are swapped.',
    zh: '兑换码输入有误:最后一位校验字符与前面不符,可能某一位输错或两位颠倒。',
  }),
  not_found: () => ({
    en: 'No code with these characters exists; it may be incomplete or from another platform.',
    zh: '不存在该兑换码;可能复制不完整或属于其他平台。',
  }),
  expired: (_a, c) => ({
    en: `The code expired${c?.expiresAt ? ` at ${iso(c.expiresAt)}` : ''} before it was redeemed.`,
    zh: `兑换码已${c?.expiresAt ? `于 ${iso(c.expiresAt)} ` : ''}过期。`,
  }),
  disabled: () => ({ en: 'The operator disabled this code (or its batch).', zh: '该兑换码(或其批次)已被运营方停用。' }),
  rate_limited: () => ({ en: 'Too many failed attempts in a short time; redeeming was paused for a while.', zh: '短时间内失败次数过多,兑换已被暂时限制。' }),
};

// A user is told only that another account redeemed the code (what the redeem
// page already said when they typed it); staff see which account, when, how much.
async function byAnotherAccount(env: DoctorEnv, codeId: string): Promise<{ cause: Bilingual; evidence: string[]; identity: Record<string, string> } | null> {
  const reds = (await listCodeRedemptions(env.ctx.db, codeId)).filter((r) => r.userId !== env.userId);
  if (!reds.length) return null;
  if (env.audience === 'user') {
    return {
      cause: {
        en: "The code was already redeemed by another account. If that account is also yours, its value is on that account's balance; otherwise the code was used by someone who saw it.",
        zh: '该兑换码已被另一个账号兑换。如果那个账号也是您的,金额在那个账号的余额里;否则说明兑换码已被他人使用。',
      },
      evidence: ['redeemed by another account'],
      identity: { signed_in_account: maskEmail(env.email), code_redeemed_by: 'another_account' },
    };
  }
  const first = reds[0];
  const other = maskEmail((await getUser(env.ctx.db, first.userId)).email);
  return {
    cause: {
      en: `The code was already redeemed by another account (${other}) at ${iso(first.createdAt)}. If that account is also yours, the ${formatMoney(first.amount)} is on its balance; otherwise the code was used by someone who saw it.`,
      zh: `该兑换码已于 ${iso(first.createdAt)} 被另一个账号(${other})兑换。如果那个账号也是您的,${formatMoney(first.amount)} 在那个账号的余额里;否则说明兑换码已被他人使用。`,
    },
    evidence: [`redeemed by ${other} at ${iso(first.createdAt)} for ${formatMoney(first.amount)}`],
    identity: { signed_in_account: maskEmail(env.email), code_redeemed_by: other },
  };
}

function make(
  _env: DoctorEnv,
  state: SupportCase['state'],
  cause: Bilingual,
  next: Bilingual,
  evidence: string[],
  records: Record<string, unknown[]>,
  identity?: Record<string, string>,
): SupportCase {
  return {
    class: 'redeem_not_credited',
    state,
    title: { en: 'Redeem code not credited', zh: '兑换码未入账' },
    cause,
    next_step: next,
    evidence,
    records,
    help: helpFor('redeem_not_credited'),
    ...(identity ? { identity } : {}),
  };
}

const attemptRecord = (a: RedeemAttempt, env: DoctorEnv) => ({
  type: 'redeem_attempt',
  id: a.id,
  code: a.code,
  outcome: a.outcome,
  times: a.times,
  ip: maskIp(a.ip, env.audience),
  at: iso(a.createdAt),
  ...(a.lastAt !== null ? { last_at: iso(a.lastAt) } : {}),
});
/** "rate_limited ×37 until …" for a row that stands for many refused attempts. */
const outcomeText = (a: RedeemAttempt) => (a.times > 1 ? `${a.outcome} ×${a.times}${a.lastAt !== null ? ` until ${iso(a.lastAt)}` : ''}` : a.outcome);

export async function redeemCases(env: DoctorEnv): Promise<SupportCase[]> {
  const { ctx, userId, hints, now } = env;
  const last4 = hints.reference && /^[0-9a-z]{4,}$/i.test(hints.reference) ? hints.reference.slice(-4).toUpperCase() : null;
  const attempts = (await listRedeemAttempts(ctx.db, { userId, limit: 500 }))
    .filter((a) => now - a.createdAt <= WINDOW_MS || hints.reference || hints.orderTime)
    .filter((a) => nearTime(hints, a.createdAt))
    .filter((a) => !last4 || a.code.toUpperCase().endsWith(last4));
  const redeemed = new Set(attempts.filter((a) => a.outcome === 'redeemed').map((a) => a.code));
  const cases: SupportCase[] = [];
  const seen = new Set<string>();
  // Newest first: the latest failed attempt per code tells the story.
  for (const a of attempts) {
    if (a.outcome === 'redeemed' || seen.has(a.code) || redeemed.has(a.code)) continue;
    seen.add(a.code);
    const tries = attempts.filter((x) => x.code === a.code);
    const code = a.codeId ? await getCodeFacts(ctx.db, a.codeId) : null;
    const count = tries.reduce((n, t) => n + t.times, 0);
    const evidence = [
      `${count} attempt(s) with ${a.code}; latest ${iso(a.createdAt)}: ${outcomeText(a)}`,
      ...tries.slice(0, 5).map((t) => `${iso(t.createdAt)} ${outcomeText(t)}`),
    ];
    const records = { redeem_attempts: tries.slice(0, 20).map((t) => attemptRecord(t, env)) };
    if (a.outcome === 'already_redeemed_by_another_account' && a.codeId) {
      const other = await byAnotherAccount(env, a.codeId);
      if (other) {
        cases.push(
          make(
            env,
            'open',
            other.cause,
            {
              en: 'Sign in to that account to use the balance. If it is not yours, send support the last 4 characters of the code and where you got it.',
              zh: '如果那个账号也是您的,请登录该账号使用余额。如果不是,请把兑换码末 4 位和获取渠道发给客服。',
            },
            [...evidence, ...other.evidence],
            records,
            other.identity,
          ),
        );
        continue;
      }
    }
    if (a.outcome === 'already_redeemed') {
      cases.push(
        make(
          env,
          'explained',
          {
            en: 'You already redeemed this code earlier on this account; its value was credited then (see the ledger entry with the same masked code).',
            zh: '您之前已在本账号兑换过该兑换码,当时已入账(余额流水中有相同脱敏兑换码的记录)。',
          },
          { en: 'Nothing to do; check the ledger.', zh: '无需操作,请查看余额流水。' },
          evidence,
          records,
        ),
      );
      continue;
    }
    const cause = (CAUSES[a.outcome] ?? (() => ({ en: a.outcome, zh: a.outcome })))(a, code);
    const next: Bilingual =
      a.outcome === 'mistyped' || a.outcome === 'invalid_format' || a.outcome === 'not_found'
        ? {
            en: 'Type the code again character by character (0/O and 1/I/L count as the same). Never post the full code in a public channel; give support only the last 4 characters.',
            zh: '请逐位重新输入兑换码(0/O、1/I/L 视为相同)。不要在公开渠道发送完整兑换码,只需向客服提供末 4 位。',
          }
        : {
            en: 'Send support the last 4 characters of the code and where you got it; the operator decides whether it can be reissued.',
            zh: '请把兑换码末 4 位和获取渠道发给客服,由运营方决定是否补发。',
          };
    cases.push(make(env, 'open', cause, next, evidence, records));
  }

  // A code the person never typed here. A user's 4 characters are looked up
  // among their own redemptions only (4 characters would make a probe of
  // everyone else's); staff find the code wherever it was redeemed.
  if (last4 && !attempts.length && env.audience === 'user') {
    const mine = await findUserRedemptionsByLast4(ctx.db, userId, last4, 5);
    for (const r of mine) {
      cases.push(
        make(
          env,
          'explained',
          {
            en: `This code was redeemed on this account at ${iso(r.createdAt)} for ${formatMoney(r.amount)}.`,
            zh: `该兑换码已于 ${iso(r.createdAt)} 在本账号兑换,入账 ${formatMoney(r.amount)}。`,
          },
          { en: 'Nothing to do; check the ledger.', zh: '无需操作,请查看余额流水。' },
          [`${r.display} redeemed ${iso(r.createdAt)}, transfer ${r.transferId}`],
          { redemptions: [{ type: 'redemption', code: r.display, amount: formatMoney(r.amount), at: iso(r.createdAt) }] },
        ),
      );
    }
    if (!mine.length && hints.problem === 'redeem_not_credited') {
      cases.push(
        make(
          env,
          'open',
          { en: `No code ending ${last4} was redeemed or tried on this account.`, zh: `本账号没有兑换或尝试过末 4 位为 ${last4} 的兑换码。` },
          {
            en: 'Redeem it on the redeem page: it says at once if the code was mistyped, expired or already redeemed by another account. If you redeemed it while signed in to another account, sign in there.',
            zh: '请在兑换页面兑换:页面会立即说明兑换码是否输错、过期或已被其他账号兑换。如果您是在另一个账号登录时兑换的,请登录那个账号查看。',
          },
          [`no redemption or attempt of a code ending ${last4} on this account`],
          {},
        ),
      );
    }
  }
  if (last4 && !attempts.length && env.audience === 'staff' && (hints.problem === 'redeem_not_credited' || !hints.problem)) {
    for (const code of await findCodesByLast4(ctx.db, last4, 3)) {
      const reds = await listCodeRedemptions(ctx.db, code.codeId);
      const mine = reds.find((r) => r.userId === userId);
      if (mine) {
        cases.push(
          make(
            env,
            'explained',
            {
              en: `This code was redeemed on this account at ${iso(mine.createdAt)} for ${formatMoney(mine.amount)}.`,
              zh: `该兑换码已于 ${iso(mine.createdAt)} 在本账号兑换,入账 ${formatMoney(mine.amount)}。`,
            },
            { en: 'Nothing to do; check the ledger.', zh: '无需操作,请查看余额流水。' },
            [`${code.display} redeemed ${iso(mine.createdAt)}, transfer ${mine.transferId}`],
            { redemptions: [{ type: 'redemption', code: code.display, amount: formatMoney(mine.amount), at: iso(mine.createdAt) }] },
          ),
        );
        continue;
      }
      const other = await byAnotherAccount(env, code.codeId);
      if (other)
        cases.push(
          make(
            env,
            'open',
            other.cause,
            { en: 'Sign in to the account that redeemed it, or tell support if it was not you.', zh: '请登录兑换该码的账号;如果不是您本人兑换,请联系客服。' },
            [`${code.display}: no attempt from this account`, ...other.evidence],
            {},
            other.identity,
          ),
        );
    }
  }
  return cases;
}
