import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { Dispatcher } from 'undici';
import type { DbOrTx } from '../../db/index.ts';
import type { KeyPrincipal } from '../../accounts/keyCache.ts';
import { TallyError } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import type { RateLimiter } from '../../lib/rateLimit.ts';
import type { Limiter } from '../limits.ts';

/** A video's answer is written by fastify after the submit: the rate-limit headers are not set on it. */
const NO_HEADERS = { setHeader: () => undefined };
import type { Catalog } from '../catalog.ts';
import type { ReservationBook } from '../reservations.ts';
import type { SettlementQueue } from '../settlement.ts';
import type { RelayConfig } from '../charge/requestCharge.ts';
import { checkKeyRpm, checkModel } from '../charge/admit.ts';
import { insufficient, reserveOrRefresh } from '../charge/quote.ts';
import { markNeedsAttention, orderChannels, pickKey } from '../charge/route.ts';
import { computeMediaCost, type ModelPrice } from '../pricing.ts';
import type { Group } from '../groups.ts';
import type { RuntimeChannel } from '../catalog.ts';
import {
  LIVE,
  acceptTask,
  addEvent,
  finishTask,
  findTask,
  liveTaskCount,
  markDeleted,
  openTask,
  pollSoon,
  renewSubmit,
  type Task,
  type TaskPricing,
} from './store.ts';
import { deleteVideo, liveStatus, pollVideo, submitVideo, taskChannel, videoContent } from './upstream.ts';
import { DEFAULT_MAX_VIDEO_SECONDS, videoUpstreamBody, type VideoRequest } from './video.ts';
import { TaskWorker, nextPollDelay, taskCharge } from './poller.ts';

export { TaskWorker, taskCharge } from './poller.ts';
export * from './store.ts';
export { videoObject, parseVideoRequest } from './video.ts';

// Asynchronous tasks (videos): submit holds the price in the ledger and hands
// the task to the upstream; the worker (poller.ts) polls it to its end, when
// the hold is posted or voided (store.ts). Cancel and content go to the same
// channel key that took the task. See DESIGN.md "Media and tasks".

/** Where a task may be submitted: a channel (its key picked by rotation) or one fixed key of it, the path and the body. */
interface UpstreamTarget {
  channel: RuntimeChannel;
  view: RuntimeChannel | null;
  upstreamModel: string;
  path: string;
  body(): { bytes: Buffer | string; contentType: string };
}

export interface TaskDeps {
  db: DbOrTx;
  log: Logger;
  catalog: Catalog;
  book: ReservationBook;
  settlement: SettlementQueue;
  limiter: RateLimiter;
  limits: Limiter;
  keys: unknown;
  redis: Redis | null;
  relay: RelayConfig;
  tasks: { pollMs: number; pollMaxMs: number; timeoutMs: number; leaseMs: number; maxLive: number };
  now(): number;
}

export class Tasks {
  /** This instance's name in leases and timelines. */
  readonly instance = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly worker: TaskWorker;

  constructor(private readonly d: TaskDeps) {
    this.worker = new TaskWorker(
      {
        db: d.db,
        catalog: d.catalog,
        log: d.log,
        redis: d.redis,
        instance: this.instance,
        now: d.now,
        onEnded: (t) => {
          d.book.rereadSoon(t.keyId, t.budgets);
          void d.settlement.refreshWallet(t.walletId).catch(() => {});
        },
      },
      d.tasks,
    );
  }

  /** The RelayDeps the shared admission steps (charge/admit.ts, charge/quote.ts) take. */
  private get relayDeps() {
    const d = this.d;
    return {
      db: d.db,
      log: d.log,
      keys: d.keys as never,
      catalog: d.catalog,
      book: d.book,
      settlement: d.settlement,
      limiter: d.limiter,
      limits: d.limits,
      config: d.relay,
    };
  }

  /** The key may make this request now (its rpm) and use this model, which is a priced video model: its group and price. */
  private async admit(principal: KeyPrincipal, model: string, requestId: string) {
    const d = this.d;
    await checkKeyRpm(this.relayDeps, principal, requestId, NO_HEADERS);
    const group = checkModel(d.catalog, principal, model);
    const price = d.catalog.prices.get(model);
    if (!price)
      throw new TallyError(
        'model_not_priced',
        `"${model}" has no price yet, so it cannot be served; the operator must set one (tally model set-price --model ${model} --kind video --per-second ...)`,
      );
    if (price.kind !== 'video')
      throw new TallyError('invalid_request', `"${model}" is a ${price.kind} model; POST /videos needs a video model`, { param: 'model' });
    return { group, price };
  }

