import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { demoChat, demoEmbeddings, DEMO_MODELS } from '../../gateway/demo/upstream.ts';

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
  app.get('/_demo/v1/models', { onRequest: guard }, async () => ({
    object: 'list',
    data: Object.values(DEMO_MODELS).map((id) => ({ id, object: 'model', created: 0, owned_by: 'tally-demo' })),
  }));
}
