import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { TallyError, isTallyError } from '../lib/errors.ts';
import { formatMoney } from '../ledger/money.ts';
import type { KeyCache, KeyPrincipal } from '../accounts/keyCache.ts';
import type { RateLimiter } from '../lib/rateLimit.ts';
import { setChannelStatus } from './channels.ts';
import type { Catalog, RuntimeChannel } from './catalog.ts';
import { computeCost, affordableOutputTokens, type ModelPrice, type Usage } from './pricing.ts';
import type { Group } from './groups.ts';
import type { ReservationBook, Reservation, ReserveRefusal } from './reservations.ts';
import type { SettlementQueue, LogRow } from './settlement.ts';
import { SseUsageTap } from './sse.ts';
import { UpstreamCall, type UpstreamSink, type UpstreamHead } from './upstreamCall.ts';
import { collectPrompt, estimatePrompt, promptFloor, billablePrompt, type PromptText, type PromptEstimate } from './promptEstimate.ts';
import { countForBilling } from './tokenCounter.ts';
import { readBillingFields } from './requestFields.ts';
import { readWholeBody, usageFrom } from './responseUsage.ts';
import { classifyStatus, classifyNetworkError, type AttemptFailure } from './upstreamErrors.ts';
import { didYouMean } from './suggest.ts';
import { openAIError } from '../app/errors.ts';
import type { DbOrTx } from '../db/index.ts';

export type Endpoint = 'chat.completions' | 'completions' | 'embeddings';

const UPSTREAM_PATH: Record<Endpoint, string> = { 'chat.completions': '/chat/completions', completions: '/completions', embeddings: '/embeddings' };

export interface RelayConfig {
  maxAttempts: number;
  /** When the wallet cannot cover the bound: lower max_tokens to what it can pay ('cap') or refuse ('reject'). */
  overspend: 'cap' | 'reject';
  minOutputTokens: number;
  /** Requests per minute per key; 0 = unlimited. */
  keyRpm: number;
}

export interface RelayCall {
  endpoint: Endpoint;
  body: unknown;
  /** The request body as received (JSON text); sent upstream as is when nothing in it changes. */
  raw?: string;
  authorization: string | undefined;
  ip: string;
  requestId: string;
  req: IncomingMessage;
  res: ServerResponse;
}

interface Prepared {
  principal: KeyPrincipal;
  model: string;
  price: ModelPrice;
  group: Group;
  body: Record<string, any>;
  /** The client's JSON text when `body` is unchanged from it (no max_tokens cap). */
  raw: string | undefined;
  stream: boolean;
  clientWantsUsage: boolean;
  /** The prompt as Tally counts it (billed when upstream reports no usage) and the hold's bound of it (promptEstimate.ts). */
  prompt: PromptText;
  estimate: PromptEstimate;
  reservation: Reservation;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
/** How much of an upstream error body is kept to explain the error. */
const MAX_ERROR_BODY = 64 * 1024;
const CLIENT_GONE = Object.assign(new Error('the client closed the connection'), { code: 'CLIENT_GONE' });
const TOTAL_TIMEOUT = Object.assign(new Error('total timeout'), { name: 'TimeoutError' });

type AttemptResult = { ok: true } | { ok: false; failure: AttemptFailure | null; stop: boolean; needsAttention?: number };

function bearer(h: string | undefined): string | undefined {
  if (!h) return undefined;
  return h.startsWith('Bearer ') ? h.slice(7).trim() : h.trim();
}

/**
 * The hot path: authenticate, price, reserve the upper bound, pick a channel,
 * relay (streaming bytes through unchanged), settle the actual cost through
 * the group commit, and log the request with its charge decision.
 */
export class Relay {
  constructor(
    private readonly d: {
      db: DbOrTx;
      log: Logger;
      keys: KeyCache;
      catalog: Catalog;
      book: ReservationBook;
      settlement: SettlementQueue;
      limiter: RateLimiter;
      config: RelayConfig;
    },
  ) {}

  /** Settlements waiting for a count (settleCounted). */
  private readonly counting = new Set<Promise<void>>();

  async flush(): Promise<void> {
    while (this.counting.size) await Promise.all(this.counting);
    return this.d.settlement.flush();
  }