  /**
   * POST /v1/videos: checks the key, the model and its price, holds the price
   * on the wallet (durably, with the task written in the same transaction),
   * then submits to the model's channels in order (failover as for any relay
   * attempt). A submit no channel took fails the task and releases the hold.
   */
  async submit(principal: KeyPrincipal, req: VideoRequest, requestId: string): Promise<Task> {
    const { group, price } = await this.admit(principal, req.model, requestId);
    const max = price.maxSeconds ?? DEFAULT_MAX_VIDEO_SECONDS;
    if (req.seconds > max)
      throw new TallyError('invalid_request', `"${req.model}" makes videos of at most ${max} seconds; ask for fewer seconds`, { param: 'seconds' });
    // OpenAI's video API: openai channels (and the built-in demo upstream, which speaks it).
    const channels = orderChannels(this.d.catalog, req.model).filter((c) => c.type === 'openai' || c.type === 'demo');
    if (!channels.length)
      throw new TallyError('no_channel_available', `no upstream channel that speaks OpenAI's video API (an openai channel) serves "${req.model}" right now`);
    const targets = channels.map((ch) => {
      const upstreamModel = ch.modelMap[req.model] ?? req.model;
      return { channel: ch, view: null, upstreamModel, path: '/videos', body: () => videoUpstreamBody(req, upstreamModel) };
    });
    return this.start(
      principal,
      group,
      price,
      { model: req.model, seconds: req.seconds, size: req.size, prompt: req.prompt, remixOf: null },
      requestId,
      targets,
    );
  }

  /**
   * POST /v1/videos/:id/remix: a new video made from a completed one of the
   * same user, by the channel key that made it (the upstream's video exists
   * only there), held and charged like any video of its model and length.
   */
  async remix(principal: KeyPrincipal, sourceId: string, prompt: string, requestId: string): Promise<Task> {
    const src = await this.owned(principal.user.id, sourceId);
    if (src.status !== 'completed') throw new TallyError('task_not_ready', `video ${src.id} is ${src.status}; only a completed video can be remixed`);
    const { group, price } = await this.admit(principal, src.model, requestId);
    const view = taskChannel(this.d.catalog, src.channelId, src.keyRef);
    if (!view || !src.upstreamId)
      throw new TallyError('no_channel_available', 'the channel that made this video is no longer configured, so it cannot be remixed');
    const target = {
      channel: view,
      view,
      upstreamModel: src.upstreamModel,
      path: `/videos/${encodeURIComponent(src.upstreamId)}/remix`,
      body: () => ({ bytes: JSON.stringify({ prompt }), contentType: 'application/json' }),
    };
    return this.start(principal, group, price, { model: src.model, seconds: src.seconds, size: src.size, prompt, remixOf: src.id }, requestId, [target]);
  }

