import type { Selectable } from 'kysely';
import type { RedeemBatchesTable } from '../db/schema.ts';
import { sql } from 'kysely';
import { withTransaction, type DbOrTx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { TallyError } from '../lib/errors.ts';
import { toBig, formatMoney, MAX_MICROS } from '../ledger/money.ts';
import { recordAudit, actorLabel, type Actor } from '../audit/index.ts';
import { generateNormalizedCode, formatCode, displayCode, hashRedeemCode } from './format.ts';

export const MAX_CODES_PER_BATCH = 10_000;
export const MAX_USES_PER_CODE = 1_000_000;

export interface RedeemBatch {
  id: string;
  name: string | null;
  amount: bigint;
  currency: string;
  maxUses: number;
  codeCount: number;
  expiresAt: number | null;
  status: 'active' | 'disabled';
  createdBy: string;
  createdAt: number;
  disabledAt: number | null;
  disabledReason: string | null;
}

export function rowToBatch(r: Selectable<RedeemBatchesTable>): RedeemBatch {
  return {
    id: r.id,
    name: r.name ?? null,
    amount: toBig(r.amount),
    currency: r.currency,
    maxUses: Number(r.max_uses),
    codeCount: Number(r.code_count),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    status: r.status,
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    disabledAt: r.disabled_at === null ? null : Number(r.disabled_at),
    disabledReason: r.disabled_reason ?? null,
  };
}

/** A code as it exists only in the response to its generation. */
export interface GeneratedCode {
  id: string;
  code: string;
  display: string;
}

export interface GenerateBatchInput {
  count: number;
  amount: bigint;
  expiresAt?: number | null;
  name?: string | null;
  maxUses?: number;
  currency: string;
  secret: string;
  actor: Actor;
  now?: number;
}

/**
 * Generates a batch of codes. The plaintext codes exist only in the returned
 * value: the database keeps an HMAC and the last 4 characters, so whoever
 * calls this is the one chance to hand them out (or write the CSV).
 */
export async function generateRedeemBatch(db: DbOrTx, input: GenerateBatchInput): Promise<{ batch: RedeemBatch; codes: GeneratedCode[] }> {
  const now = input.now ?? Date.now();
  if (!Number.isInteger(input.count) || input.count < 1 || input.count > MAX_CODES_PER_BATCH) {
    throw new TallyError('invalid_count', `count must be a whole number from 1 to ${MAX_CODES_PER_BATCH}`, { param: 'count' });
  }
  if (typeof input.amount !== 'bigint' || input.amount <= 0n || input.amount > MAX_MICROS)
    throw new TallyError('invalid_amount', 'amount must be greater than zero', { param: 'amount' });
  const maxUses = input.maxUses ?? 1;
  if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > MAX_USES_PER_CODE)
    throw new TallyError('invalid_max_uses', `max_uses must be a whole number from 1 to ${MAX_USES_PER_CODE}`, { param: 'max_uses' });
  if (input.expiresAt != null && input.expiresAt <= now)
    throw new TallyError('invalid_expiry', 'expires_at is in the past; a code must be redeemable for some time', { param: 'expires_at' });
  const name = input.name?.trim() || null;
  if (name && name.length > 100) throw new TallyError('invalid_name', 'the batch name must be at most 100 characters', { param: 'name' });

  const batchRow = {
    id: newId('rdb'),
    name,
    amount: input.amount,
    currency: input.currency,
    max_uses: maxUses,
    code_count: input.count,
    expires_at: input.expiresAt ?? null,
    status: 'active' as const,
    created_by: actorLabel(input.actor),
    created_at: now,
    disabled_at: null,
    disabled_reason: null,
  };
  const plain = new Set<string>();
  while (plain.size < input.count) plain.add(generateNormalizedCode());
  const codes = [...plain].map((normalized) => ({ id: newId('rdc'), normalized }));
  await withTransaction(db, async (tx) => {
    await tx.insertInto('redeem_batches').values(batchRow).execute();
    for (let i = 0; i < codes.length; i += 500) {
      const rows = codes.slice(i, i + 500).map((c) => ({
        id: c.id,
        batch_id: batchRow.id,
        code_hash: hashRedeemCode(input.secret, c.normalized),
        display: displayCode(c.normalized),
        max_uses: maxUses,
        uses: 0,
        status: 'active' as const,
        created_at: now,
        disabled_at: null,
        disabled_reason: null,
      }));
      await tx.insertInto('redeem_codes').values(rows).execute();
    }
    await recordAudit(tx, {
      actor: input.actor,
      action: 'redeem.batch.create',
      target: batchRow.id,
      data: {
        name,
        count: input.count,
        amount: formatMoney(input.amount),
        maxUses,
        expiresAt: batchRow.expires_at === null ? null : new Date(batchRow.expires_at).toISOString(),
      },
      now,
    });
  });
  return {
    batch: rowToBatch(batchRow),
    codes: codes.map((c) => ({ id: c.id, code: formatCode(c.normalized), display: displayCode(c.normalized) })),
  };
}

