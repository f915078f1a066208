import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../../context.ts';
import { requireStaff, emailFor } from '../../auth.ts';
import type { Actor } from '../../../audit/index.ts';
import { parseInput, parseExpiry } from '../../../lib/validate.ts';
import { parsePositiveMoney, formatMoney } from '../../../ledger/money.ts';
import {
  generateRedeemBatch,
  listRedeemBatches,
  listBatchCodes,
  disableRedeemBatch,
  disableRedeemCode,
  reverseRedemption,
  listRedeemAttempts,
  redeemCodesCsv,
  type RedeemBatch,
  type BatchSummary,
  type CodeView,
} from '../../../redeem/index.ts';
import { attemptView } from '../../../redeem/present.ts';

const GenerateBody = z.object({
  count: z.number().int().min(1).max(10_000),
  amount: z.string().max(40),
  expires_at: z.string().max(40).nullable().optional(),
  name: z.string().max(100).nullable().optional(),
  max_uses: z.number().int().min(1).max(1_000_000).optional(),
});

const ReasonBody = z.object({ reason: z.string().max(500).optional() });
const ReverseBody = z.object({ reason: z.string().min(1).max(500) });
const ListQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).optional(), before: z.string().max(64).optional() });
const CodesQuery = z.object({ limit: z.coerce.number().int().min(1).max(10_000).optional(), after: z.string().max(64).optional() });
const AttemptsQuery = z.object({
  user_id: z.string().max(64).optional(),
  code_id: z.string().max(64).optional(),
  ip: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  before: z.string().max(64).optional(),
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const batchView = (b: RedeemBatch | BatchSummary) => ({
  id: b.id,
  name: b.name,
  amount: formatMoney(b.amount),
  currency: b.currency,
  max_uses: b.maxUses,
  code_count: b.codeCount,
  expires_at: iso(b.expiresAt),
  status: b.status,
  created_by: b.createdBy,
  created_at: iso(b.createdAt),
  disabled_at: iso(b.disabledAt),
  disabled_reason: b.disabledReason,
  ...('redemptions' in b ? { redemptions: b.redemptions, redeemed_amount: formatMoney(b.redeemedAmount) } : {}),
});

export const codeView = (c: CodeView, actor: Actor) => ({
  id: c.id,
  batch_id: c.batchId,
  code: c.display,
  status: c.status,
  uses: c.uses,
  max_uses: c.maxUses,
  disabled_at: iso(c.disabledAt),
  disabled_reason: c.disabledReason,
  redemptions: c.redemptions.map((r) => ({
    id: r.id,
    user_id: r.userId,
    email: r.email ? emailFor(actor, r.email) : r.email,
    redeemed_at: iso(r.redeemedAt),
    status: r.status,
    transfer_id: r.transferId,
    reversed_at: iso(r.reversedAt),
  })),
});

export function adminRedeemRoutes(app: FastifyInstance, ctx: AppContext) {
  // The only response that ever contains the plaintext codes (and their CSV).
  app.post('/api/admin/redeem/batches', async (req, reply) => {
    const actor = await requireStaff(ctx, req, 'redeem.generate');
    const body = parseInput(GenerateBody, req.body);
    const { batch, codes } = await generateRedeemBatch(ctx.db, {
      count: body.count,
      amount: parsePositiveMoney(body.amount),
      expiresAt: parseExpiry(body.expires_at),
      name: body.name ?? null,
      maxUses: body.max_uses,
      currency: ctx.config.currency,
      secret: ctx.config.secret,
      actor,
      now: ctx.now(),
    });
    ctx.log.info({ batchId: batch.id, count: codes.length, amount: formatMoney(batch.amount) }, 'redeem batch generated');
    reply.header('cache-control', 'no-store');
    reply.code(201);
    return { batch: batchView(batch), codes: codes.map((c) => ({ id: c.id, code: c.code, display: c.display })), csv: redeemCodesCsv(batch, codes) };
  });

  app.get('/api/admin/redeem/batches', async (req) => {
    await requireStaff(ctx, req, 'redeem.batches');
    const q = parseInput(ListQuery, req.query);
    return { data: (await listRedeemBatches(ctx.db, q)).map(batchView) };
  });

  app.get<{ Params: { id: string } }>('/api/admin/redeem/batches/:id/codes', async (req) => {
    const actor = await requireStaff(ctx, req, 'redeem.codes');
    const q = parseInput(CodesQuery, req.query);
    return { data: (await listBatchCodes(ctx.db, req.params.id, { now: ctx.now(), limit: q.limit, after: q.after })).map((c) => codeView(c, actor)) };
  });

  app.post<{ Params: { id: string } }>('/api/admin/redeem/batches/:id/disable', async (req) => {
    const actor = await requireStaff(ctx, req, 'redeem.disableBatch');
    const body = parseInput(ReasonBody, req.body);
    const r = await disableRedeemBatch(ctx.db, { batchId: req.params.id, reason: body.reason, actor, now: ctx.now() });
    return { batch: batchView(r.batch), codes_disabled: r.codesDisabled, replayed: r.replayed };
  });

  app.post<{ Params: { id: string } }>('/api/admin/redeem/codes/:id/disable', async (req) => {
    const actor = await requireStaff(ctx, req, 'redeem.disableCode');
    const body = parseInput(ReasonBody, req.body);
    const r = await disableRedeemCode(ctx.db, { codeId: req.params.id, reason: body.reason, actor, now: ctx.now() });
    return { id: r.codeId, code: r.display, status: 'disabled', replayed: r.replayed };
  });

  app.post<{ Params: { id: string } }>('/api/admin/redeem/redemptions/:id/reverse', async (req) => {
    const actor = await requireStaff(ctx, req, 'redeem.reverse');
    const body = parseInput(ReverseBody, req.body);
    const r = await reverseRedemption(ctx.db, { redemptionId: req.params.id, reason: body.reason, actor, now: ctx.now() });
    return {
      redemption_id: r.redemption.id,
      code: r.redemption.code,
      user_id: r.redemption.userId,
      status: r.redemption.status,
      amount: formatMoney(r.reversal.amount),
      reversal_transfer_id: r.reversal.id,
      replayed: r.replayed,
    };
  });

  // Evidence for "my code doesn't work": every attempt of a user, a code or an IP.
  app.get('/api/admin/redeem/attempts', async (req) => {
    await requireStaff(ctx, req, 'redeem.attempts');
    const q = parseInput(AttemptsQuery, req.query);
    const attempts = await listRedeemAttempts(ctx.db, { userId: q.user_id, codeId: q.code_id, ip: q.ip, limit: q.limit, before: q.before });
    return { data: attempts.map((a) => ({ ...attemptView(a), user_id: a.userId, code_id: a.codeId })) };
  });
}
