import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../../context.ts';
import { requireStaff } from '../../auth.ts';
import { parseInput } from '../../../lib/validate.ts';
import { SUPPORTED_CHANNEL_TYPES } from '../../../gateway/providers/index.ts';
import {
  createChannel,
  findChannel,
  setChannelStatus,
  setChannelAutoRecover,
  updateChannel,
  channelUpdateAudit,
  CHANNEL_TYPES,
  type ChannelType,
} from '../../../gateway/channels.ts';
import { channelHealthViews } from '../../../ops/channelHealth.ts';
import { setModelPrice, listPrices, parseImageSizePrices, MODEL_KINDS, type ModelKind } from '../../../gateway/pricing.ts';
import { upsertGroup, listGroups, parseMultiplier, type Group } from '../../../gateway/groups.ts';
import { LimitFields } from '../keys.ts';
import { testChannel } from '../../../gateway/channelTest.ts';
import { channelView, priceView } from '../../../gateway/present.ts';
import { parseMoney, formatMoney } from '../../../ledger/money.ts';
import { recordAudit } from '../../../audit/index.ts';
import { explainUsage } from '../../../gateway/usageLog.ts';
import { setUpstreamCost, upstreamCostView, type UpstreamCost } from '../../../gateway/upstreamCost.ts';
import { TallyError } from '../../../lib/errors.ts';

const ChannelBody = z.object({
  name: z.string().min(1).max(100),
  type: z.enum(CHANNEL_TYPES as [ChannelType, ...ChannelType[]]),
  base_url: z.string().min(1).max(500),
  api_key: z.string().max(500).optional(),
  /** Several upstream keys, rotated, each with its own breaker. */
  api_keys: z.array(z.string().min(1).max(500)).max(100).optional(),
  /** Azure OpenAI only: the api-version sent with every request. */
  api_version: z.string().max(40).optional(),
  /** openai only: the upstream also serves POST <base>/responses (Responses callers pass through, previous_response_id works). */
  responses_api: z.boolean().optional(),
  models: z.array(z.string().min(1).max(200)).min(1).max(500),
  model_map: z.record(z.string(), z.string()).optional(),
  priority: z.number().int().min(0).max(1_000_000).optional(),
  weight: z.number().int().min(0).max(1_000_000).optional(),
  connect_timeout_ms: z.number().int().min(100).max(600_000).optional(),
  first_byte_timeout_ms: z.number().int().min(100).max(3_600_000).optional(),
  total_timeout_ms: z
    .number()
    .int()
    .min(100)
    .max(24 * 3_600_000)
    .optional(),
  /** Probes enable the channel again after consecutive healthy probes when Tally disabled it (default true). */
  auto_recover: z.boolean().optional(),
});

/**
 * PATCH: only the fields sent change. Keys: api_keys replaces them all, or
 * add_api_keys / remove_api_keys (each by index or last 4 characters) edit
 * the list; none of them: the keys stay. Unknown fields are refused, so a
 * misspelt one is not silently ignored.
 */
const ChannelPatchBody = ChannelBody.omit({ api_key: true })
  .partial()
  .extend({
    add_api_keys: z.array(z.string().min(1).max(500)).max(100).optional(),
    remove_api_keys: z
      .array(z.union([z.string().min(1).max(20), z.number().int().min(0)]))
      .max(100)
      .optional(),
  })
  .strict();

const PriceBody = z.object({
  model: z.string().min(1).max(200),
  /** Required unless a media price (per_image, per_second, per_request) is set. */
  input: z.string().max(40).optional(),
  output: z.string().max(40).optional(),
  cached_input: z.string().max(40).optional(),
  cache_write: z.string().max(40).optional(),
  cache_write_1h: z.string().max(40).optional(),
  /** The long-context tier: above tier_above prompt tokens, tier_input / tier_output apply to the whole request (all three or none). */
  tier_above: z.number().int().min(1).optional(),
  tier_input: z.string().max(40).optional(),
  tier_output: z.string().max(40).optional(),
  /** Media prices: any one alone prices a model. */
  per_image: z.string().max(40).optional(),
  per_image_sizes: z.record(z.string().max(20), z.string().max(40)).optional(),
  per_second: z.string().max(40).optional(),
  per_request: z.string().max(40).optional(),
  max_seconds: z.number().int().min(1).optional(),
  kind: z.enum(MODEL_KINDS as [ModelKind, ...ModelKind[]]).optional(),
  max_output_tokens: z.number().int().min(1).optional(),
  /** What the operator pays upstream per 1M tokens (the dashboard's margin): input and output together; null clears it; absent: unchanged. */
  upstream_input: z.string().max(40).nullable().optional(),
  upstream_output: z.string().max(40).nullable().optional(),
  upstream_cached_input: z.string().max(40).nullable().optional(),
});

