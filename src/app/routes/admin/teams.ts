import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../../context.ts';
import { requireStaff } from '../../auth.ts';
import { parseInput } from '../../../lib/validate.ts';
import { formatMoney, parsePositiveMoney } from '../../../ledger/money.ts';
import { TallyError } from '../../../lib/errors.ts';
import { compensateUser } from '../../../payments/compensation.ts';
import { findMembership, getTeam, listTeams, teamDetail, teamSummary, walletView } from '../../../teams/index.ts';

// Teams for staff (permissions: teams.*). Compensation to a team credits its
// wallet; a staff member of the team may not compensate it (as with their own account).

const ListQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).optional() });
const CompensateBody = z.object({
  amount: z.string().max(40),
  reason: z.string().min(1).max(500),
  ticket: z.string().min(1).max(100),
  idempotency_key: z.string().min(1).max(200).optional(),
});

export function adminTeamRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/api/admin/teams', async (req) => {
    await requireStaff(ctx, req, 'teams.list');
    const q = parseInput(ListQuery, req.query);
    const teams = await listTeams(ctx.db, { limit: q.limit });
    return { data: await Promise.all(teams.map(async (t) => ({ ...teamSummary(t), wallet: await walletView(ctx.db, t) }))) };
  });

  app.get<{ Params: { id: string } }>('/api/admin/teams/:id', async (req) => {
    await requireStaff(ctx, req, 'teams.get');
    const team = await getTeam(ctx.db, req.params.id);
    return teamDetail(ctx.db, team, { userId: null, all: true }, ctx.now(), ctx.config.timeZone);
  });

  app.post<{ Params: { id: string } }>('/api/admin/teams/:id/compensate', async (req) => {
    const actor = await requireStaff(ctx, req, 'teams.compensate');
    const body = parseInput(CompensateBody, req.body);
    const team = await getTeam(ctx.db, req.params.id);
    if (actor.type === 'user' && (await findMembership(ctx.db, team.id, actor.userId)))
      throw new TallyError('self_action_forbidden', 'you are a member of this team: another admin must compensate it');
    const amount = parsePositiveMoney(body.amount);
    const r = await compensateUser(ctx.db, {
      userId: team.ownerUserId,
      teamId: team.id,
      amount,
      reason: body.reason,
      ticket: body.ticket,
      actor,
      idempotencyKey: body.idempotency_key,
      now: ctx.now(),
    });
    return { transfer_id: r.transfer.id, replayed: r.replayed, amount: formatMoney(amount), kind: r.transfer.kind, team_id: team.id };
  });
}
