import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { requireUser } from '../auth.ts';
import { accountDeps } from '../accountDeps.ts';
import { requireVerified } from '../../accounts/verification.ts';
import { parseInput, parseExpiry } from '../../lib/validate.ts';
import { createApiKey, listApiKeys, revokeApiKey, setKeyBudget, setKeyLimits, type ApiKey } from '../../accounts/apiKeys.ts';
import { TallyError } from '../../lib/errors.ts';
import { keyView } from '../../accounts/present.ts';
import { parsePositiveMoney } from '../../ledger/money.ts';
import { keyBudgetRef, keyBudgetStatus, parseBudgetPeriod } from '../../gateway/budgets.ts';

/** A key's (or user's, or group's) own limits: requests per minute, tokens per minute, requests in flight; null clears one. */
export const LimitFields = {
  rpm: z.number().int().nullable().optional(),
  tpm: z.number().int().nullable().optional(),
  concurrency: z.number().int().nullable().optional(),
};
import { requireTeamRole } from '../../teams/index.ts';

const CreateKeyBody = z.object({
  name: z.string().min(1).max(100).optional(),
  label: z.enum(['live', 'test']).optional(),
  expires_at: z.string().max(40).nullable().optional(),
  limit: z.string().max(40).nullable().optional(),
  models: z.array(z.string().min(1).max(200)).max(200).nullable().optional(),
  ip_allowlist: z.array(z.string().min(1).max(64)).max(100).nullable().optional(),
  ...LimitFields,
  budget: z.string().max(40).nullable().optional(),
  budget_period: z.string().max(10).nullable().optional(),
  /** A team key: spends the team's wallet; any active member may create one for themselves. */
  team: z.string().min(1).max(64).optional(),
});

// A key's budget: both fields (an amount such as "5.00" and day|week|month|total), or both null to remove it.
const BudgetBody = z.object({
  budget: z.string().max(40).nullable(),
  budget_period: z.string().max(10).nullable(),
});

const budgetAmount = (v: string | null | undefined) => (v ? parsePositiveMoney(v, 'budget') : null);

const LimitsBody = z.object(LimitFields);

export function keyRoutes(app: FastifyInstance, ctx: AppContext) {
  app.post('/api/keys', async (req, reply) => {
    const user = await requireUser(ctx, req);
    requireVerified(accountDeps(ctx), user); // an unproved address may look, not spend or hand out keys
    const body = parseInput(CreateKeyBody, req.body);
    const team = body.team ? (await requireTeamRole(ctx.db, body.team, user.id)).team : null;
    const { key, secret } = await createApiKey(
      ctx.db,
      {
        userId: user.id,
        name: body.name,
        label: body.label,
        expiresAt: parseExpiry(body.expires_at),
        spendLimit: body.limit ? parsePositiveMoney(body.limit, 'limit') : null,
        models: body.models ?? null,
        ipAllowlist: body.ip_allowlist ?? null,
        limits: { rpm: body.rpm, tpm: body.tpm, concurrency: body.concurrency },
        budget: budgetAmount(body.budget),
        budgetPeriod: parseBudgetPeriod(body.budget_period),
        teamId: team?.id ?? null,
      },
      ctx.now(),
    );
    reply.code(201);
    // The only time the full key is ever returned.
    return { ...(await view(key)), key: secret };
  });

  /** A key as the API shows it, with its budget's current period when it has one. */
  const view = async (k: ApiKey) => ({ ...keyView(k), budget_status: await keyBudgetStatus(ctx.db, k, ctx.now(), ctx.config.timeZone) });

  app.get('/api/keys', async (req) => {
    const user = await requireUser(ctx, req);
    const keys = await listApiKeys(ctx.db, user.id);
    return { data: await Promise.all(keys.map(view)) };
  });

  // Sets or removes a key's budget. What the key spent in the current period stays counted against the new amount.
  app.patch<{ Params: { id: string } }>('/api/keys/:id', async (req) => {
    const user = await requireUser(ctx, req);
    const body = parseInput(BudgetBody, req.body);
    const { key, hash } = await setKeyBudget(ctx.db, {
      userId: user.id,
      keyId: req.params.id,
      budget: budgetAmount(body.budget),
      budgetPeriod: parseBudgetPeriod(body.budget_period),
    });
    ctx.book.forgetBudget(keyBudgetRef(key.id));
    // Drops the key from every instance's key cache.
    await ctx.events.publish({ type: 'key_changed', hash });
    return view(key);
  });

  // The key's own limits (its owner sets them; null clears one, an absent field keeps it). Every instance re-reads the key.
  app.post<{ Params: { id: string } }>('/api/keys/:id/limits', async (req) => {
    const user = await requireUser(ctx, req);
    const body = parseInput(LimitsBody, req.body);
    const mine = (await listApiKeys(ctx.db, user.id)).find((k) => k.id === req.params.id);
    if (!mine) throw new TallyError('key_not_found', 'no such API key on this account');
    const key = await setKeyLimits(ctx.db, mine.id, body);
    await ctx.events.publish({ type: 'user_changed', userId: user.id });
    return keyView(key);
  });

  app.delete<{ Params: { id: string } }>('/api/keys/:id', async (req) => {
    const user = await requireUser(ctx, req);
    const { key, hash } = await revokeApiKey(ctx.db, { userId: user.id, keyId: req.params.id, now: ctx.now() });
    await ctx.events.publish({ type: 'key_changed', hash });
    return keyView(key);
  });
}
