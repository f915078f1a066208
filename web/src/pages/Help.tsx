import { useState } from 'react';
import { api, qs } from '../api.ts';
import { useI18n, errorText, type MessageKey } from '../i18n.tsx';
import { Badge, Field, Notice, PageTitle, Table } from '../components.tsx';
import { useApi } from '../useApi.ts';
import type { PageProps } from '../App.tsx';

type Bi = { en: string; zh: string };
interface Case {
  class: string;
  state: 'open' | 'explained';
  title: Bi;
  cause: Bi;
  next_step: Bi;
  evidence: string[];
  fix?: { label: Bi; path: string };
}
interface Diagnosis {
  summary: Bi;
  cases: Case[];
}
interface Ticket {
  id: string;
  subject: string;
  status: string;
  created_at: string;
}

const PROBLEMS = [
  'paid_not_credited',
  'payment_failed',
  'order_processing',
  'duplicate_payment',
  'refund_or_compensation',
  'redeem_not_credited',
  'charged_for_failed_request',
  'unexpected_balance_drop',
  'insufficient_balance',
  'charged_for_failed_task',
  'task_running_reserved',
] as const;

/** Set-up guides in the help center, by slug (src/support/help/pages.ts). */
const GUIDES: ReadonlyArray<readonly [string, MessageKey]> = [
  ['base-url-setup', 'help.guides.sdk'],
  ['codex-cli', 'help.guides.codex'],
  ['gemini-cli', 'help.guides.gemini'],
];

/**
 * "My payment is not credited": the doctor looks at the account's own records
 * (GET /api/support/diagnose) and says what happened; if that does not answer
 * it, a ticket opens prefilled with the safe fields only.
 */