export async function getRedeemBatch(db: DbOrTx, id: string): Promise<RedeemBatch> {
  const r = await db.selectFrom('redeem_batches').selectAll().where('id', '=', id).executeTakeFirst();
  if (!r) throw new TallyError('batch_not_found', `no redeem batch with id ${id}`);
  return rowToBatch(r);
}

export interface BatchSummary extends RedeemBatch {
  redemptions: number;
  redeemedAmount: bigint;
}

export async function listRedeemBatches(db: DbOrTx, opts: { limit?: number; before?: string } = {}): Promise<BatchSummary[]> {
  let q = db
    .selectFrom('redeem_batches')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(Math.min(opts.limit ?? 50, 200));
  if (opts.before) q = q.where('id', '<', opts.before);
  const batches = (await q.execute()).map(rowToBatch);
  if (batches.length === 0) return [];
  const counts = await db
    .selectFrom('redeem_redemptions')
    .select(['batch_id', sql<string>`count(*)`.as('n'), sql<string>`sum(amount)`.as('total')])
    .where(
      'batch_id',
      'in',
      batches.map((b) => b.id),
    )
    .where('status', '=', 'credited')
    .groupBy('batch_id')
    .execute();
  const byBatch = new Map(counts.map((c) => [c.batch_id, c]));
  return batches.map((b) => ({ ...b, redemptions: Number(byBatch.get(b.id)?.n ?? 0), redeemedAmount: toBig(byBatch.get(b.id)?.total ?? 0n) }));
}

export type CodeStatus = 'active' | 'redeemed' | 'expired' | 'disabled';

export interface CodeView {
  id: string;
  batchId: string;
  display: string;
  status: CodeStatus;
  uses: number;
  maxUses: number;
  disabledAt: number | null;
  disabledReason: string | null;
  redemptions: Array<{
    id: string;
    userId: string;
    email: string;
    redeemedAt: number;
    status: 'credited' | 'reversed';
    transferId: string;
    reversedAt: number | null;
  }>;
}

export function codeStatus(code: { status: string; uses: number; maxUses: number }, batch: RedeemBatch, now: number): CodeStatus {
  if (code.status === 'disabled' || batch.status === 'disabled') return 'disabled';
  if (code.uses >= code.maxUses) return 'redeemed';
  if (batch.expiresAt !== null && batch.expiresAt <= now) return 'expired';
  return 'active';
}

