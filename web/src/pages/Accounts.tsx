import { useEffect, useRef, useState, type ReactNode } from 'react';
import { api, ApiError, type Me } from '../api.ts';
import { useI18n, errorText } from '../i18n.tsx';
import { Field, Notice, Link, PageTitle } from '../components.tsx';

// The account pages: sign-up, verify (from the mailed link), forgot, reset
// (from the mailed link), and the signed-in account page with the password
// change. The public ones are drawn like the sign-in page. Links from mails
// carry a token in the query; it is taken out of the address bar at once, so
// it does not stay in the history or travel in a Referer.

function takeParam(search: string, name: string): string {
  const v = new URLSearchParams(search).get(name) ?? '';
  if (v) {
    const u = new URL(location.href);
    u.searchParams.delete(name);
    history.replaceState(null, '', u.pathname + u.search);
  }
  return v;
}

function PublicCard({ langSwitch, title, children }: { langSwitch: ReactNode; title: string; children: ReactNode }) {
  return (
    <main id="main" className="signin">
      <div className="signin-lang">{langSwitch}</div>
      <div className="card signin-card">
        <p className="brand big" aria-hidden="true">
          Tally
        </p>
        <h1>{title}</h1>
        {children}
      </div>
    </main>
  );
}

/** Links under the sign-in form: sign-up (when the server takes sign-ups) and a forgotten password. */
export function SignInLinks() {
  const { t } = useI18n();
  const [mode, setMode] = useState<string | null>(null);
  useEffect(() => {
    api<{ mode: string }>('/api/auth/signup', { quiet401: true }).then(
      (o) => setMode(o.mode),
      () => setMode('closed'),
    );
  }, []);
  return (
    <p className="signin-links">
      <Link to="/forgot">{t('accounts.link.forgot')}</Link>
      {mode && mode !== 'closed' && (
        <>
          {' · '}
          <Link to="/signup">{t('accounts.link.signUp')}</Link>
        </>
      )}
    </p>
  );
}

interface SignupOptions {
  mode: 'open' | 'invite' | 'closed';
  captcha: { provider: 'turnstile' | 'hcaptcha'; site_key: string | null } | null;
  verification: boolean;
}

const CAPTCHA = {
  turnstile: { script: 'https://challenges.cloudflare.com/turnstile/v0/api.js', className: 'cf-turnstile', field: 'cf-turnstile-response' },
  hcaptcha: { script: 'https://js.hcaptcha.com/1/api.js', className: 'h-captcha', field: 'h-captcha-response' },
};

