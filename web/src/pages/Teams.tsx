import { useEffect, useState } from 'react';
import { api } from '../api.ts';
import { useI18n, errorText } from '../i18n.tsx';
import { Badge, Confirm, Dialog, Field, Link, Notice, PageTitle, Skeleton, Table } from '../components.tsx';
import { useApi } from '../useApi.ts';
import { navigate } from '../router.ts';
import { tidy } from '../money.ts';
import type { PageProps } from '../App.tsx';
import { AlertSettingsForm } from './Alerts.tsx';
import {
  BudgetInputs,
  ROLES,
  budgetBody,
  budgetText,
  describeBudget,
  describeLimits,
  roleName,
  type BudgetText,
  type TeamDetail,
  type TeamMember,
  type TeamRole,
  type TeamSummary,
  type Wallet,
} from '../components/limits.tsx';

// Teams for their members (src/app/routes/teams.ts): my teams and a new one;
// a team's wallet, members (with their budgets and spend this period) and
// keys. Owners and admins manage members; everyone may leave.

export function Teams({ me }: PageProps) {
  const { t } = useI18n();
  const teams = useApi<{ data: TeamSummary[] }>('/api/teams');
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <>
      <PageTitle>{t('limits.teams.title')}</PageTitle>
      <section className="card" aria-label={t('limits.teams.title')}>
        {Boolean(teams.error) && <Notice kind="error">{errorText(t, teams.error, 'limits')}</Notice>}
        <Table
          caption={t('limits.teams.title')}
          rows={teams.data?.data ?? (teams.error ? [] : null)}
          placeholderRows={2}
          rowKey={(x) => x.id}
          onRowClick={(x) => navigate(`/teams/${x.id}`)}
          rowLabel={(x) => t('limits.teams.open', { name: x.name })}
          columns={[
            { key: 'name', label: t('limits.teams.name'), render: (x) => <strong>{x.name}</strong> },
            { key: 'role', label: t('limits.teams.myRole'), render: (x) => (x.role ? roleName(t, x.role) : '—') },
            { key: 'balance', label: t('limits.teams.wallet'), numeric: true, render: (x) => `${tidy(x.wallet.balance)} ${x.wallet.currency}` },
          ]}
        />
      </section>
      <form
        className="card form-grid"
        aria-labelledby="team-create-h"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const created = await api<TeamSummary>('/api/teams', { body: { name } });
            navigate(`/teams/${created.id}`);
          } catch (err) {
            setError(errorText(t, err, 'limits'));
          } finally {
            setBusy(false);
          }
        }}
      >
        <h2 id="team-create-h" className="span-all">
          {t('limits.teams.create')}
        </h2>
        <Field label={t('limits.teams.name')} hint={t('limits.teams.createHint', { email: me.email })}>
          {(id, hint) => (
            <input id={id} name="team-name" required maxLength={100} aria-describedby={hint} value={name} onChange={(e) => setName(e.target.value)} />
          )}
        </Field>
        <div className="span-all row between wrap">
          <div className="notice-slot grow">{error && <Notice kind="error">{error}</Notice>}</div>
          <button type="submit" disabled={busy}>
            {t('limits.teams.createSubmit')}
          </button>
        </div>
      </form>
    </>
  );
}

export function WalletStats({ wallet, role }: { wallet: Wallet | null; role?: string }) {
  const { t } = useI18n();
  const figure = (v: string | undefined, testId: string) => (
    <p className="figure" data-testid={testId}>
      {wallet && v !== undefined ? (
        <>
          {tidy(v)} <small>{wallet.currency}</small>
        </>
      ) : (
        <Skeleton width="8rem" />
      )}
    </p>
  );
  return (
    <section className="stats">
      <div className="card stat">
        <h2>{t('limits.team.balance')}</h2>
        {figure(wallet?.balance, 'team-balance')}
      </div>
      <div className="card stat">
        <h2>{t('dash.available')}</h2>
        {figure(wallet?.available, 'team-available')}
      </div>
      {role && (
        <div className="card stat">
          <h2>{t('limits.teams.myRole')}</h2>
          <p className="figure">{roleName(t, role)}</p>
        </div>
      )}
    </section>
  );
}

