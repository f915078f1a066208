import { type Selectable, sql } from 'kysely';
import { withTransaction, isUniqueViolation, type DbOrTx, type Tx } from '../db/index.ts';
import type { LedgerHoldsTable } from '../db/schema.ts';
import { newId } from '../lib/ids.ts';
import { TallyError } from '../lib/errors.ts';
import { toBig, formatMoney, MAX_MICROS } from './money.ts';
import { withinLimit } from './available.ts';
import { applyTransfer, explainFailedDebit, rowToTransfer, type Transfer } from './transfers.ts';

// Two-phase transfers with TigerBeetle's semantics: a hold reserves available
// balance atomically; post(actual <= held) moves the actual amount and releases
// the rest; void releases everything; a hold past its timeout is voided by the
// sweeper (status `expired`). Available = posted balance - pending holds.

export type HoldStatus = 'pending' | 'posted' | 'voided' | 'expired';

export interface Hold {
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  amount: bigint;
  kind: string;
  reference: string | null;
  idempotencyKey: string;
  status: HoldStatus;
  postedAmount: bigint | null;
  transferId: string | null;
  expiresAt: number;
  createdAt: number;
  resolvedAt: number | null;
  metadata: Record<string, unknown> | null;
}

export interface HoldInput {
  debitAccountId: string;
  creditAccountId: string;
  amount: bigint;
  kind: string;
  reference?: string | null;
  idempotencyKey: string;
  timeoutMs: number;
  metadata?: Record<string, unknown> | null;
  now?: number;
}

export function rowToHold(r: Selectable<LedgerHoldsTable>): Hold {
  return {
    id: r.id,
    debitAccountId: r.debit_account_id,
    creditAccountId: r.credit_account_id,
    amount: toBig(r.amount),
    kind: r.kind,
    reference: r.reference ?? null,
    idempotencyKey: r.idempotency_key,
    status: r.status,
    postedAmount: r.posted_amount === null || r.posted_amount === undefined ? null : toBig(r.posted_amount),
    transferId: r.transfer_id ?? null,
    expiresAt: Number(r.expires_at),
    createdAt: Number(r.created_at),
    resolvedAt: r.resolved_at === null || r.resolved_at === undefined ? null : Number(r.resolved_at),
    metadata: r.metadata ? JSON.parse(r.metadata) : null,
  };
}

export async function getHold(db: DbOrTx, id: string): Promise<Hold> {
  const r = await db.selectFrom('ledger_holds').selectAll().where('id', '=', id).executeTakeFirst();
  if (!r) throw new TallyError('hold_not_found', `hold ${id} does not exist`);
  return rowToHold(r);
}

async function findHoldByKey(db: DbOrTx, key: string): Promise<Hold | null> {
  const r = await db.selectFrom('ledger_holds').selectAll().where('idempotency_key', '=', key).executeTakeFirst();
  return r ? rowToHold(r) : null;
}

function assertSameHold(h: Hold, input: HoldInput): void {
  const same =
    h.debitAccountId === input.debitAccountId &&
    h.creditAccountId === input.creditAccountId &&
    h.amount === input.amount &&
    h.kind === input.kind &&
    (h.reference ?? null) === (input.reference ?? null);
  if (!same)
    throw new TallyError('idempotency_key_reused', `idempotency key "${input.idempotencyKey}" was already used for a different hold (${h.id})`, {
      details: { holdId: h.id },
    });
}

