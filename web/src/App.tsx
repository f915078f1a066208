import { useEffect, useState, type ReactNode } from 'react';
import { api, onUnauthorized, type Me } from './api.ts';
import { useI18n, type Lang, type MessageKey } from './i18n.tsx';
import { useLocation, match, navigate } from './router.ts';
import { Link, Notice, Skeleton } from './components.tsx';
import { SignIn } from './pages/SignIn.tsx';
import { Dashboard } from './pages/Dashboard.tsx';
import { Keys } from './pages/Keys.tsx';
import { Usage } from './pages/Usage.tsx';
import { Statement } from './pages/Statement.tsx';
import { Redeem } from './pages/Redeem.tsx';
import { Tasks, TaskDetail } from './pages/Tasks.tsx';
import { Orders, OrderDetail, TopUp } from './pages/Orders.tsx';
import { AdminUsers, AdminUser } from './pages/admin/Users.tsx';
import { AdminChannels } from './pages/admin/Channels.tsx';
import { AdminModels } from './pages/admin/Models.tsx';
import { AdminGroups } from './pages/admin/Groups.tsx';
import { AdminOrders, AdminOrder } from './pages/admin/Orders.tsx';
import { AdminTickets, AdminTicket } from './pages/admin/Tickets.tsx';
import { AdminRedeem } from './pages/admin/Redeem.tsx';
import { AdminAudit } from './pages/admin/Audit.tsx';
import { AdminApprovals } from './pages/admin/Approvals.tsx';
import { Help } from './pages/Help.tsx';
import { AdminOpsDashboard, AdminRequestSearch } from './pages/admin/OpsDashboard.tsx';
import { Sessions } from './pages/Sessions.tsx';
import { FEATURES } from './features.ts';
import { SignUp, Verify, Forgot, Reset, AccountSettings } from './pages/Accounts.tsx';
import { AdminInvites } from './pages/admin/Invites.tsx';
import { Security, StaffTwoFactorNag } from './pages/security/Security.tsx';
import { Teams, TeamPage } from './pages/Teams.tsx';
import { Alerts } from './pages/Alerts.tsx';
import { AdminTeams, AdminTeam } from './pages/admin/Teams.tsx';

export interface PageProps {
  me: Me;
  refreshMe(): void;
  params: Record<string, string>;
  search: string;
}

interface Route {
  path: string;
  nav?: MessageKey;
  staff?: boolean;
  page(p: PageProps): ReactNode;
  enabled?: boolean;
}

