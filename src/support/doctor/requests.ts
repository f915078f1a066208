import { listUsage, listUsageWithArithmetic } from '../../gateway/usageLog.ts';
import { listApiKeys } from '../../accounts/apiKeys.ts';
import { getUserBalance } from '../../accounts/users.ts';
import { formatMoney, parseMoney } from '../../ledger/money.ts';
import { getAccount, teamWalletId } from '../../ledger/accounts.ts';
import { helpFor } from './helpLinks.ts';
import { maskIp } from './view.ts';
import type { DoctorEnv, SupportCase } from './types.ts';

// Cases from request billing, read from the request log the relay writes
// with every settlement: whether each request was charged and why.

const WINDOW_MS = 7 * 86400_000;
type Row = Awaited<ReturnType<typeof listUsageWithArithmetic>>[number];

const rowRecord = (r: Row, env: DoctorEnv) => ({
  type: 'request',
  id: r.id,
  at: r.created_at,
  model: r.model,
  key: r.key,
  status: r.status,
  error_code: r.error_code,
  charged: r.charged,
  charged_amount: r.charged_amount,
  charge_reason: r.charge_reason,
  // Each count billed, the prices it was billed at, and the arithmetic (usageLog.ts).
  prompt_tokens: r.prompt_tokens,
  cached_tokens: r.cached_tokens,
  cache_write_tokens: r.cache_write_tokens,
  cache_write_1h_tokens: r.cache_write_1h_tokens,
  completion_tokens: r.completion_tokens,
  cost: r.cost,
  pricing: r.pricing,
  explanation: r.explanation,
  client_ip: maskIp(r.client_ip, env.audience),
});
const line = (r: Row) =>
  `${r.created_at} ${r.id} ${r.model ?? '—'} via ${r.key ?? '—'}: HTTP ${r.status}${r.error_code ? ` ${r.error_code}` : ''}, charged ${r.charged ? r.charged_amount : 'no'} (${r.charge_reason})${r.charged && r.explanation ? `: ${r.explanation}` : ''}`;
const micros = (s: string) => parseMoney(s);

