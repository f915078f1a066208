import type { Logger } from 'pino';
import type { DbOrTx } from '../../db/index.ts';
import type { Catalog, RuntimeChannel } from '../catalog.ts';
import { setChannelStatus, setKeyNeedsAttention } from '../channels.ts';

// Step 3: which channels to try, in order: the highest priority tier first,
// weighted random inside a tier, channels whose breaker is open skipped (the
// breaker itself: breaker.ts). A channel whose upstream refuses Tally's own
// credentials is taken out of rotation until an operator looks.

export function orderChannels(catalog: Catalog, model: string): RuntimeChannel[] {
  const now = Date.now();
  const all: RuntimeChannel[] = [];
  for (const c of catalog.channelsFor(model)) if (c.status === 'enabled' && anyKeyUsable(c, now)) all.push(c);
  if (all.length < 2) return all; // the common case: nothing to order
  const tiers = new Map<number, RuntimeChannel[]>();
  for (const c of all) tiers.set(c.priority, [...(tiers.get(c.priority) ?? []), c]);
  const out: RuntimeChannel[] = [];
  for (const p of [...tiers.keys()].sort((a, b) => b - a)) out.push(...weightedShuffle(tiers.get(p)!));
  return out;
}

/** Whether some key of the channel is in rotation with its breaker not open (one key: the channel's own breaker). */
function anyKeyUsable(c: RuntimeChannel, now: number): boolean {
  const keys = c.keys;
  if (keys.length === 1 && keys[0] === c) return c.breaker.state(now) !== 'open';
  for (let i = 0; i < keys.length; i++) if (keys[i].breaker.state(now) !== 'open') return true;
  return false;
}

/**
 * The next key of `ch` to try (round-robin among its keys whose breaker lets
 * a request through), or null when none does. `tried` counts the keys this
 * request already tried on the channel. A channel with one key is its own.
 */
export function pickKey(ch: RuntimeChannel, tried: number, now: number): RuntimeChannel | null {
  const keys = ch.keys;
  const n = keys.length;
  if (n === 1) return tried === 0 && keys[0].breaker.tryAcquire(now) ? keys[0] : null;
  for (let j = tried; j < n; j++) {
    const k = keys[ch.nextKey++ % n];
    if (ch.nextKey > 1e9) ch.nextKey = 0;
    if (k.breaker.tryAcquire(now)) return k;
  }
  return null;
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

/**
 * Upstream answered 401/403 to one of Tally's keys. A channel with several
 * keys loses THAT key (out of rotation until an operator looks); the channel
 * itself is disabled only when it had one key, or that was its last one.
 */
export async function markNeedsAttention(d: { db: DbOrTx; catalog: Catalog; log: Logger }, ch: RuntimeChannel, status: number): Promise<void> {
  if (ch.keyCount > 1) {
    try {
      const left = await setKeyNeedsAttention(d.db, { id: ch.id, index: ch.keyIndex, keyCount: ch.keyCount });
      d.log.warn(
        { channel: ch.name, key: `...${ch.keyHints[ch.keyIndex]}`, status, left },
        'upstream refused one of the channel keys; key taken out of rotation',
      );
      if (left > 0) {
        await d.catalog.reload();
        return;
      }
    } catch (e) {
      d.log.error({ err: e, channel: ch.id }, 'could not mark channel key as needing attention');
      return;
    }
  }
  await markChannelNeedsAttention(d, ch, status);
}

async function markChannelNeedsAttention(d: { db: DbOrTx; catalog: Catalog; log: Logger }, ch: RuntimeChannel, status: number): Promise<void> {
  ch.status = 'needs_attention';
  try {
    await setChannelStatus(d.db, {
      id: ch.id,
      status: 'needs_attention',
      reason: `upstream answered ${status} to Tally's API key at ${new Date().toISOString()}`,
      auto: true,
    });
    await d.catalog.reload();
  } catch (e) {
    d.log.error({ err: e, channel: ch.id }, 'could not mark channel as needing attention');
  }
  d.log.warn({ channel: ch.name, status }, 'upstream refused the channel credentials; channel disabled until an operator checks it');
}
