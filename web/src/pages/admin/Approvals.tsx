import { useState } from 'react';
import { api, qs } from '../../api.ts';
import { useI18n, errorText, type MessageKey } from '../../i18n.tsx';
import { Badge, Link, Notice, PageTitle, ReasonDialog, Segmented, Table } from '../../components.tsx';
import { useApi } from '../../useApi.ts';
import { tidy } from '../../money.ts';
import type { PageProps } from '../../App.tsx';

interface ApprovalRow {
  id: string;
  action: string;
  target: string;
  user_id: string;
  amount: string;
  currency: string;
  reason: string;
  status: string;
  requested_by: string;
  decided_by: string | null;
  decision_reason: string | null;
  result: { error?: { message: string } } | null;
  created_at: string;
}
type View = 'pending' | 'all';

/** Support's money requests above its limit: an admin other than the requester approves (it runs once) or rejects, with a reason. */
export function AdminApprovals({ me }: PageProps) {
  const { t, fmtTime } = useI18n();
  const [view, setView] = useState<View>('pending');
  const [deciding, setDeciding] = useState<{ row: ApprovalRow; verb: 'approve' | 'reject' } | null>(null);
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const rows = useApi<{ data: ApprovalRow[] }>(`/api/admin/approvals${qs({ status: view === 'pending' ? 'pending' : undefined, limit: 200 })}`);
  const mayDecide = (r: ApprovalRow) => me.role === 'admin' && r.status === 'pending' && r.requested_by !== `user:${me.id}` && r.user_id !== me.id;
  const targetLink = (r: ApprovalRow) => (r.action.startsWith('orders.') ? `/admin/orders/${r.target}` : `/admin/users/${r.user_id}`);
  return (
    <>
      <PageTitle>{t('admin.approvals.title')}</PageTitle>
      <div className="card row wrap">
        <Segmented<View>
          label={t('admin.approvals.show')}
          value={view}
          onChange={setView}
          options={[
            { value: 'pending', label: t('admin.approvals.pending') },
            { value: 'all', label: t('admin.approvals.all') },
          ]}
        />
      </div>
      <div className="notice-slot">{msg && <Notice kind={msg.kind}>{msg.text}</Notice>}</div>
      {me.role !== 'admin' && <p className="muted">{t('admin.approvals.supportNote')}</p>}
      <section className="card" aria-label={t('admin.approvals.title')}>
        {Boolean(rows.error) && <Notice kind="error">{errorText(t, rows.error)}</Notice>}
        <Table
          caption={t('admin.approvals.title')}
          rows={rows.data?.data ?? (rows.error ? [] : null)}
          rowKey={(r) => r.id}
          columns={[
            { key: 'at', label: t('usage.time'), render: (r) => fmtTime(r.created_at) },
            {
              key: 'action',
              label: t('admin.approvals.action'),
              render: (r) => <Link to={targetLink(r)}>{t(`admin.approvals.kind.${r.action}` as MessageKey)}</Link>,
            },
            { key: 'amount', label: t('admin.orders.compensateAmount'), numeric: true, render: (r) => `${tidy(r.amount)} ${r.currency}` },
            { key: 'by', label: t('admin.approvals.requestedBy'), render: (r) => <span className="mono">{r.requested_by}</span> },
            { key: 'reason', label: t('admin.reason'), render: (r) => r.reason },
            {
              key: 'status',
              label: t('orders.status'),
              render: (r) => (
                <Badge tone={r.status === 'executed' ? 'ok' : r.status === 'pending' || r.status === 'approved' ? 'warn' : 'bad'}>{r.status}</Badge>
              ),
            },
            {
              key: 'act',
              label: t('admin.orders.actions'),
              render: (r) =>
                mayDecide(r) ? (
                  <span className="row wrap">
                    <button
                      type="button"
                      className="small"
                      onClick={() => {
                        setMsg(null);
                        setDeciding({ row: r, verb: 'approve' });
                      }}
                    >
                      {t('admin.approvals.approve')}
                    </button>
                    <button
                      type="button"
                      className="secondary small"
                      onClick={() => {
                        setMsg(null);
                        setDeciding({ row: r, verb: 'reject' });
                      }}
                    >
                      {t('admin.approvals.reject')}
                    </button>
                  </span>
                ) : (
                  (r.decision_reason ?? r.result?.error?.message ?? '—')
                ),
            },
          ]}
        />
      </section>
      <ReasonDialog
        open={deciding !== null}
        title={deciding ? t(deciding.verb === 'approve' ? 'admin.approvals.approve' : 'admin.approvals.reject') : ''}
        message={deciding ? t('admin.approvals.confirm', { amount: tidy(deciding.row.amount), currency: deciding.row.currency, id: deciding.row.id }) : ''}
        onCancel={() => setDeciding(null)}
        onSubmit={async (reason) => {
          if (!deciding) return;
          try {
            const r = await api<{ approval: ApprovalRow }>(`/api/admin/approvals/${encodeURIComponent(deciding.row.id)}/${deciding.verb}`, {
              body: { reason },
            });
            setMsg({ kind: 'ok', text: t('admin.approvals.done', { id: r.approval.id, status: r.approval.status }) });
            setDeciding(null);
            rows.reload();
          } catch (e) {
            rows.reload();
            throw new Error(errorText(t, e));
          }
        }}
      />
    </>
  );
}
