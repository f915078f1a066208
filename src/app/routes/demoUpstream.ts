import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { demoChat, demoEmbeddings, DEMO_MODELS } from '../../gateway/demo/upstream.ts';
import { demoCreateVideo, demoDeleteVideo, demoGetVideo, demoVideoContent } from '../../gateway/demo/videos.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

// The demo upstream, reachable only from this machine (Tally calls itself).
export function demoUpstreamRoutes(app: FastifyInstance, _ctx: AppContext) {
  const guard = async (req: { socket: { remoteAddress?: string } }, reply: { code(n: number): { send(b: unknown): unknown } }) => {
    if (!LOOPBACK.has(req.socket.remoteAddress ?? '')) return reply.code(404).send({ error: { message: 'not found' } });
  };
  app.post('/_demo/v1/chat/completions', { onRequest: guard }, async (req, reply) => {
    reply.hijack();
    await demoChat(req.body, reply.raw);
  });
  app.post('/_demo/v1/embeddings', { onRequest: guard }, async (req, reply) => {
    reply.hijack();
    await demoEmbeddings(req.body, reply.raw);
  });
  app.register(async (scoped) => {
    scoped.addContentTypeParser('multipart/form-data', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scoped.post('/_demo/v1/videos', { onRequest: guard }, async (req, reply) => {
      const r = demoCreateVideo(req.body, String(req.headers['content-type'] ?? ''));
      return reply.code(r.status).send(r.body);
    });
  });
  app.get<{ Params: { id: string } }>('/_demo/v1/videos/:id', { onRequest: guard }, async (req, reply) => {
    const r = demoGetVideo(req.params.id);
    return reply.code(r.status).send(r.body);
  });
  app.delete<{ Params: { id: string } }>('/_demo/v1/videos/:id', { onRequest: guard }, async (req, reply) => {
    const r = demoDeleteVideo(req.params.id);
    return reply.code(r.status).send(r.body);
  });
  app.get<{ Params: { id: string } }>('/_demo/v1/videos/:id/content', { onRequest: guard }, async (req, reply) => {
    const r = demoVideoContent(req.params.id);
    return reply.code(r.status).header('content-type', r.contentType).send(r.body);
  });
  app.get('/_demo/v1/models', { onRequest: guard }, async () => ({
    object: 'list',
    data: Object.values(DEMO_MODELS).map((id) => ({ id, object: 'model', created: 0, owned_by: 'tally-demo' })),
  }));
}
