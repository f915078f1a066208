import { useEffect, useMemo, useState } from 'react';
import { api, qs, type UsageRow } from '../api.ts';
import { useApi } from '../useApi.ts';
import { LIVE_STATUSES, type TaskRow } from './Tasks.tsx';
import { useI18n } from '../i18n.tsx';
import { Link, Notice, PageTitle, Skeleton } from '../components.tsx';
import { toMicros, fromMicros } from '../money.ts';
import { SpendChart, type Series } from '../components/SpendChart.tsx';
import { FEATURES } from '../features.ts';
import type { PageProps } from '../App.tsx';

const DAY = 86_400_000;
/** Below this available balance the dashboard warns (platform currency). */
const LOW_BALANCE = toMicros('1.00');
const MAX_PAGES = 20; // 10,000 requests; past that the chart says it is partial

async function lastThirtyDays(since: string): Promise<{ rows: UsageRow[]; partial: boolean }> {
  const rows: UsageRow[] = [];
  let before: string | undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await api<{ data: UsageRow[]; next_before: string | null }>(`/api/usage${qs({ since, limit: 500, before })}`);
    rows.push(...page.data);
    if (!page.next_before) return { rows, partial: false };
    before = page.next_before;
  }
  return { rows, partial: true };
}

export function Dashboard({ me, refreshMe }: PageProps) {
  const { t } = useI18n();
  const [usage, setUsage] = useState<{ rows: UsageRow[]; partial: boolean } | null>(null);
  const [by, setBy] = useState<'model' | 'key'>('model');
  // Day boundaries in the viewer's time zone: "today" is what they think it is.
  const start = useMemo(() => {
    const d = new Date();
    d.setHours(0, 0, 0, 0);
    return d.getTime() - 29 * DAY;
  }, []);
  useEffect(() => {
    refreshMe();
    lastThirtyDays(new Date(start).toISOString()).then(setUsage, () => setUsage({ rows: [], partial: false }));
  }, [start]);

  const series: Series[] | null = useMemo(() => {
    if (!usage) return null;
    const m = new Map<string, Series>();
    for (const r of usage.rows) {
      if (!r.charged) continue;
      const name = (by === 'model' ? r.model : r.key) ?? '—';
      let s = m.get(name);
      if (!s) m.set(name, (s = { name, days: Array(30).fill(0n), total: 0n, count: 0 }));
      const day = Math.min(29, Math.max(0, Math.floor((Date.parse(r.created_at) - start) / DAY)));
      const v = toMicros(r.charged_amount);
      s.days[day] += v;
      s.total += v;
      s.count++;
    }
    return [...m.values()].sort((a, b) => (b.total > a.total ? 1 : b.total < a.total ? -1 : 0));
  }, [usage, by, start]);

  // Money held by running tasks (also inside me.pending): shown by itself, and only while there is some.
  const tasks = useApi<{ data: TaskRow[] }>('/api/tasks?limit=200');
  const running = (tasks.data?.data ?? []).filter((r) => LIVE_STATUSES.includes(r.status));
  const taskReserved = running.reduce((s, r) => s + toMicros(r.reserved), 0n);

  const low = toMicros(me.available) < LOW_BALANCE;
  return (
    <>
      <PageTitle>{t('dash.title')}</PageTitle>
      <div className="notice-slot">
        {low && (
          <Notice kind="warn">
            {t('dash.lowBalance', { amount: me.available, currency: me.currency })} <Link to="/redeem">{t('dash.lowBalanceAction')}</Link>
            {FEATURES.orders && (
              <>
                {' '}
                · <Link to="/topup">{t('dash.lowBalanceTopUp')}</Link>
              </>
            )}
          </Notice>
        )}
      </div>
      <section className="stats" aria-label={t('dash.balance')}>
        <div className="card stat">
          <h2>{t('dash.balance')}</h2>
          <p className="figure" data-testid="balance">
            {me.balance} <small>{me.currency}</small>
          </p>
        </div>
        <div className="card stat">
          <h2>{t('dash.available')}</h2>
          <p className="figure" data-testid="available">
            {me.available} <small>{me.currency}</small>
          </p>
          <p className="muted">
            {t('dash.pending')}: {me.pending}
          </p>
          {taskReserved > 0n && (
            <p className="muted" data-testid="tasks-reserved">
              {t('dash.tasksReserved')}: {fromMicros(taskReserved)} {me.currency} · <Link to="/tasks">{t('dash.tasksRunning', { n: running.length })}</Link>
            </p>
          )}
        </div>
      </section>
      <section className="card" aria-labelledby="spend-h">
        <div className="row between wrap">
          <h2 id="spend-h">{t('dash.spend30')}</h2>
          <div className="segmented" role="group" aria-label={t('dash.spend30')}>
            <button type="button" aria-pressed={by === 'model'} onClick={() => setBy('model')}>
              {t('dash.byModel')}
            </button>
            <button type="button" aria-pressed={by === 'key'} onClick={() => setBy('key')}>
              {t('dash.byKey')}
            </button>
          </div>
        </div>
        {series === null ? (
          <div className="chart-frame">
            <Skeleton height="100%" />
          </div>
        ) : series.length === 0 ? (
          <div className="chart-frame empty-chart">
            <p>{t('dash.noSpend')}</p>
          </div>
        ) : (
          <SpendChart series={series} start={start} label={t('dash.chartLabel', { what: by === 'model' ? t('usage.model') : t('usage.key') })} />
        )}
        <ul className="legend">
          {(series ?? []).slice(0, 8).map((s, i) => (
            <li key={s.name}>
              <span className={`swatch c${i}`} aria-hidden="true" />
              <span className="legend-name">{s.name}</span>
              <span className="num">
                {fromMicros(s.total)} {me.currency}
              </span>
              <span className="muted">{t('dash.requests', { n: s.count })}</span>
            </li>
          ))}
          {series && series.length > 0 && (
            <li className="legend-total">
              <span className="legend-name">{t('dash.total')}</span>
              <span className="num">
                {fromMicros(series.reduce((a, s) => a + s.total, 0n))} {me.currency}
              </span>
            </li>
          )}
        </ul>
      </section>
    </>
  );
}
