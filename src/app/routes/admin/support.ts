import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../../context.ts';
import { requireStaff } from '../../auth.ts';
import { parseInput } from '../../../lib/validate.ts';
import { TallyError } from '../../../lib/errors.ts';
import { resolveUser } from '../../../accounts/users.ts';
import { classifyBillingCases, parseHints } from '../../../support/doctor/index.ts';
import { listTickets, getTicketView, addTicketMessage, setTicketStatus, writeHandoffNote, TICKET_STATES, type TicketState } from '../../../support/tickets.ts';
import { checkOrderWithProvider, revealUserField, REVEALABLE } from '../../../support/actions.ts';
import { listAudit } from '../../../audit/index.ts';
import { adminApprovalRoutes } from './approvals.ts';

const TicketQuery = z.object({
  status: z.enum(TICKET_STATES).optional(),
  user: z.string().max(320).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
  before: z.string().max(64).optional(),
});
const ReplyBody = z.object({ message: z.string().min(1).max(10_000), status: z.enum(TICKET_STATES).optional(), reason: z.string().max(500).optional() });
const StatusBody = z.object({ status: z.enum(TICKET_STATES), reason: z.string().max(500).optional(), assignee: z.string().max(200).nullable().optional() });
const RevealBody = z.object({ field: z.enum(REVEALABLE), reason: z.string().min(1).max(500) });
const CheckBody = z.object({ reason: z.string().max(500).optional() });
const AuditQuery = z.object({
  target: z.string().max(100).optional(),
  action: z.string().max(100).optional(),
  actor: z.string().max(100).optional(),
  since: z.string().max(40).optional(),
  until: z.string().max(40).optional(),
  before: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});

const time = (v: string | undefined, field: string) => {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw new TallyError('invalid_time', `${field} must be a date and time`, { param: field });
  return t;
};

// Support staff act on evidence: the doctor for any user (masked), tickets,
// handoff notes, the audit trail; admins alone reveal a masked field.
export function adminSupportRoutes(app: FastifyInstance, ctx: AppContext) {
  adminApprovalRoutes(app, ctx);
  app.get<{ Params: { id: string } }>('/api/admin/users/:id/diagnose', async (req) => {
    await requireStaff(ctx, req, 'users.diagnose');
    const user = await resolveUser(ctx.db, req.params.id);
    return classifyBillingCases({ ctx, input: { userId: user.id, hints: parseHints(req.query), audience: 'staff' } });
  });

  app.post<{ Params: { id: string } }>('/api/admin/support/orders/:id/check', async (req) => {
    const actor = await requireStaff(ctx, req, 'orders.check');
    const body = parseInput(CheckBody, req.body);
    return checkOrderWithProvider({ ctx, input: { orderId: req.params.id, actor, reason: body.reason } });
  });

  app.post<{ Params: { id: string } }>('/api/admin/users/:id/reveal', async (req) => {
    const actor = await requireStaff(ctx, req, 'users.reveal');
    const body = parseInput(RevealBody, req.body);
    const user = await resolveUser(ctx.db, req.params.id);
    return revealUserField({ ctx, input: { userId: user.id, field: body.field, reason: body.reason, actor } });
  });

  app.get('/api/admin/tickets', async (req) => {
    await requireStaff(ctx, req, 'tickets.list');
    const q = parseInput(TicketQuery, req.query);
    const userId = q.user ? (await resolveUser(ctx.db, q.user)).id : undefined;
    return { data: await listTickets(ctx.db, { userId, status: q.status as TicketState | undefined, limit: q.limit, before: q.before, audience: 'staff' }) };
  });

  app.get<{ Params: { id: string } }>('/api/admin/tickets/:id', async (req) => {
    await requireStaff(ctx, req, 'tickets.get');
    return getTicketView(ctx.db, req.params.id, { audience: 'staff' });
  });

  app.post<{ Params: { id: string } }>('/api/admin/tickets/:id/messages', async (req, reply) => {
    const actor = await requireStaff(ctx, req, 'tickets.reply');
    const body = parseInput(ReplyBody, req.body);
    const r = await addTicketMessage({
      ctx,
      input: { ticketId: req.params.id, actor, body: body.message, status: body.status as TicketState | undefined, reason: body.reason },
    });
    reply.code(201);
    return r;
  });

  app.post<{ Params: { id: string } }>('/api/admin/tickets/:id/status', async (req) => {
    const actor = await requireStaff(ctx, req, 'tickets.status');
    const body = parseInput(StatusBody, req.body);
    return setTicketStatus({
      ctx,
      input: { ticketId: req.params.id, status: body.status as TicketState, reason: body.reason, assignee: body.assignee, actor },
    });
  });

  app.put<{ Params: { id: string } }>('/api/admin/tickets/:id/handoff', async (req) => {
    const actor = await requireStaff(ctx, req, 'tickets.handoff');
    return writeHandoffNote({ ctx, input: { ticketId: req.params.id, actor, body: req.body } });
  });

  app.get('/api/admin/audit', async (req) => {
    await requireStaff(ctx, req, 'audit.list');
    const q = parseInput(AuditQuery, req.query);
    const rows = await listAudit(ctx.db, {
      target: q.target,
      action: q.action,
      actor: q.actor,
      since: time(q.since, 'since'),
      until: time(q.until, 'until'),
      before: q.before,
      limit: q.limit,
    });
    return {
      data: rows.map((r) => ({ ...r, created_at: new Date(r.createdAt).toISOString() })),
      next_before: rows.length === (q.limit ?? 100) ? rows[rows.length - 1].id : null,
    };
  });
}
