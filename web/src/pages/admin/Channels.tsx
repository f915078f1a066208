import { useState } from 'react';
import { api } from '../../api.ts';
import { useI18n, errorText } from '../../i18n.tsx';
import { Badge, Field, Notice, PageTitle, Table, splitList } from '../../components.tsx';
import { useApi } from '../../useApi.ts';
import type { PageProps } from '../../App.tsx';

interface Channel {
  id: string;
  name: string;
  type: string;
  base_url: string;
  models: string[];
  priority: number;
  weight: number;
  status: string;
  status_reason: string | null;
  health: Record<string, unknown> | null;
}

export function AdminChannels({ me }: PageProps) {
  const { t } = useI18n();
  const channels = useApi<{ data: Channel[]; supported_types?: string[] }>('/api/admin/channels');
  const [form, setForm] = useState({ name: '', type: 'openai', base_url: '', api_key: '', models: '', priority: '0', weight: '1' });
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const canWrite = me.role === 'admin';
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const act = async (c: Channel, action: 'test' | 'disable' | 'enable') => {
    setMsg(null);
    try {
      const r = await api<any>(`/api/admin/channels/${encodeURIComponent(c.id)}/${action}`, { method: 'POST' });
      if (action === 'test') setMsg({ kind: r.ok === false ? 'error' : 'ok', text: t('admin.channels.tested', { name: c.name, result: JSON.stringify(r) }) });
      channels.reload();
    } catch (err) {
      setMsg({ kind: 'error', text: errorText(t, err) });
    }
  };
  return (
    <>
      <PageTitle>{t('admin.channels.title')}</PageTitle>
      {!canWrite && <Notice>{t('admin.readOnly')}</Notice>}
      <div className="notice-slot">{msg && <Notice kind={msg.kind}>{msg.text}</Notice>}</div>
      <section className="card" aria-label={t('admin.channels.title')}>
        <Table
          caption={t('admin.channels.title')}
          rows={channels.data?.data ?? (channels.error ? [] : null)}
          rowKey={(c) => c.id}
          columns={[
            {
              key: 'name',
              label: t('admin.channels.name'),
              render: (c) => (
                <>
                  <strong>{c.name}</strong>
                  <br />
                  <span className="muted">
                    {c.type} · {c.base_url}
                  </span>
                </>
              ),
            },
            { key: 'models', label: t('admin.channels.models'), render: (c) => c.models.join(', ') },
            {
              key: 'prio',
              label: `${t('admin.channels.priority')} / ${t('admin.channels.weight')}`,
              numeric: true,
              render: (c) => `${c.priority} / ${c.weight}`,
            },
            {
              key: 'status',
              label: t('admin.channels.status'),
              render: (c) => (
                <>
                  <Badge tone={c.status === 'enabled' ? 'ok' : 'bad'}>{c.status}</Badge>
                  {c.status_reason && (
                    <>
                      <br />
                      <small className="muted">{c.status_reason}</small>
                    </>
                  )}
                </>
              ),
            },
            {
              key: 'health',
              label: t('admin.channels.health'),
              render: (c) => <small className="mono">{c.health ? String((c.health as { state?: string }).state ?? JSON.stringify(c.health)) : '—'}</small>,
            },
            {
              key: 'act',
              label: '',
              render: (c) =>
                canWrite && (
                  <div className="row">
                    <button type="button" className="secondary small" aria-label={`${t('admin.channels.test')} ${c.name}`} onClick={() => act(c, 'test')}>
                      {t('admin.channels.test')}
                    </button>
                    {c.status === 'disabled' ? (
                      <button type="button" className="secondary small" aria-label={`${t('admin.channels.enable')} ${c.name}`} onClick={() => act(c, 'enable')}>
                        {t('admin.channels.enable')}
                      </button>
                    ) : (
                      <button type="button" className="danger small" aria-label={`${t('admin.channels.disable')} ${c.name}`} onClick={() => act(c, 'disable')}>
                        {t('admin.channels.disable')}
                      </button>
                    )}
                  </div>
                ),
            },
          ]}
        />
      </section>
      {canWrite && (
        <form
          className="card form-grid"
          aria-labelledby="add-ch-h"
          onSubmit={async (e) => {
            e.preventDefault();
            setMsg(null);
            try {
              await api('/api/admin/channels', {
                body: {
                  name: form.name,
                  type: form.type,
                  base_url: form.base_url,
                  api_key: form.api_key || undefined,
                  models: splitList(form.models),
                  priority: Number(form.priority),
                  weight: Number(form.weight),
                },
              });
              setForm({ ...form, name: '', base_url: '', api_key: '', models: '' });
              channels.reload();
            } catch (err) {
              setMsg({ kind: 'error', text: errorText(t, err) });
            }
          }}
        >
          <h2 id="add-ch-h" className="span-all">
            {t('admin.channels.add')}
          </h2>
          <Field label={t('admin.channels.name')}>{(id) => <input id={id} required value={form.name} onChange={set('name')} />}</Field>
          <Field label={t('admin.channels.type')}>
            {(id) => (
              <select id={id} value={form.type} onChange={set('type')}>
                {(channels.data?.supported_types ?? ['openai']).map((type) => (
                  <option key={type}>{type}</option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t('admin.channels.baseUrl')}>
            {(id) => <input id={id} type="url" required placeholder="https://api.openai.com/v1" value={form.base_url} onChange={set('base_url')} />}
          </Field>
          <Field label={t('admin.channels.apiKey')}>
            {(id) => <input id={id} type="password" autoComplete="off" value={form.api_key} onChange={set('api_key')} />}
          </Field>
          <Field label={t('admin.channels.models')}>{(id) => <input id={id} required value={form.models} onChange={set('models')} />}</Field>
          <Field label={t('admin.channels.priority')}>{(id) => <input id={id} type="number" min={0} value={form.priority} onChange={set('priority')} />}</Field>
          <Field label={t('admin.channels.weight')}>{(id) => <input id={id} type="number" min={0} value={form.weight} onChange={set('weight')} />}</Field>
          <div className="span-all row end">
            <button type="submit">{t('admin.channels.add')}</button>
          </div>
        </form>
      )}
    </>
  );
}
