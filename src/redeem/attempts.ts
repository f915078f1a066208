import type { DbOrTx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import type { RedeemOutcome } from './outcomes.ts';

// Every redeem attempt, successful or not, with the masked code, the user, the
// IP and the outcome: the evidence support needs for "my code doesn't work".

export interface RedeemAttempt {
  id: string;
  userId: string | null;
  ip: string | null;
  code: string;
  codeId: string | null;
  outcome: RedeemOutcome;
  createdAt: number;
}

export async function recordRedeemAttempt(
  db: DbOrTx,
  input: { userId: string | null; ip: string | null; code: string; codeId?: string | null; outcome: RedeemOutcome; now?: number },
): Promise<string> {
  const id = newId('att');
  await db
    .insertInto('redeem_attempts')
    .values({ id, user_id: input.userId, ip: input.ip?.slice(0, 64) ?? null, code_display: input.code, code_id: input.codeId ?? null, outcome: input.outcome, created_at: input.now ?? Date.now() })
    .execute();
  return id;
}

export async function listRedeemAttempts(
  db: DbOrTx,
  filter: { userId?: string; codeId?: string; ip?: string; limit?: number; before?: string } = {},
): Promise<RedeemAttempt[]> {
  let q = db.selectFrom('redeem_attempts').selectAll().orderBy('id', 'desc').limit(Math.min(Math.max(filter.limit ?? 50, 1), 500));
  if (filter.userId) q = q.where('user_id', '=', filter.userId);
  if (filter.codeId) q = q.where('code_id', '=', filter.codeId);
  if (filter.ip) q = q.where('ip', '=', filter.ip);
  if (filter.before) q = q.where('id', '<', filter.before);
  const rows = await q.execute();
  return rows.map((r) => ({ id: r.id, userId: r.user_id, ip: r.ip, code: r.code_display, codeId: r.code_id, outcome: r.outcome as RedeemOutcome, createdAt: Number(r.created_at) }));
}
