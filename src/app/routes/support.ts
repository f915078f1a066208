import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { requireUser } from '../auth.ts';
import { parseInput } from '../../lib/validate.ts';
import { classifyBillingCases, parseHints, limitDiagnosis } from '../../support/doctor/index.ts';
import { openTicket, listTickets, getTicketView, addTicketMessage, TICKET_STATES, type TicketState } from '../../support/tickets.ts';
import { checkOrderWithProvider } from '../../support/actions.ts';
import { getOrder } from '../../payments/index.ts';

const ListQuery = z.object({
  status: z.enum(TICKET_STATES).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
  before: z.string().max(64).optional(),
});
const MessageBody = z.object({ message: z.string().min(1).max(10_000) });

// The signed-in user's side of support: their own diagnosis, their own tickets.
export function supportRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/api/support/diagnose', async (req) => {
    const user = await requireUser(ctx, req);
    // Counted before the hints are read: a malformed guess is still a guess.
    await limitDiagnosis(ctx.limiter, { userId: user.id, ip: req.ip });
    return classifyBillingCases({ ctx, input: { userId: user.id, hints: parseHints(req.query), audience: 'user' } });
  });

  // The owner's "check with the provider now". It honours the order's backoff (reconcileOrder): a click
  // inside it answers `not_due` from the stored state without asking the provider, and says when the next check is.
  app.post<{ Params: { id: string } }>('/api/support/orders/:id/check', async (req) => {
    const user = await requireUser(ctx, req);
    const r = await checkOrderWithProvider({
      ctx,
      input: { orderId: req.params.id, userId: user.id, actor: { type: 'user', userId: user.id, role: user.role } },
    });
    const after = await getOrder(ctx.db, req.params.id, { userId: user.id });
    return { ...r, next_check_at: after.nextCheckAt === null ? null : new Date(after.nextCheckAt).toISOString() };
  });

  app.post('/api/tickets', async (req, reply) => {
    const user = await requireUser(ctx, req);
    const r = await openTicket({ ctx, input: { userId: user.id, body: req.body, actor: { type: 'user', userId: user.id, role: user.role } } });
    reply.code(201);
    return r;
  });

  app.get('/api/tickets', async (req) => {
    const user = await requireUser(ctx, req);
    const q = parseInput(ListQuery, req.query);
    return {
      data: await listTickets(ctx.db, { userId: user.id, status: q.status as TicketState | undefined, limit: q.limit, before: q.before, audience: 'user' }),
    };
  });

  app.get<{ Params: { id: string } }>('/api/tickets/:id', async (req) => {
    const user = await requireUser(ctx, req);
    return getTicketView(ctx.db, req.params.id, { userId: user.id, audience: 'user' });
  });

  app.post<{ Params: { id: string } }>('/api/tickets/:id/messages', async (req, reply) => {
    const user = await requireUser(ctx, req);
    const body = parseInput(MessageBody, req.body);
    const r = await addTicketMessage({
      ctx,
      input: { ticketId: req.params.id, asUserId: user.id, actor: { type: 'user', userId: user.id, role: user.role }, body: body.message },
    });
    reply.code(201);
    return r;
  });
}
