import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context.ts';
import { TallyError } from '../../lib/errors.ts';
import { modelsFor } from '../../gateway/charge/admit.ts';
import { geminiApiKey, geminiRoots } from '../../gateway/protocols/gemini/index.ts';
import { geminiError } from '../../gateway/protocols/gemini/errors.ts';

// GET /v1beta/models and GET /v1beta/models/{model} in Gemini's shape (the
// SDK's models.list / models.get), under every Gemini root of every API
// prefix (protocols/gemini: /v1beta, /api/v1beta). The models are the ones
// GET /v1/models lists for the same key (admit.ts modelsFor). On a root that
// is also an API prefix (/v1: the SDK with apiVersion "v1"), GET /models is
// the OpenAI route (openai.ts), which answers in this shape when the caller
// speaks Gemini (an x-goog-api-key, x-goog-api-client or ?key=). A POST of a
// method the relay does not serve (:embedContent…) gets Google's 404 shape.
//
// Tally knows a model's output cap (its price's max output) but not its
// context window, so outputTokenLimit is given and inputTokenLimit is not
// (the field is optional in Google's Model).

/** A request from a Gemini client: the SDK sends x-goog-api-client, and its key as x-goog-api-key; REST examples use ?key=. */
export function speaksGemini(req: FastifyRequest): boolean {
  if (req.headers['x-goog-api-key'] !== undefined || req.headers['x-goog-api-client'] !== undefined) return true;
  const q = req.url.indexOf('?');
  return q >= 0 && new URLSearchParams(req.url.slice(q + 1)).has('key');
}

export function geminiModelObject(ctx: AppContext, id: string) {
  const price = ctx.catalog.prices.get(id);
  const chat = (price?.kind ?? 'chat') === 'chat';
  return {
    name: `models/${id}`,
    version: 'tally',
    displayName: id,
    ...(chat && price ? { outputTokenLimit: price.maxOutputTokens } : {}),
    supportedGenerationMethods: chat ? ['generateContent', 'streamGenerateContent', 'countTokens'] : [],
  };
}

/** The key's models in Gemini's list shape. */
export async function geminiModelList(ctx: AppContext, req: FastifyRequest) {
  const p = await ctx.keys.authenticate(geminiApiKey(req.headers, req.url), req.ip);
  return { models: modelsFor(ctx.catalog, p).map((m) => geminiModelObject(ctx, m)) };
}

/** One model in Gemini's shape (`id` with or without its models/ prefix); 404 NOT_FOUND when the key may not use it. */
export async function geminiModelGet(ctx: AppContext, req: FastifyRequest, id: string) {
  const p = await ctx.keys.authenticate(geminiApiKey(req.headers, req.url), req.ip);
  const model = id.startsWith('models/') ? id.slice(7) : id;
  if (!modelsFor(ctx.catalog, p).includes(model)) {
    throw new TallyError('model_not_found', `the model "${model}" does not exist or this key may not use it`, { param: 'model' });
  }
  return geminiModelObject(ctx, model);
}

/** Sets the Gemini error shape on a request (the fastify error handler writes it). */
export const geminiErrorShape = async (req: FastifyRequest) => {
  (req as { errorShape?: unknown }).errorShape = geminiError;
};

export function geminiRoutes(app: FastifyInstance, ctx: AppContext) {
  const prefixes = new Set(ctx.config.apiPrefixes);
  const all = new Set<string>();
  for (const prefix of ctx.config.apiPrefixes) for (const root of geminiRoots(prefix)) all.add(root);
  for (const root of all) {
    if (!prefixes.has(root)) {
      app.get(root + '/models', { onRequest: geminiErrorShape }, (req) => geminiModelList(ctx, req));
      app.get<{ Params: { '*': string } }>(root + '/models/*', { onRequest: geminiErrorShape }, (req) => geminiModelGet(ctx, req, req.params['*']));
    }
    // A method the relay does not serve (the fast path takes generateContent, streamGenerateContent and countTokens):
    // a 404 in Google's shape naming what is served, rather than the account API's.
    app.post<{ Params: { '*': string } }>(root + '/models/*', { onRequest: geminiErrorShape }, async (req) => {
      const method = /:([A-Za-z]+)$/.exec(req.params['*'])?.[1];
      throw new TallyError(
        'route_not_found',
        `${method ? `the Gemini method "${method}" is` : 'this path is'} not served here; Tally serves :generateContent, :streamGenerateContent and :countTokens`,
      );
    });
  }
}