  async handle(call: RelayCall): Promise<void> {
    const started = Date.now();
    const log = newLogRow(call, started);
    let prepared: Prepared | null = null;
    try {
      prepared = await this.prepare(call, log);
      await this.relay(call, prepared, log, started);
    } catch (e) {
      const err = isTallyError(e) ? e : new TallyError('internal_error', 'an internal error occurred; it has been logged with this request id', { cause: e });
      if (!isTallyError(e)) this.d.log.error({ err: e, requestId: call.requestId }, 'relay failed');
      log.status = err.status;
      log.error_code = err.code;
      log.error_message = err.message.slice(0, 500);
      if (!log.charge_reason || log.charge_reason === 'pending') log.charge_reason = chargeReasonForError(err);
      if (prepared) this.d.book.release(prepared.reservation, 0n);
      if (!call.res.headersSent) sendError(call.res, err, call.requestId);
      else if (!call.res.writableEnded) call.res.end();
      log.latency_ms = Date.now() - started;
      this.d.settlement.enqueue({ requestId: call.requestId, walletId: null, keyId: null, keyLimited: false, cost: 0n, log });
    }
  }

  private async prepare(call: RelayCall, log: LogRow): Promise<Prepared> {
    const principal = await this.d.keys.authenticate(bearer(call.authorization), call.ip);
    log.user_id = principal.user.id;
    log.key_id = principal.key.id;
    log.key_display = principal.key.display;
    log.group_name = principal.user.group;
    if (this.d.config.keyRpm > 0) {
      const rl = await this.d.limiter.hit(`rpm:${principal.key.id}`, this.d.config.keyRpm, 60_000);
      if (!rl.allowed) {
        throw new TallyError('rate_limited', `this key is limited to ${this.d.config.keyRpm} requests per minute`, {
          details: { retry_after: String(Math.ceil(rl.retryAfterMs / 1000)) },
        });
      }
    }
    const body = call.body;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new TallyError('invalid_request', 'the request body must be a JSON object');
    const b = body as Record<string, any>;
    const fields = readBillingFields(call.endpoint, b);
    const { model, stream } = fields;
    log.model = model;
    log.stream = stream ? 1 : 0;
    const cat = this.d.catalog;
    const price = cat.prices.get(model);
    const routed = cat.channelsFor(model).length > 0;
    if (!price && !routed) {
      const hint = didYouMean(model, cat.servedModels());
      throw new TallyError(
        'model_not_found',
        `the model "${model}" does not exist${hint ? ` (did you mean "${hint}"?)` : ''}; GET /v1/models lists the models this key can use`,
        { param: 'model' },
      );
    }
    const group = cat.group(principal.user.group);
    if (principal.key.models && !principal.key.models.includes(model)) {
      throw new TallyError('model_not_allowed', `this API key may not use "${model}"; it is limited to: ${principal.key.models.join(', ')}`, {
        param: 'model',
      });
    }
    if (group.models && !group.models.includes(model)) {
      throw new TallyError('model_not_allowed', `the "${group.name}" group may not use "${model}"`, { param: 'model' });
    }
    if (!price) {
      throw new TallyError(
        'model_not_priced',
        `"${model}" has no price yet, so it cannot be served; the operator must set one (tally model set-price --model ${model} ...)`,
      );
    }
    if (!routed) throw new TallyError('no_channel_available', `no upstream channel serves "${model}" right now`);

    const n = fields.choices;
    const maxOut = call.endpoint === 'embeddings' ? 0 : (fields.requestedMax ?? price.maxOutputTokens);
    const prompt = collectPrompt(b);
    // Refuse what cannot be paid before any tokenizer work: the least this request can hold.
    const leastOut = this.d.config.overspend === 'cap' ? Math.min(maxOut, this.d.config.minOutputTokens) : maxOut;
    await this.refuseUnaffordable(
      principal,
      computeCost(price, { promptTokens: promptFloor(prompt), completionTokens: n * leastOut, cachedTokens: 0 }, group.multiplierPpm),
    );
    const counted = estimatePrompt(prompt);
    const estimate = counted instanceof Promise ? await counted : counted;
    const promptEstimate = estimate.bound;
    let bound = computeCost(price, { promptTokens: promptEstimate, completionTokens: n * maxOut, cachedTokens: 0 }, group.multiplierPpm);
    let outBody = b;
    let reservation = await this.reserveOrRefresh(principal, bound);
    if (!('walletId' in reservation)) {
      const refusal = reservation;
      // Cap max_tokens to what the wallet (or key limit) can pay, if allowed and worth it.
      const usable = refusal.usable;
      const perChoice = call.endpoint === 'embeddings' ? 0 : Math.floor(affordableOutputTokens(price, promptEstimate, group.multiplierPpm, usable) / n);
      if (this.d.config.overspend === 'cap' && call.endpoint !== 'embeddings' && perChoice >= this.d.config.minOutputTokens) {
        const capped = Math.min(perChoice, maxOut);
        bound = computeCost(price, { promptTokens: promptEstimate, completionTokens: n * capped, cachedTokens: 0 }, group.multiplierPpm);
        const second = await this.d.book.reserve(principal.user.id, principal.key, bound);
        if ('walletId' in second) {
          reservation = second;
          outBody = withMaxTokens(b, capped);
          log.charge_reason = `max_tokens capped to ${capped} by the ${refusal.limit === 'key' ? 'key limit' : 'wallet balance'}`;
        }
      }
      if (!('walletId' in reservation)) throw insufficient(refusal);
    }
    log.held = reservation.amount;
    log.pricing = pricingSnapshot(price, group);
    return {
      principal,
      model,
      price,
      group,
      body: outBody,
      raw: outBody === b ? call.raw : undefined,
      stream,
      clientWantsUsage: fields.clientWantsUsage,
      prompt,
      estimate,
      reservation,
    };
  }

