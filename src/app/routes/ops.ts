import type { FastifyInstance } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import type { AppContext } from '../../context.ts';
import { TallyError } from '../../lib/errors.ts';
import { renderStatusPage, statusLang } from '../../ops/statusPage.ts';

// Operations endpoints: GET /metrics (Prometheus text; a bearer token when
// TALLY_METRICS_TOKEN is set), and the public status page: GET /api/status
// (JSON) and GET /status (HTML, no JavaScript needed). Read-only: none of them
// changes anything.

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function opsRoutes(app: FastifyInstance, ctx: AppContext) {
  const metrics = ctx.metrics;
  if (metrics) {
    app.get('/metrics', async (req, reply) => {
      const token = ctx.config.ops.metricsToken;
      if (token) {
        const h = req.headers.authorization ?? '';
        const given = h.startsWith('Bearer ') ? h.slice(7).trim() : '';
        if (!given || !sameSecret(given, token)) {
          reply.header('www-authenticate', 'Bearer realm="tally-metrics"');
          throw new TallyError(
            'invalid_metrics_token',
            given ? 'the metrics token is not right' : 'send the metrics token as Authorization: Bearer <TALLY_METRICS_TOKEN>',
          );
        }
      }
      const text = await metrics.text();
      return reply.type(metrics.contentType).send(text);
    });
  }

  app.get('/api/status', async () => ctx.status.report());

  app.get<{ Querystring: { lang?: string } }>('/status', async (req, reply) => {
    const lang = statusLang(req.query.lang, req.headers['accept-language']);
    const report = await ctx.status.report();
    return reply.type('text/html; charset=utf-8').header('vary', 'accept-language').send(renderStatusPage(report, lang));
  });
}