/** Reserves `amount` of the debit account's available balance, or throws insufficient_balance. */
export async function createHold(db: DbOrTx, input: HoldInput): Promise<{ hold: Hold; replayed: boolean }> {
  if (typeof input.amount !== 'bigint' || input.amount <= 0n) throw new TallyError('invalid_amount', 'a hold amount must be a positive number of micro-units');
  if (input.debitAccountId === input.creditAccountId) throw new TallyError('same_account', 'a hold needs two different accounts');
  if (input.amount > MAX_MICROS) throw new TallyError('invalid_amount', `a hold amount must be at most ${formatMoney(MAX_MICROS)}`);
  if (!(input.timeoutMs > 0)) throw new TallyError('invalid_timeout', 'a hold needs a positive timeout');
  const run = () =>
    withTransaction(db, async (tx) => {
      const existing = await findHoldByKey(tx, input.idempotencyKey);
      if (existing) {
        assertSameHold(existing, input);
        return { hold: existing, replayed: true };
      }
      return { hold: await applyHold(tx, input), replayed: false };
    });
  try {
    return await run();
  } catch (e) {
    if (!db.isTransaction && isUniqueViolation(e)) {
      const existing = await findHoldByKey(db, input.idempotencyKey);
      if (existing) {
        assertSameHold(existing, input);
        return { hold: existing, replayed: true };
      }
    }
    throw e;
  }
}

/** The hold itself: one conditional UPDATE (the no-overdraft check) and one INSERT. */
export async function applyHold(tx: Tx, input: HoldInput): Promise<Hold> {
  const now = input.now ?? Date.now();
  const r = await tx
    .updateTable('ledger_accounts')
    .set({ pending_debits: sql`pending_debits + ${input.amount}` })
    .where('id', '=', input.debitAccountId)
    .where(withinLimit(input.amount))
    .returning('id')
    .executeTakeFirst();
  if (!r) await explainFailedDebit(tx, input.debitAccountId, input.amount);
  const credit = await tx.selectFrom('ledger_accounts').select('id').where('id', '=', input.creditAccountId).executeTakeFirst();
  if (!credit) throw new TallyError('account_not_found', `ledger account ${input.creditAccountId} does not exist`);
  const row = {
    id: newId('hld'),
    debit_account_id: input.debitAccountId,
    credit_account_id: input.creditAccountId,
    amount: input.amount,
    kind: input.kind,
    reference: input.reference ?? null,
    idempotency_key: input.idempotencyKey,
    status: 'pending' as const,
    posted_amount: null,
    transfer_id: null,
    expires_at: now + input.timeoutMs,
    created_at: now,
    resolved_at: null,
    metadata: input.metadata ? JSON.stringify(input.metadata) : null,
  };
  await tx.insertInto('ledger_holds').values(row).execute();
  return rowToHold(row);
}

async function releasePending(tx: Tx, accountId: string, amount: bigint): Promise<void> {
  await tx
    .updateTable('ledger_accounts')
    .set({ pending_debits: sql`pending_debits - ${amount}` })
    .where('id', '=', accountId)
    .execute();
}

function notPending(h: Hold): TallyError {
  return new TallyError('hold_not_pending', `hold ${h.id} is already ${h.status}`, { details: { holdId: h.id, status: h.status } });
}

/**
 * Posts a pending hold for `amount` (0 <= amount <= held). Posting the same
 * amount again returns the first result; posting 0 releases the hold with no
 * transfer. A hold past its timeout cannot be posted: it belongs to the sweeper.
 */
