import { useState } from 'react';
import { qs } from '../../api.ts';
import { useI18n, errorText, type MessageKey } from '../../i18n.tsx';
import { Field, Notice, PageTitle, Segmented, Table } from '../../components.tsx';
import { SpendChart, type Series } from '../../components/SpendChart.tsx';
import { useApi } from '../../useApi.ts';
import { tidy, toMicros } from '../../money.ts';
import type { PageProps } from '../../App.tsx';

// The operator dashboard (GET /api/admin/stats) and the request search across
// users (GET /api/admin/requests). Money arrives as decimal strings; sums are BigInt.

const FIGURES = ['topups', 'redemptions', 'spend', 'refunds', 'compensation', 'manual', 'uncollected'] as const;
type FigureName = (typeof FIGURES)[number];
type Figures = Record<FigureName, string>;
interface Margin {
  upstream_cost: string | null;
  margin: string | null;
  unpriced_spend: string;
}
interface DayRow extends Figures, Margin {
  day: string;
  requests: number;
}
interface GroupRow extends Margin {
  key: string | null;
  label: string | null;
  requests: number;
  spend: string;
}
interface Stats<R> {
  currency: string;
  timezone: string;
  from: string;
  to: string;
  totals: Figures & Margin & { requests: number };
  rows: R[];
  unattributed_spend: string;
  top_spenders: { account: string; type: 'user' | 'team'; id: string; label: string; spend: string }[];
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
type Grouping = 'model' | 'channel' | 'group' | 'user';

export function AdminOpsDashboard(_: PageProps) {
  const { t } = useI18n();
  const now = Date.now();
  const initial = { from: isoDay(now - 29 * 86_400_000), to: isoDay(now) };
  const [draft, setDraft] = useState(initial);
  const [range, setRange] = useState(initial);
  const [by, setBy] = useState<Grouping>('model');
  const daily = useApi<Stats<DayRow>>(`/api/admin/stats${qs({ from: range.from, to: range.to, by: 'day' })}`);
  const grouped = useApi<Stats<GroupRow>>(`/api/admin/stats${qs({ from: range.from, to: range.to, by })}`);
  const s = daily.data;
  const money = (v: string | null) => (v === null ? t('opsDash.marginUnknown') : `${tidy(v)}`);
  const label = (f: FigureName) => t(`opsDash.${f}` as MessageKey);
  // The chart draws 30 days: the last 30 of the range, zeros before a shorter range.
  const last30 = s ? Array.from({ length: 30 }, (_, i) => s.rows[s.rows.length - 30 + i]) : [];
  const chartStart = s ? Date.parse(`${s.rows[Math.max(0, s.rows.length - 30)].day}T00:00:00Z`) - Math.max(0, 30 - s.rows.length) * 86_400_000 : 0;
  const series: Series[] = s
    ? [
        {
          name: t('opsDash.spend'),
          days: last30.map((r) => (r ? toMicros(r.spend) : 0n)),
          total: toMicros(s.totals.spend),
          count: s.totals.requests,
        },
      ]
    : [];
  return (
    <>
      <PageTitle>{t('opsDash.title')}</PageTitle>
      <form
        className="card form-grid"
        aria-label={t('opsDash.title')}
        onSubmit={(e) => {
          e.preventDefault();
          setRange(draft);
        }}
      >
        <Field label={t('opsDash.from')}>
          {(id) => <input id={id} type="date" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />}
        </Field>
        <Field label={t('opsDash.to')} hint={s ? t('opsDash.rangeHint', { tz: s.timezone }) : undefined}>
          {(id, d) => <input id={id} type="date" aria-describedby={d} value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />}
        </Field>
        <div className="span-all row end">
          <button type="submit">{t('opsDash.show')}</button>
        </div>
      </form>
      {Boolean(daily.error) && <Notice kind="error">{errorText(t, daily.error)}</Notice>}
      {s && (
        <>
          <section className="card" aria-label={t('opsDash.totals')} data-testid="ops-totals">
            <h2>
              {t('opsDash.totals')} ({s.currency})
            </h2>
            <dl className="stats-grid">
              {FIGURES.map((f) => (
                <div key={f} data-figure={f}>
                  <dt>{label(f)}</dt>
                  <dd className="mono">{tidy(s.totals[f])}</dd>
                </div>
              ))}
              <div data-figure="margin">
                <dt>{t('opsDash.margin')}</dt>
                <dd className="mono">{money(s.totals.margin)}</dd>
              </div>
              <div data-figure="requests">
                <dt>{t('opsDash.requests')}</dt>
                <dd className="mono">{s.totals.requests}</dd>
              </div>
            </dl>
            <p className="muted small-text">{t('opsDash.fromLedger')}</p>
            {toMicros(s.totals.unpriced_spend) > 0n && <Notice kind="info">{t('opsDash.marginPartial', { amount: tidy(s.totals.unpriced_spend) })}</Notice>}
            {toMicros(s.unattributed_spend) !== 0n && <Notice kind="warn">{t('opsDash.unattributed', { amount: tidy(s.unattributed_spend) })}</Notice>}
          </section>
          <section className="card" aria-label={t('opsDash.chart')}>
            <h2>{t('opsDash.chart')}</h2>
            <SpendChart series={series} start={chartStart} label={t('opsDash.chart')} />
          </section>
          <section className="card" aria-label={t('opsDash.byDay')}>
            <h2>{t('opsDash.byDay')}</h2>
            <Table
              caption={t('opsDash.byDay')}
              rows={s.rows.filter((r) => FIGURES.some((f) => toMicros(r[f]) !== 0n) || r.requests > 0).reverse()}
              rowKey={(r) => r.day}
              columns={[
                { key: 'day', label: t('opsDash.day'), render: (r) => r.day },
                ...FIGURES.slice(0, 6).map((f) => ({ key: f, label: label(f), numeric: true, render: (r: DayRow) => tidy(r[f]) })),
                { key: 'margin', label: t('opsDash.margin'), numeric: true, render: (r) => money(r.margin) },
              ]}
            />
          </section>
        </>
      )}
      <section className="card" aria-label={t('opsDash.breakdown')}>
        <h2>{t('opsDash.breakdown')}</h2>
        <Segmented
          label={t('opsDash.breakdown')}
          value={by}
          options={(['model', 'channel', 'group', 'user'] as const).map((v) => ({ value: v, label: t(`opsDash.by.${v}` as MessageKey) }))}
          onChange={(v) => setBy(v as Grouping)}
        />
        {Boolean(grouped.error) && <Notice kind="error">{errorText(t, grouped.error)}</Notice>}
        <Table
          caption={`${t('opsDash.breakdown')}: ${t(`opsDash.by.${by}` as MessageKey)}`}
          rows={grouped.data?.rows ?? (grouped.error ? [] : null)}
          rowKey={(r) => r.key ?? '—'}
          columns={[
            { key: 'key', label: t(`opsDash.by.${by}` as MessageKey), render: (r) => <span className="mono">{r.label ?? r.key ?? '—'}</span> },
            { key: 'requests', label: t('opsDash.requests'), numeric: true, render: (r) => r.requests },
            { key: 'spend', label: t('opsDash.spend'), numeric: true, render: (r) => tidy(r.spend) },
            { key: 'upstream', label: t('opsDash.upstreamCost'), numeric: true, render: (r) => money(r.upstream_cost) },
            { key: 'margin', label: t('opsDash.margin'), numeric: true, render: (r) => money(r.margin) },
          ]}
        />
      </section>
      {s && (
        <section className="card" aria-label={t('opsDash.topSpenders')}>
          <h2>{t('opsDash.topSpenders')}</h2>
          <Table
            caption={t('opsDash.topSpenders')}
            rows={s.top_spenders}
            rowKey={(r) => r.account}
            columns={[
              { key: 'account', label: t('opsDash.account'), render: (r) => r.label },
              { key: 'spend', label: t('opsDash.spend'), numeric: true, render: (r) => tidy(r.spend) },
            ]}
          />
        </section>
      )}
    </>
  );
}

interface SearchRow {
  id: string;
  created_at: string;
  model: string | null;
  key: string | null;
  status: number;
  cost: string;
  charged: boolean;
  user_email: string | null;
}

export function AdminRequestSearch({ search }: PageProps) {
  const { t, fmtTime } = useI18n();
  const init = new URLSearchParams(search);
  const empty = { request_id: init.get('request_id') ?? '', key_tail: '', model: '', status: '', user: init.get('user') ?? '', from: '', to: '' };
  const [draft, setDraft] = useState(empty);
  const [filters, setFilters] = useState(empty);
  const [cursor, setCursor] = useState<string | null>(null);
  const iso = (v: string) => (v ? new Date(v).toISOString() : undefined);
  const res = useApi<{ data: SearchRow[]; next_cursor: string | null }>(
    `/api/admin/requests${qs({ ...filters, from: iso(filters.from), to: iso(filters.to), cursor: cursor ?? undefined, limit: 50 })}`,
  );
  const set = (k: keyof typeof draft) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  return (
    <>
      <PageTitle>{t('opsDash.search.title')}</PageTitle>
      <form
        className="card form-grid"
        role="search"
        aria-label={t('opsDash.search.title')}
        onSubmit={(e) => {
          e.preventDefault();
          setCursor(null);
          setFilters(Object.fromEntries(Object.entries(draft).map(([k, v]) => [k, v.trim()])) as typeof draft);
        }}
      >
        <Field label={t('opsDash.search.requestId')}>{(id) => <input id={id} className="mono" value={draft.request_id} onChange={set('request_id')} />}</Field>
        <Field label={t('opsDash.search.keyTail')}>{(id) => <input id={id} className="mono" value={draft.key_tail} onChange={set('key_tail')} />}</Field>
        <Field label={t('opsDash.search.model')}>{(id) => <input id={id} value={draft.model} onChange={set('model')} />}</Field>
        <Field label={t('opsDash.search.status')} hint={t('opsDash.search.statusHint')}>
          {(id, d) => <input id={id} aria-describedby={d} value={draft.status} onChange={set('status')} />}
        </Field>
        <Field label={t('opsDash.search.user')}>{(id) => <input id={id} value={draft.user} onChange={set('user')} />}</Field>
        <Field label={t('opsDash.search.from')} hint={t('opsDash.search.defaultRange')}>
          {(id, d) => <input id={id} type="datetime-local" aria-describedby={d} value={draft.from} onChange={set('from')} />}
        </Field>
        <Field label={t('opsDash.search.to')}>{(id) => <input id={id} type="datetime-local" value={draft.to} onChange={set('to')} />}</Field>
        <div className="span-all row end">
          <button type="submit">{t('usage.apply')}</button>
        </div>
      </form>
      <section className="card" aria-label={t('opsDash.search.title')}>
        {Boolean(res.error) && <Notice kind="error">{errorText(t, res.error)}</Notice>}
        <Table
          caption={t('opsDash.search.title')}
          rows={res.data?.data ?? (res.error ? [] : null)}
          rowKey={(r) => r.id}
          columns={[
            { key: 'at', label: t('usage.time'), render: (r) => fmtTime(r.created_at) },
            { key: 'id', label: t('opsDash.search.requestId'), render: (r) => <span className="mono">{r.id}</span> },
            { key: 'user', label: t('opsDash.by.user'), render: (r) => r.user_email ?? '—' },
            { key: 'key', label: t('opsDash.search.key'), render: (r) => <span className="mono">{r.key ?? '—'}</span> },
            { key: 'model', label: t('opsDash.search.model'), render: (r) => r.model ?? '—' },
            { key: 'status', label: t('opsDash.search.status'), numeric: true, render: (r) => r.status },
            { key: 'cost', label: t('opsDash.search.cost'), numeric: true, render: (r) => tidy(r.cost) },
          ]}
        />
        {res.data?.next_cursor && (
          <div className="row end">
            <button type="button" className="secondary" onClick={() => setCursor(res.data!.next_cursor)}>
              {t('opsDash.search.more')}
            </button>
          </div>
        )}
      </section>
    </>
  );
}
