import { useState, type ClipboardEvent } from 'react';
import { api } from '../../api.ts';
import { useI18n, errorText } from '../../i18n.tsx';
import { Badge, Field, Notice, PageTitle, Table, splitList } from '../../components.tsx';
import { useApi } from '../../useApi.ts';
import type { PageProps } from '../../App.tsx';
import { ChannelProbes, type ChannelHealth } from './ChannelProbes.tsx';

interface KeyView {
  key: string;
  needs_attention: boolean;
}

interface Channel extends ChannelHealth {
  id: string;
  name: string;
  type: string;
  base_url: string;
  models: string[];
  model_map: Record<string, string>;
  priority: number;
  weight: number;
  status: string;
  status_reason: string | null;
  health: Record<string, unknown> | null;
  has_api_key: boolean;
  /** azure only. */
  api_version?: string | null;
  /** openai only. */
  responses_api?: boolean;
  /** Only when the channel has two or more keys: each one's last 4 characters, never a key. */
  api_keys?: { count: number; keys: KeyView[] };
}

/** The base URL each type wants: the one its provider's own SDK takes. */
const BASE_URL_EXAMPLE: Record<string, string> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  gemini: 'https://generativelanguage.googleapis.com',
  azure: 'https://{resource}.openai.azure.com',
};

interface Form {
  name: string;
  type: string;
  base_url: string;
  api_version: string;
  responses_api: boolean;
  /** One masked input per key; empty ones are ignored. */
  keys: string[];
  models: string;
  model_map: string;
  priority: string;
  weight: string;
}

const EMPTY: Form = {
  name: '',
  type: '',
  base_url: '',
  api_version: '',
  responses_api: false,
  keys: [''],
  models: '',
  model_map: '',
  priority: '0',
  weight: '1',
};

const mapText = (m: Record<string, string>) =>
  Object.entries(m)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

/** "a=b, c=d" as an object; null when an entry is not public=upstream. */
function parseMap(s: string): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (const pair of splitList(s)) {
    const [k, v] = pair.split('=').map((x) => x.trim());
    if (!k || !v) return null;
    out[k] = v;
  }
  return out;
}

