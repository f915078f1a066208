import { useState } from 'react';
import { api, qs } from '../../api.ts';
import { useI18n, errorText, type MessageKey } from '../../i18n.tsx';
import { Badge, Field, Link, Notice, PageTitle, ReasonDialog, Segmented, Skeleton, Table } from '../../components.tsx';
import { useApi } from '../../useApi.ts';
import { navigate } from '../../router.ts';
import { tidy } from '../../money.ts';
import { orderTone, statusLabel } from '../Orders.tsx';
import type { PageProps } from '../../App.tsx';

export interface AdminOrderRow {
  id: string;
  user_id: string;
  status: string;
  provider: string;
  amount: string;
  currency: string;
  credit_amount: string;
  credit_currency: string;
  status_reason: string | null;
  possible_duplicate_of: string | null;
  refunded_amount: string;
  created_at: string;
  expires_at: string | null;
  paid_at: string | null;
  credited_at: string | null;
  explanation: { en: string; zh: string };
}
interface OrderEventRow {
  id: string;
  kind: string;
  from: string | null;
  to: string | null;
  source: string;
  reason: string | null;
  at: string;
}
interface TradeRow {
  id: string;
  trade_id: string;
  amount: string;
  currency: string;
  outcome: string;
  decision: string | null;
  at: string;
}
interface RefundRow {
  id: string;
  amount: string;
  reason: string;
  note: string | null;
  status: string;
  origin: string;
  created_at: string;
}
interface AdminOrderDetail extends AdminOrderRow {
  provider_ref: string | null;
  provider_trade_id: string | null;
  credit_transfer_id: string | null;
  check_attempts: number;
  timeline: OrderEventRow[];
  trades: TradeRow[];
  refunds: RefundRow[];
}

type View = 'stuck' | 'flagged' | 'duplicate' | 'possible_duplicate' | 'all';
const VIEWS: View[] = ['stuck', 'flagged', 'duplicate', 'possible_duplicate', 'all'];

/** Orders table shared by the queues and a user's 360° view. */
export function OrderTable({ rows, caption, placeholderRows }: { rows: AdminOrderRow[] | null; caption: string; placeholderRows?: number }) {
  const { t, fmtTime } = useI18n();
  return (
    <Table
      caption={caption}
      rows={rows}
      placeholderRows={placeholderRows}
      rowKey={(o) => o.id}
      onRowClick={(o) => navigate(`/admin/orders/${o.id}`)}
      rowLabel={(o) => t('admin.orders.open', { id: o.id })}
      columns={[
        { key: 'id', label: t('orders.id'), render: (o) => <span className="mono">{o.id}</span> },
        { key: 'user', label: t('admin.orders.user'), render: (o) => <span className="mono">{o.user_id}</span> },
        { key: 'created', label: t('orders.created'), render: (o) => fmtTime(o.created_at) },
        { key: 'provider', label: t('topup.provider'), render: (o) => o.provider },
        { key: 'amount', label: t('orders.amount'), numeric: true, render: (o) => `${tidy(o.amount)} ${o.currency}` },
        { key: 'status', label: t('orders.status'), render: (o) => <Badge tone={orderTone(o.status)}>{statusLabel(t, o.status)}</Badge> },
      ]}
    />
  );
}

export function AdminOrders({ search }: PageProps) {
  const { t } = useI18n();
  const initial = new URLSearchParams(search).get('view') as View | null;
  const [view, setView] = useState<View>(initial && VIEWS.includes(initial) ? initial : 'stuck');
  const [userDraft, setUserDraft] = useState('');
  const [user, setUser] = useState('');
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const orders = useApi<{ data: AdminOrderRow[] }>(`/api/admin/orders${qs({ view: view === 'all' ? undefined : view, user, limit: 100 })}`);
  return (
    <>
      <PageTitle
        actions={
          <button
            type="button"
            className="secondary"
            onClick={async () => {
              setMsg(null);
              try {
                const r = await api<{ checked: number; stuck: unknown[] }>('/api/admin/payments/reconcile', { method: 'POST', body: {} });
                setMsg({ kind: 'ok', text: t('admin.orders.reconciledAll', { checked: r.checked, stuck: r.stuck.length }) });
                orders.reload();
              } catch (e) {
                setMsg({ kind: 'error', text: errorText(t, e) });
              }
            }}
          >
            {t('admin.orders.reconcileAll')}
          </button>
        }
      >
        {t('admin.orders.title')}
      </PageTitle>
      <form
        className="card row wrap"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setUser(userDraft.trim());
        }}
      >
        <Segmented<View>
          label={t('admin.orders.queue')}
          value={view}
          onChange={setView}
          options={VIEWS.map((v) => ({ value: v, label: t(`admin.orders.view.${v}` as MessageKey) }))}
        />
        <Field label={t('admin.orders.userFilter')}>
          {(id) => <input id={id} type="search" value={userDraft} onChange={(e) => setUserDraft(e.target.value)} />}
        </Field>
        <div className="field end">
          <button type="submit">{t('common.search')}</button>
        </div>
      </form>
      <div className="notice-slot">{msg && <Notice kind={msg.kind}>{msg.text}</Notice>}</div>
      <section className="card" aria-label={t('admin.orders.title')}>
        {Boolean(orders.error) && <Notice kind="error">{errorText(t, orders.error)}</Notice>}
        <OrderTable caption={t('admin.orders.title')} rows={orders.data?.data ?? (orders.error ? [] : null)} />
      </section>
    </>
  );
}

