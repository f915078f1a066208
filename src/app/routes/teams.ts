import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import type { Actor } from '../../audit/index.ts';
import type { User } from '../../accounts/users.ts';
import { requireUser } from '../auth.ts';
import { accountDeps } from '../accountDeps.ts';
import { requireVerified } from '../../accounts/verification.ts';
import { parseInput } from '../../lib/validate.ts';
import { parsePositiveMoney } from '../../ledger/money.ts';
import {
  addMember,
  createTeam,
  findMembership,
  listTeamsOfUser,
  memberView,
  removeMember,
  requireTeamRole,
  teamDetail,
  teamSummary,
  updateMember,
  walletView,
} from '../../teams/index.ts';
import { TallyError } from '../../lib/errors.ts';

// Teams for their members (src/teams): create one (the caller is its owner),
// see mine, manage members (owner or admin), leave. Removal and leaving revoke
// the member's team keys and broadcast it, so every instance refuses them at once.

const Period = z.enum(['day', 'week', 'month', 'total']);
const CreateBody = z.object({ name: z.string().min(1).max(100) });
const AddBody = z.object({
  email: z.string().min(3).max(320),
  role: z.enum(['owner', 'admin', 'member']).optional(),
  budget: z.string().max(40).nullable().optional(),
  budget_period: Period.nullable().optional(),
});
const UpdateBody = z.object({
  role: z.enum(['owner', 'admin', 'member']).optional(),
  /** null clears the budget. */
  budget: z.string().max(40).nullable().optional(),
  budget_period: Period.nullable().optional(),
});

const actorOf = (u: User): Actor => ({ type: 'user', userId: u.id, role: u.role });
export const budgetOf = (b: string | null | undefined) => (b === undefined ? undefined : b === null ? null : parsePositiveMoney(b, 'budget'));

/** Revocations leave the database first, then every instance's key cache. */
export async function broadcastRevoked(ctx: AppContext, hashes: string[]): Promise<void> {
  for (const hash of hashes) await ctx.events.publish({ type: 'key_changed', hash });
}

export function teamRoutes(app: FastifyInstance, ctx: AppContext) {
  app.post('/api/teams', async (req, reply) => {
    const user = await requireUser(ctx, req);
    requireVerified(accountDeps(ctx), user); // an unproved address may look, not spend or hand out keys
    const body = parseInput(CreateBody, req.body);
    const team = await createTeam(ctx.db, { name: body.name, owner: user, actor: actorOf(user), currency: ctx.config.currency, now: ctx.now() });
    reply.code(201);
    return { ...teamSummary(team), role: 'owner', wallet: await walletView(ctx.db, team) };
  });

  app.get('/api/teams', async (req) => {
    const user = await requireUser(ctx, req);
    const mine = await listTeamsOfUser(ctx.db, user.id);
    return {
      data: await Promise.all(mine.map(async ({ team, member }) => ({ ...teamSummary(team), role: member.role, wallet: await walletView(ctx.db, team) }))),
    };
  });

  app.get<{ Params: { id: string } }>('/api/teams/:id', async (req) => {
    const user = await requireUser(ctx, req);
    const { team, member } = await requireTeamRole(ctx.db, req.params.id, user.id);
    return teamDetail(ctx.db, team, { userId: user.id, all: member.role !== 'member', role: member.role }, ctx.now(), ctx.config.timeZone);
  });

  app.post<{ Params: { id: string } }>('/api/teams/:id/members', async (req, reply) => {
    const user = await requireUser(ctx, req);
    const { team, member } = await requireTeamRole(ctx.db, req.params.id, user.id, ['owner', 'admin']);
    const body = parseInput(AddBody, req.body);
    const m = await addMember(ctx.db, {
      team,
      email: body.email,
      role: body.role,
      budget: budgetOf(body.budget),
      budgetPeriod: body.budget_period,
      actor: actorOf(user),
      by: member,
      now: ctx.now(),
    });
    reply.code(201);
    return memberView(m, null);
  });

  app.patch<{ Params: { id: string; member: string } }>('/api/teams/:id/members/:member', async (req) => {
    const user = await requireUser(ctx, req);
    const { team, member } = await requireTeamRole(ctx.db, req.params.id, user.id, ['owner', 'admin']);
    const body = parseInput(UpdateBody, req.body);
    if (body.role === undefined && body.budget === undefined)
      throw new TallyError('invalid_request', 'change the role, the budget, or both', { param: 'role' });
    const m = await updateMember(ctx.db, {
      team,
      memberId: req.params.member,
      role: body.role,
      budget: budgetOf(body.budget),
      budgetPeriod: body.budget_period,
      actor: actorOf(user),
      by: member,
      now: ctx.now(),
    });
    // The member's keys carry their role and budget: drop them from every cache so the change applies now.
    if (m.userId) await ctx.events.publish({ type: 'user_changed', userId: m.userId });
    return memberView(m, null);
  });

  app.delete<{ Params: { id: string; member: string } }>('/api/teams/:id/members/:member', async (req) => {
    const user = await requireUser(ctx, req);
    const { team, member } = await requireTeamRole(ctx.db, req.params.id, user.id, ['owner', 'admin']);
    const r = await removeMember(ctx.db, { team, memberId: req.params.member, actor: actorOf(user), by: member, now: ctx.now() });
    await broadcastRevoked(ctx, r.revokedHashes);
    return { ...memberView(r.member, null), keys_revoked: r.revokedHashes.length };
  });

  app.post<{ Params: { id: string } }>('/api/teams/:id/leave', async (req) => {
    const user = await requireUser(ctx, req);
    const { team } = await requireTeamRole(ctx.db, req.params.id, user.id);
    const me = (await findMembership(ctx.db, team.id, user.id))!;
    const r = await removeMember(ctx.db, { team, memberId: me.id, actor: actorOf(user), by: me, leaving: true, now: ctx.now() });
    await broadcastRevoked(ctx, r.revokedHashes);
    return { ...memberView(r.member, null), keys_revoked: r.revokedHashes.length };
  });
}