/** The upstream cost a price body sets: undefined (unchanged), null (cleared) or a cost. */
function upstreamCostOf(b: z.infer<typeof PriceBody>): UpstreamCost | null | undefined {
  if (b.upstream_input === undefined && b.upstream_output === undefined && b.upstream_cached_input === undefined) return undefined;
  if (b.upstream_input === null && b.upstream_output === null) return null;
  if (typeof b.upstream_input !== 'string' || typeof b.upstream_output !== 'string')
    throw new TallyError('invalid_price', 'an upstream cost needs both upstream_input and upstream_output (per 1M tokens), or both null to clear it', {
      param: typeof b.upstream_input !== 'string' ? 'upstream_input' : 'upstream_output',
    });
  return {
    inputPer1M: parseMoney(b.upstream_input, { field: 'upstream_input' }),
    outputPer1M: parseMoney(b.upstream_output, { field: 'upstream_output' }),
    cachedInputPer1M: typeof b.upstream_cached_input === 'string' ? parseMoney(b.upstream_cached_input, { field: 'upstream_cached_input' }) : null,
  };
}

const GroupBody = z.object({
  name: z.string().min(1).max(64),
  multiplier: z.string().max(20),
  models: z.array(z.string()).nullable().optional(),
  // Limits for each user of the group (unless their key or account sets its own); null clears one.
  ...LimitFields,
});

const groupView = (g: Group) => ({ name: g.name, multiplier: formatMoney(g.multiplierPpm, 1), models: g.models, ...g.limits });

