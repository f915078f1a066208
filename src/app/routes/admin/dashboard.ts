import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../../context.ts';
import { requireStaff, emailFor } from '../../auth.ts';
import { parseInput } from '../../../lib/validate.ts';
import { TallyError } from '../../../lib/errors.ts';
import { resolveUser } from '../../../accounts/users.ts';
import { listChannels } from '../../../gateway/channels.ts';
import { dashboardStats, statsRange, STATS_GROUPINGS, type StatsGrouping, type StatsLabels } from '../../../ops/stats.ts';
import { parseSearchTime, parseStatusFilter, searchRequests, searchRowView } from '../../../ops/requestSearch.ts';
import type { Actor } from '../../../audit/index.ts';
import type { DbOrTx } from '../../../db/index.ts';

// The operator dashboard (GET /api/admin/stats) and the request-log search
// across users (GET /api/admin/requests). src/ops computes; this maps.

const StatsQuery = z.object({ from: z.string().max(20).optional(), to: z.string().max(20).optional(), by: z.string().max(20).optional() });

const SearchQuery = z.object({
  request_id: z.string().max(60).optional(),
  key_tail: z.string().max(20).optional(),
  model: z.string().max(200).optional(),
  status: z.string().max(10).optional(),
  from: z.string().max(40).optional(),
  to: z.string().max(40).optional(),
  user: z.string().max(320).optional(),
  cursor: z.string().max(60).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
});

/** Names for the ids a breakdown shows (e-mails masked for support). */
function labelsFor(db: DbOrTx, actor: Actor): StatsLabels {
  return {
    channels: async (ids) => new Map((await listChannels(db)).filter((c) => ids.includes(c.id)).map((c) => [c.id, c.name])),
    users: async (ids) =>
      ids.length
        ? new Map((await db.selectFrom('users').select(['id', 'email']).where('id', 'in', ids).execute()).map((u) => [u.id, emailFor(actor, u.email)]))
        : new Map(),
    teams: async (ids) =>
      ids.length ? new Map((await db.selectFrom('teams').select(['id', 'name']).where('id', 'in', ids).execute()).map((t) => [t.id, t.name])) : new Map(),
  };
}

export function adminDashboardRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/api/admin/stats', async (req) => {
    const actor = await requireStaff(ctx, req, 'stats.view');
    const q = parseInput(StatsQuery, req.query);
    const by = (q.by ?? 'day') as StatsGrouping;
    if (!STATS_GROUPINGS.includes(by)) throw new TallyError('invalid_stats_grouping', `by must be one of ${STATS_GROUPINGS.join(', ')}`, { param: 'by' });
    const range = statsRange(q.from, q.to, ctx.config.timeZone);
    return { currency: ctx.config.currency, ...(await dashboardStats(ctx.db, { range, by, labels: labelsFor(ctx.db, actor) })) };
  });

  app.get('/api/admin/requests', async (req) => {
    const actor = await requireStaff(ctx, req, 'requests.search');
    const q = parseInput(SearchQuery, req.query);
    const user = q.user ? await resolveUser(ctx.db, q.user) : null;
    const r = await searchRequests(
      ctx.db,
      {
        requestId: q.request_id || undefined,
        keyTail: q.key_tail || undefined,
        model: q.model || undefined,
        status: parseStatusFilter(q.status),
        userId: user?.id,
        from: parseSearchTime(q.from, 'from'),
        to: parseSearchTime(q.to, 'to'),
        cursor: q.cursor || undefined,
        limit: q.limit,
      },
      ctx.now(),
    );
    return {
      data: r.rows.map((row) => searchRowView(row, (e) => emailFor(actor, e))),
      from: new Date(r.from).toISOString(),
      to: new Date(r.to).toISOString(),
      next_cursor: r.nextCursor,
    };
  });
}
