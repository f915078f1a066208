import type { Command } from 'commander';
import { limitOption } from './key.ts';
import { runCommand } from '../run.ts';
import {
  createChannel,
  findChannel,
  setChannelStatus,
  setChannelAutoRecover,
  updateChannel,
  channelUpdateAudit,
  parseModelMap,
  type ChannelType,
} from '../../gateway/channels.ts';
import { channelHealthViews } from '../../ops/channelHealth.ts';
import { setModelPrice, listPrices, parseImageSizePrices } from '../../gateway/pricing.ts';
import { upsertGroup, parseMultiplier } from '../../gateway/groups.ts';
import { testChannel } from '../../gateway/channelTest.ts';
import { parseMoney, formatMoney } from '../../ledger/money.ts';
import { recordAudit } from '../../audit/index.ts';
import { channelView, mediaPriceText, priceView } from '../../gateway/present.ts';
import { TallyError } from '../../lib/errors.ts';
import { setUpstreamCost, upstreamCostView, type UpstreamCost } from '../../gateway/upstreamCost.ts';
import { modelImportCommand } from './modelImport.ts';

const list = (s?: string) =>
  s
    ? s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : [];
/** ", <label> X/1M" for a price that is set, else nothing. */
/** A model's media prices on its `model list` line, or ''. */
const mediaListText = (p: ReturnType<typeof priceView>) =>
  [
    p.kind === 'chat' ? '' : `  kind ${p.kind}`,
    p.per_image === undefined ? '' : `  per image ${p.per_image}`,
    ...Object.entries(p.per_image_sizes ?? {}).map(([size, v]) => `  ${size} ${v}`),
    p.per_second === undefined ? '' : `  per second ${p.per_second}`,
    p.per_request === undefined ? '' : `  per request ${p.per_request}`,
  ].join('');

/** A repeatable option's values, in order. */
const collectOption = (v: string, prev: string[]) => [...prev, v];

const optional = (label: string, v: bigint | null) => (v === null ? '' : `, ${label} ${formatMoney(v)}/1M`);

const int = (s: string | undefined, name: string) => {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n)) throw new TallyError('invalid_request', `--${name} must be a whole number`, { param: name });
  return n;
};

/** --auto-recover on|off (undefined when not given). */
function onOff(v: string | undefined, name: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'on' || v === 'off') return v === 'on';
  throw new TallyError('invalid_request', `--${name} takes on or off, not "${v}"`);
}