export function adminGatewayRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/api/admin/channels', async (req) => {
    await requireStaff(ctx, req, 'channels.list');
    await ctx.catalog.reload();
    // The types a channel can be created with: those Tally has a provider adapter for (the console's picker).
    const types = SUPPORTED_CHANNEL_TYPES.filter((t) => t !== 'demo');
    // Each with its recent probes and errors (src/ops/channelHealth.ts).
    return { data: await channelHealthViews(ctx.db, ctx.catalog, ctx.catalog.channels), supported_types: types };
  });

  app.post('/api/admin/channels', async (req, reply) => {
    const actor = await requireStaff(ctx, req, 'channels.create');
    const b = parseInput(ChannelBody, req.body);
    const c = await createChannel(ctx.db, ctx.config.secret, {
      name: b.name,
      type: b.type,
      baseUrl: b.base_url,
      apiKey: b.api_key,
      apiKeys: b.api_keys,
      apiVersion: b.api_version,
      responsesApi: b.responses_api,
      models: b.models,
      modelMap: b.model_map,
      priority: b.priority,
      weight: b.weight,
      connectTimeoutMs: b.connect_timeout_ms,
      firstByteTimeoutMs: b.first_byte_timeout_ms,
      totalTimeoutMs: b.total_timeout_ms,
    });
    if (b.auto_recover === false) {
      await setChannelAutoRecover(ctx.db, c.id, false);
      c.autoRecover = false;
    }
    await recordAudit(ctx.db, {
      actor,
      action: 'channel.create',
      target: c.id,
      data: { name: c.name, type: c.type, base_url: c.baseUrl, models: c.models, auto_recover: c.autoRecover },
    });
    await ctx.events.publish({ type: 'catalog_changed' });
    reply.code(201);
    return channelView(ctx.catalog, c);
  });

  app.patch<{ Params: { id: string } }>('/api/admin/channels/:id', async (req) => {
    const actor = await requireStaff(ctx, req, 'channels.update');
    const b = parseInput(ChannelPatchBody, req.body);
    // The change and its audit row commit together (an edit without its record cannot exist).
    const u = await ctx.db.transaction().execute(async (tx) => {
      const u = await updateChannel(tx, ctx.config.secret, req.params.id, {
        name: b.name,
        type: b.type,
        baseUrl: b.base_url,
        apiKeys: b.api_keys,
        addApiKeys: b.add_api_keys,
        removeApiKeys: b.remove_api_keys,
        apiVersion: b.api_version,
        responsesApi: b.responses_api,
        models: b.models,
        modelMap: b.model_map,
        priority: b.priority,
        weight: b.weight,
        connectTimeoutMs: b.connect_timeout_ms,
        firstByteTimeoutMs: b.first_byte_timeout_ms,
        totalTimeoutMs: b.total_timeout_ms,
      });
      if (b.auto_recover !== undefined && b.auto_recover !== u.channel.autoRecover) {
        await setChannelAutoRecover(tx, u.channel.id, b.auto_recover);
        u.channel.autoRecover = b.auto_recover;
        u.changed.push('autoRecover');
      }
      await recordAudit(tx, { actor, action: 'channel.update', target: u.channel.id, data: channelUpdateAudit(u) });
      return u;
    });
    await ctx.events.publish({ type: 'catalog_changed' });
    return channelView(ctx.catalog, u.channel);
  });

  app.post<{ Params: { id: string; action: string } }>('/api/admin/channels/:id/:action', async (req) => {
    const actor = await requireStaff(ctx, req, 'channels.action');
    const action = req.params.action;
    const c = await findChannel(ctx.db, req.params.id);
    if (action === 'test') return testChannel(ctx.catalog, c.id);
    if (action !== 'disable' && action !== 'enable') throw Object.assign(new Error(`unknown action ${action}`), { statusCode: 404 });
    await setChannelStatus(ctx.db, {
      id: c.id,
      status: action === 'disable' ? 'disabled' : 'enabled',
      reason: action === 'disable' ? 'disabled by an operator' : null,
    });
    await recordAudit(ctx.db, { actor, action: `channel.${action}`, target: c.id });
    await ctx.events.publish({ type: 'catalog_changed' });
    return channelView(ctx.catalog, await findChannel(ctx.db, c.id));
  });

  app.get('/api/admin/models', async (req) => {
    await requireStaff(ctx, req, 'models.list');
    return { data: (await listPrices(ctx.db)).map(priceView) };
  });

  app.post('/api/admin/models', async (req) => {
    const actor = await requireStaff(ctx, req, 'models.set');
    const b = parseInput(PriceBody, req.body);
    const upstream = upstreamCostOf(b);
    // The price and its upstream cost change together, with the audit row.
    const p = await ctx.db.transaction().execute(async (tx) => {
      const p = await setModelPrice(tx, {
        model: b.model,
        inputPer1M: b.input === undefined ? undefined : parseMoney(b.input, { field: 'input' }),
        outputPer1M: b.output === undefined ? undefined : parseMoney(b.output, { field: 'output' }),
        cachedInputPer1M: b.cached_input === undefined ? null : parseMoney(b.cached_input, { field: 'cached_input' }),
        cacheWritePer1M: b.cache_write === undefined ? null : parseMoney(b.cache_write, { field: 'cache_write' }),
        cacheWrite1hPer1M: b.cache_write_1h === undefined ? null : parseMoney(b.cache_write_1h, { field: 'cache_write_1h' }),
        tierAbove: b.tier_above ?? null,
        tierInputPer1M: b.tier_input === undefined ? null : parseMoney(b.tier_input, { field: 'tier_input' }),
        tierOutputPer1M: b.tier_output === undefined ? null : parseMoney(b.tier_output, { field: 'tier_output' }),
        perImage: b.per_image === undefined ? null : parseMoney(b.per_image, { field: 'per_image' }),
        perImageSizes: b.per_image_sizes === undefined ? null : parseImageSizePrices(b.per_image_sizes),
        perSecond: b.per_second === undefined ? null : parseMoney(b.per_second, { field: 'per_second' }),
        perRequest: b.per_request === undefined ? null : parseMoney(b.per_request, { field: 'per_request' }),
        maxSeconds: b.max_seconds ?? null,
        kind: b.kind,
        maxOutputTokens: b.max_output_tokens,
      });
      if (upstream !== undefined) await setUpstreamCost(tx, p.model, upstream);
      await recordAudit(tx, { actor, action: 'model.set_price', target: p.model, data: { ...priceView(p), ...upstreamCostView(upstream) } });
      return p;
    });
    await ctx.events.publish({ type: 'catalog_changed' });
    return { ...priceView(p), ...upstreamCostView(upstream) };
  });

  app.get('/api/admin/groups', async (req) => {
    await requireStaff(ctx, req, 'groups.list');
    return { data: (await listGroups(ctx.db)).map(groupView) };
  });

  app.post('/api/admin/groups', async (req) => {
    const actor = await requireStaff(ctx, req, 'groups.set');
    const b = parseInput(GroupBody, req.body);
    const g = await upsertGroup(ctx.db, {
      name: b.name,
      multiplierPpm: parseMultiplier(b.multiplier),
      models: b.models ?? null,
      limits: { rpm: b.rpm, tpm: b.tpm, concurrency: b.concurrency },
    });
    await recordAudit(ctx.db, { actor, action: 'group.upsert', target: g.name, data: { multiplier: b.multiplier, models: g.models, ...g.limits } });
    await ctx.events.publish({ type: 'catalog_changed' });
    return groupView(g);
  });

  app.get<{ Params: { requestId: string } }>('/api/admin/requests/:requestId', async (req) => {
    await requireStaff(ctx, req, 'requests.get');
    return explainUsage(ctx.db, { userId: null, requestId: req.params.requestId });
  });
}
