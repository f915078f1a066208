import { TallyError, isTallyError } from '../lib/errors.ts';
import type { Inbound } from './call.ts';
import { admit } from './charge/admit.ts';
import { Attempt, ClientWatch } from './charge/attempt.ts';
import { quote } from './charge/quote.ts';
import { type RelayDeps, RequestCharge } from './charge/requestCharge.ts';
import { markNeedsAttention, orderChannels, pickKey } from './charge/route.ts';
import { Settler } from './charge/settle.ts';
import { countTokens } from './charge/countTokens.ts';
import { type Translation, translationFor, untranslatable } from './charge/translation.ts';
import { pinnedKey, pinnedUpstream, ResponsePins } from './responsePins.ts';
import type { AttemptFailure } from './upstreamErrors.ts';

export type { RelayConfig } from './charge/requestCharge.ts';

/**
 * The hot path, as a loop over the charge steps (src/gateway/charge/):
 * admit (key, limits, model, price) → quote (hold the upper bound) → route
 * (channel order) → attempt (relay bytes, fail over before the first byte)
 * → settle (charge the actual cost, or nothing, and log why). The caller's
 * protocol (protocols/) reads the request and writes errors; the channel's
 * provider (providers/) builds the upstream request and reads its usage.
 */
export class Relay {
  private readonly settler: Settler;
  private readonly pins: ResponsePins;

  constructor(private readonly d: RelayDeps) {
    this.pins = new ResponsePins(d.db, d.log);
    this.settler = new Settler(d, this.pins);
  }

  /** Resolves when every answered request's settlement is written. */
  async flush(): Promise<void> {
    await this.settler.flush();
    await this.pins.flush();
    return this.d.settlement.flush();
  }

  async handle(inb: Inbound): Promise<void> {
    if (inb.endpoint === 'messages.count_tokens' || inb.endpoint === 'gemini.count_tokens') return countTokens(this.d, inb);
    const c = new RequestCharge(inb);
    try {
      await admit(this.d, c);
      // previous_response_id: only the channel holding that response (a 400 before anything is held when there is none).
      const pinned = c.call.endpoint === 'responses' ? await pinnedUpstream(this.pins, this.d.catalog, c.call, c.principal.user.id) : null;
      await quote(this.d, c);
      let candidates = orderChannels(this.d.catalog, c.call.model);
      if (pinned) candidates = candidates.filter((ch) => ch.id === pinned.channelId);
      if (!candidates.length) throw noChannel(c.call.model);
      const client = new ClientWatch(inb.res);
      const log = c.log;
      let lastFailure: AttemptFailure | null = null;
      let attempts = 0;
      /** Why the channels skipped so far could not take this call (another may still). */
      let skipped: TallyError | null = null;
      try {
        for (const ch of candidates) {
          if (attempts >= this.d.config.maxAttempts || client.gone) break;
          // A channel whose provider speaks another protocol is used through a translation; it is skipped when the call
          // cannot be translated (no translator for the pair, or a field with no equivalent: a 400 naming it).
          let tr: Translation | null | undefined;
          try {
            tr = translationFor(c.call, ch, { defaultMaxTokens: c.price.maxOutputTokens, inputTokensHint: c.estimate.count ?? c.estimate.bound });
          } catch (e) {
            if (!isTallyError(e)) throw e;
            skipped ??= e;
            continue;
          }
          if (tr === undefined) {
            skipped ??= untranslatable(c.call, ch.provider!);
            continue;
          }
          // Each key of the channel in turn (round-robin, breakers closed), before the next channel.
          let stop = false;
          for (let tried = 0; ; tried++) {
            if (attempts >= this.d.config.maxAttempts || client.gone) break;
            const key = pinned ? pinnedKey(ch, pinned.keyRef, tried, Date.now()) : pickKey(ch, tried, Date.now());
            if (!key) break;
            attempts++;
            log.attempts = attempts;
            log.channel_id = ch.id;
            c.keyRef = key.keyRef;
            const upstreamModel = ch.modelMap[c.call.model] ?? c.call.model;
            log.upstream_model = upstreamModel;
            const done = await new Attempt(this.settler, c, key, client, tr).run(upstreamModel);
            client.current = null;
            if (done.ok) return;
            if (done.needsAttention) await markNeedsAttention(this.d, key, done.needsAttention);
            lastFailure = done.failure;
            if (done.failure) this.d.metrics?.upstreamFailure(key.id, done.failure.error.code);
            if (done.stop) {
              stop = true;
              break;
            }
          }
          if (stop) break;
        }
      } finally {
        client.stop();
      }
      if (client.gone) throw new TallyError('client_closed_request', 'the client closed the connection before the upstream answered');
      if (attempts === 0 && skipped) throw skipped;
      throw lastFailure ? lastFailure.error : noChannel(c.call.model);
    } catch (e) {
      const err = isTallyError(e) ? e : new TallyError('internal_error', 'an internal error occurred; it has been logged with this request id', { cause: e });
      if (!isTallyError(e)) this.d.log.error({ err: e, requestId: inb.requestId }, 'relay failed');
      this.settler.failed(c, err);
      if (!inb.res.headersSent) inb.protocol.writeError(inb.res, err, inb.requestId);
      else if (!inb.res.writableEnded) inb.res.end();
    }
  }
}

function noChannel(model: string): TallyError {
  return new TallyError('no_channel_available', `every upstream channel for "${model}" is failing right now; try again shortly`);
}
