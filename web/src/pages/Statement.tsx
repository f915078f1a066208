import { useEffect, useState } from 'react';
import { api, qs, type StatementLine } from '../api.ts';
import { useI18n, errorText, type MessageKey, type T } from '../i18n.tsx';
import { Link, Notice, PageTitle, Table } from '../components.tsx';
import { tidy } from '../money.ts';
import { FEATURES } from '../features.ts';
import type { PageProps } from '../App.tsx';

type Page = { data: StatementLine[]; next_before: string | null };

export const kindLabel = (t: T, kind: string) => {
  const key = `kind.${kind}` as MessageKey;
  const s = t(key);
  return s === key ? kind : s;
};

/** A statement line's reference as a link to what caused it, where the console has a page for it. */
export function Reference({ value }: { value: string | null }) {
  if (!value) return <span className="muted">—</span>;
  if (value.startsWith('req_'))
    return (
      <Link to={`/usage/${value}`} className="mono">
        {value}
      </Link>
    );
  if (value.startsWith('ord_') && FEATURES.orders)
    return (
      <Link to={`/orders/${value}`} className="mono">
        {value}
      </Link>
    );
  return <span className="mono">{value}</span>;
}

export function Statement({ me }: PageProps) {
  const { t, fmtTime } = useI18n();
  const [rows, setRows] = useState<StatementLine[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = async (before?: string) => {
    try {
      const p = await api<Page>(`/api/ledger${qs({ before, limit: 50 })}`);
      setRows((prev) => (before ? [...(prev ?? []), ...p.data] : p.data));
      setNext(p.next_before);
    } catch (e) {
      setError(e);
      setRows([]);
    }
  };
  useEffect(() => void load(), []);

  return (
    <>
      <PageTitle
        actions={
          // The whole statement, written by the server (GET /api/ledger.csv): RFC 4180, formula-safe.
          <a className="button secondary" href="/api/ledger.csv" download>
            {t('stmt.csv')}
          </a>
        }
      >
        {t('stmt.title')}
      </PageTitle>
      <section className="card" aria-label={t('stmt.title')}>
        {Boolean(error) && <Notice kind="error">{errorText(t, error)}</Notice>}
        <Table
          caption={t('stmt.title')}
          rows={rows}
          rowKey={(r) => r.id}
          columns={[
            { key: 'time', label: t('usage.time'), render: (r) => fmtTime(r.created_at) },
            { key: 'kind', label: t('stmt.kind'), render: (r) => kindLabel(t, r.kind) },
            {
              key: 'amount',
              label: t('stmt.amount'),
              numeric: true,
              render: (r) => (
                <span className={r.amount.startsWith('-') ? 'neg' : 'pos'}>
                  {r.amount.startsWith('-') ? '' : '+'}
                  {tidy(r.amount)}
                </span>
              ),
            },
            { key: 'after', label: t('stmt.balanceAfter'), numeric: true, render: (r) => `${tidy(r.balance_after)} ${me.currency}` },
            { key: 'reason', label: t('stmt.reason'), render: (r) => r.reason ?? <span className="muted">—</span> },
            { key: 'ref', label: t('stmt.reference'), render: (r) => <Reference value={r.reference} /> },
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