  /** 402 unless the wallet (and key limit) can pay `least`; re-reads the wallet once first (a top-up may have landed). */
  private async refuseUnaffordable(p: KeyPrincipal, least: bigint): Promise<void> {
    if (least <= 0n) return;
    let refusal = await this.d.book.check(p.user.id, p.key, least);
    if (refusal?.limit === 'wallet') {
      await this.d.settlement.refreshWallet(`user:${p.user.id}`);
      refusal = await this.d.book.check(p.user.id, p.key, least);
    }
    if (refusal) throw insufficient(refusal);
  }

  /** Reserve; if refused, re-read the wallet once (a top-up may have landed) and try again. */
  private async reserveOrRefresh(p: KeyPrincipal, amount: bigint) {
    const first = await this.d.book.reserve(p.user.id, p.key, amount);
    if ('walletId' in first || first.limit !== 'wallet') return first;
    await this.d.settlement.refreshWallet(`user:${p.user.id}`);
    return this.d.book.reserve(p.user.id, p.key, amount);
  }

  /** Channels in the order to try: highest priority tier first, weighted random inside a tier, open breakers skipped. */
  private orderChannels(model: string): RuntimeChannel[] {
    const now = Date.now();
    const all = this.d.catalog.channelsFor(model).filter((c) => c.status === 'enabled' && c.breaker.state(now) !== 'open');
    const tiers = new Map<number, RuntimeChannel[]>();
    for (const c of all) tiers.set(c.priority, [...(tiers.get(c.priority) ?? []), c]);
    const out: RuntimeChannel[] = [];
    for (const p of [...tiers.keys()].sort((a, b) => b - a)) out.push(...weightedShuffle(tiers.get(p)!));
    return out;
  }

  private async relay(call: RelayCall, p: Prepared, log: LogRow, started: number): Promise<void> {
    const candidates = this.orderChannels(p.model);
    if (!candidates.length) throw new TallyError('no_channel_available', `every upstream channel for "${p.model}" is failing right now; try again shortly`);
    const client = new ClientWatch(call.res);
    let lastFailure: AttemptFailure | null = null;
    let attempts = 0;
    try {
      for (const ch of candidates) {
        if (attempts >= this.d.config.maxAttempts || client.gone) break;
        if (!ch.breaker.tryAcquire(Date.now())) continue;
        attempts++;
        log.attempts = attempts;
        log.channel_id = ch.id;
        const upstreamModel = ch.modelMap[p.model] ?? p.model;
        log.upstream_model = upstreamModel;
        const done = await new Attempt(this, call, p, log, ch, client, started).run(buildUpstreamBody(p, upstreamModel));
        client.current = null;
        if (done.ok) return;
        if (done.needsAttention) await this.markNeedsAttention(ch, done.needsAttention);
        lastFailure = done.failure;
        if (done.stop) break;
      }
    } finally {
      client.stop();
    }
    if (client.gone) {
      log.charge_reason = 'not charged: the client disconnected before any output';
      throw new TallyError('client_closed_request', 'the client closed the connection before the upstream answered');
    }
    if (!lastFailure) throw new TallyError('no_channel_available', `every upstream channel for "${p.model}" is failing right now; try again shortly`);
    throw lastFailure.error;
  }
  private async markNeedsAttention(ch: RuntimeChannel, status: number): Promise<void> {
    ch.status = 'needs_attention';
    try {
      await setChannelStatus(this.d.db, {
        id: ch.id,
        status: 'needs_attention',
        reason: `upstream answered ${status} to Tally's API key at ${new Date().toISOString()}`,
      });
      await this.d.catalog.reload();
    } catch (e) {
      this.d.log.error({ err: e, channel: ch.id }, 'could not mark channel as needing attention');
    }
    this.d.log.warn({ channel: ch.name, status }, 'upstream refused the channel credentials; channel disabled until an operator checks it');
  }