export function SignUp({ langSwitch, search }: { langSwitch: ReactNode; search: string }) {
  const { t } = useI18n();
  const [invite] = useState(() => takeParam(search, 'invite'));
  const [opts, setOpts] = useState<SignupOptions | null>(null);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<'mail' | 'ready' | null>(null);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => {
    api<SignupOptions>('/api/auth/signup', { quiet401: true }).then(setOpts, (e) => setError(errorText(t, e)));
  }, []);
  const captcha = opts?.captcha ? CAPTCHA[opts.captcha.provider] : null;
  useEffect(() => {
    if (!captcha || document.querySelector(`script[src="${captcha.script}"]`)) return;
    const s = document.createElement('script');
    s.src = captcha.script;
    s.async = true;
    document.head.appendChild(s);
  }, [captcha]);

  let body: ReactNode;
  if (!opts) body = error ? <Notice kind="error">{error}</Notice> : null;
  else if (done) body = <Notice kind="ok">{t(done === 'mail' ? 'accounts.signup.checkMail' : 'accounts.signup.ready')}</Notice>;
  else if (opts.mode === 'closed') body = <Notice kind="warn">{t('accounts.signup.closed')}</Notice>;
  else
    body = (
      <form
        ref={form}
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          const answer = captcha ? (new FormData(form.current!).get(captcha.field) as string | null) : null;
          try {
            const r = await api<{ verification: boolean }>('/api/auth/signup', {
              body: { email, password, ...(invite ? { invite } : {}), ...(answer ? { captcha_token: answer } : {}) },
              quiet401: true,
            });
            setDone(r.verification ? 'mail' : 'ready');
          } catch (err) {
            setError(errorText(t, err));
          } finally {
            setBusy(false);
          }
        }}
      >
        {opts.mode === 'invite' && !invite && <Notice kind="info">{t('accounts.signup.inviteOnly')}</Notice>}
        <Field label={t('accounts.signup.email')}>
          {(id) => <input id={id} name="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />}
        </Field>
        <Field label={t('accounts.signup.password')} hint={t('accounts.signup.passwordHint')}>
          {(id, hint) => (
            <input
              id={id}
              name="password"
              type="password"
              autoComplete="new-password"
              minLength={8}
              maxLength={200}
              required
              aria-describedby={hint}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        {captcha && opts.captcha?.site_key && <div className={captcha.className} data-sitekey={opts.captcha.site_key} />}
        <div className="notice-slot">{error && <Notice kind="error">{error}</Notice>}</div>
        <button type="submit" disabled={busy}>
          {t('accounts.signup.submit')}
        </button>
      </form>
    );
  return (
    <PublicCard langSwitch={langSwitch} title={t('accounts.signup.title')}>
      {body}
      <p className="signin-links">
        <Link to="/">{t('accounts.link.signIn')}</Link>
      </p>
    </PublicCard>
  );
}

export function Verify({ langSwitch, search, onVerified }: { langSwitch: ReactNode; search: string; onVerified(): void }) {
  const { t } = useI18n();
  const [token] = useState(() => takeParam(search, 'token'));
  const [state, setState] = useState<{ kind: 'working' | 'ok' | 'error'; text: string }>({ kind: 'working', text: t('accounts.verify.working') });
  useEffect(() => {
    if (!token) return setState({ kind: 'error', text: t('accounts.verify.noToken') });
    api('/api/auth/verify', { body: { token }, quiet401: true }).then(
      () => {
        setState({ kind: 'ok', text: t('accounts.verify.done') });
        onVerified();
      },
      (e) => setState({ kind: 'error', text: errorText(t, e) }),
    );
  }, []);
  return (
    <PublicCard langSwitch={langSwitch} title={t('accounts.verify.title')}>
      <Notice kind={state.kind === 'working' ? 'info' : state.kind}>{state.text}</Notice>
      <p className="signin-links">
        <Link to="/">{t('accounts.link.signIn')}</Link>
      </p>
    </PublicCard>
  );
}

export function Forgot({ langSwitch }: { langSwitch: ReactNode }) {
  const { t } = useI18n();
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <PublicCard langSwitch={langSwitch} title={t('accounts.forgot.title')}>
      {sent ? (
        <Notice kind="ok">{t('accounts.forgot.sent')}</Notice>
      ) : (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            setBusy(true);
            setError(null);
            try {
              await api('/api/auth/password/forgot', { body: { email }, quiet401: true });
              setSent(true);
            } catch (err) {
              setError(errorText(t, err));
            } finally {
              setBusy(false);
            }
          }}
        >
          <Field label={t('accounts.signup.email')}>
            {(id) => <input id={id} name="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />}
          </Field>
          <div className="notice-slot">{error && <Notice kind="error">{error}</Notice>}</div>
          <button type="submit" disabled={busy}>
            {t('accounts.forgot.submit')}
          </button>
        </form>
      )}
      <p className="signin-links">
        <Link to="/">{t('accounts.link.signIn')}</Link>
      </p>
    </PublicCard>
  );
}

/** New password twice; `onSubmit` gets it when both agree. */
function NewPasswordFields({
  password,
  confirm,
  onPassword,
  onConfirm,
}: {
  password: string;
  confirm: string;
  onPassword(v: string): void;
  onConfirm(v: string): void;
}) {
  const { t } = useI18n();
  return (
    <>
      <Field label={t('accounts.reset.password')} hint={t('accounts.signup.passwordHint')}>
        {(id, hint) => (
          <input
            id={id}
            name="new-password"
            type="password"
            autoComplete="new-password"
            minLength={8}
            maxLength={200}
            required
            aria-describedby={hint}
            value={password}
            onChange={(e) => onPassword(e.target.value)}
          />
        )}
      </Field>
      <Field label={t('accounts.reset.confirm')}>
        {(id) => (
          <input
            id={id}
            name="confirm-password"
            type="password"
            autoComplete="new-password"
            required
            value={confirm}
            onChange={(e) => onConfirm(e.target.value)}
          />
        )}
      </Field>
    </>
  );
}

