import { useEffect, useState } from 'react';
import { api } from '../api.ts';
import { useI18n, errorText, type T, type MessageKey } from '../i18n.tsx';
import { Badge, Field, Link, Notice, PageTitle, Skeleton, Table } from '../components.tsx';
import { useApi } from '../useApi.ts';
import { navigate } from '../router.ts';
import { tidy } from '../money.ts';
import type { PageProps } from '../App.tsx';
import { WalletSelect, teamParam } from '../components/limits.tsx';

interface Order {
  id: string;
  status: string;
  provider: string;
  amount: string;
  currency: string;
  credit_amount: string;
  credit_currency: string;
  checkout_url: string | null;
  status_reason: string | null;
  created_at: string;
  expires_at: string | null;
  credited_at: string | null;
  explanation: { en: string; zh: string };
}
const OPEN = ['created', 'pending', 'paid'];
const tone = (s: string) => (s === 'credited' ? 'ok' : OPEN.includes(s) ? 'warn' : s === 'failed' || s === 'flagged' || s === 'disputed' ? 'bad' : 'muted');
export const orderTone = tone;
/** An order status in words ("Processing"), falling back to the raw status for one this console does not know. */
export const statusLabel = (t: T, s: string) => (`order.state.${s}` in STATE_KEYS ? t(`order.state.${s}` as MessageKey) : s);
const STATE_KEYS: Record<string, true> = Object.fromEntries(
  ['created', 'pending', 'paid', 'credited', 'failed', 'expired', 'canceled', 'flagged', 'refunded', 'partially_refunded', 'disputed'].map((s) => [
    `order.state.${s}`,
    true,
  ]),
);
const PROVIDER_NAMES: Record<string, string> = { sandbox: 'Sandbox', stripe: 'Stripe', epay: 'EPay 易支付' };

