import type { DbOrTx } from '../db/index.ts';
import type { Catalog } from '../gateway/catalog.ts';
import type { Channel } from '../gateway/channels.ts';
import { channelView } from '../gateway/present.ts';
import { recentProbes } from './probes.ts';

// The channel list as staff see it (GET /api/admin/channels, `tally channel
// list --json`): each channel's view with its last probe, its probe history
// (newest first) and its recent errors (failed probes, and the breaker's last
// relay error). Messages were masked when stored; never a key.

const HISTORY = 10;

export async function channelHealthViews(db: DbOrTx, catalog: Catalog, channels: Channel[]) {
  const probes = await recentProbes(
    db,
    channels.map((c) => c.id),
    HISTORY,
  );
  return channels.map((c) => {
    const view = channelView(catalog, c);
    const history = probes.get(c.id) ?? [];
    const recentErrors: Array<{ at: string; source: 'probe' | 'relay'; message: string; error_class?: string | null; status?: number }> = [];
    for (const p of history) {
      if (!p.ok) recentErrors.push({ at: p.at, source: 'probe', error_class: p.error_class, status: p.status, message: p.error_message ?? '' });
    }
    const h = view.health;
    if (h?.last_error && h.last_error_at) recentErrors.push({ at: h.last_error_at, source: 'relay', message: h.last_error });
    recentErrors.sort((a, b) => (a.at < b.at ? 1 : -1));
    return { ...view, last_probe: history[0] ?? null, probes: history, recent_errors: recentErrors.slice(0, HISTORY) };
  });
}