const statusTone = (s: string) => (s === 'active' ? 'ok' : s === 'invited' ? 'warn' : 'muted');

/** Members with their budgets and spend this period; `manage` adds the change and remove buttons. */
export function MemberTable({ team, manage }: { team: TeamDetail | null; manage?: { onEdit(m: TeamMember): void; onRemove(m: TeamMember): void } }) {
  const { t } = useI18n();
  return (
    <Table
      caption={t('limits.team.members')}
      rows={team?.members ?? null}
      placeholderRows={2}
      rowKey={(m) => m.id}
      columns={[
        { key: 'email', label: t('limits.team.email'), render: (m) => m.email },
        { key: 'role', label: t('limits.team.role'), render: (m) => roleName(t, m.role) },
        {
          key: 'status',
          label: t('keys.status'),
          render: (m) => <Badge tone={statusTone(m.status)}>{m.status === 'invited' ? t('limits.team.invited') : t('limits.team.active')}</Badge>,
        },
        {
          key: 'budget',
          label: t('limits.keys.budgetCol'),
          render: (m) => (m.budget ? describeBudget(t, m.budget, m.budget_period) : <span className="muted">{t('limits.show.noBudget')}</span>),
        },
        {
          key: 'spent',
          label: t('limits.team.spent'),
          numeric: true,
          render: (m) => <span data-testid="member-spent">{m.spent_this_period !== undefined ? tidy(m.spent_this_period) : '—'}</span>,
        },
        ...(manage
          ? [
              {
                key: 'act',
                label: '',
                render: (m: TeamMember) => (
                  <div className="row wrap">
                    <button
                      type="button"
                      className="secondary small"
                      aria-label={t('limits.team.editFor', { email: m.email })}
                      onClick={() => manage.onEdit(m)}
                    >
                      {t('limits.team.edit')}
                    </button>
                    <button
                      type="button"
                      className="danger small"
                      aria-label={t('limits.team.removeFor', { email: m.email })}
                      onClick={() => manage.onRemove(m)}
                    >
                      {t('limits.team.remove')}
                    </button>
                  </div>
                ),
              },
            ]
          : []),
      ]}
    />
  );
}

/** The team's keys (an owner or admin: all of them; a member: their own), each with whose it is. */
export function TeamKeyTable({ team }: { team: TeamDetail | null }) {
  const { t, fmtTime } = useI18n();
  const who = (userId?: string) => team?.members.find((m) => m.user_id === userId)?.email ?? userId ?? '—';
  return (
    <Table
      caption={t('limits.team.keys')}
      rows={team?.keys ?? null}
      placeholderRows={2}
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
            </>
          ),
        },
        { key: 'who', label: t('limits.team.keyOwner'), render: (k) => who(k.user_id) },
        { key: 'status', label: t('keys.status'), render: (k) => t(`keys.status.${k.status}` as 'keys.status.active') },
        { key: 'spent', label: t('limits.team.keySpent'), numeric: true, render: (k) => tidy(k.spent) },
        { key: 'limits', label: t('limits.keys.limitsCol'), render: (k) => describeLimits(t, k) },
        { key: 'used', label: t('keys.lastUsed'), render: (k) => (k.last_used_at ? fmtTime(k.last_used_at) : t('common.never')) },
      ]}
    />
  );
}