  /** Non-stream: forward the whole upstream body unchanged, settle from its usage (or count it: responseUsage.ts). */
  /** @internal (Attempt) */
  sendWhole(call: RelayCall, p: Prepared, log: LogRow, buf: Buffer, status: number, started: number): void {
    call.res.writeHead(status, { 'content-type': 'application/json', 'content-length': buf.length, 'x-request-id': call.requestId });
    call.res.end(buf);
    const read = readWholeBody(buf);
    if (read.usage) this.settle(p, log, read.usage, 'upstream', status, started, 'charged for the completed response');
    else
      this.settleCounted(
        p,
        log,
        read.output,
        status,
        started,
        read.shape === 'json'
          ? 'charged for the completed response'
          : `charged for the completed response (an ${read.shape === 'sse' ? 'SSE' : 'unreadable'} body, counted)`,
      );
  }

  /** A stream ended (normally, or `broken` by an error or abort): close the client's side and settle what was produced. */
  /** @internal (Attempt) */
  endStream(
    call: RelayCall,
    p: Prepared,
    log: LogRow,
    tap: SseUsageTap,
    status: number,
    contentType: string | null,
    broken: boolean,
    clientGone: boolean,
    started: number,
  ): void {
    const out = call.res;
    const upstreamBroke = broken && !clientGone;
    const rest = tap.flushCarry();
    if (rest.length && !out.destroyed) out.write(rest);
    if (upstreamBroke && !out.destroyed) {
      out.write(
        `data: ${JSON.stringify({ error: { message: 'the upstream provider closed the stream before it finished', type: 'upstream_error', code: 'upstream_disconnected' } })}\n\n`,
      );
    }
    if (!out.destroyed) out.end();
    const interrupted = upstreamBroke || clientGone;
    let usage = usageFrom(tap.usage);
    let output = '';
    if (!usage && !interrupted && !/event-stream/i.test(contentType ?? 'text/event-stream')) {
      // Asked to stream, answered with a whole body: read it as one.
      const read = readWholeBody(tap.received());
      usage = read.usage;
      output = read.output;
    } else if (!usage || interrupted) output = tap.producedText();
    // An interrupted stream is charged only if output (content or tool-call text) was produced; a bare role chunk is not output.
    const produced = !interrupted || output.length > 0;
    let reason = 'charged for the completed stream';
    if (clientGone)
      reason = produced ? 'charged for the output produced before the client disconnected' : 'not charged: the client disconnected before any output';
    else if (upstreamBroke)
      reason = produced ? 'charged for the output produced before the upstream stream broke' : 'not charged: the upstream stream broke before any output';
    if (interrupted) {
      log.error_code = clientGone ? 'client_disconnected' : 'upstream_disconnected';
      log.error_message = reason;
    }
    if (!produced) this.settle(p, log, { promptTokens: 0, completionTokens: 0, cachedTokens: 0 }, usage ? 'upstream' : 'counted', status, started, reason);
    else if (usage) this.settle(p, log, usage, 'upstream', status, started, reason);
    else this.settleCounted(p, log, output, status, started, reason);
  }

