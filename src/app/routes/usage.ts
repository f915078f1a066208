import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { requireUser } from '../auth.ts';
import { parseInput } from '../../lib/validate.ts';
import { listUsage, explainUsage } from '../../gateway/usageLog.ts';
import { TallyError } from '../../lib/errors.ts';

const UsageQuery = z.object({
  model: z.string().max(200).optional(),
  key_id: z.string().max(64).optional(),
  charged: z.enum(['true', 'false']).optional(),
  since: z.string().max(40).optional(),
  until: z.string().max(40).optional(),
  before: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});

const time = (s: string | undefined, field: string) => {
  if (!s) return undefined;
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new TallyError('invalid_time', `${field} must be an ISO time such as 2026-11-01T00:00:00Z`, { param: field });
  return t;
};

export function usageRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/api/usage', async (req) => {
    const user = await requireUser(ctx, req);
    const q = parseInput(UsageQuery, req.query);
    const data = await listUsage(ctx.db, {
      userId: user.id,
      model: q.model,
      keyId: q.key_id,
      charged: q.charged === undefined ? undefined : q.charged === 'true',
      since: time(q.since, 'since'),
      until: time(q.until, 'until'),
      before: q.before,
      limit: q.limit,
    });
    return { data, next_before: data.length === (q.limit ?? 50) ? data[data.length - 1].id : null };
  });

  app.get<{ Params: { requestId: string } }>('/api/usage/:requestId', async (req) => {
    const user = await requireUser(ctx, req);
    return explainUsage(ctx.db, { userId: user.id, requestId: req.params.requestId });
  });
}
