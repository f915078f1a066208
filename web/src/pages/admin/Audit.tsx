import { useState } from 'react';
import { qs } from '../../api.ts';
import { useI18n, errorText } from '../../i18n.tsx';
import { Field, Notice, PageTitle, Table } from '../../components.tsx';
import { useApi } from '../../useApi.ts';
import type { PageProps } from '../../App.tsx';

interface AuditRow {
  id: string;
  actor: string;
  action: string;
  target: string | null;
  reason: string | null;
  data: unknown;
  before: unknown;
  after: unknown;
  created_at: string;
}

const brief = (v: unknown) => (v === null || v === undefined ? '' : JSON.stringify(v));

export function AdminAudit({ search }: PageProps) {
  const { t, fmtTime } = useI18n();
  const init = new URLSearchParams(search);
  const empty = { target: init.get('target') ?? '', action: init.get('action') ?? '', actor: '', since: '', until: '' };
  const [draft, setDraft] = useState(empty);
  const [filters, setFilters] = useState(empty);
  const iso = (v: string) => (v ? new Date(v).toISOString() : undefined);
  const audit = useApi<{ data: AuditRow[] }>(
    `/api/admin/audit${qs({ target: filters.target, action: filters.action, actor: filters.actor, since: iso(filters.since), until: iso(filters.until), limit: 200 })}`,
  );
  const set = (k: keyof typeof draft) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  return (
    <>
      <PageTitle>{t('admin.audit.title')}</PageTitle>
      <form
        className="card form-grid"
        role="search"
        aria-label={t('usage.filters')}
        onSubmit={(e) => {
          e.preventDefault();
          setFilters({ ...draft, target: draft.target.trim(), action: draft.action.trim(), actor: draft.actor.trim() });
        }}
      >
        <Field label={t('admin.audit.action')} hint={t('admin.audit.actionHint')}>
          {(id, d) => <input id={id} aria-describedby={d} value={draft.action} onChange={set('action')} />}
        </Field>
        <Field label={t('admin.audit.target')}>{(id) => <input id={id} className="mono" value={draft.target} onChange={set('target')} />}</Field>
        <Field label={t('admin.audit.actor')}>{(id) => <input id={id} value={draft.actor} onChange={set('actor')} />}</Field>
        <Field label={t('usage.since')}>{(id) => <input id={id} type="datetime-local" value={draft.since} onChange={set('since')} />}</Field>
        <Field label={t('usage.until')}>{(id) => <input id={id} type="datetime-local" value={draft.until} onChange={set('until')} />}</Field>
        <div className="span-all row end">
          <button type="submit">{t('usage.apply')}</button>
        </div>
      </form>
      <section className="card" aria-label={t('admin.audit.title')}>
        {Boolean(audit.error) && <Notice kind="error">{errorText(t, audit.error)}</Notice>}
        <Table
          caption={t('admin.audit.title')}
          rows={audit.data?.data ?? (audit.error ? [] : null)}
          rowKey={(r) => r.id}
          rowLabel={(r) => `${r.action} ${r.target ?? ''}`}
          columns={[
            { key: 'at', label: t('usage.time'), render: (r) => fmtTime(r.created_at) },
            { key: 'actor', label: t('admin.audit.actor'), render: (r) => <span className="mono">{r.actor}</span> },
            { key: 'action', label: t('admin.audit.action'), render: (r) => <strong>{r.action}</strong> },
            { key: 'target', label: t('admin.audit.target'), render: (r) => <span className="mono">{r.target ?? '—'}</span> },
            { key: 'reason', label: t('admin.reason'), render: (r) => r.reason ?? '—' },
            {
              key: 'change',
              label: t('admin.audit.change'),
              render: (r) => <span className="mono small-text">{[brief(r.before), brief(r.after)].filter(Boolean).join(' → ') || brief(r.data)}</span>,
            },
          ]}
        />
      </section>
    </>
  );
}
