import type { DbOrTx } from '../db/index.ts';
import { toBig } from '../ledger/money.ts';
import { likeSuffix } from '../lib/sqlLike.ts';

// Read-only lookups for support: a code by the last 4 characters a user can
// read off the card, and who redeemed it when. Nothing here reveals a code.

export interface CodeFacts {
  codeId: string;
  display: string;
  status: string;
  uses: number;
  maxUses: number;
  batchId: string;
  batchStatus: string;
  amount: bigint;
  expiresAt: number | null;
}

export interface RedemptionFacts {
  id: string;
  userId: string;
  amount: bigint;
  transferId: string;
  status: 'credited' | 'reversed';
  createdAt: number;
}

function codeQuery(db: DbOrTx) {
  return db
    .selectFrom('redeem_codes as c')
    .innerJoin('redeem_batches as b', 'b.id', 'c.batch_id')
    .select(['c.id as code_id', 'c.display', 'c.status', 'c.uses', 'c.max_uses', 'c.batch_id', 'b.status as batch_status', 'b.amount', 'b.expires_at']);
}

type CodeRow = Awaited<ReturnType<ReturnType<typeof codeQuery>['executeTakeFirstOrThrow']>>;

const toFacts = (r: CodeRow): CodeFacts => ({
  codeId: r.code_id,
  display: r.display,
  status: r.status,
  uses: Number(r.uses),
  maxUses: Number(r.max_uses),
  batchId: r.batch_id,
  batchStatus: r.batch_status,
  amount: toBig(r.amount),
  expiresAt: r.expires_at === null ? null : Number(r.expires_at),
});

export async function getCodeFacts(db: DbOrTx, codeId: string): Promise<CodeFacts | null> {
  const r = await codeQuery(db).where('c.id', '=', codeId).executeTakeFirst();
  return r ? toFacts(r) : null;
}

/** Codes whose last 4 characters are `last4` (several may share them). */
export async function findCodesByLast4(db: DbOrTx, last4: string, limit = 10): Promise<CodeFacts[]> {
  const s = last4.trim().toUpperCase();
  if (!/^[0-9A-Z]{4}$/.test(s)) return [];
  return (
    await codeQuery(db)
      .where(likeSuffix('c.display', `-${s}`))
      .limit(limit)
      .execute()
  ).map(toFacts);
}

/** One user's own redemptions of codes whose last 4 characters are `last4`, newest first. */
export async function findUserRedemptionsByLast4(db: DbOrTx, userId: string, last4: string, limit = 10): Promise<Array<RedemptionFacts & { display: string }>> {
  const s = last4.trim().toUpperCase();
  if (!/^[0-9A-Z]{4}$/.test(s)) return [];
  const rows = await db
    .selectFrom('redeem_redemptions as r')
    .innerJoin('redeem_codes as c', 'c.id', 'r.code_id')
    .select(['r.id', 'r.user_id', 'r.amount', 'r.transfer_id', 'r.status', 'r.created_at', 'c.display'])
    .where('r.user_id', '=', userId)
    .where(likeSuffix('c.display', `-${s}`))
    .orderBy('r.created_at', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    userId: r.user_id,
    amount: toBig(r.amount),
    transferId: r.transfer_id,
    status: r.status,
    createdAt: Number(r.created_at),
    display: r.display,
  }));
}

export async function listCodeRedemptions(db: DbOrTx, codeId: string): Promise<RedemptionFacts[]> {
  const rows = await db.selectFrom('redeem_redemptions').selectAll().where('code_id', '=', codeId).orderBy('created_at').execute();
  return rows.map((r) => ({
    id: r.id,
    userId: r.user_id,
    amount: toBig(r.amount),
    transferId: r.transfer_id,
    status: r.status,
    createdAt: Number(r.created_at),
  }));
}
