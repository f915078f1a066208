import { useI18n, errorText } from '../../i18n.tsx';
import { Link, Notice, PageTitle, Table } from '../../components.tsx';
import { useApi } from '../../useApi.ts';
import { navigate } from '../../router.ts';
import { tidy } from '../../money.ts';
import type { PageProps } from '../../App.tsx';
import type { TeamDetail, TeamSummary } from '../../components/limits.tsx';
import { MemberTable, TeamKeyTable, WalletStats } from '../Teams.tsx';

// Teams for staff (GET /api/admin/teams, /api/admin/teams/:id; permissions teams.list, teams.get): read only.

export function AdminTeams(_: PageProps) {
  const { t } = useI18n();
  const teams = useApi<{ data: TeamSummary[] }>('/api/admin/teams?limit=500');
  return (
    <>
      <PageTitle>{t('limits.admin.teams')}</PageTitle>
      <section className="card" aria-label={t('limits.admin.teams')}>
        {Boolean(teams.error) && <Notice kind="error">{errorText(t, teams.error, 'limits')}</Notice>}
        <Table
          caption={t('limits.admin.teams')}
          rows={teams.data?.data ?? (teams.error ? [] : null)}
          rowKey={(x) => x.id}
          onRowClick={(x) => navigate(`/admin/teams/${x.id}`)}
          rowLabel={(x) => t('limits.teams.open', { name: x.name })}
          columns={[
            { key: 'name', label: t('limits.teams.name'), render: (x) => <strong>{x.name}</strong> },
            { key: 'id', label: 'ID', render: (x) => <span className="mono">{x.id}</span> },
            { key: 'owner', label: t('limits.admin.owner'), render: (x) => <span className="mono">{x.owner_user_id}</span> },
            { key: 'balance', label: t('limits.teams.wallet'), numeric: true, render: (x) => `${tidy(x.wallet.balance)} ${x.wallet.currency}` },
          ]}
        />
      </section>
    </>
  );
}

export function AdminTeam({ params }: PageProps) {
  const { t } = useI18n();
  const team = useApi<TeamDetail>(`/api/admin/teams/${encodeURIComponent(params.id)}`);
  const d = team.data;
  return (
    <>
      <PageTitle actions={<Link to="/admin/teams">{t('common.back')}</Link>}>{d ? d.name : t('limits.admin.teams')}</PageTitle>
      {team.error ? (
        <Notice kind="error">{(team.error as { status?: number }).status === 404 ? t('common.notFound') : errorText(t, team.error, 'limits')}</Notice>
      ) : (
        <>
          <WalletStats wallet={d?.wallet ?? null} />
          <section className="card" aria-labelledby="admin-team-members-h">
            <h2 id="admin-team-members-h">{t('limits.team.members')}</h2>
            <MemberTable team={d} />
          </section>
          <section className="card" aria-labelledby="admin-team-keys-h">
            <h2 id="admin-team-keys-h">{t('limits.team.keys')}</h2>
            <TeamKeyTable team={d} />
          </section>
        </>
      )}
    </>
  );
}