/** A batch's codes for operators and support: masked, with status and who redeemed each and when. */
export async function listBatchCodes(db: DbOrTx, batchId: string, opts: { now?: number; limit?: number; after?: string } = {}): Promise<CodeView[]> {
  const batch = await getRedeemBatch(db, batchId);
  const now = opts.now ?? Date.now();
  let q = db
    .selectFrom('redeem_codes')
    .selectAll()
    .where('batch_id', '=', batchId)
    .orderBy('id')
    .limit(Math.min(opts.limit ?? 1000, 10_000));
  if (opts.after) q = q.where('id', '>', opts.after);
  const codes = await q.execute();
  if (codes.length === 0) return [];
  const redemptions = await db
    .selectFrom('redeem_redemptions as r')
    .innerJoin('users as u', 'u.id', 'r.user_id')
    .select(['r.id', 'r.code_id', 'r.user_id', 'u.email', 'r.created_at', 'r.status', 'r.transfer_id', 'r.reversed_at'])
    .where('r.batch_id', '=', batchId)
    .orderBy('r.id')
    .execute();
  const byCode = new Map<string, CodeView['redemptions']>();
  for (const r of redemptions) {
    const list = byCode.get(r.code_id) ?? [];
    list.push({
      id: r.id,
      userId: r.user_id,
      email: r.email,
      redeemedAt: Number(r.created_at),
      status: r.status,
      transferId: r.transfer_id,
      reversedAt: r.reversed_at === null ? null : Number(r.reversed_at),
    });
    byCode.set(r.code_id, list);
  }
  return codes.map((c) => {
    const uses = Number(c.uses);
    const maxUses = Number(c.max_uses);
    return {
      id: c.id,
      batchId: c.batch_id,
      display: c.display,
      status: codeStatus({ status: c.status, uses, maxUses }, batch, now),
      uses,
      maxUses,
      disabledAt: c.disabled_at === null ? null : Number(c.disabled_at),
      disabledReason: c.disabled_reason ?? null,
      redemptions: byCode.get(c.id) ?? [],
    };
  });
}

/** Disables a batch and every active code in it, in one transaction with its audit row. Idempotent. */
export async function disableRedeemBatch(
  db: DbOrTx,
  input: { batchId: string; reason?: string | null; actor: Actor; now?: number },
): Promise<{ batch: RedeemBatch; codesDisabled: number; replayed: boolean }> {
  const now = input.now ?? Date.now();
  const reason = input.reason?.trim() || null;
  return withTransaction(db, async (tx) => {
    const claimed = await tx
      .updateTable('redeem_batches')
      .set({ status: 'disabled', disabled_at: now, disabled_reason: reason })
      .where('id', '=', input.batchId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) === 0) return { batch: await getRedeemBatch(tx, input.batchId), codesDisabled: 0, replayed: true };
    const codes = await tx
      .updateTable('redeem_codes')
      .set({ status: 'disabled', disabled_at: now, disabled_reason: reason ?? 'batch disabled' })
      .where('batch_id', '=', input.batchId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    const codesDisabled = Number(codes.numUpdatedRows);
    await recordAudit(tx, { actor: input.actor, action: 'redeem.batch.disable', target: input.batchId, reason, data: { codesDisabled }, now });
    return { batch: await getRedeemBatch(tx, input.batchId), codesDisabled, replayed: false };
  });
}

/** Disables one code (leaked, sold twice, printed wrong); audited. Idempotent. */
export async function disableRedeemCode(
  db: DbOrTx,
  input: { codeId: string; reason?: string | null; actor: Actor; now?: number },
): Promise<{ codeId: string; display: string; replayed: boolean }> {
  const now = input.now ?? Date.now();
  const reason = input.reason?.trim() || null;
  return withTransaction(db, async (tx) => {
    const code = await tx.selectFrom('redeem_codes').select(['id', 'display', 'status']).where('id', '=', input.codeId).executeTakeFirst();
    if (!code) throw new TallyError('code_not_found', `no redeem code with id ${input.codeId}`);
    const r = await tx
      .updateTable('redeem_codes')
      .set({ status: 'disabled', disabled_at: now, disabled_reason: reason })
      .where('id', '=', input.codeId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return { codeId: code.id, display: code.display, replayed: true };
    await recordAudit(tx, { actor: input.actor, action: 'redeem.code.disable', target: code.id, reason, data: { code: code.display }, now });
    return { codeId: code.id, display: code.display, replayed: false };
  });
}