  /**
   * Settles from Tally's own count (the upstream reported no usage): the
   * prompt as counted for the hold, the output counted now. A large text is
   * counted on the counting thread, so the settlement may land a moment later;
   * flush() waits for it.
   */
  private settleCounted(p: Prepared, log: LogRow, output: string, status: number, started: number, reason: string): void {
    const prompt = billablePrompt(p.prompt, p.estimate);
    const completion = countForBilling(output);
    if (typeof prompt === 'number' && typeof completion === 'number') {
      this.settle(p, log, { promptTokens: prompt, completionTokens: completion, cachedTokens: 0 }, 'counted', status, started, reason);
      return;
    }
    const done = Promise.all([prompt, completion])
      .then(([pt, ct]) => this.settle(p, log, { promptTokens: pt, completionTokens: ct, cachedTokens: 0 }, 'counted', status, started, reason))
      .catch((e) => this.d.log.error({ err: e, requestId: log.id }, 'could not settle a counted request'))
      .finally(() => this.counting.delete(done));
    this.counting.add(done);
  }

  private settle(p: Prepared, log: LogRow, usage: Usage, source: 'upstream' | 'counted', status: number, started: number, reason: string): void {
    const cost = computeCost(p.price, usage, p.group.multiplierPpm);
    this.d.book.release(p.reservation, cost);
    log.status = status;
    log.prompt_tokens = usage.promptTokens;
    log.completion_tokens = usage.completionTokens;
    log.cached_tokens = usage.cachedTokens;
    log.usage_source = source;
    log.cost = cost;
    log.charge_reason =
      cost > 0n
        ? log.charge_reason && log.charge_reason !== 'pending'
          ? `${reason}; ${log.charge_reason}`
          : reason
        : reason.startsWith('not charged')
          ? reason
          : 'not charged: zero cost';
    log.latency_ms = Date.now() - started;
    this.d.settlement.enqueue({
      requestId: log.id,
      walletId: p.reservation.walletId,
      keyId: p.principal.key.id,
      keyLimited: p.reservation.keyLimited,
      cost,
      log,
    });
  }
}

// The pricing snapshot stored with each log row, built once per price and group
// (price objects are replaced when the catalog reloads, so the cache follows).
const snapshots = new WeakMap<ModelPrice, Map<string, string>>();

function pricingSnapshot(price: ModelPrice, group: Group): string {
  let byGroup = snapshots.get(price);
  if (!byGroup) snapshots.set(price, (byGroup = new Map()));
  const k = `${group.name}\u0000${group.multiplierPpm}`;
  let json = byGroup.get(k);
  if (json === undefined) {
    json = JSON.stringify({
      input_per_1m: String(price.inputPer1M),
      output_per_1m: String(price.outputPer1M),
      cached_input_per_1m: price.cachedInputPer1M === null ? null : String(price.cachedInputPer1M),
      multiplier_ppm: String(group.multiplierPpm),
      group: group.name,
    });
    byGroup.set(k, json);
  }
  return json;
}

/** Lowers the output cap in whichever field the client used (max_tokens when it used none: every upstream knows it). */
function withMaxTokens(b: Record<string, any>, n: number): Record<string, any> {
  const out = { ...b };
  if (b.max_completion_tokens !== undefined) out.max_completion_tokens = n;
  if (b.max_tokens !== undefined || b.max_completion_tokens === undefined) out.max_tokens = n;
  return out;
}

/**
 * The upstream request: the client's body with the upstream model name, and
 * for streams `stream_options.include_usage` (Tally bills from it). When the
 * model is not renamed, the client's own JSON text is reused, with the usage
 * option appended if it is missing, rather than serialising the body again.
 */
function buildUpstreamBody(p: Prepared, upstreamModel: string): string {
  const so = p.body.stream_options;
  if (p.raw !== undefined && upstreamModel === p.body.model) {
    if (!p.stream || so?.include_usage === true) return p.raw;
    if (so === undefined) {
      const close = p.raw.lastIndexOf('}');
      if (close > 0) return `${p.raw.slice(0, close)},"stream_options":{"include_usage":true}${p.raw.slice(close)}`;
    }
  }
  const b: Record<string, any> = { ...p.body, model: upstreamModel };
  if (p.stream) b.stream_options = { ...(so ?? {}), include_usage: true };
  return JSON.stringify(b);
}

function weightedShuffle<T extends { weight: number }>(items: T[]): T[] {
  const pool = items.map((i) => ({ i, w: Math.max(i.weight, 0) + 1e-9 }));
  const out: T[] = [];
  while (pool.length) {
    const total = pool.reduce((s, x) => s + x.w, 0);
    let r = Math.random() * total;
    let idx = 0;
    for (; idx < pool.length - 1; idx++) {
      r -= pool[idx].w;
      if (r <= 0) break;
    }
    out.push(pool.splice(idx, 1)[0].i);
  }
  return out;
}

function insufficient(r: ReserveRefusal): TallyError {
  return new TallyError('insufficient_balance', r.message, {
    details: { limit: r.limit, needed: formatMoney(r.needed, 6), available: formatMoney(r.usable > 0n ? r.usable : 0n, 6) },
  });
}

function chargeReasonForError(err: TallyError): string {
  if (err.status === 401 || err.status === 403) return `not charged: request refused (${err.code})`;
  if (err.status === 402) return 'not charged: insufficient balance';
  if (err.status === 429) return 'not charged: rate limited';
  if (err.status >= 500) return `not charged: upstream failed before any output (${err.code})`;
  return `not charged: ${err.code}`;
}

export function sendError(res: ServerResponse, err: TallyError, requestId: string): void {
  const headers: Record<string, string> = { ...JSON_HEADERS, 'x-request-id': requestId };
  if (!err.retryable) headers['x-should-retry'] = 'false';
  const ra = err.details?.retry_after;
  if (err.status === 429) headers['retry-after'] = typeof ra === 'string' ? ra : '1';
  const body = JSON.stringify(openAIError(err));
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(err.status, headers);
  res.end(body);
}

function newLogRow(call: RelayCall, now: number): LogRow {
  return {
    id: call.requestId,
    user_id: null,
    key_id: null,
    key_display: null,
    group_name: null,
    endpoint: call.endpoint,
    model: null,
    upstream_model: null,
    channel_id: null,
    attempts: 0,
    stream: 0,
    status: 0,
    error_code: null,
    error_message: null,
    prompt_tokens: 0,
    completion_tokens: 0,
    cached_tokens: 0,
    usage_source: null,
    held: 0n,
    cost: 0n,
    charged_amount: 0n,
    uncollected: 0n,
    charged: 0,
    charge_reason: 'pending',
    transfer_id: null,
    pricing: null,
    latency_ms: null,
    ttfb_ms: null,
    client_ip: call.ip,
    created_at: now,
  };
}

/** The client's side of one relayed request: notices a disconnect and aborts the upstream attempt in flight. */
class ClientWatch {
  gone = false;
  current: UpstreamCall | null = null;
  private readonly closed: () => void;

