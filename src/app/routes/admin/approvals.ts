import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../../context.ts';
import { requireStaff } from '../../auth.ts';
import { parseInput } from '../../../lib/validate.ts';
import { resolveUser } from '../../../accounts/users.ts';
import {
  listApprovals,
  getApproval,
  approveApproval,
  rejectApproval,
  approvalView,
  APPROVAL_STATUSES,
  type Approval,
  type ApprovalStatus,
} from '../../../support/approvals.ts';
import type { Guarded } from '../../../support/actions.ts';

const ListQuery = z.object({
  status: z.enum(APPROVAL_STATUSES).optional(),
  user: z.string().max(320).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  before: z.string().max(64).optional(),
});
const DecideBody = z.object({ reason: z.string().min(1).max(500) });

/**
 * A money action that became a request for approval answers 202 with the
 * request (the console shows "waiting for approval", not an error); one that
 * ran answers as before.
 */
export function answerGuarded<T>(ctx: AppContext, reply: FastifyReply, r: Guarded<T>, view: (x: T) => unknown) {
  if (r.kind === 'done') return view(r.result);
  reply.code(202);
  return {
    status: 'approval_pending',
    replayed: r.replayed,
    approval: approvalView(r.approval, ctx.config.currency),
    message: `above what support may do alone: request ${r.approval.id} waits for an admin's approval`,
  };
}

// The second person: support's requests wait here; an admin other than the requester approves (it runs once) or rejects.
export function adminApprovalRoutes(app: FastifyInstance, ctx: AppContext) {
  const view = (a: Approval) => approvalView(a, ctx.config.currency);

  app.get('/api/admin/approvals', async (req) => {
    await requireStaff(ctx, req, 'approvals.list');
    const q = parseInput(ListQuery, req.query);
    const userId = q.user ? (await resolveUser(ctx.db, q.user)).id : undefined;
    const rows = await listApprovals(ctx.db, { status: q.status as ApprovalStatus | undefined, userId, limit: q.limit, before: q.before });
    return { data: rows.map(view), next_before: rows.length === (q.limit ?? 100) ? rows[rows.length - 1].id : null };
  });

  app.get<{ Params: { id: string } }>('/api/admin/approvals/:id', async (req) => {
    await requireStaff(ctx, req, 'approvals.get');
    return view(await getApproval(ctx.db, req.params.id));
  });

  app.post<{ Params: { id: string } }>('/api/admin/approvals/:id/approve', async (req) => {
    const actor = await requireStaff(ctx, req, 'approvals.approve');
    const body = parseInput(DecideBody, req.body);
    const r = await approveApproval(ctx, { id: req.params.id, reason: body.reason, actor });
    return { replayed: r.replayed, approval: view(r.approval) };
  });

  app.post<{ Params: { id: string } }>('/api/admin/approvals/:id/reject', async (req) => {
    const actor = await requireStaff(ctx, req, 'approvals.reject');
    const body = parseInput(DecideBody, req.body);
    const r = await rejectApproval(ctx, { id: req.params.id, reason: body.reason, actor });
    return { replayed: r.replayed, approval: view(r.approval) };
  });
}
