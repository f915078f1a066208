import { useEffect, useState } from 'react';
import { api } from '../../api.ts';
import { useI18n, errorText } from '../../i18n.tsx';
import { Badge, Confirm, Field, Notice, ReasonDialog } from '../../components.tsx';
import { useApi } from '../../useApi.ts';

export interface AccountState {
  email: string;
  status: string;
  group: string | null;
  disabled_at?: string | null;
  disabled_reason?: string | null;
}

interface Changed {
  changed: boolean;
  sessions_ended: number;
  group: string;
}

/**
 * A user's account on their staff page: status (with why it is disabled), disable / enable with a reason,
 * pricing group, sign out everywhere. Admins do all of it; support may only sign a user out (the permission table).
 */
export function UserAdminActions({
  userId,
  account,
  isAdmin,
  onChanged,
}: {
  userId: string;
  account: AccountState | null;
  isAdmin: boolean;
  onChanged(): void;
}) {
  const { t, fmtTime } = useI18n();
  const uid = encodeURIComponent(userId);
  const groups = useApi<{ data: { name: string; multiplier: string }[] }>(isAdmin ? '/api/admin/groups' : null);
  const [dialog, setDialog] = useState<'disable' | 'enable' | 'group' | 'signOut' | null>(null);
  const [group, setGroup] = useState('');
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  useEffect(() => {
    if (account?.group) setGroup(account.group);
  }, [account?.group]);
  const email = account?.email ?? userId;
  const names = [...new Set(['default', ...(groups.data?.data ?? []).map((g) => g.name), ...(account?.group ? [account.group] : [])])];

  const post = async (path: string, body: Record<string, unknown>, done: (r: Changed) => string) => {
    const r = await api<Changed>(`/api/admin/users/${uid}/${path}`, { body });
    setMsg({ kind: 'ok', text: r.changed || path === 'sign-out' ? done(r) : t('userAdmin.unchanged') });
    setDialog(null);
    onChanged();
  };
  const confirmRun = async (fn: () => Promise<void>) => {
    setBusy(true);
    try {
      await fn();
    } catch (e) {
      setMsg({ kind: 'error', text: errorText(t, e) });
      setDialog(null);
    } finally {
      setBusy(false);
    }
  };
  const disabled = account?.status === 'disabled';

  return (
    <section className="card" aria-labelledby="account-h" data-testid="account-admin">
      <div className="row between wrap">
        <h2 id="account-h">{t('userAdmin.title')}</h2>
        {account && <Badge tone={disabled ? 'bad' : 'ok'}>{disabled ? t('userAdmin.status.disabled') : t('userAdmin.status.active')}</Badge>}
      </div>
      {disabled && account?.disabled_reason && (
        <Notice kind="warn">{t('userAdmin.disabledSince', { when: fmtTime(account.disabled_at ?? null), reason: account.disabled_reason })}</Notice>
      )}
      {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
      <div className="row wrap">
        {isAdmin &&
          (disabled ? (
            <button type="button" onClick={() => setDialog('enable')} disabled={!account}>
              {t('userAdmin.enable')}
            </button>
          ) : (
            <button type="button" className="danger" onClick={() => setDialog('disable')} disabled={!account}>
              {t('userAdmin.disable')}
            </button>
          ))}
        <button type="button" className="secondary" onClick={() => setDialog('signOut')} disabled={!account}>
          {t('userAdmin.signOut')}
        </button>
      </div>
      {isAdmin && (
        <form
          className="row wrap"
          onSubmit={(e) => {
            e.preventDefault();
            setMsg(null);
            setDialog('group');
          }}
        >
          <Field label={t('userAdmin.group')}>
            {(id) => (
              <select id={id} name="group" value={group} onChange={(e) => setGroup(e.target.value)}>
                {names.map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <div className="field end">
            <button type="submit" className="secondary" disabled={!account || group === (account?.group ?? '')}>
              {t('userAdmin.groupSave')}
            </button>
          </div>
        </form>
      )}
      <ReasonDialog
        open={dialog === 'disable'}
        title={t('userAdmin.disable')}
        message={t('userAdmin.disableConfirm', { email })}
        confirmLabel={t('userAdmin.disable')}
        onCancel={() => setDialog(null)}
        onSubmit={async (reason) => {
          try {
            await post('disable', { reason }, (r) => t('userAdmin.disabled', { count: r.sessions_ended }));
          } catch (e) {
            throw new Error(errorText(t, e));
          }
        }}
      />
      <Confirm
        open={dialog === 'enable'}
        title={t('userAdmin.enable')}
        message={t('userAdmin.enableConfirm', { email })}
        busy={busy}
        confirmLabel={t('userAdmin.enable')}
        onCancel={() => setDialog(null)}
        onConfirm={() => confirmRun(() => post('enable', {}, () => t('userAdmin.enabled')))}
      />
      <Confirm
        open={dialog === 'group'}
        title={t('userAdmin.groupSave')}
        message={t('userAdmin.groupConfirm', { email, from: account?.group ?? 'default', to: group })}
        busy={busy}
        confirmLabel={t('userAdmin.groupSave')}
        onCancel={() => setDialog(null)}
        onConfirm={() => confirmRun(() => post('group', { group }, (r) => t('userAdmin.groupChanged', { group: r.group })))}
      />
      <Confirm
        open={dialog === 'signOut'}
        title={t('userAdmin.signOut')}
        message={t('userAdmin.signOutConfirm', { email })}
        busy={busy}
        confirmLabel={t('userAdmin.signOut')}
        onCancel={() => setDialog(null)}
        onConfirm={() => confirmRun(() => post('sign-out', {}, (r) => t('userAdmin.signedOut', { count: r.sessions_ended })))}
      />
    </section>
  );
}
