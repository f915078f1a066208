import { useEffect, useState } from 'react';
import { api } from '../../api.ts';
import { useI18n, errorText } from '../../i18n.tsx';
import { Notice, Skeleton } from '../../components.tsx';
import { useApi } from '../../useApi.ts';
import { LimitInputs, describeLimits, emptyLimits, limitText, limitsBody, type LimitText, type Limits } from '../../components/limits.tsx';

/**
 * A user's own limits on the staff user page: requests per minute, tokens per
 * minute, requests at once, for all their keys (a key's own limit wins; none:
 * the group's). Admins set them (POST /api/admin/users/:id/limits); support reads.
 */
export function UserLimits({ userId, canWrite }: { userId: string; canWrite: boolean }) {
  const { t } = useI18n();
  const path = `/api/admin/users/${encodeURIComponent(userId)}`;
  const user = useApi<Limits>(path);
  const [form, setForm] = useState<LimitText>(emptyLimits);
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (user.data) setForm(limitText(user.data));
  }, [user.data]);
  return (
    <form
      className="card form-grid"
      aria-labelledby="user-limits-h"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setMsg(null);
        try {
          const r = await api<Limits>(`${path}/limits`, { body: limitsBody(form) });
          setMsg({ kind: 'ok', text: t('limits.admin.userSaved', { limits: describeLimits(t, r) }) });
          user.reload();
        } catch (err) {
          setMsg({ kind: 'error', text: errorText(t, err, 'limits') });
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2 id="user-limits-h" className="span-all">
        {t('limits.admin.userLimits')}
      </h2>
      <p className="span-all" data-testid="user-limits">
        {user.data ? describeLimits(t, user.data) : <Skeleton width="12rem" />}
      </p>
      <p className="span-all muted">{t('limits.admin.userLimitsHint')}</p>
      {canWrite && (
        <>
          <LimitInputs value={form} onChange={setForm} disabled={!user.data} />
          <div className="span-all row between wrap">
            <div className="notice-slot grow">{msg && <Notice kind={msg.kind}>{msg.text}</Notice>}</div>
            <button type="submit" disabled={busy || !user.data}>
              {t('limits.admin.saveLimits')}
            </button>
          </div>
        </>
      )}
    </form>
  );
}
