import { Fragment, useEffect, useState } from 'react';
import { api } from '../api.ts';
import { useI18n, errorText } from '../i18n.tsx';
import { Field, Notice, PageTitle } from '../components.tsx';
import { useApi } from '../useApi.ts';
import { tidy } from '../money.ts';
import type { PageProps } from '../App.tsx';

// The signed-in user's alert settings (GET/PUT /api/alerts, src/app/routes/alerts.ts):
// a balance threshold, e-mail on or off, a webhook URL and the alerts' language.
// Budget alerts (80% and 100% of a key's or a member's budget) need no setting:
// they go out by the same channels once per budget, period and level.

interface AlertSettings {
  balance_below: string | null;
  email: boolean;
  webhook_url: string | null;
  language: 'en' | 'zh';
  currency: string;
  email_available: boolean;
  webhook_available: boolean;
}

/** The headers src/alerts/deliver.ts sends with every webhook. */
const HEADERS = ['x-tally-event', 'x-tally-event-id', 'x-tally-timestamp', 'x-tally-signature'] as const;

const VERIFY_EXAMPLE = `import { createHmac, timingSafeEqual } from 'node:crypto';

// rawBody: the request body exactly as received (before JSON.parse)
function verify(headers, rawBody, secret) {
  const ts = headers['x-tally-timestamp'];
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false; // an old one: a replay
  const expected = 'v1=' + createHmac('sha256', secret).update(\`\${ts}.\${rawBody}\`).digest('hex');
  const got = String(headers['x-tally-signature'] ?? '');
  return got.length === expected.length && timingSafeEqual(Buffer.from(got), Buffer.from(expected));
}`;

const BODY_EXAMPLE = `{"id":"alr_…","type":"budget.80","created_at":"2026-12-01T10:00:00.000Z",
 "data":{"owner":"user:usr_…","currency":"USD","budget":"5.00","budget_name":"…","period":"2026-12-01","spent":"4.01"}}`;

/**
 * The settings form of one owner: the user's own (/api/alerts) or a team's
 * (/api/teams/:id/alerts, its owners and admins).
 */
