import { useState, type ReactNode } from 'react';
import { api, ApiError } from '../api.ts';
import { useI18n, errorText } from '../i18n.tsx';
import { Field, Notice } from '../components.tsx';
import { SignInLinks } from './Accounts.tsx';
import { OidcButton, SecondFactorStep, takeRedirectHints } from './security/SignInSteps.tsx';

const hints = takeRedirectHints();

export function SignIn({ langSwitch, onSignedIn }: { langSwitch: ReactNode; onSignedIn(): void }) {
  const { t } = useI18n();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(() => (hints.oidcError ? errorText(t, { code: hints.oidcError }) : null));
  const [busy, setBusy] = useState(false);
  // Two-factor: the password (or the identity provider) earned a challenge; the code step opens the session.
  const [challenge, setChallenge] = useState<string | null>(hints.challenge);
  if (challenge) {
    return (
      <main id="main" className="signin">
        <div className="signin-lang">{langSwitch}</div>
        <SecondFactorStep challenge={challenge} onSignedIn={onSignedIn} onBack={() => setChallenge(null)} />
      </main>
    );
  }
  return (
    <main id="main" className="signin">
      <div className="signin-lang">{langSwitch}</div>
      <form
        className="card signin-card"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const r = await api<{ two_factor_required?: boolean; challenge?: string }>('/api/auth/login', { body: { email, password }, quiet401: true });
            if (r.two_factor_required && r.challenge) setChallenge(r.challenge);
            else onSignedIn();
          } catch (err) {
            setError(err instanceof ApiError && (err.status === 401 || err.status === 400) ? t('signin.failed') : errorText(t, err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <p className="brand big" aria-hidden="true">
          Tally
        </p>
        <h1>{t('signin.title')}</h1>
        <Field label={t('signin.email')}>
          {(id) => <input id={id} name="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />}
        </Field>
        <Field label={t('signin.password')}>
          {(id) => (
            <input
              id={id}
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        <div className="notice-slot">{error && <Notice kind="error">{error}</Notice>}</div>
        <button type="submit" disabled={busy}>
          {t('signin.submit')}
        </button>
        <SignInLinks />
        <OidcButton />
      </form>
    </main>
  );
}