  /** Holds the price and writes the task, then hands it to the first target that takes it (failover), or fails it and releases the hold. */
  private async start(
    principal: KeyPrincipal,
    group: Group,
    price: ModelPrice,
    v: { model: string; seconds: number; size: string | null; prompt: string; remixOf: string | null },
    requestId: string,
    targets: UpstreamTarget[],
  ): Promise<Task> {
    const d = this.d;
    let pricing: TaskPricing;
    let held: bigint;
    const mult = group.multiplierPpm;
    const common = {
      per_second: price.perSecond === null ? null : String(price.perSecond),
      per_request: price.perRequest === null ? null : String(price.perRequest),
      multiplier_ppm: String(mult),
      group: group.name,
    };
    if (price.perSecond !== null) {
      pricing = { basis: 'second', ...common };
      held = computeMediaCost('audio_ms', v.seconds * 1000, price.perSecond, mult);
    } else if (price.perRequest !== null) {
      pricing = { basis: 'request', ...common };
      held = computeMediaCost('request', 1, price.perRequest, mult);
    } else {
      throw new TallyError(
        'model_not_priced',
        `"${v.model}" is a video model without a per-second or per-request price; the operator must set one (tally model set-price --model ${v.model} --kind video --per-second ...)`,
      );
    }
    // A cap on videos in flight per account: each holds money and costs polls until it ends.
    if ((await liveTaskCount(d.db, principal.user.id)) >= d.tasks.maxLive)
      throw new TallyError(
        'rate_limited',
        `this account already has ${d.tasks.maxLive} videos running; wait for one to finish (or cancel one) before starting another`,
        {
          details: { retry_after: '30' },
        },
      );
    const reservation = await reserveOrRefresh(this.relayDeps, principal, held);
    if (!('walletId' in reservation)) throw insufficient(reservation);
    const now = d.now();
    const id = newId('video');
    try {
      const first = targets[0];
      await openTask(d.db, {
        id,
        userId: principal.user.id,
        walletId: principal.walletId,
        keyId: principal.key.id,
        keyDisplay: principal.key.display,
        group: group.name,
        model: v.model,
        upstreamModel: first.upstreamModel,
        channelId: first.channel.id,
        keyRef: (first.view ?? first.channel).keyRef,
        seconds: v.seconds,
        size: v.size,
        prompt: v.prompt,
        remixOf: v.remixOf,
        held,
        budgets: reservation.budgets,
        pricing,
        requestId,
        timeoutMs: d.tasks.timeoutMs,
        instance: this.instance,
        now,
      });
    } catch (e) {
      d.book.release(reservation, 0n);
      throw e;
    }
    // The wallet is re-read with the hold in it before the in-memory reservation goes (never a moment counted by neither).
    await d.settlement.refreshWallet(reservation.walletId);
    d.book.heldDurably(reservation);
    let failure: TallyError | null = null;
    let attempts = 0;
    for (const target of targets) {
      if (attempts >= d.relay.maxAttempts) break;
      const view = target.view ?? pickKey(target.channel, 0, d.now());
      if (!view) continue;
      attempts++;
      // Each attempt may take the channel's whole timeout: the task stays this submit's meanwhile (else a poller fails it).
      if (!(await renewSubmit(d.db, { id, now: d.now() }))) break;
      const r = await submitVideo(view, target.path, target.body());
      if (r.ok) {
        view.breaker.success();
        const at = d.now();
        const ended = r.video.status === 'completed' || r.video.status === 'failed';
        const ok = await acceptTask(d.db, {
          id,
          upstreamId: r.video.id,
          channelId: target.channel.id,
          keyRef: view.keyRef,
          upstreamModel: target.upstreamModel,
          status: ended ? 'queued' : liveStatus(r.video.status),
          progress: r.video.progress,
          size: r.video.size,
          firstPollAt: ended ? at : at + nextPollDelay(d.tasks, 0),
          instance: this.instance,
          now: at,
        });
        if (!ok) {
          // A poller gave up on it while the upstream took its time (SUBMIT_WINDOW_MS): the hold is gone, so the upstream's task goes too.
          await deleteVideo(view, r.video.id).catch(() => {});
          throw new TallyError('upstream_timeout', 'the upstream took too long to accept the video; nothing was charged, submit it again');
        }
        return (await findTask(d.db, id))!;
      }
      const f = r.failure;
      if (f.breaker) view.breaker.failure(d.now(), f.error.message);
      if (f.needsAttention) await markNeedsAttention(d, view, 401);
      failure = f.error;
      if (!f.failover) break;
    }
    failure ??= new TallyError('no_channel_available', `no upstream channel for "${v.model}" is taking requests right now`);
    await finishTask(d.db, id, {
      status: 'failed',
      charge: 0n,
      errorCode: failure.code,
      errorMessage: failure.message,
      by: 'submit',
      instance: this.instance,
      now: d.now(),
    });
    d.book.rereadSoon(principal.key.id, reservation.budgets);
    void d.settlement.refreshWallet(reservation.walletId).catch(() => {});
    throw failure;
  }

  /** A task of this user (404 otherwise, also for a task deleted through the video API unless `includeDeleted`). */
  async owned(userId: string, id: string, includeDeleted = false): Promise<Task> {
    const t = /^video_[0-9A-Za-z]{1,40}$/.test(id) ? await findTask(this.d.db, id) : null;
    if (!t || t.userId !== userId || (!includeDeleted && t.deletedAt !== null))
      throw new TallyError('task_not_found', `no video ${id.slice(0, 60)} for this account`, { param: 'video_id' });
    return t;
  }

