import type { Logger } from 'pino';
import type { DbOrTx } from '../../db/index.ts';
import type { Catalog, RuntimeChannel } from '../catalog.ts';
import { setChannelStatus } from '../channels.ts';

// Step 3: which channels to try, in order: the highest priority tier first,
// weighted random inside a tier, channels whose breaker is open skipped (the
// breaker itself: breaker.ts). A channel whose upstream refuses Tally's own
// credentials is taken out of rotation until an operator looks.

export function orderChannels(catalog: Catalog, model: string): RuntimeChannel[] {
  const now = Date.now();
  const all: RuntimeChannel[] = [];
  for (const c of catalog.channelsFor(model)) if (c.status === 'enabled' && c.breaker.state(now) !== 'open') all.push(c);
  if (all.length < 2) return all; // the common case: nothing to order
  const tiers = new Map<number, RuntimeChannel[]>();
  for (const c of all) tiers.set(c.priority, [...(tiers.get(c.priority) ?? []), c]);
  const out: RuntimeChannel[] = [];
  for (const p of [...tiers.keys()].sort((a, b) => b - a)) out.push(...weightedShuffle(tiers.get(p)!));
  return out;
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

/** Upstream answered 401/403 to Tally's key: the channel is disabled until an operator checks it. */
export async function markNeedsAttention(d: { db: DbOrTx; catalog: Catalog; log: Logger }, ch: RuntimeChannel, status: number): Promise<void> {
  ch.status = 'needs_attention';
  try {
    await setChannelStatus(d.db, {
      id: ch.id,
      status: 'needs_attention',
      reason: `upstream answered ${status} to Tally's API key at ${new Date().toISOString()}`,
    });
    await d.catalog.reload();
  } catch (e) {
    d.log.error({ err: e, channel: ch.id }, 'could not mark channel as needing attention');
  }
  d.log.warn({ channel: ch.name, status }, 'upstream refused the channel credentials; channel disabled until an operator checks it');
}
