import { useState } from 'react';
import { api, qs } from '../../api.ts';
import { useI18n, errorText } from '../../i18n.tsx';
import { Badge, Confirm, Field, Link, Notice, PageTitle, Skeleton, Table } from '../../components.tsx';
import { useApi } from '../../useApi.ts';
import { navigate } from '../../router.ts';
import { tidy } from '../../money.ts';
import type { PageProps } from '../../App.tsx';

interface AdminUserRow { id: string; email: string; nickname: string | null; role: string; status: string; group: string | null; created_at: string }
interface AdminUserView extends AdminUserRow { balance: string; pending: string; available: string; currency: string }

export function AdminUsers(_: PageProps) {
  const { t, fmtTime } = useI18n();
  const [draft, setDraft] = useState('');
  const [q, setQ] = useState('');
  const users = useApi<{ data: AdminUserRow[] }>(`/api/admin/users${qs({ q, limit: 100 })}`);
  return (
    <>
      <PageTitle>{t('admin.users.title')}</PageTitle>
      <form className="card row wrap" role="search" onSubmit={(e) => { e.preventDefault(); setQ(draft.trim()); }}>
        <Field label={t('admin.users.search')}>{(id) => <input id={id} type="search" name="q" value={draft} onChange={(e) => setDraft(e.target.value)} />}</Field>
        <div className="field end"><button type="submit">{t('common.search')}</button></div>
      </form>
      <section className="card" aria-label={t('admin.users.title')}>
        {Boolean(users.error) && <Notice kind="error">{errorText(t, users.error)}</Notice>}
        <Table
          caption={t('admin.users.title')}
          rows={users.data?.data ?? (users.error ? [] : null)}
          rowKey={(u) => u.id}
          onRowClick={(u) => navigate(`/admin/users/${u.id}`)}
          rowLabel={(u) => u.email}
          columns={[
            { key: 'email', label: t('admin.users.email'), render: (u) => <><strong>{u.email}</strong><br /><span className="mono muted">{u.id}</span></> },
            { key: 'role', label: t('admin.users.role'), render: (u) => u.role },
            { key: 'group', label: t('admin.users.group'), render: (u) => u.group ?? '—' },
            { key: 'status', label: t('admin.users.status'), render: (u) => <Badge tone={u.status === 'active' ? 'ok' : 'bad'}>{u.status}</Badge> },
            { key: 'created', label: t('admin.users.created'), render: (u) => fmtTime(u.created_at) },
          ]}
        />
      </section>
    </>
  );
}

export function AdminUser({ params, me }: PageProps) {
  const { t, fmtTime } = useI18n();
  const user = useApi<AdminUserView>(`/api/admin/users/${encodeURIComponent(params.id)}`);
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  // One idempotency key per review: a double click or a retry books once.
  const [idem, setIdem] = useState(() => crypto.randomUUID());
  const u = user.data;
  const canWrite = me.role === 'admin';

  if (user.error) return <><PageTitle>{t('admin.users.title')}</PageTitle><Notice kind="error">{(user.error as { status?: number }).status === 404 ? t('common.notFound') : errorText(t, user.error)}</Notice></>;
  return (
    <>
      <PageTitle actions={<Link to="/admin/users">{t('common.back')}</Link>}>{u ? u.email : t('admin.users.title')}</PageTitle>
      <section className="stats">
        <div className="card stat"><h2>{t('dash.balance')}</h2><p className="figure">{u ? <>{tidy(u.balance)} <small>{u.currency}</small></> : <Skeleton width="8rem" />}</p></div>
        <div className="card stat"><h2>{t('dash.available')}</h2><p className="figure">{u ? <>{tidy(u.available)} <small>{u.currency}</small></> : <Skeleton width="8rem" />}</p></div>
      </section>
      <section className="card">
        <dl className="facts">
          <dt>ID</dt><dd className="mono">{params.id}</dd>
          <dt>{t('admin.users.role')}</dt><dd>{u ? u.role : <Skeleton width="4rem" />}</dd>
          <dt>{t('admin.users.group')}</dt><dd>{u ? u.group ?? '—' : <Skeleton width="4rem" />}</dd>
          <dt>{t('admin.users.status')}</dt><dd>{u ? u.status : <Skeleton width="4rem" />}</dd>
          <dt>{t('admin.users.created')}</dt><dd>{u ? fmtTime(u.created_at) : <Skeleton width="10rem" />}</dd>
        </dl>
      </section>
      {canWrite ? (
        <form className="card form-grid" aria-labelledby="credit-h" onSubmit={(e) => { e.preventDefault(); setMsg(null); setConfirming(true); }}>
          <h2 id="credit-h" className="span-all">{t('admin.user.credit')}</h2>
          <Field label={t('admin.user.amount')}>{(id) => <input id={id} name="amount" inputMode="decimal" pattern="-?\d+(\.\d{1,6})?" required value={amount} onChange={(e) => setAmount(e.target.value)} />}</Field>
          <div className="span-all row between wrap">
            <div className="notice-slot grow">{msg && <Notice kind={msg.kind}>{msg.text}</Notice>}</div>
            <button type="submit">{t('admin.user.creditSubmit')}</button>
          </div>
        </form>
      ) : (
        <Notice>{t('admin.readOnly')}</Notice>
      )}
      <Confirm
        open={confirming}
        title={t('admin.user.credit')}
        message={t('admin.user.creditConfirm', { amount, currency: u?.currency ?? '', email: u?.email ?? params.id })}
        busy={busy}
        onCancel={() => setConfirming(false)}
        onConfirm={async () => {
          if (!reason.trim()) {
            setMsg({ kind: 'error', text: t('admin.user.reasonRequired') });
            return;
          }
          setBusy(true);
          try {
            const r = await api<{ balance: string }>(`/api/admin/users/${encodeURIComponent(params.id)}/credit`, { body: { amount, reason: reason.trim(), idempotency_key: idem } });
            setMsg({ kind: 'ok', text: t('admin.user.credited', { balance: tidy(r.balance) }) });
            setAmount('');
            setReason('');
            setIdem(crypto.randomUUID());
            user.reload();
          } catch (err) {
            setMsg({ kind: 'error', text: errorText(t, err) });
          } finally {
            setBusy(false);
            setConfirming(false);
          }
        }}
      >
        <Field label={t('admin.user.reason')}>{(id) => <textarea id={id} name="reason" required maxLength={500} rows={3} value={reason} onChange={(e) => setReason(e.target.value)} />}</Field>
        {msg?.kind === 'error' && confirming && <Notice kind="error">{msg.text}</Notice>}
      </Confirm>
    </>
  );
}
