import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { TallyError } from '../../lib/errors.ts';
import { parseInput } from '../../lib/validate.ts';
import { openAIError } from '../../gateway/protocols/openai/errors.ts';
import { anthropicApiKey } from '../../gateway/protocols/anthropic/index.ts';
import { listTasks, parseVideoRequest, videoObject } from '../../gateway/tasks/index.ts';
import { parseRemixRequest } from '../../gateway/tasks/video.ts';

// OpenAI's video API under every API prefix: POST /videos (JSON or
// multipart, as the openai SDK's videos.create sends it), GET /videos (a
// page of the caller's videos), GET /videos/:id, GET /videos/:id/content,
// DELETE /videos/:id. Served by fastify, not the relay's fast path: a video
// is a task (src/gateway/tasks/), submitted once and polled for minutes.
// Errors in OpenAI's shape. Any key of the user sees the user's videos.

const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).optional(),
  after: z.string().max(64).optional(),
  order: z.enum(['asc', 'desc']).optional(),
});
const ContentQuery = z.object({ variant: z.enum(['video', 'thumbnail', 'spritesheet']).optional() });

export function videoRoutes(app: FastifyInstance, ctx: AppContext) {
  const errorShape = async (req: FastifyRequest) => {
    (req as { errorShape?: unknown }).errorShape = openAIError;
  };
  const auth = (req: FastifyRequest) => ctx.keys.authenticate(anthropicApiKey(req.headers), req.ip);

  app.register(async (scoped) => {
    // The SDK uploads an input_reference image as multipart/form-data: read as bytes (TALLY_MAX_BODY_BYTES, else 413).
    scoped.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit: ctx.config.maxBodyBytes }, (_req, body, done) => done(null, body));
    for (const prefix of ctx.config.apiPrefixes) {
      scoped.post(prefix + '/videos', { onRequest: errorShape }, async (req, reply) => {
        const p = await auth(req);
        const video = parseVideoRequest(req.body, String(req.headers['content-type'] ?? ''));
        const task = await ctx.tasks.submit(p, video, req.id);
        reply.header('x-request-id', req.id);
        return videoObject(task);
      });
    }
  });

  for (const prefix of ctx.config.apiPrefixes) {
    app.get(prefix + '/videos', { onRequest: errorShape }, async (req) => {
      const p = await auth(req);
      const q = parseInput(ListQuery, req.query);
      const limit = q.limit ?? 20;
      const rows = await listTasks(ctx.db, { userId: p.user.id, after: q.after, order: q.order ?? 'desc', limit: limit + 1 });
      const data = rows.slice(0, limit).map(videoObject);
      return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: rows.length > limit };
    });

    app.get<{ Params: { id: string } }>(prefix + '/videos/:id', { onRequest: errorShape }, async (req) => {
      const p = await auth(req);
      return videoObject(await ctx.tasks.owned(p.user.id, req.params.id));
    });

    app.post<{ Params: { id: string } }>(prefix + '/videos/:id/remix', { onRequest: errorShape }, async (req) => {
      const p = await auth(req);
      const prompt = parseRemixRequest(req.body);
      return videoObject(await ctx.tasks.remix(p, req.params.id, prompt, req.id));
    });

    app.delete<{ Params: { id: string } }>(prefix + '/videos/:id', { onRequest: errorShape }, async (req) => {
      const p = await auth(req);
      const t = await ctx.tasks.remove(p.user.id, req.params.id);
      return { id: t.id, object: 'video.deleted', deleted: true };
    });

    app.get<{ Params: { id: string } }>(prefix + '/videos/:id/content', { onRequest: errorShape }, async (req, reply) => {
      const p = await auth(req);
      const q = parseInput(ContentQuery, req.query);
      const res = await ctx.tasks.content(p.user.id, req.params.id, q.variant ?? null);
      return pipeContent(res, reply);
    });
  }
}

async function pipeContent(res: import('undici').Dispatcher.ResponseData, reply: FastifyReply) {
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => {});
    // The upstream's text would name its own ids: a fixed message.
    throw new TallyError('upstream_error', `the upstream could not serve this video's content (it answered ${res.statusCode}); try again later`);
  }
  reply.code(200);
  const ct = res.headers['content-type'];
  reply.header('content-type', typeof ct === 'string' ? ct : 'application/octet-stream');
  const len = res.headers['content-length'];
  if (typeof len === 'string') reply.header('content-length', len);
  return reply.send(res.body);
}
