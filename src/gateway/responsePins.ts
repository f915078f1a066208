import type { Logger } from 'pino';
import type { DbOrTx } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import type { Catalog } from './catalog.ts';
import type { GatewayCall } from './call.ts';

// previous_response_id names a response an upstream stored; only that
// upstream can continue from it, and only its owner may. So after a Responses
// answer passed through to a channel (providers/openai: passthrough) that
// stored it (`store` not false), the response id is pinned to that channel
// and to the user whose key created it; a request naming the id is routed to
// that channel only (relay.ts), and is a 400 when there is no pin for this
// user (another user's id, a translated answer's id, one never seen, one
// expired) or the channel no longer serves the model. Pins last 30 days, as
// OpenAI keeps a stored response.
//
// The pin is written after the answer went out, never in its way: until the
// row is committed it is kept in memory, so this instance answers a
// follow-up at once (another instance sees it once it is written).

export const RESPONSE_PIN_TTL_MS = 30 * 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

export interface ResponsePin {
  channelId: string;
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

  /** Pins `responseId` to the channel that holds it and the user who created it; written in the background. */
  record(responseId: string, channelId: string, userId: string): void {
    const pin: ResponsePin = { channelId, userId, createdAt: this.now() };
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
        .values({ response_id: responseId, channel_id: pin.channelId, user_id: pin.userId, created_at: pin.createdAt })
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

  /** The channel holding `responseId` for `userId`, or null (no pin, another user's, or expired). */
  async channelFor(responseId: string, userId: string): Promise<string | null> {
    const since = this.now() - RESPONSE_PIN_TTL_MS;
    const mem = this.unwritten.get(responseId);
    const pin = mem
      ? { channel_id: mem.channelId, user_id: mem.userId, created_at: mem.createdAt }
      : await this.db.selectFrom('response_pins').select(['channel_id', 'user_id', 'created_at']).where('response_id', '=', responseId).executeTakeFirst();
    if (!pin || pin.user_id !== userId || Number(pin.created_at) < since) return null;
    return pin.channel_id;
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
 * The only channel a call naming previous_response_id may go to (null when it
 * names none); a 400 when this user has no pin for the id, or its channel no
 * longer takes this call natively (gone, disabled, not serving the model,
 * responses_api turned off).
 */
export async function pinnedChannelId(pins: ResponsePins, catalog: Catalog, call: GatewayCall, userId: string): Promise<string | null> {
  const id = call.endpoint === 'responses' ? call.body.previous_response_id : undefined;
  if (typeof id !== 'string') return null;
  const channelId = await pins.channelFor(id, userId);
  if (!channelId) {
    throw notFound(id, 'no response with this id was stored through Tally for this account (or it is older than 30 days)');
  }
  const ch = catalog.channelsFor(call.model).find((x) => x.id === channelId);
  if (ch?.status !== 'enabled' || ch.provider?.passthrough?.(ch, call) !== true) {
    throw notFound(id, `the upstream channel that holds it no longer serves "${call.model}" natively`);
  }
  return channelId;
}
