import { useState } from 'react';
import { api } from '../../api.ts';
import { useI18n, errorText } from '../../i18n.tsx';
import { Field, Notice, PageTitle, Table } from '../../components.tsx';
import { useApi } from '../../useApi.ts';
import { tidy } from '../../money.ts';
import type { PageProps } from '../../App.tsx';

interface Price {
  model: string;
  kind: string;
  input_per_1m: string;
  output_per_1m: string;
  cached_input_per_1m: string | null;
  cache_write_per_1m: string | null;
  cache_write_1h_per_1m: string | null;
  /** Only when the model has a long-context tier. */
  tier_above?: number;
  tier_input_per_1m?: string;
  tier_output_per_1m?: string;
  max_output_tokens: number;
}

/** A price that may be unset, for the form: empty when unset. */
const optional = (v: string | null) => (v ? tidy(v) : '');

export function AdminModels({ me }: PageProps) {
  const { t } = useI18n();
  const prices = useApi<{ data: Price[] }>('/api/admin/models');
  const [form, setForm] = useState({
    model: '',
    input: '',
    output: '',
    cached_input: '',
    cache_write: '',
    cache_write_1h: '',
    tier_above: '',
    tier_input: '',
    tier_output: '',
    kind: 'chat',
  });
  const [error, setError] = useState<string | null>(null);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <>
      <PageTitle>{t('admin.models.title')}</PageTitle>
      {me.role !== 'admin' && <Notice>{t('admin.readOnly')}</Notice>}
      <section className="card" aria-label={t('admin.models.title')}>
        <Table
          caption={t('admin.models.title')}
          rows={prices.data?.data ?? (prices.error ? [] : null)}
          rowKey={(p) => p.model}
          onRowClick={
            me.role === 'admin'
              ? (p) =>
                  setForm({
                    model: p.model,
                    input: tidy(p.input_per_1m),
                    output: tidy(p.output_per_1m),
                    cached_input: optional(p.cached_input_per_1m),
                    cache_write: optional(p.cache_write_per_1m),
                    cache_write_1h: optional(p.cache_write_1h_per_1m),
                    tier_above: p.tier_above === undefined ? '' : String(p.tier_above),
                    tier_input: optional(p.tier_input_per_1m ?? null),
                    tier_output: optional(p.tier_output_per_1m ?? null),
                    kind: p.kind,
                  })
              : undefined
          }
          rowLabel={(p) => p.model}
          columns={[
            { key: 'model', label: t('admin.models.model'), render: (p) => <strong>{p.model}</strong> },
            { key: 'kind', label: t('admin.models.kind'), render: (p) => p.kind },
            { key: 'in', label: t('admin.models.input'), numeric: true, render: (p) => tidy(p.input_per_1m) },
            { key: 'out', label: t('admin.models.output'), numeric: true, render: (p) => tidy(p.output_per_1m) },
            { key: 'cached', label: t('admin.models.cached'), numeric: true, render: (p) => (p.cached_input_per_1m ? tidy(p.cached_input_per_1m) : '—') },
            { key: 'write', label: t('admin.models.cacheWrite'), numeric: true, render: (p) => (p.cache_write_per_1m ? tidy(p.cache_write_per_1m) : '—') },
            {
              key: 'write1h',
              label: t('admin.models.cacheWrite1h'),
              numeric: true,
              render: (p) => (p.cache_write_1h_per_1m ? tidy(p.cache_write_1h_per_1m) : '—'),
            },
            {
              key: 'tier',
              label: t('admin.models.tier'),
              render: (p) =>
                p.tier_above === undefined
                  ? '—'
                  : t('admin.models.tierValue', { above: p.tier_above, input: tidy(p.tier_input_per_1m ?? '0'), output: tidy(p.tier_output_per_1m ?? '0') }),
            },
          ]}
        />
      </section>
      {me.role === 'admin' && (
        <form
          className="card form-grid"
          aria-labelledby="price-h"
          onSubmit={async (e) => {
            e.preventDefault();
            setError(null);
            try {
              await api('/api/admin/models', {
                body: {
                  model: form.model,
                  input: form.input,
                  output: form.output,
                  cached_input: form.cached_input || undefined,
                  cache_write: form.cache_write || undefined,
                  cache_write_1h: form.cache_write_1h || undefined,
                  tier_above: form.tier_above ? Number(form.tier_above) : undefined,
                  tier_input: form.tier_input || undefined,
                  tier_output: form.tier_output || undefined,
                  kind: form.kind,
                },
              });
              prices.reload();
            } catch (err) {
              setError(errorText(t, err));
            }
          }}
        >
          <h2 id="price-h" className="span-all">
            {t('admin.models.set')}
          </h2>
          <Field label={t('admin.models.model')}>{(id) => <input id={id} required value={form.model} onChange={set('model')} />}</Field>
          <Field label={t('admin.models.kind')}>
            {(id) => (
              <select id={id} value={form.kind} onChange={set('kind')}>
                <option>chat</option>
                <option>embedding</option>
              </select>
            )}
          </Field>
          <Field label={t('admin.models.input')}>{(id) => <input id={id} required inputMode="decimal" value={form.input} onChange={set('input')} />}</Field>
          <Field label={t('admin.models.output')}>{(id) => <input id={id} required inputMode="decimal" value={form.output} onChange={set('output')} />}</Field>
          <Field label={t('admin.models.cached')}>
            {(id) => <input id={id} inputMode="decimal" value={form.cached_input} onChange={set('cached_input')} />}
          </Field>
          <Field label={t('admin.models.cacheWrite')}>
            {(id) => <input id={id} inputMode="decimal" value={form.cache_write} onChange={set('cache_write')} />}
          </Field>
          <Field label={t('admin.models.cacheWrite1h')}>
            {(id) => <input id={id} inputMode="decimal" value={form.cache_write_1h} onChange={set('cache_write_1h')} />}
          </Field>
          <p className="span-all muted">{t('admin.models.cacheHint')}</p>
          <Field label={t('admin.models.tierAbove')}>
            {(id) => <input id={id} inputMode="numeric" value={form.tier_above} onChange={set('tier_above')} />}
          </Field>
          <Field label={t('admin.models.tierInput')}>
            {(id) => <input id={id} inputMode="decimal" value={form.tier_input} onChange={set('tier_input')} />}
          </Field>
          <Field label={t('admin.models.tierOutput')}>
            {(id) => <input id={id} inputMode="decimal" value={form.tier_output} onChange={set('tier_output')} />}
          </Field>
          <p className="span-all muted">{t('admin.models.tierHint')}</p>
          <div className="span-all row between wrap">
            <div className="notice-slot grow">{error && <Notice kind="error">{error}</Notice>}</div>
            <button type="submit">{t('common.save')}</button>
          </div>
        </form>
      )}
    </>
  );
}
