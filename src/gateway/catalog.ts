import { Pool } from 'undici';
import type { Logger } from 'pino';
import type { DbOrTx } from '../db/index.ts';
import { decryptSecret } from '../lib/crypto.ts';
import { rowToChannel, type Channel } from './channels.ts';
import { rowToPrice, type ModelPrice } from './pricing.ts';
import { rowToGroup, implicitGroup, type Group } from './groups.ts';
import { Breaker, type BreakerOptions } from './breaker.ts';
import { providerFor, SUPPORTED_CHANNEL_TYPES, type Provider } from './providers/index.ts';
import { createHash } from 'node:crypto';

/** A key's stable fingerprint (never the key: 64 bits of its sha256). */
export function keyRefOf(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

export interface RuntimeChannel extends Channel {
  apiKey: string | null;
  /** Origin and path prefix the requests go to, e.g. https://api.openai.com + /v1. */
  origin: string;
  pathPrefix: string;
  pool: Pool;
  breaker: Breaker;
  /** How requests to it are built and its answers read; null for a type Tally cannot send to (never routed). */
  provider: Provider | null;
  /**
   * The channel once per upstream key in rotation: views sharing the pool,
   * each with its own apiKey, breaker and keyIndex. A channel with one key (or
   * none) is its own only view, so routing it allocates nothing. Built at load.
   */
  keys: RuntimeChannel[];
  /** Which key this view sends (0 for the channel itself). */
  keyIndex: number;
  /** A stable fingerprint of that key (sha256, 16 hex digits; '' without a key): what outlives a renumbering of the keys. */
  keyRef: string;
  /** How many keys the channel has (in rotation or not), and each one's last 4 characters, for the views. */
  keyCount: number;
  keyHints: string[];
  /** Round-robin position among keys (mutated per request; a number, no allocation). */
  nextKey: number;
}

/**
 * The relay's view of the configuration (channels, prices, groups), held in
 * memory so the hot path reads no table. Reloaded on every change made through
 * Tally (admin API, CLI in-process) and every few seconds, which is how changes
 * made by another instance or the CLI arrive; connection pools and breaker
 * state survive reloads.
 */
export class Catalog {
  channels: RuntimeChannel[] = [];
  private byModel = new Map<string, RuntimeChannel[]>();
  prices = new Map<string, ModelPrice>();
  groups = new Map<string, Group>();
  private pools = new Map<string, Pool>();
  private breakers = new Map<string, Breaker>();
  private timer: NodeJS.Timeout | null = null;
  private loading: Promise<void> | null = null;
  /** Where `internal:demo` channels point: this instance's own demo upstream. */
  selfUrl = 'http://127.0.0.1:8080';
  /** Channels of an unsupported type already warned about (once each, not on every reload). */
  private warned = new Set<string>();

  constructor(
    private readonly db: DbOrTx,
    private readonly secret: string,
    private readonly breakerOpts: BreakerOptions = { threshold: 3, cooldownMs: 30_000 },
    private readonly log?: Logger,
  ) {}

  async reload(): Promise<void> {
    // Coalesce concurrent reloads but never skip one requested after a change.
    const run = async () => {
      const [channelRows, priceRows, groupRows] = await Promise.all([
        this.db.selectFrom('channels').selectAll().execute(),
        this.db.selectFrom('model_prices').selectAll().execute(),
        this.db.selectFrom('groups').selectAll().execute(),
      ]);
      const channels = channelRows.map((r) => this.toRuntime(rowToChannel(r), r.api_key_enc, r.api_keys_enc));
      const byModel = new Map<string, RuntimeChannel[]>();
      for (const c of channels) {
        if (c.status !== 'enabled') continue;
        if (!c.provider) {
          this.warnUnsupported(c);
          continue;
        }
        for (const m of c.models) {
          const list = byModel.get(m) ?? [];
          list.push(c);
          byModel.set(m, list);
        }
      }
      this.channels = channels;
      this.byModel = byModel;
      this.prices = new Map(priceRows.map((r) => [r.model, rowToPrice(r)]));
      this.groups = new Map(groupRows.map((r) => [r.name, rowToGroup(r)]));
    };
    const prev = this.loading ?? Promise.resolve();
    const next = prev.catch(() => {}).then(run);
    this.loading = next;
    try {
      await next;
    } finally {
      if (this.loading === next) this.loading = null;
    }
  }

  private warnUnsupported(c: Channel): void {
    if (this.warned.has(c.id)) return;
    this.warned.add(c.id);
    this.log?.warn(
      { channel: c.name, type: c.type, supported: SUPPORTED_CHANNEL_TYPES },
      `channel "${c.name}" has type "${c.type}", which this version cannot send requests to; it is not routed`,
    );
  }

  private toRuntime(c: Channel, apiKeyEnc: string | null, apiKeysEnc: string | null): RuntimeChannel {
    const base = c.baseUrl === 'internal:demo' ? `${this.selfUrl}/_demo/v1` : c.baseUrl;
    const u = new URL(base);
    let pathPrefix = u.pathname.replace(/\/+$/, '');
    // An OpenAI-compatible base URL without a path means /v1; an Azure resource URL has none (providers/azure),
    // nor has Google's (providers/gemini appends /v1beta).
    if (pathPrefix === '' && c.type !== 'azure' && c.type !== 'gemini') pathPrefix = '/v1';
    const origin = u.origin;
    const poolKey = `${origin}|${c.connectTimeoutMs}`;
    let pool = this.pools.get(poolKey);
    if (!pool) {
      pool = new Pool(origin, { connections: null, pipelining: 1, keepAliveTimeout: 30_000, connect: { timeout: c.connectTimeoutMs } });
      this.pools.set(poolKey, pool);
    }
    let breaker = this.breakers.get(c.id);
    if (!breaker) {
      breaker = new Breaker(this.breakerOpts);
      this.breakers.set(c.id, breaker);
    }
    const all: string[] = apiKeysEnc ? JSON.parse(decryptSecret(this.secret, apiKeysEnc)) : apiKeyEnc ? [decryptSecret(this.secret, apiKeyEnc)] : [];
    const rt: RuntimeChannel = {
      ...c,
      apiKey: all[0] ?? null,
      origin,
      pathPrefix,
      pool,
      breaker,
      provider: providerFor(c.type),
      keys: [],
      keyIndex: 0,
      keyRef: all[0] ? keyRefOf(all[0]) : '',
      keyCount: all.length,
      keyHints: all.map((k) => k.slice(-4)),
      nextKey: 0,
    };
    if (all.length < 2) {
      rt.keys.push(rt);
      return rt;
    }
    // Several keys: one view per key in rotation, each with its own breaker (key 0's is the channel's own).
    for (let i = 0; i < all.length; i++) {
      if (c.keysAttention.includes(i)) continue;
      if (i === 0) {
        rt.keys.push(rt);
        continue;
      }
      const id = `${c.id}#${i}`;
      let b = this.breakers.get(id);
      if (!b) {
        b = new Breaker(this.breakerOpts);
        this.breakers.set(id, b);
      }
      rt.keys.push({ ...rt, apiKey: all[i], breaker: b, keyIndex: i, keyRef: keyRefOf(all[i]), keys: rt.keys });
    }
    return rt;
  }

  channelsFor(model: string): RuntimeChannel[] {
    return this.byModel.get(model) ?? [];
  }

  group(name: string): Group {
    return this.groups.get(name) ?? implicitGroup(name);
  }

  /** Every model that has both a price and an enabled channel. */
  servedModels(): string[] {
    return [...this.byModel.keys()].filter((m) => this.prices.has(m)).sort();
  }

  /** Models known anywhere (priced or routed), for "did you mean". */
  knownModels(): string[] {
    return [...new Set([...this.byModel.keys(), ...this.prices.keys()])];
  }

  startAutoReload(ms: number, onError: (e: unknown) => void): void {
    this.timer = setInterval(() => this.reload().catch(onError), ms);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => {})));
  }
}
