import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context.ts';
import { OidcClient, OIDC_FLOW_TTL_MS, userForOidcAccount } from '../../accounts/oidc.ts';
import { openSession } from '../../accounts/sessions.ts';
import { hasTwoFactor } from '../../accounts/twoFactor/factor.ts';
import { createChallenge } from '../../accounts/twoFactor/challenges.ts';
import { isTallyError, TallyError } from '../../lib/errors.ts';
import { secureCookie, setSessionCookie } from '../sessionCookie.ts';

// OpenID Connect sign-in (src/accounts/oidc.ts) and what the sign-in page
// needs to know before anyone is signed in (GET /api/auth/options).
//
// The callback is a browser navigation, so it answers with redirects to the
// console, never JSON: signed in -> /console/; a user with two-factor on ->
// /console/#challenge=<token> (the sign-in page asks for the code: the
// provider proves the password step, not the second factor); refused ->
// /console/?oidc_error=<code> (the page says why in the user's language).

const FLOW_COOKIE = 'tally_oidc';
const FLOW_PATH = '/api/auth/oidc';
const CONSOLE = '/console/';

export function oidcRoutes(app: FastifyInstance, ctx: AppContext) {
  const settings = ctx.config.security.oidc;
  const oidc = settings ? new OidcClient(settings, ctx.config.secret) : null;

  app.get('/api/auth/options', async () => ({
    oidc: settings ? { name: settings.name, start_url: `${FLOW_PATH}/start` } : null,
    staff_two_factor: ctx.config.security.staffTwoFactor,
  }));

  const redirectUri = (req: FastifyRequest) => {
    const base = ctx.config.publicUrl ? ctx.config.publicUrl.replace(/\/+$/, '') : `${req.protocol}://${req.host}`;
    return `${base}${FLOW_PATH}/callback`;
  };
  const notConfigured = () =>
    new TallyError(
      'oidc_not_configured',
      'sign-in with an identity provider is not set up here (TALLY_OIDC_ISSUER, TALLY_OIDC_CLIENT_ID, TALLY_OIDC_CLIENT_SECRET)',
    );

  app.get('/api/auth/oidc/start', async (req, reply) => {
    if (!oidc) throw notConfigured();
    const s = await oidc.start(redirectUri(req), ctx.now());
    reply.setCookie(FLOW_COOKIE, s.cookie, {
      path: FLOW_PATH,
      httpOnly: true,
      // Lax: the provider sends the browser back with a cross-site top-level GET, which carries Lax cookies.
      sameSite: 'lax',
      secure: secureCookie(ctx.config, req),
      maxAge: OIDC_FLOW_TTL_MS / 1000,
    });
    return reply.redirect(s.url, 302);
  });

  app.get('/api/auth/oidc/callback', async (req, reply) => {
    if (!oidc) throw notConfigured();
    reply.clearCookie(FLOW_COOKIE, { path: FLOW_PATH });
    const back = (path: string) => reply.header('cache-control', 'no-store').redirect(path, 302);
    try {
      const callbackUrl = new URL(redirectUri(req));
      callbackUrl.search = new URL(req.url, 'http://x').search;
      const now = ctx.now();
      const claims = await oidc.finish({ callbackUrl, cookie: req.cookies[FLOW_COOKIE], now });
      const signupOpen = ctx.config.accounts.signup === 'open';
      const user = await userForOidcAccount(ctx.db, { claims, signupOpen, currency: ctx.config.currency, now });
      if (await hasTwoFactor(ctx.db, user.id)) {
        const c = await createChallenge(ctx.db, { userId: user.id, now });
        return back(`${CONSOLE}#challenge=${c.challenge}`);
      }
      const s = await openSession(ctx.db, { userId: user.id, ip: req.ip, userAgent: req.headers['user-agent'] ?? null, now });
      setSessionCookie(ctx.config, req, reply, s);
      return back(CONSOLE);
    } catch (e) {
      if (!isTallyError(e)) throw e;
      req.log.info({ code: e.code, cause: e.cause instanceof Error ? e.cause.message : undefined }, 'OpenID Connect sign-in refused');
      return refuse(reply, e.code);
    }
  });
}

function refuse(reply: FastifyReply, code: string) {
  return reply.header('cache-control', 'no-store').redirect(`${CONSOLE}?oidc_error=${encodeURIComponent(code)}`, 302);
}