const ALL_ROUTES: Route[] = [
  { path: '/', nav: 'nav.dashboard', page: (p) => <Dashboard {...p} /> },
  { path: '/keys', nav: 'nav.keys', page: (p) => <Keys {...p} /> },
  { path: '/usage', nav: 'nav.usage', page: (p) => <Usage {...p} /> },
  { path: '/usage/:id', page: (p) => <Usage {...p} /> },
  { path: '/tasks', nav: 'nav.tasks', page: (p) => <Tasks {...p} /> },
  { path: '/tasks/:id', page: (p) => <TaskDetail {...p} /> },
  { path: '/statement', nav: 'nav.statement', page: (p) => <Statement {...p} /> },
  { path: '/redeem', nav: 'nav.redeem', page: (p) => <Redeem {...p} /> },
  { path: '/topup', nav: 'nav.topup', page: (p) => <TopUp {...p} />, enabled: FEATURES.orders },
  { path: '/orders', nav: 'nav.orders', page: (p) => <Orders {...p} />, enabled: FEATURES.orders },
  { path: '/orders/:id', page: (p) => <OrderDetail {...p} />, enabled: FEATURES.orders },
  { path: '/sessions', nav: 'sessions.nav', page: (p) => <Sessions {...p} /> },
  { path: '/help', nav: 'nav.help', page: (p) => <Help {...p} />, enabled: FEATURES.support },
  { path: '/security', nav: 'security.nav', page: (p) => <Security {...p} /> },
  { path: '/admin/users', nav: 'nav.users', staff: true, page: (p) => <AdminUsers {...p} /> },
  { path: '/admin/users/:id', staff: true, page: (p) => <AdminUser {...p} /> },
  { path: '/admin/orders', nav: 'nav.adminOrders', staff: true, page: (p) => <AdminOrders {...p} />, enabled: FEATURES.orders },
  { path: '/admin/orders/:id', staff: true, page: (p) => <AdminOrder {...p} />, enabled: FEATURES.orders },
  { path: '/admin/tickets', nav: 'nav.tickets', staff: true, page: (p) => <AdminTickets {...p} />, enabled: FEATURES.support },
  { path: '/admin/tickets/:id', staff: true, page: (p) => <AdminTicket {...p} />, enabled: FEATURES.support },
  { path: '/admin/redeem', nav: 'nav.redeemBatches', staff: true, page: (p) => <AdminRedeem {...p} /> },
  { path: '/admin/audit', nav: 'nav.audit', staff: true, page: (p) => <AdminAudit {...p} />, enabled: FEATURES.support },
  { path: '/admin/approvals', nav: 'nav.approvals', staff: true, page: (p) => <AdminApprovals {...p} /> },
  { path: '/admin/channels', nav: 'nav.channels', staff: true, page: (p) => <AdminChannels {...p} /> },
  { path: '/admin/models', nav: 'nav.models', staff: true, page: (p) => <AdminModels {...p} /> },
  { path: '/admin/groups', nav: 'nav.groups', staff: true, page: (p) => <AdminGroups {...p} /> },
  { path: '/admin/dashboard', nav: 'opsDash.nav', staff: true, page: (p) => <AdminOpsDashboard {...p} /> },
  { path: '/admin/requests', nav: 'opsDash.navRequests', staff: true, page: (p) => <AdminRequestSearch {...p} /> },
  { path: '/account', nav: 'accounts.settings.nav', page: (p) => <AccountSettings {...p} /> },
  { path: '/admin/invites', nav: 'accounts.invites.nav', staff: true, page: (p) => <AdminInvites {...p} /> },
  // Limits, budgets, teams and alerts (issue 16).
  { path: '/teams', nav: 'limits.nav.teams', page: (p) => <Teams {...p} /> },
  { path: '/teams/:id', page: (p) => <TeamPage {...p} /> },
  { path: '/alerts', nav: 'limits.nav.alerts', page: (p) => <Alerts {...p} /> },
  { path: '/admin/teams', nav: 'limits.nav.adminTeams', staff: true, page: (p) => <AdminTeams {...p} /> },
  { path: '/admin/teams/:id', staff: true, page: (p) => <AdminTeam {...p} /> },
];
// Pages drawn without a session (sign-up and the links mails carry), signed in or not.
const PUBLIC_PATHS = new Set(['/signup', '/verify', '/forgot', '/reset']);
const ROUTES = ALL_ROUTES.filter((r) => r.enabled !== false);