export async function requestCases(env: DoctorEnv): Promise<SupportCase[]> {
  const { ctx, userId, hints, now } = env;
  const since = hints.orderTime !== undefined ? hints.orderTime - 86400_000 : now - WINDOW_MS;
  const until = hints.orderTime !== undefined ? hints.orderTime + 86400_000 : undefined;
  const rows = (await listUsageWithArithmetic(ctx.db, { userId, since, until, limit: 500 })).filter((r) => !hints.key || (r.key ?? '').endsWith(hints.key));
  const cases: SupportCase[] = [];
  const failed = rows.filter(
    (r) => r.status >= 400 || (r.error_code && r.status !== 200) || r.error_code === 'client_disconnected' || r.error_code === 'upstream_disconnected',
  );

  // Failed but charged: output was produced before the break, and that output is what was charged.
  const failedCharged = failed.filter((r) => r.charged);
  const upstreamNotCharged = failed.filter((r) => !r.charged && (r.status >= 500 || hints.problem === 'charged_for_failed_request') && r.status !== 402);
  if (failedCharged.length || upstreamNotCharged.length) {
    const total = failedCharged.reduce((s, r) => s + micros(r.charged_amount), 0n);
    cases.push({
      class: 'charged_for_failed_request',
      state: failedCharged.length ? 'open' : 'explained',
      title: { en: 'Charges on failed requests', zh: '失败请求的扣费' },
      cause: failedCharged.length
        ? {
            en: `${failedCharged.length} request(s) broke off after output had been produced (the connection dropped mid-stream); the tokens produced before the break were charged (${formatMoney(total, 6)} in all). ${upstreamNotCharged.length} other failed request(s) were not charged.`,
            zh: `${failedCharged.length} 个请求在已经产生输出后中断(流式传输中连接断开),中断前已生成的 token 按量计费(共 ${formatMoney(total, 6)})。另有 ${upstreamNotCharged.length} 个失败请求未扣费。`,
          }
        : {
            en: `${upstreamNotCharged.length} request(s) failed before any output (upstream error or refusal) and were not charged (charged: false).`,
            zh: `${upstreamNotCharged.length} 个请求在产生任何输出之前失败(上游错误或被拒绝),未扣费(charged: false)。`,
          },
      next_step: failedCharged.length
        ? {
            en: 'Check your client for timeouts that close the stream early; send support the request ids if the output never reached you.',
            zh: '请检查客户端是否设置了过短的超时导致提前断开;如果确实没有收到输出,请把请求 ID 发给客服。',
          }
        : {
            en: 'Nothing was charged; retry the request, or check the upstream status if it keeps failing.',
            zh: '这些请求未扣费;可以重试,如果持续失败请查看上游状态。',
          },
      evidence: [...failedCharged, ...upstreamNotCharged].slice(0, 10).map(line),
      records: { requests: [...failedCharged, ...upstreamNotCharged].slice(0, 50).map((r) => rowRecord(r, env)) },
      help: helpFor('charged_for_failed_request'),
    });
  }

  // 402: which limit refused it.
  const refused = rows.filter((r) => r.status === 402 || (r.error_code === 'model_not_allowed' && /group/.test(r.error_message ?? '')));
  if (refused.length) {
    const bal = await getUserBalance(ctx.db, userId);
    const keys = await listApiKeys(ctx.db, userId);
    const latest = refused[0];
    const key = keys.find((k) => k.id === latest.key_id);
    // A team key spends its team's wallet: the user's own balance is beside the point.
    const teamWallet = key?.teamId ? await getAccount(ctx.db, teamWalletId(key.teamId)).catch(() => null) : null;
    const limitOf = (r: Row) =>
      r.status !== 402
        ? 'group'
        : r.error_code === 'budget_exceeded'
          ? 'budget'
          : /spend limit/.test(r.error_message ?? '')
            ? 'key_limit'
            : teamWallet && r.key_id === key?.id
              ? 'team_wallet'
              : 'wallet';
    const limit = limitOf(latest);
    const cause =
      limit === 'team_wallet' && teamWallet
        ? {
            en: `The API key ${latest.key} is a key of team ${key?.teamId}: it spends the team's wallet (available ${formatMoney(teamWallet.available, 6)}), not this account's own (available ${formatMoney(bal.available, 6)}). ${latest.error_message ?? ''}`,
            zh: `API Key ${latest.key} 属于团队 ${key?.teamId}:它使用团队钱包(可用 ${formatMoney(teamWallet.available, 6)}),而不是本账号自己的钱包(可用 ${formatMoney(bal.available, 6)})。${latest.error_message ?? ''}`,
          }
        : limit === 'key_limit'
          ? {
              en: `The API key ${latest.key} reached its own spend limit (${key?.spendLimit != null ? formatMoney(key.spendLimit) : '—'}, spent ${key ? formatMoney(key.spent, 6) : '—'}), even though the wallet has ${formatMoney(bal.available, 6)} available.`,
              zh: `API Key ${latest.key} 已达到它自己的消费上限(${key?.spendLimit != null ? formatMoney(key.spendLimit) : '—'},已用 ${key ? formatMoney(key.spent, 6) : '—'}),钱包可用余额为 ${formatMoney(bal.available, 6)}。`,
            }
          : limit === 'budget'
            ? {
                en: `A budget refused it (the key's own, or the team member's): ${latest.error_message ?? ''}`,
                zh: `预算已用完(Key 自身的预算或团队成员预算):${latest.error_message ?? ''}`,
              }
            : limit === 'group'
              ? {
                  en: `The account's group "${latest.group ?? 'default'}" may not use ${latest.model}.`,
                  zh: `账号所在分组"${latest.group ?? 'default'}"不允许使用 ${latest.model}。`,
                }
              : {
                  en: `The wallet could not cover the most a request could cost (it is held before the request starts): ${latest.error_message ?? ''}. Available now: ${formatMoney(bal.available, 6)}.`,
                  zh: `钱包余额不足以覆盖该请求可能的最高费用(请求开始前会预留):${latest.error_message ?? ''}。当前可用余额:${formatMoney(bal.available, 6)}。`,
                };
    cases.push({
      class: 'insufficient_balance',
      state: 'open',
      title: { en: 'Requests refused for insufficient balance (402)', zh: '余额不足,请求被拒绝(402)' },
      cause,
      next_step:
        limit === 'team_wallet'
          ? {
              en: "Top up the team's wallet (a team owner or admin can: POST /api/orders or /api/redeem with the team), or use a personal key to spend your own balance.",
              zh: '请为团队钱包充值(团队所有者或管理员可操作:POST /api/orders 或 /api/redeem 并指定团队),或改用个人 Key 使用自己的余额。',
            }
          : limit === 'key_limit'
            ? { en: "Raise the key's spend limit in the console, or use another key.", zh: '请在控制台提高该 Key 的消费上限,或换用其他 Key。' }
            : limit === 'budget'
              ? {
                  en: 'Wait for the budget period to reset (the message says when), raise the budget, or use another key.',
                  zh: '请等待预算周期重置(错误信息中有重置时间),提高预算,或换用其他 Key。',
                }
              : limit === 'group'
                ? {
                    en: 'Use a model your group allows (GET /v1/models lists them) or ask the operator.',
                    zh: '请使用分组允许的模型(GET /v1/models 可查看),或联系运营方。',
                  }
                : {
                    en: 'Top up, or lower max_tokens so the hold fits the balance. If you topped up on another account, the key being called belongs to this one.',
                    zh: '请充值,或调低 max_tokens 让预留金额低于余额。如果您在另一个账号充值,请注意正在调用的 Key 属于本账号。',
                  },
      evidence: [
        `limit: ${limit}`,
        `wallet available ${formatMoney(bal.available, 6)}`,
        ...(teamWallet ? [`team wallet ${teamWallet.id} available ${formatMoney(teamWallet.available, 6)}`] : []),
        ...refused.slice(0, 5).map(line),
      ],
      records: { requests: refused.slice(0, 50).map((r) => rowRecord(r, env)) },
      help: helpFor('insufficient_balance'),
    });
  }

  // Where did the money go: retries, duplicate submissions, a key used from new places, expensive models.
  const dayAgo = now - 86400_000;
  const charged = rows.filter((r) => r.charged && Date.parse(r.created_at) >= (hints.orderTime !== undefined ? since : dayAgo));
  if (charged.length) {
    const signals: string[] = [];
    let newIps = false;
    const bursts = new Map<string, Row[]>();
    for (const r of charged) {
      const k = `${r.key_id}|${r.model}|${r.prompt_tokens}`;
      bursts.set(k, [...(bursts.get(k) ?? []), r]);
    }
    for (const [, rs] of bursts) {
      const times = rs.map((r) => Date.parse(r.created_at)).sort((a, b) => a - b);
      if (rs.length >= 3 && times[times.length - 1] - times[0] <= 120_000)
        signals.push(
          `${rs.length} identical requests (${rs[0].model}, ${rs[0].prompt_tokens} prompt tokens, key ${rs[0].key}) within ${Math.round((times[times.length - 1] - times[0]) / 1000)} s: retries or a duplicate submission`,
        );
    }
    const byKey = new Map<string, Row[]>();
    for (const r of charged) byKey.set(r.key_id ?? '', [...(byKey.get(r.key_id ?? '') ?? []), r]);
    for (const [keyId, rs] of byKey) {
      if (!keyId) continue;
      const earlier = await listUsage(ctx.db, { userId, keyId, until: Math.min(...rs.map((r) => Date.parse(r.created_at))), limit: 500 });
      const known = new Set(earlier.map((r) => r.client_ip));
      const fresh = [...new Set(rs.map((r) => r.client_ip).filter((ip): ip is string => !!ip && !known.has(ip)))];
      if (earlier.length && fresh.length) {
        newIps = true;
        signals.push(
          `key ${rs[0].key} was used from ${fresh.length} new address(es) (${fresh.map((ip) => maskIp(ip, env.audience)).join(', ')}) it had not been used from before: if that was not you, the key may have leaked`,
        );
      }
    }
    const spend = charged.reduce((s, r) => s + micros(r.charged_amount), 0n);
    const byModel = new Map<string, bigint>();
    for (const r of charged) byModel.set(r.model ?? '—', (byModel.get(r.model ?? '—') ?? 0n) + micros(r.charged_amount));
    const top = [...byModel].sort((a, b) => (b[1] > a[1] ? 1 : -1))[0];
    if (top && spend > 0n && byModel.size > 1 && top[1] * 100n >= spend * 70n)
      signals.push(`${top[0]} accounts for ${formatMoney(top[1], 6)} of ${formatMoney(spend, 6)} spent: a high-cost model`);
    if (signals.length && (newIps || hints.problem === 'unexpected_balance_drop' || signals.some((s) => s.includes('identical')))) {
      cases.push({
        class: 'unexpected_balance_drop',
        state: 'open',
        title: { en: 'Why the balance dropped', zh: '余额下降原因' },
        cause: newIps
          ? {
              en: 'An API key was used from addresses it had never been used from before; if those requests were not yours, the key has leaked.',
              zh: 'API Key 在从未使用过的地址上被调用;如果这些请求不是您发起的,说明 Key 已经泄露。',
            }
          : { en: `The spend comes from the requests below: ${signals[0]}.`, zh: `消费来自以下请求:${signals[0]}。` },
        next_step: newIps
          ? {
              en: 'Revoke the key now (DELETE /api/keys/:id or the console) and create a new one; keep keys on the server side only.',
              zh: '请立即吊销该 Key(控制台或 DELETE /api/keys/:id)并创建新 Key;Key 只应保存在服务端。',
            }
          : {
              en: 'Turn off automatic retries in the client or add a client-side idempotency check; set a spend limit on the key.',
              zh: '请关闭客户端的自动重试或在客户端做防重复提交;并为 Key 设置消费上限。',
            },
        evidence: [`spent ${formatMoney(spend, 6)} in ${charged.length} charged request(s)`, ...signals],
        records: { requests: charged.slice(0, 50).map((r) => rowRecord(r, env)) },
        help: helpFor('unexpected_balance_drop'),
      });
    }
  }
  return cases;
}
