import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../../context.ts';
import type { Actor } from '../../../audit/index.ts';
import { requireStaff } from '../../auth.ts';
import { parseInput } from '../../../lib/validate.ts';
import { resolveUser } from '../../../accounts/users.ts';
import { disableUser, enableUser, setUserGroup, setUserRole, signOutUser, disabledState, type UserAdminResult } from '../../../accounts/userAdmin.ts';
import { userView } from './users.ts';

// Account administration for staff: disable / enable, pricing group, role,
// sign out everywhere (src/accounts/userAdmin.ts; who may call each is in
// src/support/permissions.ts). After each change every instance is told
// (`user_changed`, through Redis when configured), so the user's cached keys
// are read again on the next request: refused once disabled, priced in the
// new group, working again once enabled.

// Lengths are checked by the verbs (reason_required / reason_too_long name the field); zod only checks the types.
const Reason = z.string().max(10_000).optional();
const DisableBody = z.object({ reason: Reason });
const ReasonBody = z.object({ reason: Reason }).optional();
const GroupBody = z.object({ group: z.string().max(200), reason: Reason });
const RoleBody = z.object({ role: z.string().max(40), reason: Reason });

export function adminUserAdminRoutes(app: FastifyInstance, ctx: AppContext) {
  const answer = async (r: UserAdminResult, actor: Actor) => {
    await ctx.events.publish({ type: 'user_changed', userId: r.user.id });
    const d = await disabledState(ctx.db, r.user.id);
    return {
      ...userView(r.user, actor),
      disabled_at: d.disabledAt === null ? null : new Date(d.disabledAt).toISOString(),
      disabled_reason: d.disabledReason,
      changed: r.changed,
      sessions_ended: r.sessionsEnded,
    };
  };

  app.post<{ Params: { id: string } }>('/api/admin/users/:id/disable', async (req) => {
    const actor = await requireStaff(ctx, req, 'users.disable');
    const body = parseInput(DisableBody, req.body);
    const target = await resolveUser(ctx.db, req.params.id);
    return answer(await disableUser(ctx.db, { userId: target.id, reason: body.reason ?? '', actor, now: ctx.now() }), actor);
  });

  app.post<{ Params: { id: string } }>('/api/admin/users/:id/enable', async (req) => {
    const actor = await requireStaff(ctx, req, 'users.enable');
    const body = parseInput(ReasonBody, req.body) ?? {};
    const target = await resolveUser(ctx.db, req.params.id);
    return answer(await enableUser(ctx.db, { userId: target.id, reason: body.reason, actor, now: ctx.now() }), actor);
  });

  app.post<{ Params: { id: string } }>('/api/admin/users/:id/group', async (req) => {
    const actor = await requireStaff(ctx, req, 'users.group');
    const body = parseInput(GroupBody, req.body);
    const target = await resolveUser(ctx.db, req.params.id);
    return answer(await setUserGroup(ctx.db, { userId: target.id, group: body.group, reason: body.reason, actor, now: ctx.now() }), actor);
  });

  app.post<{ Params: { id: string } }>('/api/admin/users/:id/role', async (req) => {
    const actor = await requireStaff(ctx, req, 'users.role');
    const body = parseInput(RoleBody, req.body);
    const target = await resolveUser(ctx.db, req.params.id);
    const role = body.role as 'user' | 'support' | 'admin'; // checked by the verb (invalid_role)
    return answer(await setUserRole(ctx.db, { userId: target.id, role, reason: body.reason ?? '', actor, now: ctx.now() }), actor);
  });

  app.post<{ Params: { id: string } }>('/api/admin/users/:id/sign-out', async (req) => {
    const actor = await requireStaff(ctx, req, 'users.signOut');
    const body = parseInput(ReasonBody, req.body) ?? {};
    const target = await resolveUser(ctx.db, req.params.id);
    return answer(await signOutUser(ctx.db, { userId: target.id, reason: body.reason, actor, now: ctx.now() }), actor);
  });
}
