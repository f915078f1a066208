import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context.ts';
import { TallyError } from '../../lib/errors.ts';
import { modelsFor } from '../../gateway/charge/admit.ts';
import { openAIError } from '../../gateway/protocols/openai/errors.ts';

function modelObject(id: string, created: number) {
  return { id, object: 'model', created: Math.floor(created / 1000), owned_by: 'tally' };
}

// The OpenAI-compatible API under every configured prefix (/v1 and /api/v1 by default).
export function openaiRoutes(app: FastifyInstance, ctx: AppContext) {
  const openAIShape = async (req: FastifyRequest) => {
    (req as { errorShape?: unknown }).errorShape = openAIError;
  };
  const auth = (req: FastifyRequest) => ctx.keys.authenticate(req.headers.authorization?.replace(/^Bearer\s+/i, '').trim(), req.ip);

  for (const prefix of ctx.config.apiPrefixes) {
    // POST chat/completions, completions and embeddings are served by relayFastPath.ts (gateway/protocols/openai/).

    app.get(prefix + '/models', { onRequest: openAIShape }, async (req) => {
      const p = await auth(req);
      const created = p.key.createdAt;
      return { object: 'list', data: modelsFor(ctx.catalog, p).map((m) => modelObject(m, ctx.catalog.prices.get(m)?.updatedAt ?? created)) };
    });

    app.get<{ Params: { '*': string } }>(prefix + '/models/*', { onRequest: openAIShape }, async (req) => {
      const p = await auth(req);
      const id = req.params['*'];
      if (!modelsFor(ctx.catalog, p).includes(id)) {
        throw new TallyError('model_not_found', `the model "${id}" does not exist or this key may not use it`, { param: 'model' });
      }
      return modelObject(id, ctx.catalog.prices.get(id)?.updatedAt ?? Date.now());
    });
  }
}