function KeysCell({ c }: { c: Channel }) {
  const { t } = useI18n();
  if (!c.api_keys) return <small className="muted">{c.has_api_key ? t('admin.channels.oneKey') : t('admin.channels.noKey')}</small>;
  const attention = c.api_keys.keys.filter((k) => k.needs_attention).length;
  return (
    <>
      <small>{t('admin.channels.keyCount', { n: c.api_keys.count })}</small>
      {attention > 0 && (
        <>
          {' '}
          <Badge tone="bad">{t('admin.channels.keysAttention', { n: attention })}</Badge>
        </>
      )}
      <ul className="plain">
        {c.api_keys.keys.map((k, i) => (
          <li key={i}>
            <small className="mono">
              #{i} {k.key}
            </small>
            {k.needs_attention && (
              <>
                {' '}
                <Badge tone="bad">{t('admin.channels.needsAttention')}</Badge>
              </>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}

export function AdminChannels({ me }: PageProps) {
  const { t } = useI18n();
  const channels = useApi<{ data: Channel[]; supported_types?: string[] }>('/api/admin/channels');
  const types = channels.data?.supported_types ?? ['openai'];
  const [form, setForm] = useState<Form>(EMPTY);
  /** The channel being edited, or null when the form adds one. */
  const [editing, setEditing] = useState<Channel | null>(null);
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const canWrite = me.role === 'admin';
  const type = form.type || types[0];
  const set = (k: 'name' | 'base_url' | 'api_version' | 'models' | 'model_map' | 'priority' | 'weight') => (e: { target: { value: string } }) =>
    setForm({ ...form, [k]: e.target.value });
  const setKey = (i: number, v: string) => setForm({ ...form, keys: form.keys.map((k, j) => (j === i ? v : k)) });
  /** Several keys pasted at once (one per line) fill one input each. */
  const pasteKeys = (i: number) => (e: ClipboardEvent<HTMLInputElement>) => {
    const lines = e.clipboardData
      .getData('text')
      .split(/\r?\n/)
      .map((x) => x.trim())
      .filter(Boolean);
    if (lines.length < 2) return;
    e.preventDefault();
    setForm({ ...form, keys: [...form.keys.slice(0, i), ...lines, ...form.keys.slice(i + 1)].filter((k, j, all) => k || j === all.length - 1) });
  };

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
  const edit = (c: Channel) => {
    setMsg(null);
    setEditing(c);
    setForm({
      name: c.name,
      type: c.type,
      base_url: c.base_url,
      api_version: c.api_version ?? '',
      responses_api: c.responses_api === true,
      keys: [''],
      models: c.models.join(', '),
      model_map: mapText(c.model_map ?? {}),
      priority: String(c.priority),
      weight: String(c.weight),
    });
    document.getElementById('ch-form-h')?.scrollIntoView({ block: 'start' });
  };
  const reset = () => {
    setEditing(null);
    setForm(EMPTY);
  };

  const submit = async () => {
    setMsg(null);
    const modelMap = parseMap(form.model_map);
    if (!modelMap) {
      setMsg({ kind: 'error', text: t('admin.channels.badMap') });
      return;
    }
    const keys = form.keys.map((k) => k.trim()).filter(Boolean);
    const body = {
      name: form.name,
      base_url: form.base_url,
      models: splitList(form.models),
      model_map: modelMap,
      priority: Number(form.priority),
      weight: Number(form.weight),
      ...(type === 'azure' && form.api_version ? { api_version: form.api_version } : {}),
      ...(type === 'openai' ? { responses_api: form.responses_api } : {}),
    };
    try {
      if (editing) {
        // Keys: none typed keeps the channel's keys; any typed replace them all.
        await api(`/api/admin/channels/${encodeURIComponent(editing.id)}`, { method: 'PATCH', body: { ...body, ...(keys.length ? { api_keys: keys } : {}) } });
        setMsg({ kind: 'ok', text: t('admin.channels.saved', { name: form.name }) });
      } else {
        await api('/api/admin/channels', { body: { ...body, type, ...(keys.length ? { api_keys: keys } : {}) } });
        setMsg({ kind: 'ok', text: t('admin.channels.added', { name: form.name }) });
      }
      setEditing(null);
      setForm({ ...EMPTY, type });
      channels.reload();
    } catch (err) {
      setMsg({ kind: 'error', text: errorText(t, err, 'admin.channels') });
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
                    {c.api_version ? ` · api-version ${c.api_version}` : ''}
                  </span>
                  {c.responses_api && (
                    <>
                      {' '}
                      <Badge tone="muted">{t('admin.channels.responsesBadge')}</Badge>
                    </>
                  )}
                </>
              ),
            },
            {
              key: 'models',
              label: t('admin.channels.modelsShort'),
              render: (c) => (
                <>
                  {c.models.join(', ')}
                  {Object.keys(c.model_map ?? {}).length > 0 && (
                    <>
                      <br />
                      <small className="muted">{mapText(c.model_map)}</small>
                    </>
                  )}
                </>
              ),
            },
            { key: 'keys', label: t('admin.channels.keys'), render: (c) => <KeysCell c={c} /> },
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
                    <button type="button" className="secondary small" aria-label={`${t('admin.channels.edit')} ${c.name}`} onClick={() => edit(c)}>
                      {t('admin.channels.edit')}
                    </button>
                    <button type="button" className="secondary small" aria-label={`${t('admin.channels.test')} ${c.name}`} onClick={() => act(c, 'test')}>
                      {t('admin.channels.test')}
                    </button>
                    {c.status !== 'enabled' ? (
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
      {channels.data?.data.length ? <ChannelProbes channels={channels.data.data} /> : null}
      {canWrite && (
        <form
          className="card form-grid"
          aria-labelledby="ch-form-h"
          onSubmit={(e) => {
            e.preventDefault();
            submit();
          }}
        >
          <h2 id="ch-form-h" className="span-all">
            {editing ? t('admin.channels.editTitle', { name: editing.name }) : t('admin.channels.add')}
          </h2>
          <Field label={t('admin.channels.name')}>{(id) => <input id={id} required value={form.name} onChange={set('name')} />}</Field>
          <Field label={t('admin.channels.type')} hint={editing ? t('admin.channels.typeFixed') : undefined}>
            {(id, hint) => (
              <select
                id={id}
                aria-describedby={hint}
                value={type}
                disabled={!!editing}
                onChange={(e) => setForm({ ...form, type: e.target.value, api_version: '', responses_api: false })}
              >
                {(editing && !types.includes(editing.type) ? [...types, editing.type] : types).map((x) => (
                  <option key={x}>{x}</option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t('admin.channels.baseUrl')} hint={t('admin.channels.baseUrlHint')}>
            {(id, hint) => (
              <input
                id={id}
                type="url"
                required
                aria-describedby={hint}
                placeholder={BASE_URL_EXAMPLE[type] ?? ''}
                value={form.base_url}
                onChange={set('base_url')}
              />
            )}
          </Field>
          {type === 'azure' && (
            <Field label={t('admin.channels.apiVersion')} hint={t('admin.channels.apiVersionHint')}>
              {(id, hint) => (
                <input
                  id={id}
                  aria-describedby={hint}
                  placeholder="2024-10-21"
                  pattern="\d{4}-\d{2}-\d{2}(-preview)?"
                  value={form.api_version}
                  onChange={set('api_version')}
                />
              )}
            </Field>
          )}
          <fieldset className="span-all keys">
            <legend>{t('admin.channels.keys')}</legend>
            <small className="muted">{editing ? t('admin.channels.keysEditHint') : t('admin.channels.keysHint')}</small>
            {form.keys.map((k, i) => (
              <Field key={i} label={t('admin.channels.keyN', { n: i + 1 })}>
                {(id) => (
                  <input
                    id={id}
                    type="password"
                    autoComplete="off"
                    spellCheck={false}
                    className="mono"
                    value={k}
                    onChange={(e) => setKey(i, e.target.value)}
                    onPaste={pasteKeys(i)}
                  />
                )}
              </Field>
            ))}
            <div className="row">
              <button type="button" className="secondary small" onClick={() => setForm({ ...form, keys: [...form.keys, ''] })}>
                {t('admin.channels.addKey')}
              </button>
            </div>
          </fieldset>
          {type === 'openai' && (
            <label className="check span-all">
              <input type="checkbox" checked={form.responses_api} onChange={(e) => setForm({ ...form, responses_api: e.target.checked })} />{' '}
              {t('admin.channels.responsesApi')}
            </label>
          )}
          <Field label={t('admin.channels.models')}>{(id) => <input id={id} required value={form.models} onChange={set('models')} />}</Field>
          <Field label={t('admin.channels.modelMap')} hint={type === 'azure' ? t('admin.channels.modelMapAzure') : undefined}>
            {(id, hint) => <input id={id} aria-describedby={hint} placeholder="gpt-4o=gpt-4o-2024-08-06" value={form.model_map} onChange={set('model_map')} />}
          </Field>
          <Field label={t('admin.channels.priority')}>{(id) => <input id={id} type="number" min={0} value={form.priority} onChange={set('priority')} />}</Field>
          <Field label={t('admin.channels.weight')}>{(id) => <input id={id} type="number" min={0} value={form.weight} onChange={set('weight')} />}</Field>
          <div className="span-all row end">
            {editing && (
              <button type="button" className="secondary" onClick={reset}>
                {t('admin.channels.cancelEdit')}
              </button>
            )}
            <button type="submit">{editing ? t('admin.channels.save') : t('admin.channels.add')}</button>
          </div>
        </form>
      )}
    </>
  );
}
