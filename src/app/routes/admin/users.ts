import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../../context.ts';
import { requireStaff, emailFor } from '../../auth.ts';
import type { Actor } from '../../../audit/index.ts';
import { parseInput } from '../../../lib/validate.ts';
import { createUser, listUsers, resolveUser, getUserBalance, setUserLimits, type User } from '../../../accounts/users.ts';
import { LimitFields } from '../keys.ts';
import { adjustBalanceManually } from '../../../accounts/manualCredit.ts';
import { parseMoney, formatMoney } from '../../../ledger/money.ts';
import { verifyBooks } from '../../../verifyBooks.ts';
import { listStatement, walletAccountId } from '../../../ledger/index.ts';
import { listUsage } from '../../../gateway/usageLog.ts';
import { statementLine } from '../me.ts';
import { disabledState } from '../../../accounts/userAdmin.ts';

const CreateUserBody = z.object({
  email: z.string().min(3).max(320),
  password: z.string().min(8).max(200).optional(),
  nickname: z.string().max(100).optional(),
  role: z.enum(['user', 'support', 'admin']).optional(),
  group: z.string().max(64).optional(),
});

const CreditBody = z.object({
  amount: z.string().max(40),
  reason: z.string().min(1).max(500),
  idempotency_key: z.string().min(1).max(200).optional(),
});

const ListQuery = z.object({ q: z.string().max(200).optional(), limit: z.coerce.number().int().min(1).max(200).optional() });

export const userView = (u: User, actor: Actor) => ({
  id: u.id,
  email: emailFor(actor, u.email),
  nickname: u.nickname,
  role: u.role,
  status: u.status,
  group: u.group,
  created_at: new Date(u.createdAt).toISOString(),
});

export function adminUserRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/api/admin/users', async (req) => {
    const actor = await requireStaff(ctx, req, 'users.list');
    const q = parseInput(ListQuery, req.query);
    return { data: (await listUsers(ctx.db, { query: q.q, limit: q.limit })).map((u) => userView(u, actor)) };
  });

  app.post('/api/admin/users', async (req, reply) => {
    const actor = await requireStaff(ctx, req, 'users.create');
    const body = parseInput(CreateUserBody, req.body);
    const { user, generatedPassword } = await createUser(ctx.db, body, { actor, currency: ctx.config.currency });
    reply.code(201);
    return { ...userView(user, actor), ...(generatedPassword ? { password: generatedPassword } : {}) };
  });

  app.get<{ Params: { id: string } }>('/api/admin/users/:id', async (req) => {
    const actor = await requireStaff(ctx, req, 'users.get');
    const user = await resolveUser(ctx.db, req.params.id);
    const b = await getUserBalance(ctx.db, user.id);
    const d = await disabledState(ctx.db, user.id); // why it is disabled (src/accounts/userAdmin.ts)
    return {
      ...userView(user, actor),
      disabled_at: d.disabledAt === null ? null : new Date(d.disabledAt).toISOString(),
      disabled_reason: d.disabledReason,
      balance: formatMoney(b.balance),
      pending: formatMoney(b.pending),
      available: formatMoney(b.available),
      currency: b.currency,
      // The user's own limits (null: the group's, else none); set with POST /api/admin/users/:id/limits.
      rpm: user.limits.rpm,
      tpm: user.limits.tpm,
      concurrency: user.limits.concurrency,
    };
  });

  app.post<{ Params: { id: string } }>('/api/admin/users/:id/limits', async (req) => {
    const actor = await requireStaff(ctx, req, 'users.limits');
    const body = parseInput(z.object(LimitFields), req.body);
    const target = await resolveUser(ctx.db, req.params.id);
    const user = await setUserLimits(ctx.db, { userId: target.id, limits: body, actor });
    // Every instance re-reads this user's keys (their principals carry the user's limits).
    await ctx.events.publish({ type: 'user_changed', userId: user.id });
    return { id: user.id, rpm: user.limits.rpm, tpm: user.limits.tpm, concurrency: user.limits.concurrency };
  });

  app.post<{ Params: { id: string } }>('/api/admin/users/:id/credit', async (req) => {
    const actor = await requireStaff(ctx, req, 'users.credit');
    const body = parseInput(CreditBody, req.body);
    const user = await resolveUser(ctx.db, req.params.id);
    const amount = parseMoney(body.amount, { allowNegative: true, allowZero: false });
    const r = await adjustBalanceManually(ctx.db, { userId: user.id, amount, reason: body.reason, actor, idempotencyKey: body.idempotency_key });
    await ctx.alerts.checkWallet(walletAccountId(user.id)); // a debit may cross the user's balance alert (a credit re-arms it)
    const b = await getUserBalance(ctx.db, user.id);
    return { transfer_id: r.transfer.id, replayed: r.replayed, amount: formatMoney(amount), balance: formatMoney(b.balance) };
  });

  // A user's 360° view for staff: their statement and request log (client IPs left out; an admin reveals them with a reason).
  const PageQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).optional(), before: z.string().max(64).optional() });
  app.get<{ Params: { id: string } }>('/api/admin/users/:id/ledger', async (req) => {
    await requireStaff(ctx, req, 'users.ledger');
    const q = parseInput(PageQuery, req.query);
    const user = await resolveUser(ctx.db, req.params.id);
    return { data: (await listStatement(ctx.db, walletAccountId(user.id), q)).map(statementLine) };
  });

  app.get<{ Params: { id: string } }>('/api/admin/users/:id/requests', async (req) => {
    await requireStaff(ctx, req, 'users.requests');
    const q = parseInput(PageQuery, req.query);
    const user = await resolveUser(ctx.db, req.params.id);
    const rows = await listUsage(ctx.db, { userId: user.id, limit: q.limit, before: q.before });
    return { data: rows.map(({ client_ip: _ip, ...r }) => r) };
  });

  app.get('/api/admin/ledger/verify', async (req, reply) => {
    await requireStaff(ctx, req, 'ledger.verify');
    const report = await verifyBooks(ctx.db, { now: ctx.now(), graceMs: ctx.config.holdSweepMs * 2 });
    if (!report.ok) reply.code(500);
    return report;
  });
}
