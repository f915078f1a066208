import { useState, type ReactNode } from 'react';
import { api, ApiError } from '../api.ts';
import { useI18n, errorText } from '../i18n.tsx';
import { Field, Notice } from '../components.tsx';
import { SignInLinks } from './Accounts.tsx';

export function SignIn({ langSwitch, onSignedIn }: { langSwitch: ReactNode; onSignedIn(): void }) {
  const { t } = useI18n();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
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
            await api('/api/auth/login', { body: { email, password }, quiet401: true });
            onSignedIn();
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
      </form>
    </main>
  );
}
