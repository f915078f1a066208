import { useState } from 'react';
import { api } from '../../api.ts';
import { useI18n, errorText } from '../../i18n.tsx';
import { Field, Notice, PageTitle, Table, splitList } from '../../components.tsx';
import { useApi } from '../../useApi.ts';
import type { PageProps } from '../../App.tsx';
import { LimitInputs, describeLimits, emptyLimits, limitText, limitsBody, type LimitText, type Limits } from '../../components/limits.tsx';

interface Group extends Limits {
  name: string;
  multiplier: string;
  models: string[] | null;
}

export function AdminGroups({ me }: PageProps) {
  const { t } = useI18n();
  const groups = useApi<{ data: Group[] }>('/api/admin/groups');
  const [form, setForm] = useState({ name: '', multiplier: '1', models: '' });
  const [limits, setLimits] = useState<LimitText>(emptyLimits);
  const [error, setError] = useState<string | null>(null);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <>
      <PageTitle>{t('admin.groups.title')}</PageTitle>
      {me.role !== 'admin' && <Notice>{t('admin.readOnly')}</Notice>}
      <section className="card" aria-label={t('admin.groups.title')}>
        <Table
          caption={t('admin.groups.title')}
          rows={groups.data?.data ?? (groups.error ? [] : null)}
          rowKey={(g) => g.name}
          // An admin picks a group to change it: the form below is filled with it.
          onRowClick={
            me.role === 'admin'
              ? (g) => {
                  setForm({ name: g.name, multiplier: g.multiplier, models: g.models?.join(', ') ?? '' });
                  setLimits(limitText(g));
                }
              : undefined
          }
          rowLabel={me.role === 'admin' ? (g) => t('limits.admin.editGroup', { name: g.name }) : undefined}
          columns={[
            { key: 'name', label: t('admin.groups.name'), render: (g) => <strong>{g.name}</strong> },
            { key: 'mult', label: t('admin.groups.multiplier'), numeric: true, render: (g) => `× ${g.multiplier}` },
            { key: 'models', label: t('usage.model'), render: (g) => (g.models?.length ? g.models.join(', ') : t('keys.anyModel')) },
            { key: 'limits', label: t('limits.admin.groupLimits'), render: (g) => describeLimits(t, g) },
          ]}
        />
      </section>
      {me.role === 'admin' && (
        <form
          className="card form-grid"
          aria-labelledby="group-h"
          onSubmit={async (e) => {
            e.preventDefault();
            setError(null);
            try {
              await api('/api/admin/groups', {
                body: { name: form.name, multiplier: form.multiplier, models: form.models.trim() ? splitList(form.models) : null, ...limitsBody(limits) },
              });
              groups.reload();
            } catch (err) {
              setError(errorText(t, err));
            }
          }}
        >
          <h2 id="group-h" className="span-all">
            {t('admin.groups.set')}
          </h2>
          <Field label={t('admin.groups.name')}>{(id) => <input id={id} required value={form.name} onChange={set('name')} />}</Field>
          <Field label={t('admin.groups.multiplier')}>
            {(id) => <input id={id} required inputMode="decimal" value={form.multiplier} onChange={set('multiplier')} />}
          </Field>
          <Field label={t('admin.groups.models')}>{(id) => <input id={id} value={form.models} onChange={set('models')} />}</Field>
          <LimitInputs value={limits} onChange={setLimits} />
          <p className="span-all muted">{t('limits.admin.groupLimitsHint')}</p>
          <div className="span-all row between wrap">
            <div className="notice-slot grow">{error && <Notice kind="error">{error}</Notice>}</div>
            <button type="submit">{t('common.save')}</button>
          </div>
        </form>
      )}
    </>
  );
}
