import { useState } from 'react';
import { api } from '../api.ts';
import { useI18n, errorText } from '../i18n.tsx';
import { Field, Link, Notice, PageTitle } from '../components.tsx';
import { tidy } from '../money.ts';
import type { PageProps } from '../App.tsx';
import { WalletSelect, teamParam } from '../components/limits.tsx';

export function Redeem({ me, refreshMe, search }: PageProps) {
  const { t } = useI18n();
  const [code, setCode] = useState('');
  // Whose wallet: the user's, or (?team=) a team's they own or administer.
  const [team, setTeam] = useState(() => teamParam(search));
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  return (
    <>
      <PageTitle>{t('redeem.title')}</PageTitle>
      <form
        className="card narrow"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setResult(null);
          try {
            const r = await api<{ amount: string; code: string; balance: string; team_id?: string }>('/api/redeem', {
              body: { code, team: team || undefined },
            });
            const vars = { amount: tidy(r.amount), currency: me.currency, code: r.code, balance: tidy(r.balance) };
            setResult({ kind: 'ok', text: r.team_id ? t('limits.redeem.teamOk', vars) : t('redeem.ok', vars) });
            setCode('');
            refreshMe();
          } catch (err) {
            setResult({ kind: 'error', text: errorText(t, err, 'redeem') });
          } finally {
            setBusy(false);
          }
        }}
      >
        <WalletSelect value={team} onChange={setTeam} />
        <Field label={t('redeem.code')} hint={t('redeem.hint')}>
          {(id, hint) => (
            <input
              id={id}
              name="code"
              className="mono"
              aria-describedby={hint}
              autoComplete="off"
              autoCapitalize="characters"
              spellCheck={false}
              required
              maxLength={200}
              placeholder="TALLY-XXXX-XXXX-XXXX-XXXX-XXXX"
              value={code}
              onChange={(e) => setCode(e.target.value)}
            />
          )}
        </Field>
        <div className="notice-slot">
          {result && (
            <Notice kind={result.kind}>
              {result.text} {result.kind === 'ok' && <Link to="/statement">{t('nav.statement')}</Link>}
            </Notice>
          )}
        </div>
        <button type="submit" disabled={busy}>
          {t('redeem.submit')}
        </button>
      </form>
    </>
  );
}