export function TopUp({ me, search }: PageProps) {
  const { t } = useI18n();
  const [amount, setAmount] = useState('10.00');
  // Whose wallet: the user's, or (?team=) a team's they own or administer.
  const [team, setTeam] = useState(() => teamParam(search));
  const [provider, setProvider] = useState('');
  // The providers enabled on this instance (GET /api/payments/providers); the first is the default.
  const providers = useApi<{ data: { name: string }[] }>('/api/payments/providers');
  const names = providers.data?.data.map((p) => p.name) ?? null;
  const chosen = provider || names?.[0] || '';
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <>
      <PageTitle>{t('topup.title')}</PageTitle>
      <form
        className="card narrow"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const o = await api<Order>('/api/orders', { body: { amount, provider: chosen || undefined, team: team || undefined } });
            navigate(`/orders/${o.id}`);
          } catch (err) {
            setError(errorText(t, err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <WalletSelect value={team} onChange={setTeam} />
        <Field label={`${t('topup.amount')} (${me.currency})`}>
          {(id) => (
            <input id={id} name="amount" inputMode="decimal" pattern="\d+(\.\d{1,2})?" required value={amount} onChange={(e) => setAmount(e.target.value)} />
          )}
        </Field>
        <Field label={t('topup.provider')}>
          {(id) => (
            <select id={id} name="provider" value={chosen} disabled={!names} onChange={(e) => setProvider(e.target.value)}>
              {(names ?? []).map((n) => (
                <option key={n} value={n}>
                  {PROVIDER_NAMES[n] ?? n}
                </option>
              ))}
            </select>
          )}
        </Field>
        <div className="notice-slot">{error && <Notice kind="error">{error}</Notice>}</div>
        {names?.length === 0 && <Notice kind="warn">{t('topup.noProviders')}</Notice>}
        <button type="submit" disabled={busy || !chosen}>
          {t('topup.submit')}
        </button>
      </form>
    </>
  );
}

export function Orders(_: PageProps) {
  const { t, fmtTime } = useI18n();
  const { data, error } = useApi<{ data: Order[] }>('/api/orders');
  return (
    <>
      <PageTitle
        actions={
          <Link to="/topup" className="button">
            {t('nav.topup')}
          </Link>
        }
      >
        {t('orders.title')}
      </PageTitle>
      <section className="card" aria-label={t('orders.title')}>
        {Boolean(error) && <Notice kind="error">{errorText(t, error)}</Notice>}
        <Table
          caption={t('orders.title')}
          rows={data?.data ?? (error ? [] : null)}
          rowKey={(o) => o.id}
          onRowClick={(o) => navigate(`/orders/${o.id}`)}
          rowLabel={(o) => o.id}
          columns={[
            { key: 'id', label: t('orders.id'), render: (o) => <span className="mono">{o.id}</span> },
            { key: 'created', label: t('orders.created'), render: (o) => fmtTime(o.created_at) },
            { key: 'amount', label: t('orders.amount'), numeric: true, render: (o) => `${tidy(o.amount)} ${o.currency}` },
            { key: 'credit', label: t('orders.credit'), numeric: true, render: (o) => `${tidy(o.credit_amount)} ${o.credit_currency}` },
            { key: 'status', label: t('orders.status'), render: (o) => <Badge tone={tone(o.status)}>{statusLabel(t, o.status)}</Badge> },
          ]}
        />
      </section>
    </>
  );
}

export function OrderDetail({ params, refreshMe }: PageProps) {
  const { t, lang, fmtTime } = useI18n();
  const [order, setOrder] = useState<Order | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [canceling, setCanceling] = useState(false);
  const [cancelError, setCancelError] = useState<unknown>(null);
  const cancel = async () => {
    setCanceling(true);
    setCancelError(null);
    try {
      setOrder(await api<Order>(`/api/orders/${encodeURIComponent(params.id)}/cancel`, { method: 'POST' }));
    } catch (e) {
      setCancelError(e);
    } finally {
      setCanceling(false);
    }
  };
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout>;
    const poll = async () => {
      try {
        const o = await api<Order>(`/api/orders/${encodeURIComponent(params.id)}`);
        if (!live) return;
        setOrder(o);
        if (o.status === 'credited') refreshMe();
        // Follow an open order live; a settled one does not change by itself.
        if (OPEN.includes(o.status) || o.status === 'expired') timer = setTimeout(poll, 2000);
      } catch (e) {
        if (live) setError(e);
      }
    };
    poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [params.id]);
  return (
    <>
      <PageTitle>{t('orders.detail', { id: params.id })}</PageTitle>
      <section className="card" aria-live="polite">
        {error ? (
          <Notice kind="error">{(error as { status?: number }).status === 404 ? t('common.notFound') : errorText(t, error)}</Notice>
        ) : (
          <>
            <p className="status-line" data-testid="order-status">
              {order ? <Badge tone={tone(order.status)}>{statusLabel(t, order.status)}</Badge> : <Skeleton width="6rem" />}
            </p>
            <p className="explanation-text">{order ? order.explanation[lang] : <Skeleton width="90%" height="3em" />}</p>
            <dl className="facts">
              <dt>{t('orders.amount')}</dt>
              <dd>{order ? `${tidy(order.amount)} ${order.currency}` : <Skeleton width="6rem" />}</dd>
              <dt>{t('orders.credit')}</dt>
              <dd>{order ? `${tidy(order.credit_amount)} ${order.credit_currency}` : <Skeleton width="6rem" />}</dd>
              <dt>{t('orders.created')}</dt>
              <dd>{order ? fmtTime(order.created_at) : <Skeleton width="10rem" />}</dd>
            </dl>
            <div className="row">
              {order && OPEN.includes(order.status) && order.checkout_url && (
                <a className="button" href={order.checkout_url}>
                  {t('orders.pay')}
                </a>
              )}
              {order && (order.status === 'created' || order.status === 'pending') && (
                <button type="button" className="secondary" onClick={cancel} disabled={canceling}>
                  {t('orders.cancel')}
                </button>
              )}
            </div>
            {cancelError ? <Notice kind="error">{errorText(t, cancelError)}</Notice> : null}
            <p className="muted">{t('orders.live')}</p>
          </>
        )}
      </section>
    </>
  );
}
