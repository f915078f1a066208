import { useState } from 'react';
import { api } from '../../api.ts';
import { useI18n, errorText } from '../../i18n.tsx';
import { Badge, Dialog, Field, Notice, PageTitle, ReasonDialog, Table, downloadText } from '../../components.tsx';
import { useApi } from '../../useApi.ts';
import { tidy } from '../../money.ts';
import type { PageProps } from '../../App.tsx';

interface Batch {
  id: string;
  name: string | null;
  amount: string;
  currency: string;
  max_uses: number;
  code_count: number;
  expires_at: string | null;
  status: string;
  created_at: string;
  redemptions?: number;
  redeemed_amount?: string;
}
interface Generated {
  batch: Batch;
  codes: { id: string; code: string; display: string }[];
  csv: string;
}

export function AdminRedeem({ me }: PageProps) {
  const { t, fmtTime } = useI18n();
  const batches = useApi<{ data: Batch[] }>('/api/admin/redeem/batches?limit=100');
  const [form, setForm] = useState({ name: '', count: '10', amount: '5.00', expires_at: '', max_uses: '1' });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The plaintext codes exist only in this answer: shown once, downloadable once, then dropped from memory.
  const [generated, setGenerated] = useState<Generated | null>(null);
  const [downloaded, setDownloaded] = useState(false);
  const [disabling, setDisabling] = useState<Batch | null>(null);
  const [msg, setMsg] = useState<string | null>(null);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const isAdmin = me.role === 'admin';
  return (
    <>
      <PageTitle>{t('admin.redeem.title')}</PageTitle>
      {!isAdmin && <Notice>{t('admin.readOnly')}</Notice>}
      {isAdmin && (
        <form
          className="card form-grid"
          aria-labelledby="gen-h"
          onSubmit={async (e) => {
            e.preventDefault();
            setError(null);
            setBusy(true);
            try {
              const r = await api<Generated>('/api/admin/redeem/batches', {
                body: {
                  name: form.name.trim() || null,
                  count: Number(form.count),
                  amount: form.amount.trim(),
                  expires_at: form.expires_at ? new Date(form.expires_at).toISOString() : null,
                  max_uses: Number(form.max_uses) || 1,
                },
              });
              setDownloaded(false);
              setGenerated(r);
              batches.reload();
            } catch (err) {
              setError(errorText(t, err));
            } finally {
              setBusy(false);
            }
          }}
        >
          <h2 id="gen-h" className="span-all">
            {t('admin.redeem.generate')}
          </h2>
          <Field label={t('admin.redeem.name')}>{(id) => <input id={id} maxLength={100} value={form.name} onChange={set('name')} />}</Field>
          <Field label={t('admin.redeem.count')}>
            {(id) => <input id={id} type="number" min={1} max={10000} required value={form.count} onChange={set('count')} />}
          </Field>
          <Field label={`${t('admin.redeem.amount')} (${me.currency})`}>
            {(id) => <input id={id} inputMode="decimal" required value={form.amount} onChange={set('amount')} />}
          </Field>
          <Field label={t('admin.redeem.maxUses')}>{(id) => <input id={id} type="number" min={1} value={form.max_uses} onChange={set('max_uses')} />}</Field>
          <Field label={t('admin.redeem.expires')}>
            {(id) => <input id={id} type="datetime-local" value={form.expires_at} onChange={set('expires_at')} />}
          </Field>
          <div className="span-all row between wrap">
            <div className="notice-slot grow">{error && <Notice kind="error">{error}</Notice>}</div>
            <button type="submit" disabled={busy}>
              {t('admin.redeem.submit')}
            </button>
          </div>
        </form>
      )}
      <div className="notice-slot">{msg && <Notice kind="ok">{msg}</Notice>}</div>
      <section className="card" aria-label={t('admin.redeem.batches')}>
        <h2>{t('admin.redeem.batches')}</h2>
        {Boolean(batches.error) && <Notice kind="error">{errorText(t, batches.error)}</Notice>}
        <Table
          caption={t('admin.redeem.batches')}
          rows={batches.data?.data ?? (batches.error ? [] : null)}
          rowKey={(b) => b.id}
          rowLabel={(b) => `${b.name ?? b.id}`}
          columns={[
            {
              key: 'name',
              label: t('admin.redeem.name'),
              render: (b) => (
                <>
                  <strong>{b.name ?? '—'}</strong>
                  <br />
                  <span className="mono muted">{b.id}</span>
                </>
              ),
            },
            { key: 'amount', label: t('admin.redeem.amount'), numeric: true, render: (b) => `${tidy(b.amount)} ${b.currency}` },
            { key: 'codes', label: t('admin.redeem.used'), numeric: true, render: (b) => `${b.redemptions ?? 0} / ${b.code_count * b.max_uses}` },
            { key: 'expires', label: t('admin.redeem.expires'), render: (b) => fmtTime(b.expires_at) },
            { key: 'status', label: t('orders.status'), render: (b) => <Badge tone={b.status === 'active' ? 'ok' : 'muted'}>{b.status}</Badge> },
            { key: 'created', label: t('orders.created'), render: (b) => fmtTime(b.created_at) },
            {
              key: 'act',
              label: t('admin.orders.actions'),
              render: (b) =>
                isAdmin && b.status === 'active' ? (
                  <button
                    type="button"
                    className="secondary small"
                    aria-label={t('admin.redeem.disableBatch', { name: b.name ?? b.id })}
                    onClick={() => {
                      setMsg(null);
                      setDisabling(b);
                    }}
                  >
                    {t('admin.channels.disable')}
                  </button>
                ) : (
                  '—'
                ),
            },
          ]}
        />
      </section>
      <Dialog open={generated !== null} title={t('admin.redeem.generatedTitle')} onClose={() => setGenerated(null)}>
        {generated && (
          <>
            <Notice kind="warn">{t('admin.redeem.once', { count: generated.codes.length })}</Notice>
            <textarea
              className="mono codes"
              readOnly
              rows={Math.min(10, generated.codes.length)}
              aria-label={t('admin.redeem.codes')}
              data-testid="generated-codes"
              value={generated.codes.map((c) => c.code).join('\n')}
            />
            <div className="row end">
              <button
                type="button"
                className="secondary"
                disabled={downloaded}
                onClick={() => {
                  downloadText(`tally-redeem-${generated.batch.id}.csv`, generated.csv);
                  setDownloaded(true);
                }}
              >
                {downloaded ? t('admin.redeem.downloaded') : t('admin.redeem.download')}
              </button>
              <button type="button" onClick={() => setGenerated(null)}>
                {t('keys.done')}
              </button>
            </div>
          </>
        )}
      </Dialog>
      <ReasonDialog
        open={disabling !== null}
        title={t('admin.redeem.disableTitle')}
        message={t('admin.redeem.disableConfirm', { name: disabling?.name ?? disabling?.id ?? '' })}
        onCancel={() => setDisabling(null)}
        onSubmit={async (reason) => {
          try {
            const r = await api<{ codes_disabled: number }>(`/api/admin/redeem/batches/${encodeURIComponent(disabling!.id)}/disable`, { body: { reason } });
            setMsg(t('admin.redeem.disabled', { n: r.codes_disabled }));
            setDisabling(null);
            batches.reload();
          } catch (e) {
            throw new Error(errorText(t, e));
          }
        }}
      />
    </>
  );
}
