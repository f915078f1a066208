// The audit trail: who did what to which target, written in the transaction of the
// action it records. It sits low (below accounts, payments, redeem, support) so any
// module can record an action without importing a module above it.
import type { DbOrTx } from '../db/index.ts';
import { likePrefix } from '../lib/sqlLike.ts';
import { newId } from '../lib/ids.ts';

/** Who did something: a signed-in user (with role), the admin token, the CLI on the host, or Tally itself. */
export type Actor = { type: 'user'; userId: string; role: 'user' | 'support' | 'admin' } | { type: 'admin_token' } | { type: 'cli' } | { type: 'system' };

export function actorLabel(a: Actor): string {
  return a.type === 'user' ? `user:${a.userId}` : a.type;
}

/** Admins (and the admin token, and the host's CLI) may do what support may not: reveal, force. */
export const isAdminActor = (a: Actor): boolean => a.type === 'admin_token' || a.type === 'cli' || (a.type === 'user' && a.role === 'admin');

/** When a money action runs because an admin approved a support request, its audit row says so. */
export interface ApprovalRef {
  approvalId: string;
  requestedBy: string;
}

export const approvalData = (a: ApprovalRef | undefined) => (a ? { approval_id: a.approvalId, requested_by: a.requestedBy } : {});

const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)));

export interface AuditInput {
  actor: Actor;
  action: string;
  target?: string | null;
  reason?: string | null;
  data?: Record<string, unknown> | null;
  /** What the target looked like before the action (secrets stripped by the caller). */
  before?: unknown;
  /** What it looks like after. */
  after?: unknown;
  now?: number;
}

/**
 * Writes an audit row. Call it inside the transaction of the action it records,
 * so an action without its audit row cannot exist (fail closed).
 */
export async function recordAudit(db: DbOrTx, input: AuditInput): Promise<string> {
  const id = newId('aud');
  await db
    .insertInto('audit_log')
    .values({
      id,
      actor: actorLabel(input.actor),
      action: input.action,
      target: input.target ?? null,
      reason: input.reason ?? null,
      data: json(input.data),
      before_state: json(input.before),
      after_state: json(input.after),
      created_at: input.now ?? Date.now(),
    })
    .execute();
  return id;
}

export interface AuditFilter {
  target?: string;
  /** An exact action, or a prefix ending in "." (e.g. "ticket."). */
  action?: string;
  actor?: string;
  since?: number;
  until?: number;
  before?: string;
  limit?: number;
}

export interface AuditEntry {
  id: string;
  actor: string;
  action: string;
  target: string | null;
  reason: string | null;
  data: any;
  before: any;
  after: any;
  createdAt: number;
}

export async function listAudit(db: DbOrTx, filter: AuditFilter = {}): Promise<AuditEntry[]> {
  let q = db
    .selectFrom('audit_log')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(Math.min(Math.max(filter.limit ?? 100, 1), 500));
  if (filter.target) q = q.where('target', '=', filter.target);
  if (filter.action) q = filter.action.endsWith('.') ? q.where(likePrefix('action', filter.action)) : q.where('action', '=', filter.action);
  if (filter.actor) q = q.where('actor', '=', filter.actor);
  if (filter.since !== undefined) q = q.where('created_at', '>=', filter.since);
  if (filter.until !== undefined) q = q.where('created_at', '<', filter.until);
  if (filter.before) q = q.where('id', '<', filter.before);
  const rows = await q.execute();
  const parse = (s: string | null | undefined) => (s ? JSON.parse(s) : null);
  return rows.map((r) => ({
    id: r.id,
    actor: r.actor,
    action: r.action,
    target: r.target,
    reason: r.reason,
    data: parse(r.data),
    before: parse(r.before_state),
    after: parse(r.after_state),
    createdAt: Number(r.created_at),
  }));
}