export function Reset({ langSwitch, search }: { langSwitch: ReactNode; search: string }) {
  const { t } = useI18n();
  const [token] = useState(() => takeParam(search, 'token'));
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(token ? null : t('accounts.verify.noToken'));
  const [busy, setBusy] = useState(false);
  return (
    <PublicCard langSwitch={langSwitch} title={t('accounts.reset.title')}>
      {done ? (
        <Notice kind="ok">{t('accounts.reset.done')}</Notice>
      ) : (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            if (password !== confirm) return setError(t('accounts.reset.mismatch'));
            setBusy(true);
            setError(null);
            try {
              await api('/api/auth/password/reset', { body: { token, password }, quiet401: true });
              setDone(true);
            } catch (err) {
              setError(errorText(t, err));
            } finally {
              setBusy(false);
            }
          }}
        >
          <NewPasswordFields password={password} confirm={confirm} onPassword={setPassword} onConfirm={setConfirm} />
          <div className="notice-slot">{error && <Notice kind="error">{error}</Notice>}</div>
          <button type="submit" disabled={busy || !token}>
            {t('accounts.reset.submit')}
          </button>
        </form>
      )}
      <p className="signin-links">
        <Link to="/">{t('accounts.link.signIn')}</Link>
      </p>
    </PublicCard>
  );
}

/** The signed-in account page: whether the address is verified (with a resend), and the password change. */
export function AccountSettings({ me }: { me: Me & { email_verified?: boolean } }) {
  const { t } = useI18n();
  const [resent, setResent] = useState<string | null>(null);
  const [current, setCurrent] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [result, setResult] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <>
      <PageTitle>{t('accounts.settings.title')}</PageTitle>
      <section className="card">
        <p>{me.email}</p>
        {me.email_verified === false ? (
          <>
            <Notice kind="warn">{t('accounts.settings.unverified')}</Notice>
            <button
              type="button"
              className="secondary"
              onClick={() =>
                api('/api/auth/verify/resend', { method: 'POST' }).then(
                  () => setResent(t('accounts.settings.resent')),
                  (e) => setResent(errorText(t, e)),
                )
              }
            >
              {t('accounts.settings.resend')}
            </button>
            {resent && <Notice kind="info">{resent}</Notice>}
          </>
        ) : (
          <Notice kind="ok">{t('accounts.settings.verified')}</Notice>
        )}
      </section>
      <section className="card">
        <h2>{t('accounts.password.title')}</h2>
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            if (password !== confirm) return setResult({ kind: 'error', text: t('accounts.reset.mismatch') });
            setBusy(true);
            setResult(null);
            try {
              await api('/api/auth/password', { body: { current, password } });
              setResult({ kind: 'ok', text: t('accounts.password.done') });
              setCurrent('');
              setPassword('');
              setConfirm('');
            } catch (err) {
              setResult({ kind: 'error', text: err instanceof ApiError ? errorText(t, err) : String(err) });
            } finally {
              setBusy(false);
            }
          }}
        >
          <Field label={t('accounts.password.current')}>
            {(id) => (
              <input
                id={id}
                name="current-password"
                type="password"
                autoComplete="current-password"
                required
                value={current}
                onChange={(e) => setCurrent(e.target.value)}
              />
            )}
          </Field>
          <NewPasswordFields password={password} confirm={confirm} onPassword={setPassword} onConfirm={setConfirm} />
          <div className="notice-slot">{result && <Notice kind={result.kind}>{result.text}</Notice>}</div>
          <button type="submit" disabled={busy}>
            {t('accounts.password.submit')}
          </button>
        </form>
      </section>
    </>
  );
}