export function Help(_: PageProps) {
  const { t, lang, fmtTime } = useI18n();
  const [hints, setHints] = useState({
    problem: 'paid_not_credited',
    method: '',
    order_time: '',
    amount: '',
    reference: '',
    page_message: '',
    submitted_twice: false,
  });
  const [diag, setDiag] = useState<Diagnosis | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [ticket, setTicket] = useState({ subject: '', message: '' });
  const [opened, setOpened] = useState<{ id: string; notice: Bi | null } | null>(null);
  const tickets = useApi<{ data: Ticket[] }>('/api/tickets');
  const set = (k: keyof typeof hints) => (e: { target: { value: string } }) => setHints({ ...hints, [k]: e.target.value });
  const orderTimeIso = hints.order_time ? new Date(hints.order_time).toISOString() : undefined;

  const diagnose = async () => {
    setBusy(true);
    setError(null);
    try {
      const d = await api<Diagnosis>(
        `/api/support/diagnose${qs({ problem: hints.problem, method: hints.method, order_time: orderTimeIso, amount: hints.amount, reference: hints.reference, page_message: hints.page_message, submitted_twice: hints.submitted_twice ? 'true' : undefined })}`,
      );
      setDiag(d);
      if (!ticket.subject) setTicket((x) => ({ ...x, subject: d.cases[0]?.title[lang] ?? t(`help.problem.${hints.problem}` as MessageKey) }));
    } catch (e) {
      setError(errorText(t, e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <PageTitle>{t('help.title')}</PageTitle>
      {/* The help center's set-up pages are server-rendered (/help/<slug>, both languages), outside the console. */}
      <nav className="card" aria-labelledby="guides-h">
        <h2 id="guides-h">{t('help.guides')}</h2>
        <ul className="plain guides">
          {GUIDES.map(([slug, key]) => (
            <li key={slug}>
              <a href={`/help/${slug}`}>{t(key)}</a>
            </li>
          ))}
          <li>
            <a href="/help">{t('help.guides.all')}</a>
          </li>
        </ul>
      </nav>
      <form
        className="card form-grid"
        aria-labelledby="diag-h"
        onSubmit={(e) => {
          e.preventDefault();
          diagnose();
        }}
      >
        <h2 id="diag-h" className="span-all">
          {t('help.diagnose')}
        </h2>
        <Field label={t('help.problem')}>
          {(id) => (
            <select id={id} value={hints.problem} onChange={set('problem')}>
              {PROBLEMS.map((p) => (
                <option key={p} value={p}>
                  {t(`help.problem.${p}` as MessageKey)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label={t('help.method')}>
          {(id) => <input id={id} value={hints.method} placeholder="sandbox / stripe / epay / alipay" onChange={set('method')} />}
        </Field>
        <Field label={t('help.orderTime')}>{(id) => <input id={id} type="datetime-local" value={hints.order_time} onChange={set('order_time')} />}</Field>
        <Field label={t('help.amount')}>{(id) => <input id={id} inputMode="decimal" value={hints.amount} onChange={set('amount')} />}</Field>
        <Field label={t('help.reference')}>
          {(id) => <input id={id} className="mono" maxLength={64} value={hints.reference} onChange={set('reference')} />}
        </Field>
        <Field label={t('help.pageMessage')}>{(id) => <input id={id} maxLength={500} value={hints.page_message} onChange={set('page_message')} />}</Field>
        <label className="check span-all">
          <input type="checkbox" checked={hints.submitted_twice} onChange={(e) => setHints({ ...hints, submitted_twice: e.target.checked })} />{' '}
          {t('help.submittedTwice')}
        </label>
        <p className="span-all muted">{t('help.safety')}</p>
        <div className="span-all row end">
          <button type="submit" disabled={busy}>
            {t('help.run')}
          </button>
        </div>
      </form>
      <div className="notice-slot">{error && <Notice kind="error">{error}</Notice>}</div>
      {diag && (
        <section className="card" aria-labelledby="findings-h" data-testid="findings">
          <h2 id="findings-h">{t('help.findings')}</h2>
          <p>{diag.summary[lang]}</p>
          {diag.cases.map((c, i) => (
            <article key={i} className="case">
              <h3>
                {c.title[lang]} <Badge tone={c.state === 'open' ? 'warn' : 'ok'}>{t(c.state === 'open' ? 'help.state.open' : 'help.state.explained')}</Badge>
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
              {c.fix && (
                <button
                  type="button"
                  className="secondary"
                  onClick={async () => {
                    try {
                      await api(c.fix!.path, { method: 'POST', body: {} });
                    } catch (e) {
                      setError(errorText(t, e));
                    }
                    diagnose();
                  }}
                >
                  {c.fix.label[lang]}
                </button>
              )}
            </article>
          ))}
        </section>
      )}
      <form
        className="card"
        aria-labelledby="ticket-h"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            const r = await api<{ ticket: { id: string }; notice: Bi | null }>('/api/tickets', {
              body: {
                subject: ticket.subject,
                message: ticket.message,
                payment_method: hints.method || undefined,
                order_time: orderTimeIso,
                amount: hints.amount || undefined,
                page_message: hints.page_message || undefined,
                submitted_twice: hints.submitted_twice || undefined,
                reference: hints.reference || undefined,
              },
            });
            setOpened({ id: r.ticket.id, notice: r.notice });
            setTicket({ subject: '', message: '' });
            tickets.reload();
          } catch (err) {
            setError(errorText(t, err));
          }
        }}
      >
        <h2 id="ticket-h">{t('help.ticket')}</h2>
        <Notice kind="warn">{t('help.redactionWarning')}</Notice>
        <Field label={t('help.subject')}>
          {(id) => <input id={id} required maxLength={200} value={ticket.subject} onChange={(e) => setTicket({ ...ticket, subject: e.target.value })} />}
        </Field>
        <Field label={t('help.message')}>
          {(id) => (
            <textarea id={id} required rows={4} maxLength={10000} value={ticket.message} onChange={(e) => setTicket({ ...ticket, message: e.target.value })} />
          )}
        </Field>
        {opened && (
          <Notice kind="ok">
            {t('help.opened', { id: opened.id })}
            {opened.notice && (
              <>
                <br />
                {opened.notice[lang]}
              </>
            )}
          </Notice>
        )}
        <div className="row end">
          <button type="submit">{t('help.openTicket')}</button>
        </div>
      </form>
      <section className="card" aria-label={t('help.myTickets')}>
        <h2>{t('help.myTickets')}</h2>
        <Table
          caption={t('help.myTickets')}
          rows={tickets.data?.data ?? (tickets.error ? [] : null)}
          placeholderRows={2}
          rowKey={(x) => x.id}
          columns={[
            { key: 'id', label: 'ID', render: (x) => <span className="mono">{x.id}</span> },
            { key: 'subject', label: t('help.subject'), render: (x) => x.subject },
            {
              key: 'status',
              label: t('orders.status'),
              render: (x) => <Badge tone={x.status === 'resolved' || x.status === 'closed' ? 'ok' : 'warn'}>{x.status}</Badge>,
            },
            { key: 'created', label: t('orders.created'), render: (x) => fmtTime(x.created_at) },
          ]}
        />
      </section>
    </>
  );
}
