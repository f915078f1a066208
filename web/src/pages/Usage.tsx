import { useEffect, useState } from 'react';
import { api, qs, type KeyRow, type UsageRow } from '../api.ts';
import { useI18n, errorText, type T } from '../i18n.tsx';
import { Badge, Field, Link, Notice, PageTitle, Skeleton, Table } from '../components.tsx';
import { useApi } from '../useApi.ts';
import { navigate } from '../router.ts';
import { tidy } from '../money.ts';
import type { PageProps } from '../App.tsx';

interface Filters {
  model: string;
  key_id: string;
  charged: '' | 'true' | 'false';
  since: string;
  until: string;
}
const EMPTY: Filters = { model: '', key_id: '', charged: '', since: '', until: '' };
const dayStart = (d: string) => (d ? new Date(`${d}T00:00:00`).toISOString() : undefined);
const dayEnd = (d: string) => (d ? new Date(new Date(`${d}T00:00:00`).getTime() + 86_400_000).toISOString() : undefined);

export function Usage({ params, me }: PageProps) {
  const { t, fmtTime } = useI18n();
  const keys = useApi<{ data: KeyRow[] }>('/api/keys');
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [rows, setRows] = useState<UsageRow[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = async (before?: string) => {
    const q = qs({
      model: filters.model,
      key_id: filters.key_id,
      charged: filters.charged,
      since: dayStart(filters.since),
      until: dayEnd(filters.until),
      before,
      limit: 50,
    });
    try {
      const page = await api<{ data: UsageRow[]; next_before: string | null }>(`/api/usage${q}`);
      setRows((prev) => (before ? [...(prev ?? []), ...page.data] : page.data));
      setNext(page.next_before);
      setError(null);
    } catch (e) {
      setError(e);
      setRows([]);
    }
  };
  useEffect(() => {
    setRows(null);
    load();
  }, [filters]);

  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  return (
    <>
      <PageTitle>{t('usage.title')}</PageTitle>
      {params.id && <UsageDetail id={params.id} currency={me.currency} />}
      <form
        className="card filters"
        aria-label={t('usage.filters')}
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
        }}
      >
        <Field label={t('usage.model')}>{(id) => <input id={id} name="model" value={draft.model} onChange={set('model')} />}</Field>
        <Field label={t('usage.key')}>
          {(id) => (
            <select id={id} name="key_id" value={draft.key_id} onChange={set('key_id')}>
              <option value="">{t('common.all')}</option>
              {keys.data?.data.map((k) => (
                <option key={k.id} value={k.id}>
                  {k.name ?? k.display}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label={t('usage.charged')}>
          {(id) => (
            <select id={id} name="charged" value={draft.charged} onChange={set('charged')}>
              <option value="">{t('common.all')}</option>
              <option value="true">{t('common.yes')}</option>
              <option value="false">{t('common.no')}</option>
            </select>
          )}
        </Field>
        <Field label={t('usage.since')}>{(id) => <input id={id} type="date" name="since" value={draft.since} onChange={set('since')} />}</Field>
        <Field label={t('usage.until')}>{(id) => <input id={id} type="date" name="until" value={draft.until} onChange={set('until')} />}</Field>
        <div className="field end">
          <button type="submit">{t('usage.apply')}</button>
        </div>
      </form>
      <section className="card" aria-label={t('usage.title')}>
        {Boolean(error) && <Notice kind="error">{errorText(t, error)}</Notice>}
        <Table
          caption={t('usage.title')}
          rows={rows}
          rowKey={(r) => r.id}
          onRowClick={(r) => navigate(`/usage/${r.id}`)}
          rowLabel={(r) => t('usage.open', { id: r.id })}
          columns={[
            { key: 'time', label: t('usage.time'), render: (r) => fmtTime(r.created_at) },
            { key: 'model', label: t('usage.model'), render: (r) => r.model ?? '—' },
            { key: 'key', label: t('usage.key'), render: (r) => <span className="mono">{r.key ?? '—'}</span> },
            { key: 'tokens', label: t('usage.tokens'), numeric: true, render: (r) => `${r.prompt_tokens} / ${r.completion_tokens}` },
            { key: 'cost', label: t('usage.cost'), numeric: true, render: (r) => tidy(r.charged_amount) },
            {
              key: 'charged',
              label: t('usage.charged'),
              render: (r) => <Badge tone={r.charged ? 'ok' : 'muted'}>{r.charged ? t('common.yes') : t('common.no')}</Badge>,
            },
            { key: 'status', label: t('usage.status'), render: (r) => <Badge tone={r.status < 400 ? 'ok' : 'bad'}>{r.status}</Badge> },
          ]}
        />
        {next && (
          <div className="row center">
            <button type="button" className="secondary" onClick={() => load(next)}>
              {t('common.loadMore')}
            </button>
          </div>
        )}
      </section>
    </>
  );
}

function UsageDetail({ id, currency }: { id: string; currency: string }) {
  const { t, fmtTime } = useI18n();
  const { data, error } = useApi<UsageRow & { explanation: string | null; pricing: Record<string, string | null> | null }>(
    `/api/usage/${encodeURIComponent(id)}`,
  );
  return (
    <section className="card detail" aria-labelledby="detail-h" data-testid="usage-detail">
      <div className="row between">
        <h2 id="detail-h" className="mono">
          {t('usage.detail', { id })}
        </h2>
        <Link to="/usage" aria-label={t('common.close')}>
          {t('common.close')}
        </Link>
      </div>
      {error ? (
        <Notice kind="error">{(error as { status?: number }).status === 404 ? t('common.notFound') : errorText(t, error)}</Notice>
      ) : (
        <dl className="facts">
          <dt>{t('usage.time')}</dt>
          <dd>{data ? fmtTime(data.created_at) : <Skeleton width="10rem" />}</dd>
          <dt>{t('usage.model')}</dt>
          <dd>{data ? (data.model ?? '—') : <Skeleton width="8rem" />}</dd>
          <dt>{t('usage.key')}</dt>
          <dd className="mono">{data ? (data.key ?? '—') : <Skeleton width="8rem" />}</dd>
          <dt>{t('usage.tokens')}</dt>
          <dd>{data ? `${data.prompt_tokens} / ${data.completion_tokens}${cacheCounts(t, data)}` : <Skeleton width="6rem" />}</dd>
          <dt>{t('usage.charged')}</dt>
          <dd>
            {data ? (
              <>
                <Badge tone={data.charged ? 'ok' : 'muted'}>{data.charged ? t('common.yes') : t('common.no')}</Badge> {tidy(data.charged_amount)} {currency}
              </>
            ) : (
              <Skeleton width="6rem" />
            )}
          </dd>
          <dt>{t('usage.chargeReason')}</dt>
          <dd>{data ? (data.charge_reason ?? '—') : <Skeleton width="12rem" />}</dd>
          {data && data.uncollected !== '0.000000' && toNonZero(data.uncollected) && (
            <>
              <dt>{t('usage.uncollected')}</dt>
              <dd>
                {tidy(data.uncollected)} {currency}
              </dd>
            </>
          )}
          {data?.error_code && (
            <>
              <dt>{t('usage.error')}</dt>
              <dd>
                {data.error_code}: {data.error_message}
              </dd>
            </>
          )}
          {data?.pricing && (
            <>
              <dt>{t('usage.prices')}</dt>
              <dd className="mono" data-testid="usage-prices">
                {pricesText(t, data.pricing)}
              </dd>
            </>
          )}
          <dt>{t('usage.explanation')}</dt>
          <dd className="mono explanation" data-testid="usage-explanation">
            {data ? (data.explanation ?? t('usage.noPricing')) : <Skeleton width="16rem" />}
          </dd>
          <dt>{t('usage.transfer')}</dt>
          <dd className="mono">{data ? (data.transfer_id ?? '—') : <Skeleton width="10rem" />}</dd>
        </dl>
      )}
    </section>
  );
}

const toNonZero = (s: string) => /[1-9]/.test(s);

/** " (cache read N, cache write 5m N, ...)": the parts of the prompt billed at a cache price, those that are not zero. */
function cacheCounts(t: T, u: UsageRow): string {
  const parts: string[] = [];
  if (u.cached_tokens) parts.push(t('usage.cacheRead', { n: u.cached_tokens }));
  if (u.cache_write_tokens) parts.push(t('usage.cacheWrite', { n: u.cache_write_tokens }));
  if (u.cache_write_1h_tokens) parts.push(t('usage.cacheWrite1h', { n: u.cache_write_1h_tokens }));
  if (u.tool_use_prompt_tokens) parts.push(t('usage.toolUsePrompt', { n: u.tool_use_prompt_tokens }));
  if (u.reasoning_tokens) parts.push(t('usage.reasoning', { n: u.reasoning_tokens }));
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** The prices per 1M tokens the request was charged at; an unset cache price is shown as the input price it falls back to. */
function pricesText(t: T, p: Record<string, string | null>): string {
  const tier = p.price_set === 'tier';
  const input = tidy((tier ? p.tier_input_per_1m : p.input_per_1m) ?? '0');
  const at = (v: string | null | undefined) => (v ? tidy(v) : input);
  const text = t('usage.pricesValue', {
    input,
    output: tidy((tier ? p.tier_output_per_1m : p.output_per_1m) ?? '0'),
    read: at(p.cached_input_per_1m),
    write: at(p.cache_write_per_1m),
    write1h: at(p.cache_write_1h_per_1m),
    multiplier: p.multiplier ?? '1',
  });
  return tier ? `${text}; ${t('usage.longContext', { above: String(p.tier_above) })}` : text;
}
