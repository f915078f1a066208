import { Redis } from 'ioredis';
import type { Logger } from 'pino';

// Invalidation events between instances: a key revoked or changed (budget, limits), a changed catalog.
// Applied locally at once; with Redis configured, also published so every
// other instance applies them within milliseconds.
export type TallyEvent =
  | { type: 'key_changed'; hash: string }
  /** The name this event had before 0.1 (any change to a key); still applied, from instances not yet upgraded. */
  | { type: 'key_revoked'; hash: string }
  | { type: 'user_changed'; userId: string }
  | { type: 'catalog_changed' }
  | { type: 'alert_settings_changed'; owner: string };

const CHANNEL = 'tally:events';

export class EventBus {
  private handlers: Array<(e: TallyEvent) => void | Promise<void>> = [];
  private pub: Redis | null = null;
  private sub: Redis | null = null;
  private readonly origin = Math.random().toString(36).slice(2);

  constructor(private readonly log: Logger) {}

  async connect(redisUrl: string): Promise<void> {
    this.pub = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    this.sub = new Redis(redisUrl, { lazyConnect: true });
    await Promise.all([this.pub.connect(), this.sub.connect()]);
    this.sub.on('message', (_ch: string, raw: string) => {
      try {
        const msg = JSON.parse(raw) as { origin: string; event: TallyEvent };
        if (msg.origin !== this.origin) void this.apply(msg.event);
      } catch (e) {
        this.log.warn({ err: e }, 'ignored a malformed event');
      }
    });
    await this.sub.subscribe(CHANNEL);
  }

  get redis(): Redis | null {
    return this.pub;
  }

  on(handler: (e: TallyEvent) => void | Promise<void>): void {
    this.handlers.push(handler);
  }

  async publish(e: TallyEvent): Promise<void> {
    await this.apply(e);
    if (this.pub) {
      await this.pub.publish(CHANNEL, JSON.stringify({ origin: this.origin, event: e })).catch((err) => this.log.error({ err }, 'could not publish event'));
    }
  }

  private async apply(e: TallyEvent): Promise<void> {
    for (const h of this.handlers) {
      try {
        await h(e);
      } catch (err) {
        this.log.error({ err, event: e.type }, 'event handler failed');
      }
    }
  }

  async close(): Promise<void> {
    this.sub?.disconnect();
    this.pub?.disconnect();
  }
}
