import { useState } from 'react';
import { api } from '../../api.ts';
import { useI18n, errorText } from '../../i18n.tsx';
import { Badge, CopyButton, Field, Notice, PageTitle, Table } from '../../components.tsx';
import { useApi } from '../../useApi.ts';
import type { PageProps } from '../../App.tsx';

// Sign-up invitations (TALLY_SIGNUP=invite): create a single-use link, see
// which were used, revoke an unused one. The link carries the token and is
// shown once, when it is made; the server keeps only its hash.

interface Invite {
  id: string;
  email: string | null;
  group: string | null;
  status: 'active' | 'used' | 'revoked' | 'expired';
  expires_at: string;
  created_at: string;
}

const TONE = { active: 'ok', used: 'muted', revoked: 'bad', expired: 'warn' } as const;

export function AdminInvites(_p: PageProps) {
  const { t, fmtTime } = useI18n();
  const invites = useApi<{ data: Invite[] }>('/api/admin/invites');
  const [form, setForm] = useState({ email: '', group: '', days: '7' });
  const [made, setMade] = useState<{ link: string; mailed: boolean } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <>
      <PageTitle>{t('accounts.invites.title')}</PageTitle>
      <form
        className="card"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const r = await api<{ link: string; mailed: boolean }>('/api/admin/invites', {
              body: { ...(form.email ? { email: form.email } : {}), ...(form.group ? { group: form.group } : {}), expires_in_days: Number(form.days) },
            });
            setMade({ link: r.link, mailed: r.mailed });
            setForm({ email: '', group: '', days: form.days });
            invites.reload();
          } catch (err) {
            setError(errorText(t, err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <Field label={t('accounts.invites.email')}>{(id) => <input id={id} type="email" value={form.email} onChange={set('email')} />}</Field>
        <Field label={t('accounts.invites.group')}>{(id) => <input id={id} value={form.group} onChange={set('group')} />}</Field>
        <Field label={t('accounts.invites.days')}>
          {(id) => <input id={id} type="number" min={1} max={90} required value={form.days} onChange={set('days')} />}
        </Field>
        <div className="notice-slot">{error && <Notice kind="error">{error}</Notice>}</div>
        <button type="submit" disabled={busy}>
          {t('accounts.invites.create')}
        </button>
      </form>
      {made && (
        <Notice kind="ok">
          {t('accounts.invites.created')} <input readOnly data-copy-source value={made.link} aria-label="link" /> <CopyButton text={made.link} />
          {made.mailed && ` ${t('accounts.invites.mailed')}`}
        </Notice>
      )}
      <Table<Invite>
        caption={t('accounts.invites.caption')}
        rows={invites.data?.data ?? null}
        loading={!invites.data && !invites.error}
        rowKey={(i) => i.id}
        columns={[
          { key: 'email', label: t('accounts.invites.col.email'), render: (i) => i.email ?? t('accounts.invites.anyone') },
          { key: 'group', label: t('accounts.invites.col.group'), render: (i) => i.group ?? '—' },
          {
            key: 'status',
            label: t('accounts.invites.col.status'),
            render: (i) => <Badge tone={TONE[i.status]}>{t(`accounts.invites.status.${i.status}`)}</Badge>,
          },
          { key: 'expires', label: t('accounts.invites.col.expires'), render: (i) => fmtTime(i.expires_at) },
          {
            key: 'revoke',
            label: '',
            render: (i) =>
              i.status === 'active' && (
                <button
                  type="button"
                  className="secondary small"
                  onClick={() => api(`/api/admin/invites/${i.id}/revoke`, { method: 'POST' }).then(invites.reload, (e) => setError(errorText(t, e)))}
                >
                  {t('accounts.invites.revoke')}
                </button>
              ),
          },
        ]}
      />
    </>
  );
}
