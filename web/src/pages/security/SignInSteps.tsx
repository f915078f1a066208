import { useEffect, useState } from 'react';
import { api } from '../../api.ts';
import { useI18n, errorText } from '../../i18n.tsx';
import { Field, Notice } from '../../components.tsx';

// The sign-in page's parts for two-factor and OpenID Connect: the code step
// after the password (or after the identity provider, which sends the browser
// back to /console/#challenge=...), the provider's button, and its refusals
// (/console/?oidc_error=<code>).

/** What the identity provider's redirect left in the address (read once, then removed from it). */
export function takeRedirectHints(): { challenge: string | null; oidcError: string | null } {
  const challenge = new URLSearchParams(location.hash.slice(1)).get('challenge');
  const oidcError = new URLSearchParams(location.search).get('oidc_error');
  if (challenge || oidcError) history.replaceState(null, '', location.pathname);
  return { challenge, oidcError: oidcError ? oidcError.replace(/[^a-z_]/g, '') : null };
}

export function SecondFactorStep({ challenge, onSignedIn, onBack }: { challenge: string; onSignedIn(): void; onBack(): void }) {
  const { t } = useI18n();
  const [recovery, setRecovery] = useState(false);
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="card signin-card"
      data-testid="second-factor"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          await api('/api/auth/2fa/verify', { body: { challenge, ...(recovery ? { recovery_code: value } : { code: value }) }, quiet401: true });
          onSignedIn();
        } catch (err) {
          setError(errorText(t, err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <p className="brand big" aria-hidden="true">
        Tally
      </p>
      <h1>{t('security.signin.codeTitle')}</h1>
      <p>{t('security.signin.codeHint')}</p>
      <Field label={recovery ? t('security.signin.recovery') : t('security.code')}>
        {(id) => (
          <input
            id={id}
            name={recovery ? 'recovery_code' : 'code'}
            className="mono"
            autoComplete="one-time-code"
            inputMode={recovery ? 'text' : 'numeric'}
            pattern={recovery ? undefined : '[0-9]{6}'}
            maxLength={recovery ? 40 : 6}
            required
            value={value}
            onChange={(e) => setValue(e.target.value.trim())}
          />
        )}
      </Field>
      <div className="notice-slot">{error && <Notice kind="error">{error}</Notice>}</div>
      <button type="submit" disabled={busy}>
        {t('security.signin.verify')}
      </button>
      <p>
        <button
          type="button"
          className="secondary small"
          onClick={() => {
            setRecovery(!recovery);
            setValue('');
          }}
        >
          {recovery ? t('security.signin.useCode') : t('security.signin.useRecovery')}
        </button>{' '}
        <button type="button" className="secondary small" onClick={onBack}>
          {t('security.signin.back')}
        </button>
      </p>
    </form>
  );
}

/** "Sign in with <provider>" when the server has one (GET /api/auth/options). */
export function OidcButton() {
  const { t } = useI18n();
  const [oidc, setOidc] = useState<{ name: string; start_url: string } | null>(null);
  useEffect(() => {
    api<{ oidc: { name: string; start_url: string } | null }>('/api/auth/options', { quiet401: true }).then(
      (o) => setOidc(o.oidc),
      () => setOidc(null),
    );
  }, []);
  if (!oidc) return null;
  return (
    <>
      <p className="muted signin-or">{t('security.signin.or')}</p>
      <a className="button secondary" href={oidc.start_url} data-testid="oidc-signin">
        {t('security.signin.oidc', { name: oidc.name })}
      </a>
    </>
  );
}
