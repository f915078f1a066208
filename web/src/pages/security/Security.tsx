import { useEffect, useState } from 'react';
import { api } from '../../api.ts';
import { useI18n, errorText } from '../../i18n.tsx';
import { CopyButton, Field, Link, Notice, PageTitle } from '../../components.tsx';
import type { PageProps } from '../../App.tsx';

// Two-factor sign-in: set up (QR code and secret), turn on with a code (the
// recovery codes are shown here once), turn off, and for staff "confirm it is
// you" (a fresh code opens money actions and reveals for 15 minutes).

interface Status {
  enabled: boolean;
  recovery_codes_left: number;
  required: boolean;
}
interface Setup {
  secret: string;
  otpauth_uri: string;
  qr: string;
}

export function Security({ me }: PageProps) {
  const { t } = useI18n();
  const [status, setStatus] = useState<Status | null>(null);
  const [setup, setSetup] = useState<Setup | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [result, setResult] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const refresh = () => api<Status>('/api/auth/2fa').then(setStatus);
  useEffect(() => void refresh(), []);

  const run = async (fn: () => Promise<void>) => {
    setBusy(true);
    setResult(null);
    try {
      await fn();
    } catch (err) {
      setResult({ kind: 'error', text: errorText(t, err) });
    } finally {
      setBusy(false);
    }
  };
  const notice = <div className="notice-slot">{result && <Notice kind={result.kind}>{result.text}</Notice>}</div>;

  return (
    <>
      <PageTitle>{t('security.title')}</PageTitle>
      <p>{t('security.intro')}</p>
      {codes && (
        <section className="card narrow" data-testid="recovery-codes">
          <h2>{t('security.recoveryTitle')}</h2>
          <Notice kind="warn">{t('security.recoveryOnce')}</Notice>
          <pre className="mono">{codes.join('\n')}</pre>
          <CopyButton text={codes.join('\n')} />{' '}
          <button type="button" onClick={() => setCodes(null)}>
            {t('security.recoveryDone')}
          </button>
        </section>
      )}
      {status && !status.enabled && !setup && (
        <section className="card narrow">
          <p data-testid="two-factor-status">{t('security.off')}</p>
          <button type="button" disabled={busy} onClick={() => run(async () => setSetup(await api<Setup>('/api/auth/2fa/setup', { body: {} })))}>
            {t('security.start')}
          </button>
          {notice}
        </section>
      )}
      {status && !status.enabled && setup && (
        <CodeForm
          busy={busy}
          submitLabel={t('security.enable')}
          onSubmit={(code) =>
            run(async () => {
              const r = await api<{ recovery_codes: string[] }>('/api/auth/2fa/enable', { body: { code } });
              setCodes(r.recovery_codes);
              setSetup(null);
              await refresh();
            })
          }
          notice={notice}
        >
          <p>{t('security.scan')}</p>
          <img src={setup.qr} alt={t('security.qrAlt')} width={220} height={220} data-otpauth={setup.otpauth_uri} />
          <p>
            {t('security.secret')}:{' '}
            <code className="mono" data-testid="totp-secret">
              {setup.secret}
            </code>
          </p>
        </CodeForm>
      )}
      {status?.enabled && (
        <>
          <section className="card narrow">
            <p data-testid="two-factor-status">{t('security.on')}</p>
            <p className="muted">{t('security.recoveryLeft', { n: status.recovery_codes_left })}</p>
          </section>
          {me.role !== 'user' && (
            <CodeForm
              busy={busy}
              title={t('security.confirmTitle')}
              submitLabel={t('security.confirm')}
              onSubmit={(code) =>
                run(async () => {
                  await api('/api/auth/2fa/confirm', { body: { code } });
                  setResult({ kind: 'ok', text: t('security.confirmed') });
                })
              }
            >
              <p className="muted">{t('security.confirmHint')}</p>
            </CodeForm>
          )}
          <DisableForm
            busy={busy}
            onSubmit={(value) =>
              run(async () => {
                const body = /^\d{6}$/.test(value)
                  ? { code: value }
                  : /^[a-z0-9]{5}-?[a-z0-9]{5}$/i.test(value)
                    ? { recovery_code: value }
                    : { password: value };
                await api('/api/auth/2fa/disable', { body });
                setResult({ kind: 'ok', text: t('security.disabled') });
                await refresh();
              })
            }
          />
          {notice}
        </>
      )}
    </>
  );
}

function CodeForm({
  busy,
  title,
  submitLabel,
  onSubmit,
  notice,
  children,
}: {
  busy: boolean;
  title?: string;
  submitLabel: string;
  onSubmit(code: string): void;
  notice?: React.ReactNode;
  children?: React.ReactNode;
}) {
  const { t } = useI18n();
  const [code, setCode] = useState('');
  return (
    <form
      className="card narrow"
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit(code);
        setCode('');
      }}
    >
      {title && <h2>{title}</h2>}
      {children}
      <Field label={t('security.code')} hint={t('security.codeHint')}>
        {(id, hint) => (
          <input
            id={id}
            name="code"
            className="mono"
            aria-describedby={hint}
            autoComplete="one-time-code"
            inputMode="numeric"
            pattern="[0-9]{6}"
            maxLength={6}
            required
            value={code}
            onChange={(e) => setCode(e.target.value.trim())}
          />
        )}
      </Field>
      {notice}
      <button type="submit" disabled={busy}>
        {submitLabel}
      </button>
    </form>
  );
}

function DisableForm({ busy, onSubmit }: { busy: boolean; onSubmit(value: string): void }) {
  const { t } = useI18n();
  const [value, setValue] = useState('');
  return (
    <form
      className="card narrow"
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit(value);
        setValue('');
      }}
    >
      <h2>{t('security.disableTitle')}</h2>
      <Field label={t('security.disableWith')} hint={t('security.disableHint')}>
        {(id, hint) => (
          <input
            id={id}
            name="disable"
            type="password"
            aria-describedby={hint}
            autoComplete="off"
            required
            value={value}
            onChange={(e) => setValue(e.target.value)}
          />
        )}
      </Field>
      <button type="submit" className="danger" disabled={busy}>
        {t('security.disable')}
      </button>
    </form>
  );
}

/** For staff on a server with TALLY_STAFF_2FA=on who have not set it up: a banner on every page. */
export function StaffTwoFactorNag({ me }: { me: PageProps['me'] }) {
  const { t } = useI18n();
  const [show, setShow] = useState(false);
  useEffect(() => {
    if (me.role === 'user') return;
    api<Status>('/api/auth/2fa', { quiet401: true }).then(
      (s) => setShow(s.required && !s.enabled),
      () => setShow(false),
    );
  }, [me.id, me.role]);
  if (!show) return null;
  return (
    <div data-testid="staff-2fa-nag">
      <Notice kind="warn">
        {t('security.nag')} <Link to="/security">{t('security.nagLink')}</Link>
      </Notice>
    </div>
  );
}
