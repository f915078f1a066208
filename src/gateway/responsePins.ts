import type { Logger } from 'pino';
import type { DbOrTx } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import type { Catalog, RuntimeChannel } from './catalog.ts';
import type { GatewayCall } from './call.ts';

// previous_response_id names a response an upstream stored; only that
// upstream can continue from it, and only its owner may. So after a Responses
// answer passed through to a channel (providers/openai: passthrough) that
// stored it (`store` not false), the response id is pinned to that channel,
// to the channel's upstream key that created it (one channel's keys may
// belong to different OpenAI projects, and a stored response is visible to
// its own project only) and to the user whose Tally key created it; a request
// naming the id is sent with that key of that channel only (relay.ts), and
// is a 400 when there is no pin for this user (another user's id, a
// translated answer's id, one never seen, one expired) or the channel or its
// key no longer serves the model. Pins last 30 days, as OpenAI keeps a
// stored response.
//
// The pin is written after the answer went out, never in its way: until the
// row is committed it is kept in memory, so this instance answers a
// follow-up at once (another instance sees it once it is written).

export const RESPONSE_PIN_TTL_MS = 30 * 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** Where a stored response lives: the channel, and which of its upstream keys (its fingerprint, which survives the keys being renumbered by an edit). */
export interface PinnedUpstream {
  channelId: string;
  keyRef: string;
}

export interface ResponsePin extends PinnedUpstream {
  userId: string;
  createdAt: number;
}

export class ResponsePins {
  /** Pins recorded but not yet written. */
  private readonly unwritten = new Map<string, ResponsePin>();
  private readonly writes = new Set<Promise<void>>();
  private lastPrune = 0;

  constructor(
    private readonly db: DbOrTx,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Pins `responseId` to the channel and key that hold it and the user who created it; written in the background. */
  record(responseId: string, at: PinnedUpstream & { userId: string }): void {
    const pin: ResponsePin = { channelId: at.channelId, keyRef: at.keyRef, userId: at.userId, createdAt: this.now() };
    this.unwritten.set(responseId, pin);
    const w = this.write(responseId, pin).finally(() => {
      this.writes.delete(w);
      if (this.unwritten.get(responseId) === pin) this.unwritten.delete(responseId);
    });
    this.writes.add(w);
  }

  private async write(responseId: string, pin: ResponsePin): Promise<void> {
    try {
      await this.db
        .insertInto('response_pins')
        .values({ response_id: responseId, channel_id: pin.channelId, key_ref: pin.keyRef, user_id: pin.userId, created_at: pin.createdAt })
        .onConflict((oc) => oc.column('response_id').doNothing())
        .execute();
      if (pin.createdAt - this.lastPrune >= PRUNE_EVERY_MS) {
        this.lastPrune = pin.createdAt;
        await this.prune();
      }
    } catch (e) {
      // Losing a pin costs the caller a 400 on previous_response_id (and a resend with the whole conversation), never money.
      this.log.error({ err: e, responseId }, 'could not record a response pin');
    }
  }

  /** The channel and key holding `responseId` for `userId`, or null (no pin, another user's, or expired). */
  async upstreamFor(responseId: string, userId: string): Promise<PinnedUpstream | null> {
    const since = this.now() - RESPONSE_PIN_TTL_MS;
    const pin =
      this.unwritten.get(responseId) ??
      (await this.db
        .selectFrom('response_pins')
        .select(['channel_id', 'key_ref', 'user_id', 'created_at'])
        .where('response_id', '=', responseId)
        .executeTakeFirst()
        .then((r) => (r ? { channelId: r.channel_id, keyRef: r.key_ref, userId: r.user_id, createdAt: Number(r.created_at) } : undefined)));
    if (!pin || pin.userId !== userId || pin.createdAt < since) return null;
    return { channelId: pin.channelId, keyRef: pin.keyRef };
  }

  /** Deletes the pins older than 30 days; returns how many. */
  async prune(): Promise<number> {
    const r = await this.db
      .deleteFrom('response_pins')
      .where('created_at', '<', this.now() - RESPONSE_PIN_TTL_MS)
      .executeTakeFirst();
    return Number(r.numDeletedRows ?? 0);
  }

  /** Resolves when every recorded pin is written. */
  async flush(): Promise<void> {
    while (this.writes.size) await Promise.all(this.writes);
  }
}

function notFound(id: string, why: string): TallyError {
  const shown = id.length > 64 ? `${id.slice(0, 64)}...` : id;
  return new TallyError(
    'previous_response_not_found',
    `previous_response_id "${shown}" cannot be continued here: ${why}. Send the whole conversation in input instead (with store: false), and leave previous_response_id out`,
    { param: 'previous_response_id' },
  );
}

/**
 * The only channel and key a call naming previous_response_id may go to
 * (null when it names none); a 400 when this user has no pin for the id, or
 * its channel no longer takes this call natively (gone, disabled, not serving
 * the model, responses_api turned off) or its key is out of rotation.
 */
export async function pinnedUpstream(pins: ResponsePins, catalog: Catalog, call: GatewayCall, userId: string): Promise<PinnedUpstream | null> {
  const id = call.endpoint === 'responses' ? call.body.previous_response_id : undefined;
  if (typeof id !== 'string') return null;
  const pin = await pins.upstreamFor(id, userId);
  if (!pin) throw notFound(id, 'no response with this id was stored through Tally for this account (or it is older than 30 days)');
  const ch = catalog.channelsFor(call.model).find((x) => x.id === pin.channelId);
  if (ch?.status !== 'enabled' || ch.provider?.passthrough?.(ch, call) !== true) {
    throw notFound(id, `the upstream channel that holds it no longer serves "${call.model}" natively`);
  }
  if (!ch.keys.some((k) => k.keyRef === pin.keyRef)) {
    throw notFound(id, 'the upstream key of the channel that holds it has been taken out of rotation');
  }
  return pin;
}

/** The pinned key of `ch`, tried once, when its breaker lets a request through (pickKey's counterpart for a pinned call). */
export function pinnedKey(ch: RuntimeChannel, keyRef: string, tried: number, now: number): RuntimeChannel | null {
  if (tried > 0) return null;
  const key = ch.keys.find((k) => k.keyRef === keyRef);
  return key?.breaker.tryAcquire(now) ? key : null;
}
