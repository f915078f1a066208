import type { FastifyInstance, FastifyReply } from 'fastify';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppContext } from '../../context.ts';

/**
 * The web console (web/, built by scripts/build-web.mjs into web/dist) at /console.
 * Hashed assets are cached for a year; index.html is revalidated every time, so
 * a new build reaches browsers at once. Any other path under /console is a page
 * of the single-page app (deep links), answered with index.html.
 */
export const WEB_DIST = fileURLToPath(new URL('../../../web/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

// The console needs nothing from other origins; its inline styles are set through the CSSOM (React), which CSP allows.
const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

function securityHeaders(reply: FastifyReply) {
  reply
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'same-origin')
    .header('content-security-policy', CSP);
}

async function fileIn(dir: string, rel: string): Promise<string | null> {
  const p = normalize(join(dir, rel));
  if (!p.startsWith(dir.endsWith(sep) ? dir : dir + sep)) return null; // ../ out of dist
  try {
    return (await stat(p)).isFile() ? p : null;
  } catch {
    return null;
  }
}

export function consoleRoutes(app: FastifyInstance, _ctx: AppContext, dist = WEB_DIST) {
  const sendIndex = async (reply: FastifyReply) => {
    securityHeaders(reply);
    reply.header('cache-control', 'no-cache');
    const index = await fileIn(dist, 'index.html');
    if (!index) {
      return reply
        .code(503)
        .type('text/html; charset=utf-8')
        .send(
          '<!doctype html><title>Tally console</title><p>The console is not built. Run <code>node scripts/build-web.mjs</code> (or <code>npm start</code>, which builds it).</p>',
        );
    }
    return reply.type(TYPES['.html']).send(await readFile(index));
  };

  app.get('/', async (_req, reply) => reply.redirect('/console/'));
  app.get('/console', async (_req, reply) => sendIndex(reply));
  app.get<{ Params: { '*': string } }>('/console/*', async (req, reply) => {
    const rel = decodeURIComponent(req.params['*'] ?? '');
    if (rel === '' || rel === 'index.html') return sendIndex(reply);
    const file = await fileIn(dist, rel);
    if (file) {
      securityHeaders(reply);
      // Vite puts a content hash in every file name under assets/: such a file never changes.
      reply.header('cache-control', rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'public, max-age=300');
      return reply.type(TYPES[extname(file)] ?? 'application/octet-stream').send(await readFile(file));
    }
    // A missing asset is a 404, not the app: a stale page must not get HTML as its script.
    if (rel.startsWith('assets/') || extname(rel) !== '') {
      return reply.code(404).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('not found');
    }
    return sendIndex(reply);
  });
}
