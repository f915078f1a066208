import { useState } from 'react';
import { api } from '../api.ts';
import { useI18n, errorText } from '../i18n.tsx';
import { Badge, Confirm, Notice, PageTitle, Table } from '../components.tsx';
import { useApi } from '../useApi.ts';
import type { PageProps } from '../App.tsx';

interface SessionRow {
  id: string;
  device: string;
  user_agent: string | null;
  ip: string | null;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  current: boolean;
}

/** Where I am signed in: end one session, or every other one (GET/DELETE /api/auth/sessions, POST .../revoke-others). */
export function Sessions({ refreshMe }: PageProps) {
  const { t, fmtTime } = useI18n();
  const sessions = useApi<{ data: SessionRow[] }>('/api/auth/sessions');
  const [ending, setEnding] = useState<SessionRow | null>(null);
  const [endingOthers, setEndingOthers] = useState(false);
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const rows = sessions.data?.data ?? (sessions.error ? [] : null);
  const device = (s: SessionRow) => (s.device === 'Unknown device' ? t('sessions.unknownDevice') : s.device);
  const others = (rows ?? []).filter((s) => !s.current).length;

  const run = async (fn: () => Promise<void>) => {
    setBusy(true);
    setMsg(null);
    try {
      await fn();
    } catch (e) {
      setMsg({ kind: 'error', text: errorText(t, e) });
    } finally {
      setBusy(false);
      setEnding(null);
      setEndingOthers(false);
      sessions.reload();
    }
  };

  return (
    <>
      <PageTitle
        actions={
          <button type="button" className="secondary" disabled={others === 0} onClick={() => setEndingOthers(true)}>
            {t('sessions.revokeOthers')}
          </button>
        }
      >
        {t('sessions.title')}
      </PageTitle>
      <p className="muted">{t('sessions.intro')}</p>
      {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
      {Boolean(sessions.error) && <Notice kind="error">{errorText(t, sessions.error)}</Notice>}
      <section className="card" aria-label={t('sessions.title')}>
        <Table
          caption={t('sessions.title')}
          rows={rows}
          placeholderRows={2}
          rowKey={(s) => s.id}
          columns={[
            {
              key: 'device',
              label: t('sessions.device'),
              render: (s) => (
                <span title={s.user_agent ?? undefined}>
                  {device(s)} {s.current && <Badge tone="ok">{t('sessions.current')}</Badge>}
                </span>
              ),
            },
            { key: 'ip', label: t('sessions.ip'), render: (s) => <span className="mono">{s.ip ?? '—'}</span> },
            { key: 'created', label: t('sessions.created'), render: (s) => fmtTime(s.created_at) },
            { key: 'seen', label: t('sessions.lastSeen'), render: (s) => fmtTime(s.last_seen_at) },
            {
              key: 'action',
              label: '',
              render: (s) => (
                <button type="button" className="secondary small" aria-label={`${t('sessions.revoke')}: ${device(s)}`} onClick={() => setEnding(s)}>
                  {t('sessions.revoke')}
                </button>
              ),
            },
          ]}
        />
        {rows && others === 0 && <p className="muted">{t('sessions.none')}</p>}
      </section>
      <Confirm
        open={ending !== null}
        title={t('sessions.revokeTitle')}
        message={ending ? t('sessions.revokeConfirm', { device: device(ending), ip: ending.ip ?? '—' }) : ''}
        busy={busy}
        confirmLabel={t('sessions.revoke')}
        onCancel={() => setEnding(null)}
        onConfirm={() =>
          run(async () => {
            const r = await api<{ signed_out: boolean }>(`/api/auth/sessions/${encodeURIComponent(ending!.id)}`, { method: 'DELETE' });
            if (r.signed_out)
              refreshMe(); // it was this browser's session: back to the sign-in page
            else setMsg({ kind: 'ok', text: t('sessions.revoked') });
          })
        }
      >
        {ending?.current && <Notice kind="warn">{t('sessions.revokeCurrent')}</Notice>}
      </Confirm>
      <Confirm
        open={endingOthers}
        title={t('sessions.revokeOthers')}
        message={t('sessions.revokeOthersConfirm')}
        busy={busy}
        confirmLabel={t('sessions.revokeOthers')}
        onCancel={() => setEndingOthers(false)}
        onConfirm={() =>
          run(async () => {
            const r = await api<{ sessions_ended: number }>('/api/auth/sessions/revoke-others', { method: 'POST' });
            setMsg({ kind: 'ok', text: t('sessions.revokedOthers', { count: r.sessions_ended }) });
          })
        }
      />
    </>
  );
}
