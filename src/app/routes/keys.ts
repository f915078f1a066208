import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { requireUser } from '../auth.ts';
import { parseInput } from '../../lib/validate.ts';
import { createApiKey, listApiKeys, revokeApiKey, type ApiKey } from '../../accounts/apiKeys.ts';
import { parsePositiveMoney, formatMoney } from '../../ledger/money.ts';
import { TallyError } from '../../lib/errors.ts';

const CreateKeyBody = z.object({
  name: z.string().min(1).max(100).optional(),
  label: z.enum(['live', 'test']).optional(),
  expires_at: z.string().max(40).nullable().optional(),
  limit: z.string().max(40).nullable().optional(),
  models: z.array(z.string().min(1).max(200)).max(200).nullable().optional(),
  ip_allowlist: z.array(z.string().min(1).max(64)).max(100).nullable().optional(),
});

export function keyView(k: ApiKey) {
  return {
    id: k.id,
    name: k.name,
    display: k.display,
    label: k.label,
    status: k.status,
    expires_at: k.expiresAt === null ? null : new Date(k.expiresAt).toISOString(),
    limit: k.spendLimit === null ? null : formatMoney(k.spendLimit),
    spent: formatMoney(k.spent),
    models: k.models,
    ip_allowlist: k.ipAllowlist,
    created_at: new Date(k.createdAt).toISOString(),
    last_used_at: k.lastUsedAt === null ? null : new Date(k.lastUsedAt).toISOString(),
  };
}

export function parseExpiry(s: string | null | undefined): number | null {
  if (!s) return null;
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new TallyError('invalid_expiry', `expires_at "${s}" is not an ISO date such as 2027-01-31T00:00:00Z`, { param: 'expires_at' });
  return t;
}

export function keyRoutes(app: FastifyInstance, ctx: AppContext) {
  app.post('/api/keys', async (req, reply) => {
    const user = await requireUser(ctx, req);
    const body = parseInput(CreateKeyBody, req.body);
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
      },
      ctx.now(),
    );
    reply.code(201);
    // The only time the full key is ever returned.
    return { ...keyView(key), key: secret };
  });

  app.get('/api/keys', async (req) => {
    const user = await requireUser(ctx, req);
    return { data: (await listApiKeys(ctx.db, user.id)).map(keyView) };
  });

  app.delete<{ Params: { id: string } }>('/api/keys/:id', async (req) => {
    const user = await requireUser(ctx, req);
    const { key, hash } = await revokeApiKey(ctx.db, { userId: user.id, keyId: req.params.id, now: ctx.now() });
    await ctx.events.publish({ type: 'key_revoked', hash });
    return keyView(key);
  });
}