export function AlertSettingsForm({
  path,
  heading,
  headingId,
  balanceLabel,
  emailLabel,
}: {
  path: string;
  heading: string;
  headingId: string;
  balanceLabel(currency: string): string;
  emailLabel: string;
}) {
  const { t } = useI18n();
  const settings = useApi<AlertSettings>(path);
  const s = settings.data;
  const [form, setForm] = useState({ balance_below: '', email: true, webhook_url: '', language: 'en' as 'en' | 'zh' });
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (s) setForm({ balance_below: s.balance_below ? tidy(s.balance_below) : '', email: s.email, webhook_url: s.webhook_url ?? '', language: s.language });
  }, [s]);
  const currency = s?.currency ?? '';
  return (
    <>
      {Boolean(settings.error) && <Notice kind="error">{errorText(t, settings.error, 'limits')}</Notice>}
      <form
        className="card form-grid"
        aria-labelledby={headingId}
        aria-busy={!s}
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setMsg(null);
          try {
            await api(path, {
              method: 'PUT',
              body: {
                balance_below: form.balance_below.trim() || null,
                email: form.email,
                language: form.language,
                // A server without TALLY_WEBHOOK_SECRET refuses any URL; leave the field out there.
                ...(s?.webhook_available ? { webhook_url: form.webhook_url.trim() || null } : {}),
              },
            });
            setMsg({ kind: 'ok', text: t('limits.alerts.saved') });
            settings.reload();
          } catch (err) {
            setMsg({ kind: 'error', text: errorText(t, err, 'limits') });
          } finally {
            setBusy(false);
          }
        }}
      >
        <h2 id={headingId} className="span-all">
          {heading}
        </h2>
        <Field label={balanceLabel(currency)} hint={t('limits.alerts.balanceHint')}>
          {(id, hint) => (
            <input
              id={id}
              name="balance_below"
              inputMode="decimal"
              pattern="\d+(\.\d{1,6})?"
              placeholder="5.00"
              aria-describedby={hint}
              disabled={!s}
              value={form.balance_below}
              onChange={(e) => setForm({ ...form, balance_below: e.target.value })}
            />
          )}
        </Field>
        <Field label={t('limits.alerts.webhook')} hint={s?.webhook_available === false ? t('limits.alerts.webhookOff') : t('limits.alerts.webhookHint')}>
          {(id, hint) => (
            <input
              id={id}
              name="webhook_url"
              type="url"
              placeholder="https://example.com/tally-alerts"
              maxLength={2000}
              aria-describedby={hint}
              disabled={!s?.webhook_available}
              value={form.webhook_url}
              onChange={(e) => setForm({ ...form, webhook_url: e.target.value })}
            />
          )}
        </Field>
        <Field label={t('limits.alerts.language')}>
          {(id) => (
            <select id={id} name="language" disabled={!s} value={form.language} onChange={(e) => setForm({ ...form, language: e.target.value as 'en' | 'zh' })}>
              <option value="en">English</option>
              <option value="zh">中文</option>
            </select>
          )}
        </Field>
        <label className="check span-all">
          <input type="checkbox" name="email" disabled={!s} checked={form.email} onChange={(e) => setForm({ ...form, email: e.target.checked })} /> {emailLabel}
        </label>
        {s && !s.email_available && (
          <p className="span-all muted" data-testid="email-off">
            {t('limits.alerts.emailOff')}
          </p>
        )}
        <div className="span-all row between wrap">
          <div className="notice-slot grow">{msg && <Notice kind={msg.kind}>{msg.text}</Notice>}</div>
          <button type="submit" disabled={busy || !s}>
            {t('common.save')}
          </button>
        </div>
      </form>
    </>
  );
}

export function Alerts({ me }: PageProps) {
  const { t } = useI18n();
  return (
    <>
      <PageTitle>{t('limits.alerts.title')}</PageTitle>
      <AlertSettingsForm
        path="/api/alerts"
        heading={t('limits.alerts.settings')}
        headingId="alerts-h"
        balanceLabel={(currency) => t('limits.alerts.balanceBelow', { currency: currency || me.currency })}
        emailLabel={t('limits.alerts.email', { email: me.email })}
      />

      <section className="card" aria-labelledby="alerts-kinds-h">
        <h2 id="alerts-kinds-h">{t('limits.alerts.kinds')}</h2>
        <ul>
          <li>
            <span className="mono">balance.below</span> — {t('limits.alerts.kindBalance')}
          </li>
          <li>
            <span className="mono">budget.80</span> — {t('limits.alerts.kind80')}
          </li>
          <li>
            <span className="mono">budget.100</span> — {t('limits.alerts.kind100')}
          </li>
        </ul>
        <p className="muted">{t('limits.alerts.once')}</p>
      </section>

      <section className="card" aria-labelledby="alerts-sign-h" data-testid="webhook-signing">
        <h2 id="alerts-sign-h">{t('limits.alerts.signing')}</h2>
        <p>{t('limits.alerts.signingText')}</p>
        <dl className="facts">
          {HEADERS.map((h) => (
            <Fragment key={h}>
              <dt className="mono">{h}</dt>
              <dd>{t(`limits.alerts.header.${h}`)}</dd>
            </Fragment>
          ))}
        </dl>
        <p>{t('limits.alerts.signingVerify')}</p>
        <p className="muted">{t('limits.alerts.exampleCode')}</p>
        <pre className="mono pre">{VERIFY_EXAMPLE}</pre>
        <p>{t('limits.alerts.bodyExample')}</p>
        <pre className="mono pre">{BODY_EXAMPLE}</pre>
      </section>
    </>
  );
}