  constructor(private readonly res: ServerResponse) {
    this.closed = this.onClose.bind(this);
    res.on('close', this.closed);
  }

  private onClose(): void {
    if (!this.res.writableFinished) {
      this.gone = true;
      this.current?.abort(CLIENT_GONE);
    }
  }

  stop(): void {
    this.res.off('close', this.closed);
  }
}

function abortOnTimeout(u: UpstreamCall): void {
  u.abort(TOTAL_TIMEOUT);
}

/**
 * One try on one channel. Resolves ok when the response went to the client
 * (and was settled); otherwise with why, and whether to stop failing over.
 * Nothing is written to the client before upstream answered 2xx, so a failed
 * attempt can still fail over. (A class rather than closures: this runs for
 * every request.)
 */
class Attempt implements UpstreamSink {
  private mode: 'wait' | 'error' | 'whole' | 'stream' = 'wait';
  private status = 0;
  private contentType: string | null = null;
  private retryAfter: string | null = null;
  private parts: Buffer[] = [];
  private size = 0;
  private tap: SseUsageTap | null = null;
  private upstream: UpstreamCall | null = null;
  private timer: NodeJS.Timeout | null = null;
  private resolve: ((r: AttemptResult) => void) | null = null;
  private pending: Buffer[] = [];
  private waitingDrain = false;
  private readonly drained: () => void;
  private readonly forward: () => void;

  constructor(
    private readonly relay: Relay,
    private readonly call: RelayCall,
    private readonly p: Prepared,
    private readonly log: LogRow,
    private readonly ch: RuntimeChannel,
    private readonly client: ClientWatch,
    private readonly started: number,
  ) {
    this.drained = this.onDrain.bind(this);
    this.forward = this.forwardPending.bind(this);
  }

