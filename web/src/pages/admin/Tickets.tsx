import { Fragment, useState } from 'react';
import { api, qs } from '../../api.ts';
import { useI18n, errorText, type MessageKey } from '../../i18n.tsx';
import { Badge, Field, Link, Notice, PageTitle, Segmented, Skeleton, Table } from '../../components.tsx';
import { useApi } from '../../useApi.ts';
import { navigate } from '../../router.ts';
import type { PageProps } from '../../App.tsx';

export interface TicketRow {
  id: string;
  user_id: string;
  subject: string;
  status: string;
  assignee: string | null;
  fields: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}
interface TicketView extends TicketRow {
  account: string;
  redactions: { kind: string }[];
  diagnosis: { summary?: { en: string; zh: string } } | null;
  messages: { id: string; author_role: string; author?: string; body: string; created_at: string }[];
}
export const TICKET_STATES = ['open', 'waiting_on_user', 'waiting_on_support', 'resolved', 'closed'] as const;
export const ticketTone = (s: string) => (s === 'resolved' || s === 'closed' ? 'ok' : s === 'waiting_on_user' ? 'muted' : 'warn');

export function TicketTable({ rows, caption, placeholderRows }: { rows: TicketRow[] | null; caption: string; placeholderRows?: number }) {
  const { t, fmtTime } = useI18n();
  return (
    <Table
      caption={caption}
      rows={rows}
      placeholderRows={placeholderRows}
      rowKey={(x) => x.id}
      onRowClick={(x) => navigate(`/admin/tickets/${x.id}`)}
      rowLabel={(x) => `${x.id} ${x.subject}`}
      columns={[
        { key: 'id', label: 'ID', render: (x) => <span className="mono">{x.id}</span> },
        { key: 'subject', label: t('help.subject'), render: (x) => x.subject },
        { key: 'user', label: t('admin.orders.user'), render: (x) => <span className="mono">{x.user_id}</span> },
        { key: 'status', label: t('orders.status'), render: (x) => <Badge tone={ticketTone(x.status)}>{t(`ticket.state.${x.status}` as MessageKey)}</Badge> },
        { key: 'updated', label: t('admin.tickets.updated'), render: (x) => fmtTime(x.updated_at) },
      ]}
    />
  );
}

export function AdminTickets(_: PageProps) {
  const { t } = useI18n();
  const [status, setStatus] = useState<string>('open');
  const tickets = useApi<{ data: TicketRow[] }>(`/api/admin/tickets${qs({ status: status === 'all' ? undefined : status, limit: 100 })}`);
  return (
    <>
      <PageTitle>{t('admin.tickets.title')}</PageTitle>
      <div className="card">
        <Segmented
          label={t('orders.status')}
          value={status}
          onChange={setStatus}
          options={[
            ...TICKET_STATES.map((s) => ({ value: s as string, label: t(`ticket.state.${s}` as MessageKey) })),
            { value: 'all', label: t('common.all') },
          ]}
        />
      </div>
      <section className="card" aria-label={t('admin.tickets.title')}>
        {Boolean(tickets.error) && <Notice kind="error">{errorText(t, tickets.error)}</Notice>}
        <TicketTable caption={t('admin.tickets.title')} rows={tickets.data?.data ?? (tickets.error ? [] : null)} />
      </section>
    </>
  );
}