  /**
   * DELETE /v1/videos/:id. A live task is cancelled upstream first (where the
   * upstream refuses, so does Tally: 409 with its reason) and then ended with
   * its hold released; an ended one is deleted upstream (best effort) and
   * hidden from the video API. Money already charged stays charged.
   */
  async remove(userId: string, id: string): Promise<Task> {
    const t = await this.owned(userId, id);
    const d = this.d;
    const ch = taskChannel(d.catalog, t.channelId, t.keyRef);
    if (t.status === 'submitting') throw new TallyError('task_not_cancellable', 'this video is still being submitted; try again in a moment');
    if (t.status === 'queued' || t.status === 'in_progress') {
      // The task's lease for the whole cancel: no poll or webhook moves it meanwhile.
      // A poll holds it for a moment at most (its request is bounded): wait up to ~3 s for it before answering 409.
      let leased = await this.worker.lease(t.id);
      for (let i = 0; !leased && i < 15; i++) {
        await new Promise((r) => setTimeout(r, 200));
        leased = await this.worker.lease(t.id);
      }
      if (!leased) {
        const now = await findTask(d.db, t.id);
        if (now && !LIVE.includes(now.status)) return this.remove(userId, id); // it ended meanwhile: deleted as an ended video
        throw new TallyError('task_not_cancellable', 'this video is being updated right now; try again in a moment');
      }
      try {
        if (ch && t.upstreamId) {
          // It may have ended upstream since the last poll: a finished video is recorded as finished (charged or released), never cancelled after the fact.
          const seen = await pollVideo(ch, t.upstreamId);
          if (seen.kind === 'video' && (seen.video.status === 'completed' || seen.video.status === 'failed')) {
            await this.worker.applyLeased(leased, seen.video);
          } else {
            const r = await deleteVideo(ch, t.upstreamId);
            if (r.kind === 'refused') {
              d.log.info({ task: t.id, status: r.status, upstream: r.message }, 'the upstream refused to cancel a video');
              throw new TallyError(
                'task_not_cancellable',
                `the upstream would not cancel this video (it answered ${r.status}); it keeps running and is charged only if it completes`,
              );
            }
          }
        }
        await finishTask(d.db, t.id, {
          status: 'cancelled',
          charge: 0n,
          errorCode: 'cancelled',
          errorMessage: 'cancelled by its owner; nothing was charged',
          by: 'cancel',
          instance: this.instance,
          now: d.now(),
        });
        d.book.rereadSoon(t.keyId, t.budgets);
        void d.settlement.refreshWallet(t.walletId).catch(() => {});
      } finally {
        await this.worker.unlease(t.id);
      }
    } else if (ch && t.upstreamId) {
      await deleteVideo(ch, t.upstreamId).catch(() => {});
    }
    await markDeleted(d.db, { id: t.id, instance: this.instance, now: d.now() });
    return (await findTask(d.db, t.id))!;
  }

  /** GET /v1/videos/:id/content: the upstream's bytes of a completed video. */
  async content(userId: string, id: string, variant: string | null): Promise<Dispatcher.ResponseData> {
    const t = await this.owned(userId, id);
    if (t.status !== 'completed') throw new TallyError('task_not_ready', `video ${t.id} is ${t.status}; its content can be downloaded once it is completed`);
    const ch = taskChannel(this.d.catalog, t.channelId, t.keyRef);
    if (!ch || !t.upstreamId) throw new TallyError('no_channel_available', 'the channel that made this video is no longer configured');
    return videoContent(ch, t.upstreamId, variant);
  }

  /** An upstream webhook named one of its videos: poll that task now, through the same lease and transition as any poll. */
  async webhook(webhookId: string, upstreamId: string, type: string): Promise<Task | null> {
    const now = this.d.now();
    // Each delivery once (a sender retries, a replay within the signature's 5 minutes): remembered for 10 minutes.
    if (this.seenWebhooks.has(webhookId)) return null;
    this.seenWebhooks.set(webhookId, now);
    for (const [k, at] of this.seenWebhooks) {
      if (now - at < 10 * 60_000 && this.seenWebhooks.size <= 10_000) break;
      this.seenWebhooks.delete(k);
    }
    const t = await pollSoon(this.d.db, { channelId: null, upstreamId, now });
    if (!t || !LIVE.includes(t.status)) return t; // an ended task: nothing to record or poll
    await addEvent(this.d.db, { taskId: t.id, type: 'webhook', status: t.status, detail: { event: type.slice(0, 60) }, instance: this.instance, now });
    // Answered at once (a sender waits seconds at most); the poll follows, through the lease like any poll.
    void this.worker.pollOne(t.id).catch((e) => this.d.log.error({ err: e, task: t.id }, 'webhook poll failed'));
    return t;
  }

  /** Webhook deliveries seen lately (webhook-id → when), oldest first. */
  private readonly seenWebhooks = new Map<string, number>();

  /** What a completed task would cost (for tests and the doctor). */
  static charge = taskCharge;
}
