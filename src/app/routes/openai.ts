import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context.ts';
import { TallyError } from '../../lib/errors.ts';
import { modelsFor } from '../../gateway/charge/admit.ts';
import { openAIError } from '../../gateway/protocols/openai/errors.ts';
import { anthropicApiKey } from '../../gateway/protocols/anthropic/index.ts';
import { anthropicError } from '../../gateway/protocols/anthropic/errors.ts';
import { geminiError } from '../../gateway/protocols/gemini/errors.ts';
import { geminiModelGet, geminiModelList, speaksGemini } from './gemini.ts';

function modelObject(id: string, created: number) {
  return { id, object: 'model', created: Math.floor(created / 1000), owned_by: 'tally' };
}

/** Anthropic's model object (GET /v1/models with anthropic-version). */
function anthropicModelObject(id: string, created: number) {
  return { type: 'model', id, display_name: id, created_at: new Date(created).toISOString() };
}

/** A request from an Anthropic client: Anthropic's SDKs and Claude Code always send anthropic-version. */
const speaksAnthropic = (req: FastifyRequest) => req.headers['anthropic-version'] !== undefined;

// The OpenAI-compatible API under every configured prefix (/v1 and /api/v1 by default).
// GET /models answers in Anthropic's shape (list, errors, request-id) when the caller speaks Anthropic.
export function openaiRoutes(app: FastifyInstance, ctx: AppContext) {
  const errorShape = async (req: FastifyRequest, reply: { header(k: string, v: string): unknown }) => {
    if (speaksGemini(req)) (req as { errorShape?: unknown }).errorShape = geminiError;
    else if (speaksAnthropic(req)) {
      (req as { errorShape?: unknown }).errorShape = (e: TallyError) => anthropicError(e, req.id);
      reply.header('request-id', req.id);
    } else (req as { errorShape?: unknown }).errorShape = openAIError;
  };
  const auth = (req: FastifyRequest) => ctx.keys.authenticate(anthropicApiKey(req.headers), req.ip);
  const created = (id: string, fallback: number) => ctx.catalog.prices.get(id)?.updatedAt ?? fallback;

  for (const prefix of ctx.config.apiPrefixes) {
    // POST chat/completions, completions, embeddings and messages are served by relayFastPath.ts (gateway/protocols/).

    app.get(prefix + '/models', { onRequest: errorShape }, async (req) => {
      if (speaksGemini(req)) return geminiModelList(ctx, req); // the Gemini SDK with apiVersion "v1" (routes/gemini.ts)
      const p = await auth(req);
      const ids = modelsFor(ctx.catalog, p);
      if (speaksAnthropic(req)) {
        const data = ids.map((m) => anthropicModelObject(m, created(m, p.key.createdAt)));
        return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
      }
      return { object: 'list', data: ids.map((m) => modelObject(m, created(m, p.key.createdAt))) };
    });

    app.get<{ Params: { '*': string } }>(prefix + '/models/*', { onRequest: errorShape }, async (req) => {
      if (speaksGemini(req)) return geminiModelGet(ctx, req, req.params['*']);
      const p = await auth(req);
      const id = req.params['*'];
      if (!modelsFor(ctx.catalog, p).includes(id)) {
        throw new TallyError('model_not_found', `the model "${id}" does not exist or this key may not use it`, { param: 'model' });
      }
      return speaksAnthropic(req) ? anthropicModelObject(id, created(id, Date.now())) : modelObject(id, created(id, Date.now()));
    });
  }
}