  run(payload: string): Promise<AttemptResult> {
    const ch = this.ch;
    const accept = this.p.stream ? 'text/event-stream' : 'application/json';
    const promise = new Promise<AttemptResult>((r) => {
      this.resolve = r;
    });
    const upstream = UpstreamCall.start(
      ch.pool,
      {
        path: ch.pathPrefix + UPSTREAM_PATH[this.call.endpoint],
        method: 'POST',
        headers: ch.apiKey
          ? { 'content-type': 'application/json', accept, authorization: `Bearer ${ch.apiKey}` }
          : { 'content-type': 'application/json', accept },
        body: payload,
        headersTimeout: ch.firstByteTimeoutMs,
        bodyTimeout: ch.firstByteTimeoutMs,
      },
      this,
    );
    if (this.resolve) {
      this.upstream = upstream;
      this.client.current = upstream;
      this.timer = setTimeout(abortOnTimeout, ch.totalTimeoutMs, upstream);
    }
    return promise;
  }

  private finish(r: AttemptResult): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.mode === 'stream') this.call.res.off('drain', this.drained);
    const resolve = this.resolve;
    this.resolve = null;
    resolve?.(r);
  }

  private onDrain(): void {
    this.waitingDrain = false;
    this.upstream?.resume();
  }

  /** Sends what arrived since the last call through the usage tap to the client. */
  private forwardPending(): void {
    const n = this.pending.length;
    if (!n) return;
    const data = n === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    const fwd = this.tap!.push(data);
    const out = this.call.res;
    if (fwd.length && !out.destroyed) out.write(fwd);
  }

  head(h: UpstreamHead): void {
    this.status = h.status;
    if (h.status >= 400) {
      this.mode = 'error';
      this.retryAfter = h.retryAfter;
      return;
    }
    this.ch.breaker.success();
    this.contentType = h.contentType;
    this.log.ttfb_ms = Date.now() - this.started;
    if (!this.p.stream) {
      this.mode = 'whole';
      return;
    }
    // A stream is committed to this channel from its first byte: headers go out now.
    this.mode = 'stream';
    this.tap = new SseUsageTap(!this.p.clientWantsUsage);
    this.call.res.writeHead(h.status, {
      'content-type': h.contentType ?? 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': this.call.requestId,
    });
  }

  data(chunk: Buffer): boolean {
    if (this.mode === 'stream') {
      // The chunks undici parses out of one socket read (an upstream often
      // sends each event as its own HTTP chunk) are forwarded together at the
      // end of that read: same bytes, same moment, one write instead of many.
      this.pending.push(chunk);
      if (this.pending.length === 1) queueMicrotask(this.forward);
      const out = this.call.res;
      if (out.writableNeedDrain && !out.destroyed) {
        if (!this.waitingDrain) {
          this.waitingDrain = true;
          out.once('drain', this.drained);
        }
        return false;
      }
      return true;
    }
    if (this.mode === 'error' && this.size > MAX_ERROR_BODY) return true; // enough to explain the error
    this.parts.push(chunk);
    this.size += chunk.length;
    return true;
  }

  end(): void {
    if (this.mode === 'stream') {
      this.forwardPending();
      this.relay.endStream(this.call, this.p, this.log, this.tap!, this.status, this.contentType, false, this.client.gone, this.started);
      this.finish({ ok: true });
    } else if (this.mode === 'whole') {
      this.relay.sendWhole(
        this.call,
        this.p,
        this.log,
        this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size),
        this.status,
        this.started,
      );
      this.finish({ ok: true });
    } else {
      const ch = this.ch;
      const failure = classifyStatus(this.status, Buffer.concat(this.parts, this.size).toString('utf8'), ch.apiKey, ch.name, this.retryAfter);
      if (failure.breaker) ch.breaker.failure(Date.now(), failure.error.message);
      this.finish({ ok: false, failure, stop: !failure.failover, needsAttention: failure.needsAttention ? this.status : undefined });
    }
  }

  error(err: Error): void {
    if (this.mode === 'stream') {
      this.forwardPending();
      this.relay.endStream(this.call, this.p, this.log, this.tap!, this.status, this.contentType, true, this.client.gone, this.started);
      this.finish({ ok: true });
      return;
    }
    if (this.client.gone) {
      this.finish({ ok: false, failure: null, stop: true });
      return;
    }
    const failure = classifyNetworkError(err, this.ch.name);
    this.ch.breaker.failure(Date.now(), this.mode === 'whole' ? 'upstream closed the connection before the body was complete' : failure.error.message);
    this.finish({ ok: false, failure, stop: false });
  }
}
