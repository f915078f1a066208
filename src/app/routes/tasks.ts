import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { requireStaff, requireUser } from '../auth.ts';
import { parseInput } from '../../lib/validate.ts';
import { TallyError } from '../../lib/errors.ts';
import { resolveUser } from '../../accounts/users.ts';
import { findTask, listTasks, taskEvents, ENDED, LIVE } from '../../gateway/tasks/index.ts';
import { eventView, taskView } from '../../gateway/tasks/view.ts';
import type { TaskStatus } from '../../db/schema.ts';

// Task records: a user's own (GET /api/tasks, /api/tasks/:id with its
// timeline), any user's for staff (GET /api/admin/tasks?user=, /:id), and the
// upstream's video webhook (POST /api/webhooks/videos, Standard Webhooks as
// OpenAI signs them: it only asks for a poll now; the poll decides).

const STATUSES = [...LIVE, ...ENDED] as [TaskStatus, ...TaskStatus[]];
const ListQuery = z.object({
  status: z.enum(STATUSES).optional(),
  before: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
});
const AdminListQuery = ListQuery.extend({ user: z.string().max(320).optional() });

/** How old a webhook's timestamp may be (Standard Webhooks' recommendation): a replay after that is refused. */
const WEBHOOK_TOLERANCE_S = 300;

/** Verifies a Standard Webhooks signature (webhook-id, webhook-timestamp, webhook-signature "v1,<base64>" ...). */
export function verifyWebhook(secret: string, headers: Record<string, unknown>, body: string, nowMs: number): boolean {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof sigs !== 'string' || !/^\d{1,12}$/.test(ts)) return false;
  if (Math.abs(nowMs / 1000 - Number(ts)) > WEBHOOK_TOLERANCE_S) return false;
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest();
  for (const part of sigs.split(' ')) {
    const [v, b64] = part.split(',');
    if (v !== 'v1' || !b64) continue;
    const got = Buffer.from(b64, 'base64');
    if (got.length === expected.length && timingSafeEqual(got, expected)) return true;
  }
  return false;
}

export function taskRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/api/tasks', async (req) => {
    const user = await requireUser(ctx, req);
    const q = parseInput(ListQuery, req.query);
    const limit = q.limit ?? 50;
    const rows = await listTasks(ctx.db, { userId: user.id, status: q.status, before: q.before, includeDeleted: true, limit });
    return { data: rows.map((t) => taskView(t)), next_before: rows.length === limit ? rows[rows.length - 1].id : null };
  });

  app.get<{ Params: { id: string } }>('/api/tasks/:id', async (req) => {
    const user = await requireUser(ctx, req);
    const t = await findTask(ctx.db, req.params.id.slice(0, 64));
    if (!t || t.userId !== user.id) throw new TallyError('task_not_found', `no task ${req.params.id.slice(0, 64)} for this account`);
    return { ...taskView(t), events: (await taskEvents(ctx.db, t.id)).map((e) => eventView(e)) };
  });

  app.get('/api/admin/tasks', async (req) => {
    await requireStaff(ctx, req, 'tasks.list');
    const q = parseInput(AdminListQuery, req.query);
    const userId = q.user ? (await resolveUser(ctx.db, q.user)).id : undefined;
    const limit = q.limit ?? 50;
    const rows = await listTasks(ctx.db, { userId, status: q.status, before: q.before, includeDeleted: true, limit });
    return { data: rows.map((t) => taskView(t, { staff: true })), next_before: rows.length === limit ? rows[rows.length - 1].id : null };
  });

  app.get<{ Params: { id: string } }>('/api/admin/tasks/:id', async (req) => {
    await requireStaff(ctx, req, 'tasks.get');
    const t = await findTask(ctx.db, req.params.id.slice(0, 64));
    if (!t) throw new TallyError('task_not_found', `no task ${req.params.id.slice(0, 64)}`);
    return { ...taskView(t, { staff: true }), events: (await taskEvents(ctx.db, t.id)).map((e) => eventView(e, { staff: true })) };
  });

  app.register(async (raw) => {
    // The signature covers the exact bytes: without this, application/json (how OpenAI and the mock send it) would be parsed first.
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => done(null, body));
    raw.post('/api/webhooks/videos', async (req) => {
      const secret = ctx.config.tasks.webhookSecret;
      if (!secret) throw new TallyError('route_not_found', 'video webhooks are not configured on this server (TALLY_VIDEO_WEBHOOK_SECRET)');
      const body = typeof req.body === 'string' ? req.body : '';
      if (!verifyWebhook(secret, req.headers, body, ctx.now())) throw new TallyError('invalid_signature', 'the webhook signature is missing, wrong or too old');
      let event: any;
      try {
        event = JSON.parse(body);
      } catch {
        throw new TallyError('invalid_json', 'the webhook body is not JSON');
      }
      const upstreamId = event?.data?.id;
      if (typeof event?.type !== 'string' || !event.type.startsWith('video.') || typeof upstreamId !== 'string') return { received: true, ignored: true };
      const t = await ctx.tasks.webhook(upstreamId.slice(0, 200), event.type);
      if (t) ctx.log.info({ task: t.id, type: event.type, status: t.status }, 'video webhook');
      return { received: true };
    });
  });
}