export function gatewayCommands(program: Command) {
  const channel = program.command('channel').description('upstream channels (a running server picks changes up within a few seconds)');
  channel
    .command('add')
    .requiredOption('--name <name>')
    .requiredOption('--type <type>', 'openai (any OpenAI-compatible upstream), anthropic (Claude), gemini (Google Gemini API) or azure (Azure OpenAI)')
    .requiredOption(
      '--base-url <url>',
      "as for the provider's own SDK: e.g. https://api.openai.com/v1 (openai), https://api.anthropic.com (anthropic), https://{resource}.openai.azure.com (azure; --map public=deployment)",
    )
    .option(
      '--api-key <key>',
      'the upstream API key (stored encrypted, never printed); repeat it for several keys, rotated',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--api-keys <k1,k2>', 'several upstream keys, comma-separated (rotated, each with its own breaker)')
    .option('--api-version <v>', 'azure only: the api-version sent with every request (default 2024-10-21)')
    .option('--responses-api', 'openai only: the upstream also serves POST <base>/responses natively (Codex CLI passes through; previous_response_id works)')
    .requiredOption('--models <a,b>', 'public model names this channel serves')
    .option('--priority <p>', 'higher is tried first', '0')
    .option('--weight <w>', 'share of traffic inside a priority tier', '1')
    .option('--map <public=upstream,...>', 'model name mapping')
    .option('--timeout-ms <ms>', 'time to first byte before failing over')
    .option('--auto-recover <on|off>', 'probes enable the channel again after healthy probes when Tally disabled it (default on)')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const autoRecover = onOff(o.autoRecover, 'auto-recover');
        const c = await createChannel(ctx.db, ctx.config.secret, {
          name: o.name,
          type: o.type as ChannelType,
          baseUrl: o.baseUrl,
          apiKeys: [...(o.apiKey ?? []), ...list(o.apiKeys)],
          apiVersion: o.apiVersion,
          responsesApi: o.responsesApi === true,
          models: list(o.models),
          modelMap: parseModelMap(o.map),
          priority: int(o.priority, 'priority'),
          weight: int(o.weight, 'weight'),
          firstByteTimeoutMs: int(o.timeoutMs, 'timeout-ms'),
        });
        if (autoRecover === false) {
          await setChannelAutoRecover(ctx.db, c.id, false);
          c.autoRecover = false;
        }
        await recordAudit(ctx.db, {
          actor: { type: 'cli' },
          action: 'channel.create',
          target: c.id,
          data: { name: c.name, type: c.type, base_url: c.baseUrl, models: c.models, auto_recover: c.autoRecover },
        });
        await ctx.catalog.reload();
        return { result: { ok: true, channel: channelView(ctx.catalog, c) }, human: `added channel ${c.name} (${c.id}) serving ${c.models.join(', ')}` };
      }),
    );
  const repeat = (v: string, prev: string[] = []) => [...prev, v];
  channel
    .command('update')
    .description('change a channel in place; options not given stay as they are (keys: --api-key replaces all, --add-api-key / --remove-api-key edit the list)')
    .argument('<idOrName>')
    .option('--name <name>')
    .option('--type <type>', 'refused unless it is the current type: a channel cannot change type (add a new channel instead)')
    .option('--base-url <url>')
    .option('--models <a,b>', 'the public model names this channel serves (replaces the list)')
    .option('--map <public=upstream,...>', 'model name mapping (replaces the map; "" clears it)')
    .option('--priority <p>')
    .option('--weight <w>')
    .option('--timeout-ms <ms>', 'time to first byte before failing over')
    .option('--connect-timeout-ms <ms>')
    .option('--total-timeout-ms <ms>')
    .option('--api-key <key>', 'replaces every upstream key; repeat it for several (never printed)', repeat)
    .option('--add-api-key <key>', 'adds an upstream key; repeatable', repeat)
    .option('--remove-api-key <hint|index>', 'removes a key by its last 4 characters (as `channel list` shows them) or its index from 0; repeatable', repeat)
    .option('--api-version <v>', 'azure only: the api-version sent with every request')
    .option('--responses-api', 'openai only: the upstream serves POST <base>/responses natively')
    .option('--no-responses-api', 'openai only: it does not (Responses callers are translated to chat completions)')
    .option('--auto-recover <on|off>', 'probes enable the channel again after healthy probes when Tally disabled it')
    .option('--json', 'print one JSON object')
    .action((idOrName, o) =>
      runCommand(o, async (ctx) => {
        const u = await ctx.db.transaction().execute(async (tx) => {
          const u = await updateChannel(tx, ctx.config.secret, idOrName, {
            name: o.name,
            type: o.type as ChannelType | undefined,
            baseUrl: o.baseUrl,
            models: o.models === undefined ? undefined : list(o.models),
            modelMap: o.map === undefined ? undefined : parseModelMap(o.map),
            priority: int(o.priority, 'priority'),
            weight: int(o.weight, 'weight'),
            firstByteTimeoutMs: int(o.timeoutMs, 'timeout-ms'),
            connectTimeoutMs: int(o.connectTimeoutMs, 'connect-timeout-ms'),
            totalTimeoutMs: int(o.totalTimeoutMs, 'total-timeout-ms'),
            apiKeys: o.apiKey,
            addApiKeys: o.addApiKey,
            removeApiKeys: o.removeApiKey,
            apiVersion: o.apiVersion,
            responsesApi: o.responsesApi,
          });
          const autoRecover = onOff(o.autoRecover, 'auto-recover');
          if (autoRecover !== undefined && autoRecover !== u.channel.autoRecover) {
            await setChannelAutoRecover(tx, u.channel.id, autoRecover);
            u.channel.autoRecover = autoRecover;
            u.changed.push('autoRecover');
          }
          await recordAudit(tx, { actor: { type: 'cli' }, action: 'channel.update', target: u.channel.id, data: channelUpdateAudit(u) });
          return u;
        });
        await ctx.catalog.reload();
        const keys = u.keys
          ? `; keys: ${u.keys.count}${u.keys.added.length ? `, added ${u.keys.added.join(' ')}` : ''}${u.keys.removed.length ? `, removed ${u.keys.removed.join(' ')}` : ''}`
          : '';
        return {
          result: { ok: true, changed: u.changed, channel: channelView(ctx.catalog, u.channel) },
          human: u.changed.length
            ? `updated channel ${u.channel.name} (${u.channel.id}): ${u.changed.join(', ')}${keys}`
            : `channel ${u.channel.name}: nothing to change`,
        };
      }),
    );
  channel
    .command('list')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const rows = await channelHealthViews(ctx.db, ctx.catalog, ctx.catalog.channels);
        return {
          result: { ok: true, channels: rows },
          human: rows.length
            ? rows.map(
                (c) =>
                  `${c.id}  ${c.name.padEnd(16)} ${c.type.padEnd(9)} p${c.priority} w${c.weight} ${c.status.padEnd(15)} ${c.models.join(',')}${c.status_reason ? `  (${c.status_reason})` : ''}${c.last_probe ? `  last probe ${c.last_probe.ok ? 'ok' : `FAILED ${c.last_probe.error_class}`} ${c.last_probe.at}` : ''}`,
              )
            : 'no channels',
        };
      }),
    );
  channel
    .command('test')
    .argument('<idOrName>')
    .option('--json', 'print one JSON object')
    .action((idOrName, o) =>
      runCommand(o, async (ctx) => {
        const c = await findChannel(ctx.db, idOrName);
        const r = await testChannel(ctx.catalog, c.id);
        return {
          result: { ...r },
          human: `${r.ok ? 'ok' : 'FAILED'}: ${r.channel} ${r.model} -> ${r.status} in ${r.latency_ms} ms: ${r.message}`,
          exitCode: r.ok ? 0 : 1,
        };
      }),
    );
  for (const action of ['disable', 'enable'] as const) {
    channel
      .command(action)
      .argument('<idOrName>')
      .option('--json', 'print one JSON object')
      .action((idOrName, o) =>
        runCommand(o, async (ctx) => {
          const c = await findChannel(ctx.db, idOrName);
          await setChannelStatus(ctx.db, {
            id: c.id,
            status: action === 'disable' ? 'disabled' : 'enabled',
            reason: action === 'disable' ? 'disabled by an operator' : null,
          });
          await recordAudit(ctx.db, { actor: { type: 'cli' }, action: `channel.${action}`, target: c.id });
          return { result: { ok: true, id: c.id, status: action === 'disable' ? 'disabled' : 'enabled' }, human: `${action}d channel ${c.name}` };
        }),
      );
  }

  const model = program.command('model').description('models and prices');
  model
    .command('set-price')
    .requiredOption('--model <name>')
    .option('--input <usd>', 'price per 1M input tokens, e.g. 0.15 (a speech model: per 1M input characters)')
    .option('--output <usd>', 'price per 1M output tokens, e.g. 0.60 (--input and --output are required unless a media price is set)')
    .option('--cached-input <usd>', 'price per 1M cached input tokens (cache reads); unset: the input price')
    .option('--cache-write <usd>', 'price per 1M tokens written to a 5-minute prompt cache; unset: the input price')
    .option('--cache-write-1h <usd>', 'price per 1M tokens written to a 1-hour prompt cache; unset: the input price')
    .option('--tier-above <tokens>', 'long-context tier: above this many prompt tokens the tier prices apply to the whole request')
    .option('--tier-input <usd>', 'long-context tier: price per 1M input tokens (with --tier-above and --tier-output)')
    .option('--tier-output <usd>', 'long-context tier: price per 1M output tokens (with --tier-above and --tier-input)')
    .option('--per-image <usd>', 'media: price per image returned (kind image)')
    .option('--per-image-size <size=usd>', 'media: price per image of one size, e.g. 1024x1536=0.06 (repeatable; other sizes: --per-image)', collectOption, [])
    .option('--per-second <usd>', 'media: price per second of audio (kind transcription) or of video (kind video)')
    .option('--per-request <usd>', 'media: price per request (any media kind)')
    .option('--max-seconds <n>', 'media: the most audio seconds a per-second request is held for when the file length cannot be read (default 3600)')
    .option(
      '--kind <kind>',
      'chat | embedding | image | speech | transcription | video (default: image with --per-image, transcription with --per-second, else chat)',
    )
    .option('--max-output <tokens>', 'output tokens reserved when a request sets no max_tokens', '4096')
    .option('--upstream-input <usd>', 'what you pay upstream per 1M input tokens (the dashboard margin; with --upstream-output)')
    .option('--upstream-output <usd>', 'what you pay upstream per 1M output tokens (with --upstream-input)')
    .option('--upstream-cached-input <usd>', 'what you pay upstream per 1M cached input tokens; unset: the upstream input cost')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        if ((o.upstreamInput === undefined) !== (o.upstreamOutput === undefined))
          throw new TallyError('invalid_price', 'an upstream cost needs both --upstream-input and --upstream-output', { param: 'upstream-input' });
        const upstream: UpstreamCost | undefined =
          o.upstreamInput === undefined
            ? undefined
            : {
                inputPer1M: parseMoney(o.upstreamInput, { field: 'upstream-input' }),
                outputPer1M: parseMoney(o.upstreamOutput, { field: 'upstream-output' }),
                cachedInputPer1M: o.upstreamCachedInput === undefined ? null : parseMoney(o.upstreamCachedInput, { field: 'upstream-cached-input' }),
              };
        const p = await setModelPrice(ctx.db, {
          model: o.model,
          inputPer1M: o.input === undefined ? undefined : parseMoney(o.input, { field: 'input' }),
          outputPer1M: o.output === undefined ? undefined : parseMoney(o.output, { field: 'output' }),
          cachedInputPer1M: o.cachedInput === undefined ? null : parseMoney(o.cachedInput, { field: 'cached-input' }),
          cacheWritePer1M: o.cacheWrite === undefined ? null : parseMoney(o.cacheWrite, { field: 'cache-write' }),
          cacheWrite1hPer1M: o.cacheWrite1h === undefined ? null : parseMoney(o.cacheWrite1h, { field: 'cache-write-1h' }),
          tierAbove: o.tierAbove === undefined ? null : int(o.tierAbove, 'tier-above'),
          tierInputPer1M: o.tierInput === undefined ? null : parseMoney(o.tierInput, { field: 'tier-input' }),
          tierOutputPer1M: o.tierOutput === undefined ? null : parseMoney(o.tierOutput, { field: 'tier-output' }),
          perImage: o.perImage === undefined ? null : parseMoney(o.perImage, { field: 'per-image' }),
          perImageSizes: o.perImageSize.length ? parseImageSizePrices(o.perImageSize) : null,
          perSecond: o.perSecond === undefined ? null : parseMoney(o.perSecond, { field: 'per-second' }),
          perRequest: o.perRequest === undefined ? null : parseMoney(o.perRequest, { field: 'per-request' }),
          maxSeconds: o.maxSeconds === undefined ? null : int(o.maxSeconds, 'max-seconds'),
          kind: o.kind,
          maxOutputTokens: int(o.maxOutput, 'max-output'),
        });
        if (upstream) await setUpstreamCost(ctx.db, p.model, upstream);
        await recordAudit(ctx.db, {
          actor: { type: 'cli' },
          action: 'model.set_price',
          target: p.model,
          data: { ...priceView(p), ...upstreamCostView(upstream) },
        });
        return {
          result: { ok: true, price: { ...priceView(p), ...upstreamCostView(upstream) } },
          human: `${p.model}${p.kind === 'chat' ? '' : ` (${p.kind})`}: input ${formatMoney(p.inputPer1M)}/1M, output ${formatMoney(p.outputPer1M)}/1M${optional('cached', p.cachedInputPer1M)}${optional('cache write 5m', p.cacheWritePer1M)}${optional('cache write 1h', p.cacheWrite1hPer1M)}${p.tierAbove === null ? '' : `; above ${p.tierAbove} prompt tokens: input ${formatMoney(p.tierInputPer1M!)}/1M, output ${formatMoney(p.tierOutputPer1M!)}/1M`}${mediaPriceText(p)}`,
        };
      }),
    );
  modelImportCommand(model);
  model
    .command('list')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const prices = (await listPrices(ctx.db)).map(priceView);
        return {
          result: { ok: true, models: prices },
          human: prices.length
            ? prices.map(
                (p) =>
                  `${p.model.padEnd(28)} in ${p.input_per_1m}/1M  out ${p.output_per_1m}/1M${[
                    ['cached', p.cached_input_per_1m],
                    ['cache write 5m', p.cache_write_per_1m],
                    ['cache write 1h', p.cache_write_1h_per_1m],
                  ]
                    .filter(([, v]) => v !== null)
                    .map(([k, v]) => `  ${k} ${v}/1M`)
                    .join(
                      '',
                    )}${p.tier_above === undefined ? '' : `  above ${p.tier_above}: in ${p.tier_input_per_1m}/1M out ${p.tier_output_per_1m}/1M`}${mediaListText(p)}`,
              )
            : 'no priced models',
        };
      }),
    );

  program
    .command('group')
    .description('pricing groups')
    .command('set')
    .requiredOption('--name <name>')
    .requiredOption('--multiplier <x>', 'price multiplier, e.g. 1.0 or 0.8')
    .option('--models <a,b>', 'models the group may use (default: all)')
    .option('--rpm <n>', 'requests per minute for each user of the group (unless their key or account sets its own), or none')
    .option('--tpm <n>', 'tokens per minute for each user of the group, or none')
    .option('--concurrency <n>', 'requests in flight at once for each user of the group, or none')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const g = await upsertGroup(ctx.db, {
          name: o.name,
          multiplierPpm: parseMultiplier(o.multiplier),
          models: o.models ? list(o.models) : null,
          limits: { rpm: limitOption(o.rpm, 'rpm'), tpm: limitOption(o.tpm, 'tpm'), concurrency: limitOption(o.concurrency, 'concurrency') },
        });
        await recordAudit(ctx.db, {
          actor: { type: 'cli' },
          action: 'group.upsert',
          target: g.name,
          data: { multiplier: o.multiplier, models: g.models, ...g.limits },
        });
        await ctx.events.publish({ type: 'catalog_changed' });
        const show = (v: number | null) => (v === null ? 'none' : String(v));
        return {
          result: { ok: true, group: { name: g.name, multiplier: formatMoney(g.multiplierPpm, 1), models: g.models, ...g.limits } },
          human: `group ${g.name}: x${formatMoney(g.multiplierPpm, 1)}, models ${g.models ? g.models.join(',') : 'all'}, rpm ${show(g.limits.rpm)}, tpm ${show(g.limits.tpm)}, concurrency ${show(g.limits.concurrency)}`,
        };
      }),
    );
}
