import { useState } from 'react';
import { api, qs } from '../../api.ts';
import { useI18n, errorText, type MessageKey } from '../../i18n.tsx';
import { Badge, Confirm, Field, Link, Notice, PageTitle, ReasonDialog, Skeleton, Table, shownEmail } from '../../components.tsx';
import { OrderTable, type AdminOrderRow } from './Orders.tsx';
import { TicketTable, type TicketRow } from './Tickets.tsx';
import { TaskCard, TaskTable, type TaskRow } from '../Tasks.tsx';
import type { StatementLine, UsageRow } from '../../api.ts';
import { useApi } from '../../useApi.ts';
import { navigate } from '../../router.ts';
import { tidy } from '../../money.ts';
import type { PageProps } from '../../App.tsx';
import { UserAdminActions } from './UserAdminActions.tsx';
import { UserLimits } from './UserLimits.tsx';

interface AdminUserRow {
  id: string;
  email: string;
  nickname: string | null;
  role: string;
  status: string;
  group: string | null;
  created_at: string;
}
interface AdminUserView extends AdminUserRow {
  disabled_at?: string | null;
  disabled_reason?: string | null;
  balance: string;
  pending: string;
  available: string;
  currency: string;
}

export function AdminUsers({ me }: PageProps) {
  const { t, fmtTime } = useI18n();
  const [draft, setDraft] = useState('');
  const [q, setQ] = useState('');
  const users = useApi<{ data: AdminUserRow[] }>(`/api/admin/users${qs({ q, limit: 100 })}`);
  return (
    <>
      <PageTitle>{t('admin.users.title')}</PageTitle>
      <form
        className="card row wrap"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setQ(draft.trim());
        }}
      >
        <Field label={t('admin.users.search')}>
          {(id) => <input id={id} type="search" name="q" value={draft} onChange={(e) => setDraft(e.target.value)} />}
        </Field>
        <div className="field end">
          <button type="submit">{t('common.search')}</button>
        </div>
      </form>
      <section className="card" aria-label={t('admin.users.title')}>
        {Boolean(users.error) && <Notice kind="error">{errorText(t, users.error)}</Notice>}
        <Table
          caption={t('admin.users.title')}
          rows={users.data?.data ?? (users.error ? [] : null)}
          rowKey={(u) => u.id}
          onRowClick={(u) => navigate(`/admin/users/${u.id}`)}
          rowLabel={(u) => shownEmail(u.email, me.role)}
          columns={[
            {
              key: 'email',
              label: t('admin.users.email'),
              render: (u) => (
                <>
                  <strong>{shownEmail(u.email, me.role)}</strong>
                  <br />
                  <span className="mono muted">{u.id}</span>
                </>
              ),
            },
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

  if (user.error)
    return (
      <>
        <PageTitle>{t('admin.users.title')}</PageTitle>
        <Notice kind="error">{(user.error as { status?: number }).status === 404 ? t('common.notFound') : errorText(t, user.error)}</Notice>
      </>
    );
  return (
    <>
      <PageTitle actions={<Link to="/admin/users">{t('common.back')}</Link>}>{u ? shownEmail(u.email, me.role) : t('admin.users.title')}</PageTitle>
      <section className="stats">
        <div className="card stat">
          <h2>{t('dash.balance')}</h2>
          <p className="figure">
            {u ? (
              <>
                {tidy(u.balance)} <small>{u.currency}</small>
              </>
            ) : (
              <Skeleton width="8rem" />
            )}
          </p>
        </div>
        <div className="card stat">
          <h2>{t('dash.available')}</h2>
          <p className="figure">
            {u ? (
              <>
                {tidy(u.available)} <small>{u.currency}</small>
              </>
            ) : (
              <Skeleton width="8rem" />
            )}
          </p>
        </div>
      </section>
      <section className="card">
        <dl className="facts">
          <dt>ID</dt>
          <dd className="mono">{params.id}</dd>
          <dt>{t('admin.users.role')}</dt>
          <dd>{u ? u.role : <Skeleton width="4rem" />}</dd>
          <dt>{t('admin.users.group')}</dt>
          <dd>{u ? (u.group ?? '—') : <Skeleton width="4rem" />}</dd>
          <dt>{t('admin.users.status')}</dt>
          <dd>{u ? u.status : <Skeleton width="4rem" />}</dd>
          <dt>{t('admin.users.created')}</dt>
          <dd>{u ? fmtTime(u.created_at) : <Skeleton width="10rem" />}</dd>
        </dl>
      </section>
      {canWrite ? (
        <form
          className="card form-grid"
          aria-labelledby="credit-h"
          onSubmit={(e) => {
            e.preventDefault();
            setMsg(null);
            setConfirming(true);
          }}
        >
          <h2 id="credit-h" className="span-all">
            {t('admin.user.credit')}
          </h2>
          <Field label={t('admin.user.amount')}>
            {(id) => (
              <input
                id={id}
                name="amount"
                inputMode="decimal"
                pattern="-?\d+(\.\d{1,6})?"
                required
                value={amount}
                onChange={(e) => setAmount(e.target.value)}
              />
            )}
          </Field>
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
            const r = await api<{ balance: string }>(`/api/admin/users/${encodeURIComponent(params.id)}/credit`, {
              body: { amount, reason: reason.trim(), idempotency_key: idem },
            });
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
        <Field label={t('admin.user.reason')}>
          {(id) => <textarea id={id} name="reason" required maxLength={500} rows={3} value={reason} onChange={(e) => setReason(e.target.value)} />}
        </Field>
        {msg?.kind === 'error' && confirming && <Notice kind="error">{msg.text}</Notice>}
      </Confirm>
      <UserAdminActions userId={params.id} account={u ?? null} isAdmin={canWrite} onChanged={user.reload} />
      <UserLimits userId={params.id} canWrite={canWrite} />
      <User360 userId={params.id} isAdmin={canWrite} />
    </>
  );
}

type Bi = { en: string; zh: string };
interface Diagnosis {
  summary: Bi;
  cases: { class: string; state: string; title: Bi; cause: Bi; next_step: Bi; evidence: string[] }[];
}
interface Attempt {
  id: string;
  code: string;
  outcome: string;
  times?: number;
  ip: string | null;
  created_at: string;
}

/** A user's 360° view for staff: orders, tasks with their timelines, ledger, redemptions, requests, tickets and the billing doctor. */
function User360({ userId, isAdmin }: { userId: string; isAdmin: boolean }) {
  const { t, lang, fmtTime } = useI18n();
  const uid = encodeURIComponent(userId);
  const orders = useApi<{ data: AdminOrderRow[] }>(`/api/admin/orders${qs({ user: userId, limit: 20 })}`);
  const ledger = useApi<{ data: StatementLine[] }>(`/api/admin/users/${uid}/ledger?limit=20`);
  const attempts = useApi<{ data: Attempt[] }>(`/api/admin/redeem/attempts${qs({ user_id: userId, limit: 20 })}`);
  const requests = useApi<{ data: UsageRow[] }>(`/api/admin/users/${uid}/requests?limit=20`);
  const tickets = useApi<{ data: TicketRow[] }>(`/api/admin/tickets${qs({ user: userId, limit: 20 })}`);
  const tasks = useApi<{ data: TaskRow[] }>(`/api/admin/tasks${qs({ user: userId, limit: 20 })}`);
  const [taskId, setTaskId] = useState<string | null>(null);
  const [diag, setDiag] = useState<Diagnosis | null>(null);
  const [diagError, setDiagError] = useState<string | null>(null);
  const [revealing, setRevealing] = useState(false);
  const [revealed, setRevealed] = useState<string[] | null>(null);
  const rows = <R,>(x: { data: { data: R[] } | null; error: unknown }) => x.data?.data ?? (x.error ? [] : null);
  return (
    <>
      <section className="card" aria-labelledby="doctor-h">
        <div className="row between wrap">
          <h2 id="doctor-h">{t('admin.user360.doctor')}</h2>
          <button
            type="button"
            className="secondary"
            onClick={async () => {
              setDiagError(null);
              try {
                setDiag(await api<Diagnosis>(`/api/admin/users/${uid}/diagnose`));
              } catch (e) {
                setDiagError(errorText(t, e));
              }
            }}
          >
            {t('admin.user360.runDoctor')}
          </button>
        </div>
        {diagError && <Notice kind="error">{diagError}</Notice>}
        {diag && (
          <div data-testid="staff-findings">
            <p>{diag.summary[lang]}</p>
            {diag.cases.map((c, i) => (
              <article key={i} className="case">
                <h3>
                  {c.title[lang]} <Badge tone={c.state === 'open' ? 'warn' : 'ok'}>{c.class}</Badge>
                </h3>
                <p>
                  <strong>{t('help.cause')}:</strong> {c.cause[lang]}
                </p>
                <p>
                  <strong>{t('help.next')}:</strong> {c.next_step[lang]}
                </p>
                {c.evidence.length > 0 && (
                  <ul className="evidence">
                    {c.evidence.map((e, j) => (
                      <li key={j} className="mono">
                        {e}
                      </li>
                    ))}
                  </ul>
                )}
              </article>
            ))}
          </div>
        )}
      </section>
      <section className="card" aria-labelledby="u-orders-h">
        <h2 id="u-orders-h">{t('orders.title')}</h2>
        <OrderTable caption={t('orders.title')} rows={rows(orders)} placeholderRows={2} />
      </section>
      <section className="card" aria-labelledby="u-tasks-h" data-testid="staff-tasks">
        <h2 id="u-tasks-h">{t('admin.user360.tasks')}</h2>
        <TaskTable caption={t('admin.user360.tasks')} rows={rows(tasks)} placeholderRows={2} onOpen={(r) => setTaskId(r.id)} />
        {taskId ? <TaskCard key={taskId} path={`/api/admin/tasks/${encodeURIComponent(taskId)}`} /> : <p className="muted">{t('admin.user360.taskHint')}</p>}
      </section>
      <section className="card" aria-labelledby="u-ledger-h">
        <h2 id="u-ledger-h">{t('admin.user360.ledger')}</h2>
        <Table
          caption={t('admin.user360.ledger')}
          rows={rows(ledger)}
          placeholderRows={2}
          rowKey={(l) => l.id}
          columns={[
            { key: 'at', label: t('usage.time'), render: (l) => fmtTime(l.created_at) },
            { key: 'kind', label: t('stmt.kind'), render: (l) => (`kind.${l.kind}` in KIND_KEYS ? t(`kind.${l.kind}` as MessageKey) : l.kind) },
            { key: 'amount', label: t('stmt.amount'), numeric: true, render: (l) => `${l.amount.startsWith('-') ? '' : '+'}${tidy(l.amount)}` },
            { key: 'after', label: t('stmt.balanceAfter'), numeric: true, render: (l) => tidy(l.balance_after) },
            { key: 'reason', label: t('stmt.reason'), render: (l) => l.reason ?? '—' },
            { key: 'ref', label: t('stmt.reference'), render: (l) => <span className="mono">{l.reference ?? '—'}</span> },
          ]}
        />
      </section>
      <section className="card" aria-labelledby="u-redeem-h">
        <h2 id="u-redeem-h">{t('admin.user360.redemptions')}</h2>
        <Table
          caption={t('admin.user360.redemptions')}
          rows={rows(attempts)}
          placeholderRows={2}
          rowKey={(a) => a.id}
          columns={[
            { key: 'at', label: t('usage.time'), render: (a) => fmtTime(a.created_at) },
            { key: 'code', label: t('redeem.code'), render: (a) => <span className="mono">{a.code}</span> },
            // Refused attempts are folded into one row per window: "rate_limited ×37".
            { key: 'outcome', label: t('admin.orders.outcome'), render: (a) => ((a.times ?? 1) > 1 ? `${a.outcome} ×${a.times}` : a.outcome) },
            ...(isAdmin ? [{ key: 'ip', label: 'IP', render: (a: Attempt) => <span className="mono">{a.ip ?? '—'}</span> }] : []),
          ]}
        />
      </section>
      <section className="card" aria-labelledby="u-req-h">
        <div className="row between wrap">
          <h2 id="u-req-h">{t('admin.user360.requests')}</h2>
          {isAdmin && (
            <button type="button" className="secondary small" onClick={() => setRevealing(true)}>
              {t('admin.user360.revealIps')}
            </button>
          )}
        </div>
        {revealed && <Notice>{t('admin.user360.ips', { ips: revealed.join(', ') || '—' })}</Notice>}
        <Table
          caption={t('admin.user360.requests')}
          rows={rows(requests)}
          placeholderRows={2}
          rowKey={(r) => r.id}
          columns={[
            { key: 'at', label: t('usage.time'), render: (r) => fmtTime(r.created_at) },
            { key: 'id', label: 'ID', render: (r) => <span className="mono">{r.id}</span> },
            { key: 'model', label: t('usage.model'), render: (r) => r.model ?? '—' },
            { key: 'status', label: t('usage.status'), render: (r) => r.status },
            { key: 'cost', label: t('usage.cost'), numeric: true, render: (r) => tidy(r.charged_amount) },
            { key: 'charged', label: t('usage.charged'), render: (r) => (r.charged ? t('common.yes') : t('common.no')) },
          ]}
        />
      </section>
      <section className="card" aria-labelledby="u-tickets-h">
        <h2 id="u-tickets-h">{t('admin.tickets.title')}</h2>
        <TicketTable caption={t('admin.tickets.title')} rows={rows(tickets)} placeholderRows={1} />
      </section>
      <ReasonDialog
        open={revealing}
        title={t('admin.user360.revealIps')}
        message={t('admin.user360.revealConfirm')}
        minLength={5}
        onCancel={() => setRevealing(false)}
        onSubmit={async (reason) => {
          try {
            const r = await api<{ value: string[] }>(`/api/admin/users/${uid}/reveal`, { body: { field: 'client_ips', reason } });
            setRevealed(r.value);
            setRevealing(false);
          } catch (e) {
            throw new Error(errorText(t, e));
          }
        }}
      />
    </>
  );
}
const KIND_KEYS: Record<string, true> = Object.fromEntries(
  ['usage', 'manual_credit', 'manual_debit', 'demo_credit', 'task', 'redeem', 'payment', 'refund', 'compensation', 'uncollected', 'reversal'].map((k) => [
    `kind.${k}`,
    true,
  ]),
);
