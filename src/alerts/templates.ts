// The words of alert e-mails, in English and Chinese. Amounts arrive formatted
// (formatMoney) with the platform currency; the webhook carries the same
// figures as data, so both channels tell the same story.

export type AlertKind = 'balance.below' | 'budget.80' | 'budget.100';
export type AlertLanguage = 'en' | 'zh';

/** What an alert is about: the figures its e-mail and webhook carry. */
export interface AlertEvent {
  id: string;
  kind: AlertKind;
  /** `user:<id>` or `team:<id>`: whose settings sent it. */
  owner: string;
  currency: string;
  createdAt: number;
  /** balance.below: the threshold and what is left to spend. */
  threshold?: string;
  spendable?: string;
  /** budget.*: which budget (`key:<id>` or `member:<team>:<user>`), its name, period, spend and amount. */
  budget?: string;
  budgetName?: string;
  period?: string;
  spent?: string;
  amount?: string;
}

export function renderAlertMail(e: AlertEvent, lang: AlertLanguage): { subject: string; text: string } {
  return lang === 'zh' ? zh(e) : en(e);
}

function en(e: AlertEvent): { subject: string; text: string } {
  if (e.kind === 'balance.below') {
    return {
      subject: `Tally: your balance is below ${e.threshold} ${e.currency}`,
      text: [
        `Your Tally balance available to spend is ${e.spendable} ${e.currency}, below the ${e.threshold} ${e.currency} you asked to be told about.`,
        '',
        'Top up to keep your API keys working. This alert is sent once each time the balance falls below the threshold.',
        'Change or turn off alerts in the console (Alerts) or with PUT /api/alerts.',
      ].join('\n'),
    };
  }
  const pct = e.kind === 'budget.100' ? '100%' : '80%';
  const what = e.budgetName ? `the budget of ${e.budgetName}` : `budget ${e.budget}`;
  return {
    subject: `Tally: ${what} is at ${pct} (${e.period})`,
    text: [
      `${capital(what)} has spent ${e.spent} of ${e.amount} ${e.currency} in period ${e.period} (${pct}).`,
      '',
      e.kind === 'budget.100'
        ? 'Requests that would spend more are refused until the period ends or the budget is raised.'
        : 'Requests are refused once the budget is spent, until the period ends or the budget is raised.',
    ].join('\n'),
  };
}

function zh(e: AlertEvent): { subject: string; text: string } {
  if (e.kind === 'balance.below') {
    return {
      subject: `Tally：您的余额已低于 ${e.threshold} ${e.currency}`,
      text: [
        `您在 Tally 的可用余额为 ${e.spendable} ${e.currency}，已低于您设置的提醒阈值 ${e.threshold} ${e.currency}。`,
        '',
        '请及时充值，以免 API 密钥无法使用。每次余额跌破阈值时只发送一次提醒。',
        '可在控制台（提醒设置）或通过 PUT /api/alerts 修改或关闭提醒。',
      ].join('\n'),
    };
  }
  const pct = e.kind === 'budget.100' ? '100%' : '80%';
  const what = e.budgetName ? `${e.budgetName} 的预算` : `预算 ${e.budget}`;
  return {
    subject: `Tally：${what}已用到 ${pct}（${e.period}）`,
    text: [
      `${what}在周期 ${e.period} 内已花费 ${e.spent} / ${e.amount} ${e.currency}（${pct}）。`,
      '',
      e.kind === 'budget.100' ? '超出预算的请求将被拒绝，直到周期结束或预算提高。' : '预算用完后请求将被拒绝，直到周期结束或预算提高。',
    ].join('\n'),
  };
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** The webhook body: the event as JSON (money as decimal strings, like the rest of the API). */
export function webhookBody(e: AlertEvent): string {
  const data: Record<string, string> = { owner: e.owner, currency: e.currency };
  for (const k of ['threshold', 'spendable', 'budget', 'budgetName', 'period', 'spent', 'amount'] as const) {
    const v = e[k];
    if (v !== undefined) data[k === 'budgetName' ? 'budget_name' : k] = v;
  }
  return JSON.stringify({ id: e.id, type: e.kind, created_at: new Date(e.createdAt).toISOString(), data });
}
