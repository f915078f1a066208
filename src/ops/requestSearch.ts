import type { DbOrTx } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { idFloor } from '../lib/ids.ts';
import { likeSuffix } from '../lib/sqlLike.ts';
import { usageView } from '../gateway/usageLog.ts';

// The request log across users (GET /api/admin/requests): by request id, key
// tail, model, status, user and time, newest first, keyset-paged by request
// id. A time window is always applied (7 days by default, at most 92) and
// read as a primary-key range (request ids sort by time), so a search that
// matches nothing still reads a bounded part of the log.

export const SEARCH_DEFAULT_DAYS = 7;
export const SEARCH_MAX_DAYS = 92;
const DAY_MS = 86_400_000;
const REQUEST_ID = /^req_[0-9a-z]{10,40}$/;

export interface RequestSearch {
  requestId?: string;
  keyTail?: string;
  model?: string;
  /** An HTTP status, or 'ok' (below 400) / 'error' (400 and above). */
  status?: number | 'ok' | 'error';
  userId?: string;
  from?: number;
  to?: number;
  cursor?: string;
  limit?: number;
}

/** A time parameter: an ISO date or date-time. */
export function parseSearchTime(v: string | undefined, param: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const t = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(t)) throw new TallyError('invalid_time', `${param} must be an ISO date or time such as 2026-12-01 or 2026-12-01T08:00:00Z`, { param });
  return t;
}

/** A status filter: 200, 429, ok or error. */
export function parseStatusFilter(v: string | undefined): RequestSearch['status'] {
  if (v === undefined || v === '') return undefined;
  if (v === 'ok' || v === 'error') return v;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 100 || n > 599)
    throw new TallyError('invalid_status', 'status must be an HTTP status (100-599), ok or error', { param: 'status' });
  return n;
}

export async function searchRequests(db: DbOrTx, f: RequestSearch, now: number) {
  const to = f.to ?? now;
  const from = f.from ?? to - SEARCH_DEFAULT_DAYS * DAY_MS;
  if (to <= from) throw new TallyError('invalid_time', 'to must be after from', { param: 'to' });
  if (to - from > SEARCH_MAX_DAYS * DAY_MS) throw new TallyError('invalid_time', `search at most ${SEARCH_MAX_DAYS} days at a time`, { param: 'from' });
  if (f.cursor !== undefined && !REQUEST_ID.test(f.cursor))
    throw new TallyError('invalid_cursor', 'cursor must be the next_cursor of the previous page', { param: 'cursor' });
  if (f.requestId !== undefined && !REQUEST_ID.test(f.requestId))
    throw new TallyError('invalid_request', 'request_id looks like req_ followed by letters and digits (the x-request-id header)', { param: 'request_id' });
  if (f.keyTail !== undefined && !/^[A-Za-z0-9_-]{4,12}$/.test(f.keyTail))
    throw new TallyError('invalid_request', 'key_tail is the last 4 to 12 characters of a key, as its masked form shows them', { param: 'key_tail' });
  const limit = Math.min(Math.max(f.limit ?? 50, 1), 200);

  let q = db
    .selectFrom('request_logs as l')
    .leftJoin('users as u', 'u.id', 'l.user_id')
    .selectAll('l')
    .select('u.email as user_email')
    .where('l.id', '>=', idFloor('req', from))
    .where('l.id', '<', idFloor('req', to))
    .where('l.created_at', '>=', from)
    .where('l.created_at', '<', to)
    .orderBy('l.id', 'desc')
    .limit(limit + 1);
  if (f.cursor) q = q.where('l.id', '<', f.cursor);
  if (f.requestId) q = q.where('l.id', '=', f.requestId);
  if (f.keyTail) q = q.where(likeSuffix('l.key_display', f.keyTail));
  if (f.model) q = q.where('l.model', '=', f.model);
  if (f.userId) q = q.where('l.user_id', '=', f.userId);
  if (f.status === 'ok') q = q.where('l.status', '<', 400);
  else if (f.status === 'error') q = q.where('l.status', '>=', 400);
  else if (f.status !== undefined) q = q.where('l.status', '=', f.status);
  const rows = await q.execute();
  const page = rows.slice(0, limit);
  return {
    rows: page,
    from,
    to,
    nextCursor: rows.length > limit ? page[page.length - 1].id : null,
  };
}

/** A row of the search as staff see it: the client IP is left out (users.requests' rule), the e-mail as `email` masks it. */
export function searchRowView(r: Awaited<ReturnType<typeof searchRequests>>['rows'][number], email: (e: string) => string) {
  const { client_ip: _ip, ...view } = usageView(r);
  return { ...view, user_id: r.user_id, user_email: r.user_email ? email(r.user_email) : null, channel_id: r.channel_id };
}
