import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config/index.ts';
import { TallyError } from '../lib/errors.ts';
import { SESSION_COOKIE } from '../accounts/sessions.ts';

// Cross-site request forgery. The console signs in with a cookie, and a
// browser attaches that cookie to a request another site's page makes: a
// bodiless form post or a `text/plain` fetch needs no CORS preflight, so
// "cancel this order" or "disable that channel" could be triggered from any
// page an admin visits. SameSite=Lax keeps the cookie off cross-site posts in
// current browsers, but not same-site ones (a sibling subdomain) and not in
// every browser. (It stays Lax, not Strict: a payment provider sends the buyer
// back with a cross-site navigation to `/api/orders/:id/return`, which must
// arrive signed in.) So every state-changing request to a fastify route passes
// two checks here, in one place, before any route code runs:
//
// 1. Its origin must be this server's own (or one the operator allowed),
//    else 403 `cross_origin_refused`.
// 2. Where the route takes JSON, the body must be `application/json`, else
//    415: a browser can only send JSON cross-site after a CORS preflight,
//    which Tally never grants, so this holds even if check 1 were fooled.
//
// The /v1 relay (sk- keys) is served by a node:http fast path in front of
// fastify (relayFastPath.ts) and never reaches this hook.

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * How a state-changing route is guarded:
 * - `json`: the default, every console/account/admin route (and any route added
 *   later): origin check, JSON bodies only;
 * - `form`: the sandbox pay page's own HTML forms: origin check, form bodies allowed;
 * - `upload`: the API's own routes that take files (POST <prefix>/videos, as the
 *   openai SDK sends it): origin check, JSON or multipart/form-data bodies;
 * - `signed_callback`: payment providers' servers post here; the signature is the
 *   authentication, no session is involved, and the bodies are forms or raw bytes;
 * - `loopback`: the demo upstream, reachable only from this machine.
 * (Requests with an sk- key or the admin token and no cookie skip the origin
 * check on any route, see below; the API prefixes are deliberately not exempt
 * as such, since an operator may set TALLY_API_PREFIXES to something like /api.)
 */
type OriginPolicy = 'json' | 'form' | 'upload' | 'signed_callback' | 'loopback';

const SIGNED_CALLBACKS = new Set(['/api/payments/stripe/webhook', '/api/payments/epay/notify', '/api/payments/sandbox/notify', '/api/webhooks/videos']);
const FORM_ROUTES = new Set(['/api/payments/sandbox/pay/:id']);

function originPolicy(url: string, uploads: Set<string>): OriginPolicy {
  if (SIGNED_CALLBACKS.has(url)) return 'signed_callback';
  if (uploads.has(url)) return 'upload';
  if (url.startsWith('/_demo/')) return 'loopback';
  return FORM_ROUTES.has(url) ? 'form' : 'json';
}

/** Installs the checks on every route of this server (call before the routes are registered). */
export function installOriginCheck(app: FastifyInstance, config: Config): void {
  const allowed = new Set(config.allowedOrigins);
  const uploads = new Set(config.apiPrefixes.map((p) => `${p}/videos`));

  app.addHook('onRequest', async (req) => {
    if (!STATE_CHANGING.has(req.method)) return;
    const url = req.routeOptions.url;
    if (!url) return; // no such route: the 404 changes nothing
    const policy = originPolicy(url, uploads);
    if (policy !== 'json' && policy !== 'form' && policy !== 'upload') return;
    // The admin token and sk- keys travel in headers that a page on another
    // site cannot attach without a CORS preflight (which Tally never answers),
    // so a script or CLI sending them, with no session cookie, is no forgery.
    const cookie = Boolean(req.cookies?.[SESSION_COOKIE]);
    const headerCredential = req.headers.authorization !== undefined || req.headers['x-admin-token'] !== undefined;
    if (cookie || !headerCredential) checkOrigin(req, allowed);
    checkContentType(req, policy);
  });
}

/** What the browser says the request's page was: Origin, else the Referer's origin; undefined when neither is sent. */
function requestOrigin(req: FastifyRequest): string | undefined {
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin) return origin.toLowerCase();
  const referer = req.headers.referer;
  if (typeof referer === 'string' && referer) {
    try {
      return new URL(referer).origin;
    } catch {
      return 'null';
    }
  }
  return undefined;
}

function checkOrigin(req: FastifyRequest, allowed: Set<string>): void {
  const origin = requestOrigin(req);
  if (origin !== undefined && allowed.has(origin)) return;
  // Sec-Fetch-Site is set by the browser itself (pages cannot forge it) and
  // already compares the page's origin with the URL the browser requested,
  // so it is right even when a proxy rewrites Host (nginx sends
  // `Host: 127.0.0.1:8080` unless told otherwise). Current browsers send it.
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site) {
    if (site === 'same-origin' || site === 'none') return;
    throw refused(req, origin ?? `a ${site} page`);
  }
  // Neither Origin nor Referer: not a browser. Every browser sends Origin on a
  // cross-origin POST/PUT/PATCH/DELETE (the Fetch standard requires it; a page
  // can only blank it to "null", which is refused below), so a request without
  // one comes from curl, a CLI or a server, which a forged page cannot drive.
  if (origin === undefined) return;
  if (origin !== 'null') {
    let host: string | null = null;
    try {
      host = new URL(origin).host;
    } catch {
      host = null;
    }
    // The Host the client asked for; X-Forwarded-Host only from a proxy TALLY_TRUST_PROXY trusts (fastify's req.host).
    if (host !== null && host === req.host.toLowerCase()) return;
  }
  throw refused(req, origin);
}

function refused(req: FastifyRequest, origin: string): TallyError {
  req.log.info({ origin, host: req.host, path: req.url.split('?')[0], method: req.method }, 'cross-origin request refused');
  return new TallyError(
    'cross_origin_refused',
    `this request comes from another site (${origin}) and was refused; changes are accepted only from this server's own pages (${req.host}). ` +
      'If the console is served from another address, add its origin to TALLY_ALLOWED_ORIGINS; behind a reverse proxy, pass the Host header through or set TALLY_TRUST_PROXY.',
    { details: { origin, expected_host: req.host } },
  );
}

const mediaType = (ct: string | undefined) => (ct ?? '').split(';')[0].trim().toLowerCase();

function checkContentType(req: FastifyRequest, policy: 'json' | 'form' | 'upload'): void {
  const type = mediaType(req.headers['content-type']);
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (!type && !hasBody) return; // a bodiless POST (cancel, logout) from curl
  if (type === 'application/json') return;
  if (policy === 'form' && type === 'application/x-www-form-urlencoded') return;
  if (policy === 'upload' && type === 'multipart/form-data') return;
  throw new TallyError(
    'unsupported_media_type',
    `send the body as JSON with "Content-Type: application/json" (got ${type ? `"${type}"` : 'a body without a content type'}); this endpoint does not take form or text bodies`,
  );
}