export function TeamPage({ me, params }: PageProps) {
  const { t } = useI18n();
  const tid = encodeURIComponent(params.id);
  const team = useApi<TeamDetail>(`/api/teams/${tid}`);
  const d = team.data;
  const manager = d?.role === 'owner' || d?.role === 'admin';
  const [editing, setEditing] = useState<TeamMember | null>(null);
  const [removing, setRemoving] = useState<TeamMember | null>(null);
  const [leaving, setLeaving] = useState(false);
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  if (team.error)
    return (
      <>
        <PageTitle actions={<Link to="/teams">{t('common.back')}</Link>}>{t('limits.teams.title')}</PageTitle>
        <Notice kind="error">{(team.error as { status?: number }).status === 404 ? t('common.notFound') : errorText(t, team.error, 'limits')}</Notice>
      </>
    );
  return (
    <>
      <PageTitle
        actions={
          <div className="row wrap">
            <Link to="/teams">{t('common.back')}</Link>
            {d && (
              <button type="button" className="secondary small" onClick={() => setLeaving(true)}>
                {t('limits.team.leave')}
              </button>
            )}
          </div>
        }
      >
        {d ? d.name : t('limits.teams.title')}
      </PageTitle>
      <WalletStats wallet={d?.wallet ?? null} role={d?.role} />
      {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
      {manager && (
        <section className="card" aria-labelledby="team-fund-h">
          <h2 id="team-fund-h">{t('limits.team.fund')}</h2>
          <p className="muted">{t('limits.team.fundHint')}</p>
          <div className="row wrap">
            <Link to={`/topup?team=${tid}`} className="button">
              {t('limits.team.topUp')}
            </Link>
            <Link to={`/redeem?team=${tid}`} className="button secondary">
              {t('limits.team.redeem')}
            </Link>
          </div>
        </section>
      )}
      <section className="card" aria-labelledby="team-members-h">
        <h2 id="team-members-h">{t('limits.team.members')}</h2>
        <p className="muted">{manager ? t('limits.team.spendHintAll') : t('limits.team.spendHintOwn')}</p>
        <MemberTable team={d} manage={manager ? { onEdit: setEditing, onRemove: setRemoving } : undefined} />
      </section>
      {manager && d && <InviteForm teamId={d.id} currency={d.wallet.currency} canGrantOwner={d.role === 'owner'} onAdded={team.reload} />}
      {manager && d && (
        <>
          <AlertSettingsForm
            path={`/api/teams/${tid}/alerts`}
            heading={t('limits.team.alerts')}
            headingId="team-alerts-h"
            balanceLabel={(currency) => t('limits.team.alertsBalance', { currency: currency || d.wallet.currency })}
            emailLabel={t('limits.team.alertsEmail')}
          />
          <p className="muted">
            {t('limits.team.alertsHint')} <Link to="/alerts">{t('limits.alerts.signing')}</Link>
          </p>
        </>
      )}
      <section className="card" aria-labelledby="team-keys-h">
        <div className="row between wrap">
          <h2 id="team-keys-h">{t('limits.team.keys')}</h2>
          <Link to={`/keys?team=${tid}`} className="button secondary small">
            {t('limits.team.newKey')}
          </Link>
        </div>
        <p className="muted">{manager ? t('limits.team.keysHintAll') : t('limits.team.keysHintOwn')}</p>
        <TeamKeyTable team={d} />
      </section>

      <EditMember
        teamId={params.id}
        member={editing}
        currency={d?.wallet.currency ?? me.currency}
        canGrantOwner={d?.role === 'owner'}
        onClose={() => setEditing(null)}
        onSaved={() => {
          setEditing(null);
          team.reload();
        }}
      />
      <Confirm
        open={removing !== null}
        title={t('limits.team.remove')}
        message={t('limits.team.removeConfirm', { email: removing?.email ?? '' })}
        confirmLabel={t('limits.team.remove')}
        onCancel={() => setRemoving(null)}
        onConfirm={async () => {
          try {
            const r = await api<{ keys_revoked: number }>(`/api/teams/${tid}/members/${encodeURIComponent(removing!.id)}`, { method: 'DELETE' });
            setMsg({ kind: 'ok', text: t('limits.team.removed', { email: removing!.email, n: r.keys_revoked }) });
          } catch (err) {
            setMsg({ kind: 'error', text: errorText(t, err, 'limits') });
          }
          setRemoving(null);
          team.reload();
        }}
      />
      <Confirm
        open={leaving}
        title={t('limits.team.leave')}
        message={t('limits.team.leaveConfirm', { name: d?.name ?? '' })}
        confirmLabel={t('limits.team.leave')}
        onCancel={() => setLeaving(false)}
        onConfirm={async () => {
          try {
            await api(`/api/teams/${tid}/leave`, { method: 'POST' });
            setLeaving(false);
            navigate('/teams');
          } catch (err) {
            setLeaving(false);
            setMsg({ kind: 'error', text: errorText(t, err, 'limits') });
          }
        }}
      />
    </>
  );
}

function RoleSelect({ value, onChange, canGrantOwner }: { value: TeamRole; onChange(r: TeamRole): void; canGrantOwner: boolean }) {
  const { t } = useI18n();
  return (
    <Field label={t('limits.team.role')}>
      {(id) => (
        <select id={id} name="role" value={value} onChange={(e) => onChange(e.target.value as TeamRole)}>
          {ROLES.filter((r) => r !== 'owner' || canGrantOwner || value === 'owner').map((r) => (
            <option key={r} value={r}>
              {roleName(t, r)}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

function InviteForm({ teamId, currency, canGrantOwner, onAdded }: { teamId: string; currency: string; canGrantOwner: boolean; onAdded(): void }) {
  const { t } = useI18n();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<TeamRole>('member');
  const [budget, setBudget] = useState<BudgetText>(() => budgetText(null, null));
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="card form-grid"
      aria-labelledby="team-invite-h"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setMsg(null);
        try {
          const m = await api<TeamMember>(`/api/teams/${encodeURIComponent(teamId)}/members`, { body: { email, role, ...budgetBody(budget) } });
          setMsg({ kind: 'ok', text: m.status === 'invited' ? t('limits.team.invitedOk', { email: m.email }) : t('limits.team.addedOk', { email: m.email }) });
          setEmail('');
          setBudget(budgetText(null, null));
          onAdded();
        } catch (err) {
          setMsg({ kind: 'error', text: errorText(t, err, 'limits') });
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2 id="team-invite-h" className="span-all">
        {t('limits.team.invite')}
      </h2>
      <p className="span-all muted">{t('limits.team.inviteHint')}</p>
      <Field label={t('limits.team.email')}>
        {(id) => <input id={id} name="email" type="email" required maxLength={320} value={email} onChange={(e) => setEmail(e.target.value)} />}
      </Field>
      <RoleSelect value={role} onChange={setRole} canGrantOwner={canGrantOwner} />
      <BudgetInputs value={budget} onChange={setBudget} currency={currency} />
      <div className="span-all row between wrap">
        <div className="notice-slot grow">{msg && <Notice kind={msg.kind}>{msg.text}</Notice>}</div>
        <button type="submit" disabled={busy}>
          {t('limits.team.inviteSubmit')}
        </button>
      </div>
    </form>
  );
}

function EditMember({
  teamId,
  member,
  currency,
  canGrantOwner,
  onClose,
  onSaved,
}: {
  teamId: string;
  member: TeamMember | null;
  currency: string;
  canGrantOwner: boolean;
  onClose(): void;
  onSaved(): void;
}) {
  const { t } = useI18n();
  const [role, setRole] = useState<TeamRole>('member');
  const [budget, setBudget] = useState<BudgetText>(() => budgetText(null, null));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!member) return;
    setRole(member.role);
    setBudget(budgetText(member.budget, member.budget_period));
    setError(null);
  }, [member]);
  return (
    <Dialog open={member !== null} title={t('limits.team.editTitle', { email: member?.email ?? '' })} onClose={onClose}>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            await api(`/api/teams/${encodeURIComponent(teamId)}/members/${encodeURIComponent(member!.id)}`, {
              method: 'PATCH',
              body: { ...(role !== member!.role ? { role } : {}), ...budgetBody(budget) },
            });
            onSaved();
          } catch (err) {
            setError(errorText(t, err, 'limits'));
          } finally {
            setBusy(false);
          }
        }}
      >
        <RoleSelect value={role} onChange={setRole} canGrantOwner={canGrantOwner} />
        <BudgetInputs value={budget} onChange={setBudget} currency={currency} />
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
