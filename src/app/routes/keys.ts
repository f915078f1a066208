import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { requireUser } from '../auth.ts';
import { parseInput, parseExpiry } from '../../lib/validate.ts';
import { createApiKey, listApiKeys, revokeApiKey } from '../../accounts/apiKeys.ts';
import { keyView } from '../../accounts/present.ts';
import { parsePositiveMoney } from '../../ledger/money.ts';
import { requireTeamRole } from '../../teams/index.ts';

const CreateKeyBody = z.object({
  name: z.string().min(1).max(100).optional(),
  label: z.enum(['live', 'test']).optional(),
  expires_at: z.string().max(40).nullable().optional(),
  limit: z.string().max(40).nullable().optional(),
  models: z.array(z.string().min(1).max(200)).max(200).nullable().optional(),
  ip_allowlist: z.array(z.string().min(1).max(64)).max(100).nullable().optional(),
  /** A team key: spends the team's wallet; any active member may create one for themselves. */
  team: z.string().min(1).max(64).optional(),
});

export function keyRoutes(app: FastifyInstance, ctx: AppContext) {
  app.post('/api/keys', async (req, reply) => {
    const user = await requireUser(ctx, req);
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
        teamId: team?.id ?? null,
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
