import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { TallyError } from '../../lib/errors.ts';
import { helpPage } from '../../support/help/pages.ts';
import { renderHelpIndex, renderHelpPage, helpIndexJson, llmsTxt } from '../../support/help/render.ts';

// Public help center: HTML pages, a JSON index and /llms.txt for answer engines.
export function helpRoutes(app: FastifyInstance, ctx: AppContext) {
  const base = () => (ctx.config.publicUrl ?? '').replace(/\/$/, '');
  app.get('/help', async (_req, reply) => reply.type('text/html; charset=utf-8').send(renderHelpIndex()));
  app.get('/help/index.json', async () => helpIndexJson(base()));
  app.get('/llms.txt', async (_req, reply) => reply.type('text/plain; charset=utf-8').send(llmsTxt(base())));
  app.get<{ Params: { slug: string } }>('/help/:slug', async (req, reply) => {
    const p = helpPage(req.params.slug);
    if (!p) throw new TallyError('help_page_not_found', `no help page "${req.params.slug.slice(0, 80)}"; see /help`);
    return reply.type('text/html; charset=utf-8').send(renderHelpPage(p));
  });
}