type Action = 'reconcile' | 'check' | 'credit' | 'refund' | 'fail' | 'compensate' | { trade: string; decision: 'refund' | 'keep' };
const OPENISH = ['created', 'pending', 'expired', 'failed'];
/** The order actions in the order the page shows them, each with the statuses it applies to (null: any). */
const ORDER_ACTIONS: Array<{ action: Exclude<Action, object>; label: MessageKey; when: string[] | null }> = [
  { action: 'check', label: 'admin.orders.action.check', when: OPENISH },
  { action: 'reconcile', label: 'admin.orders.action.reconcile', when: null },
  { action: 'credit', label: 'admin.orders.action.credit', when: OPENISH },
  { action: 'refund', label: 'admin.orders.action.refund', when: ['credited', 'partially_refunded'] },
  { action: 'compensate', label: 'admin.orders.action.compensate', when: null },
  { action: 'fail', label: 'admin.orders.action.fail', when: ['created', 'pending', 'expired', 'flagged'] },
];

export function AdminOrder({ params, me }: PageProps) {
  const { t, lang, fmtTime } = useI18n();
  const order = useApi<AdminOrderDetail>(`/api/admin/orders/${encodeURIComponent(params.id)}`);
  const [action, setAction] = useState<Action | null>(null);
  const [form, setForm] = useState({ provider_reference: '', amount: '', refund_reason: 'requested_by_customer', ticket: '' });
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const o = order.data;
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const id = encodeURIComponent(params.id);

  if (order.error)
    return (
      <>
        <PageTitle>{t('admin.orders.title')}</PageTitle>
        <Notice kind="error">{(order.error as { status?: number }).status === 404 ? t('common.notFound') : errorText(t, order.error)}</Notice>
      </>
    );

  const run = async (reason: string) => {
    if (!o || !action) return;
    let text = '';
    // A support money action above its limit answers 202 "approval_pending": say so instead of a result (nothing moved yet).
    type Pending = { status?: string; approval?: { id: string } };
    let answer: Pending | null = null;
    if (action === 'reconcile') {
      const r = await api<{ result: string; order: { status: string } }>(`/api/admin/orders/${id}/reconcile`, { body: { reason } });
      text = t('admin.orders.result', { result: r.result, status: statusLabel(t, r.order.status) });
    } else if (action === 'check') {
      const r = await api<{ result: string; status: string }>(`/api/admin/support/orders/${id}/check`, { body: { reason } });
      text = t('admin.orders.result', { result: r.result, status: statusLabel(t, r.status) });
    } else if (action === 'credit') {
      const r = await api<Pending & { outcome: string; order: { status: string } }>(`/api/admin/orders/${id}/credit`, {
        body: { provider_reference: form.provider_reference.trim(), reason },
      });
      answer = r;
      if (r.order) text = t('admin.orders.result', { result: r.outcome, status: statusLabel(t, r.order.status) });
    } else if (action === 'refund') {
      const r = await api<Pending & { order: { status: string } }>(`/api/admin/orders/${id}/refund`, {
        body: { amount: form.amount.trim() || undefined, reason: form.refund_reason, note: reason },
      });
      answer = r;
      if (r.order) text = t('admin.orders.result', { result: 'refunded', status: statusLabel(t, r.order.status) });
    } else if (action === 'fail') {
      const r = await api<{ status: string }>(`/api/admin/orders/${id}/fail`, { body: { reason } });
      text = t('admin.orders.result', { result: 'failed', status: statusLabel(t, r.status) });
    } else if (action === 'compensate') {
      const r = await api<Pending & { amount: string; transfer_id: string }>(`/api/admin/users/${encodeURIComponent(o.user_id)}/compensate`, {
        body: {
          amount: form.amount.trim(),
          reason,
          ticket: form.ticket.trim() || o.id,
          order_id: o.id,
          idempotency_key: `console:${o.id}:${form.amount}:${reason}`,
        },
      });
      answer = r;
      if (r.transfer_id) text = t('admin.orders.compensated', { amount: r.amount, transfer: r.transfer_id });
    } else {
      answer = await api<Pending>(`/api/admin/payments/trades/${encodeURIComponent(action.trade)}/${action.decision}`, { body: { reason } });
      text = t('admin.orders.result', { result: action.decision, status: statusLabel(t, o.status) });
    }
    if (answer?.status === 'approval_pending' && answer.approval) text = t('admin.orders.approvalPending', { id: answer.approval.id });
    setMsg({ kind: 'ok', text });
    setAction(null);
    order.reload();
  };

  const actionTitle = (a: Action) =>
    typeof a === 'string' ? t(`admin.orders.action.${a}` as MessageKey) : t(a.decision === 'refund' ? 'admin.orders.trade.refund' : 'admin.orders.trade.keep');
  const actionMessage = (a: Action) =>
    typeof a === 'string' ? t(`admin.orders.confirm.${a}` as MessageKey, { id: params.id }) : t('admin.orders.confirm.trade', { trade: a.trade });

  return (
    <>
      <PageTitle actions={<Link to="/admin/orders">{t('common.back')}</Link>}>{t('orders.detail', { id: params.id })}</PageTitle>
      <section className="card" aria-live="polite">
        <p className="status-line">{o ? <Badge tone={orderTone(o.status)}>{statusLabel(t, o.status)}</Badge> : <Skeleton width="6rem" />}</p>
        <p className="explanation-text">{o ? o.explanation[lang] : <Skeleton width="90%" height="3em" />}</p>
        <dl className="facts">
          <dt>{t('admin.orders.user')}</dt>
          <dd>
            {o ? (
              <Link to={`/admin/users/${o.user_id}`}>
                <span className="mono">{o.user_id}</span>
              </Link>
            ) : (
              <Skeleton width="8rem" />
            )}
          </dd>
          <dt>{t('topup.provider')}</dt>
          <dd>{o ? o.provider : <Skeleton width="5rem" />}</dd>
          <dt>{t('orders.amount')}</dt>
          <dd>{o ? `${tidy(o.amount)} ${o.currency}` : <Skeleton width="6rem" />}</dd>
          <dt>{t('orders.credit')}</dt>
          <dd>{o ? `${tidy(o.credit_amount)} ${o.credit_currency}` : <Skeleton width="6rem" />}</dd>
          <dt>{t('admin.orders.providerTrade')}</dt>
          <dd className="mono">{o ? (o.provider_trade_id ?? '—') : <Skeleton width="8rem" />}</dd>
          <dt>{t('admin.orders.reason')}</dt>
          <dd>{o ? (o.status_reason ?? '—') : <Skeleton width="8rem" />}</dd>
          <dt>{t('orders.created')}</dt>
          <dd>{o ? fmtTime(o.created_at) : <Skeleton width="10rem" />}</dd>
          <dt>{t('admin.orders.expires')}</dt>
          <dd>{o ? fmtTime(o.expires_at) : <Skeleton width="10rem" />}</dd>
          <dt>{t('admin.orders.creditedAt')}</dt>
          <dd>{o ? fmtTime(o.credited_at) : <Skeleton width="10rem" />}</dd>
          {o?.possible_duplicate_of && (
            <>
              <dt>{t('admin.orders.possibleDuplicate')}</dt>
              <dd>
                <Link to={`/admin/orders/${o.possible_duplicate_of}`}>
                  <span className="mono">{o.possible_duplicate_of}</span>
                </Link>
              </dd>
            </>
          )}
        </dl>
      </section>
      <section className="card" aria-labelledby="actions-h">
        <h2 id="actions-h">{t('admin.orders.actions')}</h2>
        <div className="row wrap">
          {ORDER_ACTIONS.map(({ action: a, label, when }, k) => (
            <button
              key={a}
              type="button"
              className={k === 0 ? undefined : 'secondary'}
              onClick={() => {
                setMsg(null);
                setAction(a);
              }}
              disabled={!o || (when !== null && !when.includes(o.status))}
            >
              {t(label)}
            </button>
          ))}
        </div>
        <div className="notice-slot">{msg && <Notice kind={msg.kind}>{msg.text}</Notice>}</div>
        {me.role !== 'admin' && <p className="muted">{t('admin.orders.supportNote')}</p>}
      </section>
      <section className="card" aria-labelledby="timeline-h">
        <h2 id="timeline-h">{t('admin.orders.timeline')}</h2>
        <Table
          caption={t('admin.orders.timeline')}
          rows={o?.timeline ?? null}
          placeholderRows={3}
          rowKey={(e) => e.id}
          columns={[
            { key: 'at', label: t('usage.time'), render: (e) => fmtTime(e.at) },
            {
              key: 'change',
              label: t('admin.orders.change'),
              render: (e) => (e.kind === 'transition' ? `${e.from ?? '∅'} → ${e.to}` : `${e.kind}${e.to ? ` (${e.from ?? '∅'} → ${e.to})` : ''}`),
            },
            { key: 'source', label: t('admin.orders.source'), render: (e) => e.source },
            { key: 'reason', label: t('admin.orders.reason'), render: (e) => e.reason ?? '—' },
          ]}
        />
      </section>
      <section className="card" aria-labelledby="trades-h">
        <h2 id="trades-h">{t('admin.orders.trades')}</h2>
        <Table
          caption={t('admin.orders.trades')}
          rows={o?.trades ?? null}
          placeholderRows={1}
          rowKey={(x) => x.id}
          columns={[
            { key: 'trade', label: t('admin.orders.providerTrade'), render: (x) => <span className="mono">{x.trade_id}</span> },
            { key: 'amount', label: t('orders.amount'), numeric: true, render: (x) => `${tidy(x.amount)} ${x.currency}` },
            { key: 'outcome', label: t('admin.orders.outcome'), render: (x) => `${x.outcome}${x.decision ? ` / ${x.decision}` : ''}` },
            { key: 'at', label: t('usage.time'), render: (x) => fmtTime(x.at) },
            {
              key: 'act',
              label: t('admin.orders.actions'),
              render: (x) =>
                x.decision === 'pending' ? (
                  <span className="row wrap">
                    <button type="button" className="secondary small" onClick={() => setAction({ trade: x.id, decision: 'refund' })}>
                      {t('admin.orders.trade.refund')}
                    </button>
                    <button type="button" className="secondary small" onClick={() => setAction({ trade: x.id, decision: 'keep' })}>
                      {t('admin.orders.trade.keep')}
                    </button>
                  </span>
                ) : (
                  '—'
                ),
            },
          ]}
        />
        {o && o.refunds.length > 0 && (
          <>
            <h3>{t('admin.orders.refunds')}</h3>
            <ul>
              {o.refunds.map((r) => (
                <li key={r.id}>
                  <span className="mono">{r.id}</span> {tidy(r.amount)} {o.currency} · {r.reason} · {r.status} · {fmtTime(r.created_at)}
                </li>
              ))}
            </ul>
          </>
        )}
      </section>
      <ReasonDialog
        open={action !== null}
        title={action ? actionTitle(action) : ''}
        message={action ? actionMessage(action) : ''}
        onCancel={() => setAction(null)}
        onSubmit={async (reason) => {
          try {
            await run(reason);
          } catch (e) {
            throw new Error(errorText(t, e));
          }
        }}
      >
        {action === 'credit' && (
          <Field label={t('admin.orders.providerReference')}>
            {(fid) => <input id={fid} className="mono" required value={form.provider_reference} onChange={set('provider_reference')} />}
          </Field>
        )}
        {(action === 'refund' || action === 'compensate') && (
          <Field label={action === 'refund' ? t('admin.orders.refundAmount') : t('admin.orders.compensateAmount')}>
            {(fid) => <input id={fid} inputMode="decimal" value={form.amount} onChange={set('amount')} />}
          </Field>
        )}
        {action === 'refund' && (
          <Field label={t('admin.orders.refundReason')}>
            {(fid) => (
              <select id={fid} value={form.refund_reason} onChange={set('refund_reason')}>
                {['requested_by_customer', 'duplicate', 'fraudulent', 'other'].map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            )}
          </Field>
        )}
        {action === 'compensate' && (
          <Field label={t('admin.orders.ticket')}>{(fid) => <input id={fid} value={form.ticket} placeholder="tkt_…" onChange={set('ticket')} />}</Field>
        )}
      </ReasonDialog>
    </>
  );
}