export function AdminTicket({ params }: PageProps) {
  const { t, lang, fmtTime } = useI18n();
  const ticket = useApi<TicketView>(`/api/admin/tickets/${encodeURIComponent(params.id)}`);
  const [reply, setReply] = useState('');
  const [replyStatus, setReplyStatus] = useState('waiting_on_user');
  const [newStatus, setNewStatus] = useState('resolved');
  const [statusReason, setStatusReason] = useState('');
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const x = ticket.data;
  const id = encodeURIComponent(params.id);
  if (ticket.error)
    return (
      <>
        <PageTitle>{t('admin.tickets.title')}</PageTitle>
        <Notice kind="error">{(ticket.error as { status?: number }).status === 404 ? t('common.notFound') : errorText(t, ticket.error)}</Notice>
      </>
    );
  return (
    <>
      <PageTitle actions={<Link to="/admin/tickets">{t('common.back')}</Link>}>{x ? x.subject : t('admin.tickets.title')}</PageTitle>
      <section className="card">
        <dl className="facts">
          <dt>ID</dt>
          <dd className="mono">{params.id}</dd>
          <dt>{t('orders.status')}</dt>
          <dd>{x ? <Badge tone={ticketTone(x.status)}>{t(`ticket.state.${x.status}` as MessageKey)}</Badge> : <Skeleton width="5rem" />}</dd>
          <dt>{t('admin.tickets.account')}</dt>
          <dd>{x ? <Link to={`/admin/users/${x.user_id}`}>{x.account}</Link> : <Skeleton width="10rem" />}</dd>
          <dt>{t('orders.created')}</dt>
          <dd>{x ? fmtTime(x.created_at) : <Skeleton width="10rem" />}</dd>
          {x &&
            Object.entries(x.fields)
              .filter(([, v]) => v !== null && v !== undefined && v !== '')
              .map(([k, v]) => (
                <Fragment key={k}>
                  <dt>{k}</dt>
                  <dd>{String(v)}</dd>
                </Fragment>
              ))}
        </dl>
        {x?.diagnosis?.summary && <Notice>{x.diagnosis.summary[lang]}</Notice>}
      </section>
      <section className="card" aria-labelledby="msgs-h">
        <h2 id="msgs-h">{t('admin.tickets.messages')}</h2>
        {x ? (
          <ol className="messages">
            {x.messages.map((m) => (
              <li key={m.id}>
                <strong>{m.author_role}</strong>
                {m.author ? ` (${m.author})` : ''} · {fmtTime(m.created_at)}
                <p className="pre">{m.body}</p>
              </li>
            ))}
          </ol>
        ) : (
          <Skeleton height="4em" />
        )}
      </section>
      <form
        className="card"
        aria-labelledby="reply-h"
        onSubmit={async (e) => {
          e.preventDefault();
          setMsg(null);
          try {
            await api(`/api/admin/tickets/${id}/messages`, { body: { message: reply, status: replyStatus } });
            setReply('');
            setMsg({ kind: 'ok', text: t('admin.tickets.replied') });
            ticket.reload();
          } catch (err) {
            setMsg({ kind: 'error', text: errorText(t, err) });
          }
        }}
      >
        <h2 id="reply-h">{t('admin.tickets.reply')}</h2>
        <Field label={t('help.message')}>
          {(fid) => <textarea id={fid} required rows={4} maxLength={10000} value={reply} onChange={(e) => setReply(e.target.value)} />}
        </Field>
        <Field label={t('admin.tickets.statusAfter')}>
          {(fid) => (
            <select id={fid} value={replyStatus} onChange={(e) => setReplyStatus(e.target.value)}>
              {TICKET_STATES.map((s) => (
                <option key={s} value={s}>
                  {t(`ticket.state.${s}` as MessageKey)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <div className="row end">
          <button type="submit">{t('admin.tickets.send')}</button>
        </div>
      </form>
      <form
        className="card form-grid"
        aria-labelledby="status-h"
        onSubmit={async (e) => {
          e.preventDefault();
          setMsg(null);
          try {
            await api(`/api/admin/tickets/${id}/status`, { body: { status: newStatus, reason: statusReason || undefined } });
            setStatusReason('');
            setMsg({ kind: 'ok', text: t('admin.tickets.statusChanged', { status: t(`ticket.state.${newStatus}` as MessageKey) }) });
            ticket.reload();
          } catch (err) {
            setMsg({ kind: 'error', text: errorText(t, err) });
          }
        }}
      >
        <h2 id="status-h" className="span-all">
          {t('admin.tickets.changeStatus')}
        </h2>
        <Field label={t('admin.tickets.newStatus')}>
          {(fid) => (
            <select id={fid} value={newStatus} onChange={(e) => setNewStatus(e.target.value)}>
              {TICKET_STATES.map((s) => (
                <option key={s} value={s}>
                  {t(`ticket.state.${s}` as MessageKey)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label={t('admin.reason')}>
          {(fid) => <input id={fid} maxLength={500} value={statusReason} onChange={(e) => setStatusReason(e.target.value)} />}
        </Field>
        <div className="span-all row end">
          <button type="submit" className="secondary">
            {t('admin.tickets.setStatus')}
          </button>
        </div>
      </form>
      <div className="notice-slot">{msg && <Notice kind={msg.kind}>{msg.text}</Notice>}</div>
    </>
  );
}
