import { useEffect, useState } from 'react';
import { api } from '../api.ts';
import { useI18n, errorText } from '../i18n.tsx';
import { Badge, Confirm, CopyButton, Dialog, Field, Notice, PageTitle, Table, splitList } from '../components.tsx';
import { useApi } from '../useApi.ts';
import { tidy } from '../money.ts';
import type { PageProps } from '../App.tsx';
import {
  BudgetInputs,
  KeyBudget,
  LimitInputs,
  budgetBody,
  budgetText,
  describeLimits,
  emptyLimits,
  limitText,
  limitsBody,
  teamParam,
  type BudgetText,
  type KeyView,
  type LimitText,
  type TeamSummary,
} from '../components/limits.tsx';

const statusTone = (s: string) => (s === 'active' ? 'ok' : s === 'revoked' ? 'bad' : 'muted');

type KeyRow = KeyView;

export function Keys({ me, search }: PageProps) {
  const { t, fmtTime } = useI18n();
  const keys = useApi<{ data: KeyRow[] }>('/api/keys');
  const teams = useApi<{ data: TeamSummary[] }>('/api/teams');
  const teamName = (id: string) => teams.data?.data.find((x) => x.id === id)?.name ?? id;
  const [form, setForm] = useState({ name: '', models: '', limit: '', expires: '', ip: '', team: teamParam(search) });
  const [limits, setLimits] = useState<LimitText>(emptyLimits);
  const [budget, setBudget] = useState<BudgetText>(() => budgetText(null, null));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<KeyRow | null>(null);
  const [revoking, setRevoking] = useState<KeyRow | null>(null);
  const [editing, setEditing] = useState<KeyRow | null>(null);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = {
        name: form.name || undefined,
        models: form.models.trim() ? splitList(form.models) : null,
        limit: form.limit.trim() || null,
        // The end of the chosen day in the viewer's time zone.
        expires_at: form.expires ? new Date(`${form.expires}T23:59:59`).toISOString() : null,
        ip_allowlist: form.ip.trim() ? splitList(form.ip) : null,
        ...limitsBody(limits),
        ...budgetBody(budget),
        team: form.team || undefined,
      };
      setCreated(await api<KeyRow>('/api/keys', { body }));
      setForm({ name: '', models: '', limit: '', expires: '', ip: '', team: form.team });
      setLimits(emptyLimits());
      setBudget(budgetText(null, null));
      keys.reload();
    } catch (err) {
      setError(errorText(t, err, 'limits'));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <PageTitle>{t('keys.title')}</PageTitle>
      <form className="card form-grid" onSubmit={create} aria-labelledby="create-key-h">
        <h2 id="create-key-h" className="span-all">
          {t('keys.create')}
        </h2>
        <Field label={t('keys.name')}>{(id) => <input id={id} name="name" maxLength={100} value={form.name} onChange={set('name')} />}</Field>
        <Field label={t('keys.models')}>
          {(id) => <input id={id} name="models" placeholder="gpt-4o-mini, deepseek-chat" value={form.models} onChange={set('models')} />}
        </Field>
        <Field label={t('keys.limit')}>
          {(id) => (
            <input
              id={id}
              name="limit"
              inputMode="decimal"
              pattern="\d+(\.\d{1,6})?"
              placeholder={`5.00 ${me.currency}`}
              value={form.limit}
              onChange={set('limit')}
            />
          )}
        </Field>
        <Field label={t('keys.expires')}>{(id) => <input id={id} name="expires" type="date" value={form.expires} onChange={set('expires')} />}</Field>
        <Field label={t('keys.ip')}>{(id) => <input id={id} name="ip" placeholder="203.0.113.0/24" value={form.ip} onChange={set('ip')} />}</Field>
        <LimitInputs value={limits} onChange={setLimits} />
        <BudgetInputs value={budget} onChange={setBudget} currency={me.currency} />
        {(teams.data?.data.length ?? 0) > 0 && (
          <Field label={t('limits.keys.team')} hint={t('limits.keys.teamHint')}>
            {(id, hint) => (
              <select id={id} name="team" aria-describedby={hint} value={form.team} onChange={set('team')}>
                <option value="">{t('limits.keys.ownWallet')}</option>
                {teams.data!.data.map((x) => (
                  <option key={x.id} value={x.id}>
                    {x.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
        )}
        <div className="span-all row between wrap">
          <div className="notice-slot grow">{error && <Notice kind="error">{error}</Notice>}</div>
          <button type="submit" disabled={busy}>
            {t('keys.submit')}
          </button>
        </div>
      </form>

      <Dialog open={created !== null} title={t('keys.create')} onClose={() => setCreated(null)}>
        <p>{t('keys.created')}</p>
        <div className="row">
          <input
            className="mono grow"
            readOnly
            value={created?.key ?? ''}
            aria-label={t('keys.key')}
            data-copy-source
            data-testid="new-key"
            onFocus={(e) => e.target.select()}
          />
          <CopyButton text={created?.key ?? ''} />
        </div>
        <div className="row end">
          <button type="button" onClick={() => setCreated(null)}>
            {t('keys.done')}
          </button>
        </div>
      </Dialog>

      <Confirm
        open={revoking !== null}
        title={t('keys.revoke')}
        message={t('keys.revokeConfirm', { name: revoking?.name ?? revoking?.display ?? '' })}
        confirmLabel={t('keys.revoke')}
        onCancel={() => setRevoking(null)}
        onConfirm={async () => {
          try {
            await api(`/api/keys/${encodeURIComponent(revoking!.id)}`, { method: 'DELETE' });
          } catch (err) {
            setError(errorText(t, err, 'limits'));
          }
          setRevoking(null);
          keys.reload();
        }}
      />

      <EditKeyLimits
        k={editing}
        currency={me.currency}
        onClose={() => setEditing(null)}
        onSaved={() => {
          setEditing(null);
          keys.reload();
        }}
      />

      <section className="card" aria-label={t('keys.title')}>
        {Boolean(keys.error) && <Notice kind="error">{errorText(t, keys.error, 'limits')}</Notice>}
        <Table
          caption={t('keys.title')}
          rows={keys.data?.data ?? (keys.error ? [] : null)}
          rowKey={(k) => k.id}
          columns={[
            {
              key: 'name',
              label: t('keys.name'),
              render: (k) => (
                <>
                  <strong>{k.name ?? '—'}</strong>
                  <br />
                  <span className="mono muted">{k.display}</span>
                  {k.team_id && (
                    <>
                      <br />
                      <Badge tone="muted">{t('limits.keys.teamBadge', { name: teamName(k.team_id) })}</Badge>
                    </>
                  )}
                </>
              ),
            },
            {
              key: 'status',
              label: t('keys.status'),
              render: (k) => <Badge tone={statusTone(k.status)}>{t(`keys.status.${k.status}` as 'keys.status.active')}</Badge>,
            },
            {
              key: 'models',
              label: t('usage.model'),
              render: (k) => (k.models?.length ? k.models.join(', ') : <span className="muted">{t('keys.anyModel')}</span>),
            },
            { key: 'spent', label: t('keys.spent'), numeric: true, render: (k) => `${tidy(k.spent)} / ${k.limit ? tidy(k.limit) : '∞'}` },
            { key: 'limits', label: t('limits.keys.limitsCol'), render: (k) => <span data-testid="key-limits">{describeLimits(t, k)}</span> },
            { key: 'budget', label: t('limits.keys.budgetCol'), render: (k) => <KeyBudget k={k} /> },
            { key: 'expires', label: t('keys.expiresCol'), render: (k) => (k.expires_at ? fmtTime(k.expires_at) : t('common.never')) },
            { key: 'used', label: t('keys.lastUsed'), render: (k) => (k.last_used_at ? fmtTime(k.last_used_at) : t('common.never')) },
            {
              key: 'act',
              label: '',
              render: (k) =>
                k.status === 'active' ? (
                  <div className="row wrap">
                    <button
                      type="button"
                      className="secondary small"
                      aria-label={t('limits.keys.editFor', { name: k.name ?? k.display })}
                      onClick={() => setEditing(k)}
                    >
                      {t('limits.keys.edit')}
                    </button>
                    <button type="button" className="danger small" aria-label={`${t('keys.revoke')} ${k.name ?? k.display}`} onClick={() => setRevoking(k)}>
                      {t('keys.revoke')}
                    </button>
                  </div>
                ) : null,
            },
          ]}
        />
      </section>
    </>
  );
}

/** A key's limits and budget, changed in place: POST /api/keys/:id/limits, then PATCH /api/keys/:id for the budget. */
function EditKeyLimits({ k, currency, onClose, onSaved }: { k: KeyRow | null; currency: string; onClose(): void; onSaved(): void }) {
  const { t } = useI18n();
  const [limits, setLimits] = useState<LimitText>(emptyLimits);
  const [budget, setBudget] = useState<BudgetText>(() => budgetText(null, null));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Filled from the key each time the dialog opens on one.
  useEffect(() => {
    if (!k) return;
    setLimits(limitText(k));
    setBudget(budgetText(k.budget, k.budget_period));
    setError(null);
  }, [k]);
  const id = k ? encodeURIComponent(k.id) : '';
  return (
    <Dialog open={k !== null} title={t('limits.keys.editTitle', { name: k?.name ?? k?.display ?? '' })} onClose={onClose}>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            await api(`/api/keys/${id}/limits`, { body: limitsBody(limits) });
            await api(`/api/keys/${id}`, { method: 'PATCH', body: budgetBody(budget) });
            onSaved();
          } catch (err) {
            setError(errorText(t, err, 'limits'));
          } finally {
            setBusy(false);
          }
        }}
      >
        <LimitInputs value={limits} onChange={setLimits} />
        <BudgetInputs value={budget} onChange={setBudget} currency={currency} />
        <p className="muted">{t('limits.keys.budgetKeepsSpend')}</p>
        <div className="notice-slot">{error && <Notice kind="error">{error}</Notice>}</div>
        <div className="row end">
          <button type="button" className="secondary" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" disabled={busy}>
            {t('common.save')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
