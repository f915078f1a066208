import type { DbOrTx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';

/** Who did something: a signed-in user (with role), the admin token, the CLI on the host, or Tally itself. */
export type Actor =
  | { type: 'user'; userId: string; role: 'user' | 'support' | 'admin' }
  | { type: 'admin_token' }
  | { type: 'cli' }
  | { type: 'system' };

export function actorLabel(a: Actor): string {
  return a.type === 'user' ? `user:${a.userId}` : a.type;
}

/**
 * Writes an audit row. Call it inside the transaction of the action it records,
 * so an action without its audit row cannot exist (fail closed).
 */
export async function recordAudit(
  db: DbOrTx,
  input: { actor: Actor; action: string; target?: string | null; reason?: string | null; data?: Record<string, unknown> | null; now?: number },
): Promise<string> {
  const id = newId('aud');
  await db
    .insertInto('audit_log')
    .values({
      id,
      actor: actorLabel(input.actor),
      action: input.action,
      target: input.target ?? null,
      reason: input.reason ?? null,
      data: input.data ? JSON.stringify(input.data, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) : null,
      created_at: input.now ?? Date.now(),
    })
    .execute();
  return id;
}

export async function listAudit(db: DbOrTx, filter: { target?: string; action?: string; limit?: number } = {}) {
  let q = db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(Math.min(filter.limit ?? 100, 500));
  if (filter.target) q = q.where('target', '=', filter.target);
  if (filter.action) q = q.where('action', '=', filter.action);
  const rows = await q.execute();
  return rows.map((r) => ({ id: r.id, actor: r.actor, action: r.action, target: r.target, reason: r.reason, data: r.data ? JSON.parse(r.data) : null, createdAt: Number(r.created_at) }));
}