export function App() {
  const { t, lang, setLang } = useI18n();
  const { path, search } = useLocation();
  const [me, setMe] = useState<Me | null | undefined>(undefined); // undefined: not known yet
  const [menuOpen, setMenuOpen] = useState(false);

  const refreshMe = () => api<Me>('/api/me', { quiet401: true }).then(setMe, () => setMe(null));
  // Whether this server takes sandbox (free, test) payments: then every page, the sign-in page too, says so.
  // Known before the first page is drawn, so the banner never pushes a drawn page down.
  const [sandbox, setSandbox] = useState<boolean | undefined>(undefined);
  useEffect(() => {
    refreshMe();
    api<{ enabled: boolean }>('/api/payments/sandbox/status', { quiet401: true }).then(
      (s) => setSandbox(s.enabled === true),
      () => setSandbox(false),
    );
    return onUnauthorized(() => setMe(null));
  }, []);
  const sandboxBanner = sandbox && (
    <div className="sandbox-banner" role="note" data-testid="sandbox-banner">
      {t('sandbox.banner')}
    </div>
  );
  useEffect(() => setMenuOpen(false), [path]);
  // Move focus to the new page's heading so screen readers announce the navigation.
  useEffect(() => {
    document.querySelector<HTMLElement>('main h1')?.focus({ preventScroll: true });
  }, [path]);

  const langSwitch = (
    <div className="lang" role="group" aria-label={t('lang.label')}>
      {(['zh', 'en'] as Lang[]).map((l) => (
        <button
          key={l}
          type="button"
          className={l === lang ? 'on' : ''}
          aria-pressed={l === lang}
          lang={l === 'zh' ? 'zh-CN' : 'en'}
          onClick={() => setLang(l)}
        >
          {l === 'zh' ? '中文' : 'English'}
        </button>
      ))}
    </div>
  );

  if (me === undefined || sandbox === undefined) {
    return (
      <div className="boot" aria-busy="true">
        <Skeleton width="12rem" height="2rem" />
        <span className="sr-only">{t('common.loading')}</span>
      </div>
    );
  }
  if (PUBLIC_PATHS.has(path)) {
    const page =
      path === '/signup' ? (
        <SignUp langSwitch={langSwitch} search={search} />
      ) : path === '/verify' ? (
        <Verify langSwitch={langSwitch} search={search} onVerified={refreshMe} />
      ) : path === '/forgot' ? (
        <Forgot langSwitch={langSwitch} />
      ) : (
        <Reset langSwitch={langSwitch} search={search} />
      );
    return (
      <>
        {sandboxBanner}
        {page}
      </>
    );
  }
  if (me === null)
    return (
      <>
        {sandboxBanner}
        <SignIn langSwitch={langSwitch} onSignedIn={refreshMe} />
      </>
    );

  const staff = me.role === 'admin' || me.role === 'support';
  let content: ReactNode = <Notice kind="warn">{t('common.pageNotFound')}</Notice>;
  for (const r of ROUTES) {
    const params = match(path, r.path);
    if (!params) continue;
    content = r.staff && !staff ? <Notice kind="error">{t('common.forbidden')}</Notice> : r.page({ me, refreshMe, params, search });
    break;
  }
  const navLink = (r: Route) => {
    const active = r.path === '/' ? path === '/' : path === r.path || path.startsWith(r.path + '/');
    return (
      <li key={r.path}>
        <Link to={r.path} className={active ? 'active' : undefined} aria-current={active ? 'page' : undefined}>
          {t(r.nav!)}
        </Link>
      </li>
    );
  };

  return (
    <>
      <a href="#main" className="skip">
        {t('app.skip')}
      </a>
      <header className="topbar">
        <button type="button" className="menu-button" aria-expanded={menuOpen} aria-controls="sidenav" onClick={() => setMenuOpen(!menuOpen)}>
          <span aria-hidden="true">☰</span> <span className="sr-only">{t('nav.menu')}</span>
        </button>
        <Link to="/" className="brand">
          Tally
        </Link>
        <div className="spacer" />
        {langSwitch}
        <span className="who" title={me.email}>
          {me.email}
        </span>
        <button
          type="button"
          className="secondary small"
          onClick={async () => {
            await api('/api/auth/logout', { method: 'POST' }).catch(() => undefined);
            setMe(null);
            navigate('/', { replace: true });
          }}
        >
          {t('nav.signOut')}
        </button>
      </header>
      <div className="layout">
        <nav id="sidenav" className={menuOpen ? 'open' : ''} aria-label={t('nav.main')}>
          <ul>
            {ROUTES.filter((r) => r.nav && !r.staff).map(navLink)}
            <li>
              <a href="/pricing">{t('opsDash.pricingLink')}</a>
            </li>
          </ul>
          {staff && (
            <>
              <h2 className="nav-heading">{t('nav.admin')}</h2>
              <ul>{ROUTES.filter((r) => r.nav && r.staff).map(navLink)}</ul>
            </>
          )}
        </nav>
        <main id="main">
          {sandboxBanner}
          <StaffTwoFactorNag me={me} />
          {content}
        </main>
      </div>
    </>
  );
}