export async function postHold(
  db: DbOrTx,
  input: { holdId: string; amount: bigint; metadata?: Record<string, unknown> | null; now?: number },
): Promise<{ hold: Hold; transfer: Transfer | null; replayed: boolean }> {
  if (typeof input.amount !== 'bigint' || input.amount < 0n) throw new TallyError('invalid_amount', 'a posted amount must be zero or more micro-units');
  return withTransaction(db, async (tx) => {
    const now = input.now ?? Date.now();
    const claimed = await tx
      .updateTable('ledger_holds')
      .set({ status: 'posted', posted_amount: input.amount, resolved_at: now })
      .where('id', '=', input.holdId)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .where('amount', '>=', input.amount)
      .returningAll()
      .executeTakeFirst();
    if (!claimed) {
      const h = await getHold(tx, input.holdId);
      if (h.status === 'posted' && h.postedAmount === input.amount) {
        const t = h.transferId ? await tx.selectFrom('ledger_transfers').selectAll().where('id', '=', h.transferId).executeTakeFirst() : undefined;
        return { hold: h, transfer: t ? rowToTransfer(t) : null, replayed: true };
      }
      if (h.status !== 'pending') throw notPending(h);
      if (input.amount > h.amount)
        throw new TallyError('post_exceeds_hold', `cannot post ${formatMoney(input.amount)}: the hold is for ${formatMoney(h.amount)}`);
      throw new TallyError('hold_expired', `hold ${h.id} expired at ${new Date(h.expiresAt).toISOString()}; it will be voided`, { details: { holdId: h.id } });
    }
    const hold = rowToHold(claimed);
    let transfer: Transfer | null = null;
    if (input.amount === 0n) await releasePending(tx, hold.debitAccountId, hold.amount);
    else {
      // The hold already proved the money is there; the limit check is not repeated.
      transfer = await applyTransfer(tx, {
        debitAccountId: hold.debitAccountId,
        creditAccountId: hold.creditAccountId,
        amount: input.amount,
        kind: hold.kind,
        reference: hold.reference,
        idempotencyKey: `hold:${hold.id}`,
        holdId: hold.id,
        metadata: input.metadata ?? hold.metadata,
        skipLimitCheck: true,
        // Release and debit in one UPDATE, with rows locked in id order like every transfer (no deadlock).
        releasePending: hold.amount,
        now,
      });
      await tx.updateTable('ledger_holds').set({ transfer_id: transfer.id }).where('id', '=', hold.id).execute();
    }
    return { hold: { ...hold, transferId: transfer?.id ?? null }, transfer, replayed: false };
  });
}

/** Releases a pending hold; voiding a voided hold is a no-op that returns it. */
export async function voidHold(db: DbOrTx, input: { holdId: string; now?: number }): Promise<{ hold: Hold; replayed: boolean }> {
  return withTransaction(db, async (tx) => {
    const now = input.now ?? Date.now();
    const claimed = await tx
      .updateTable('ledger_holds')
      .set({ status: 'voided', resolved_at: now })
      .where('id', '=', input.holdId)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
    if (!claimed) {
      const h = await getHold(tx, input.holdId);
      if (h.status === 'voided' || h.status === 'expired') return { hold: h, replayed: true };
      throw notPending(h);
    }
    const hold = rowToHold(claimed);
    await releasePending(tx, hold.debitAccountId, hold.amount);
    return { hold, replayed: false };
  });
}

/**
 * The sweeper: voids every pending hold past its timeout (status `expired`).
 * Run on startup, so a crash never strands reserved money, and periodically.
 * Each hold is expired in its own small transaction with a conditional claim,
 * so sweepers on several instances never release a hold twice.
 */
export async function expireHolds(db: DbOrTx, opts: { now?: number; limit?: number } = {}): Promise<number> {
  const now = opts.now ?? Date.now();
  const due = await db
    .selectFrom('ledger_holds')
    .select('id')
    .where('status', '=', 'pending')
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(opts.limit ?? 1000)
    .execute();
  let expired = 0;
  for (const { id } of due) {
    const done = await withTransaction(db, async (tx) => {
      const claimed = await tx
        .updateTable('ledger_holds')
        .set({ status: 'expired', resolved_at: now })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .returning(['debit_account_id', 'amount'])
        .executeTakeFirst();
      if (!claimed) return false;
      await releasePending(tx, claimed.debit_account_id, toBig(claimed.amount));
      return true;
    });
    if (done) expired++;
  }
  return expired;
}

export async function listHolds(db: DbOrTx, filter: { accountId?: string; status?: HoldStatus; limit?: number } = {}): Promise<Hold[]> {
  let q = db
    .selectFrom('ledger_holds')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(filter.limit ?? 100);
  if (filter.accountId) q = q.where('debit_account_id', '=', filter.accountId);
  if (filter.status) q = q.where('status', '=', filter.status);
  return (await q.execute()).map(rowToHold);
}
