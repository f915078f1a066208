import { type Selectable, sql } from 'kysely';
import { withTransaction, isUniqueViolation, type DbOrTx, type Tx } from '../db/index.ts';
import { withIdempotentTransaction } from '../db/idempotent.ts';
import type { LedgerTransfersTable } from '../db/schema.ts';
import { newId } from '../lib/ids.ts';
import { TallyError } from '../lib/errors.ts';
import { toBig, formatMoney, MAX_MICROS } from './money.ts';
import { spendableOf, withinLimit } from './available.ts';

export type TransferKind =
  | 'manual_credit'
  | 'manual_debit'
  | 'demo_credit'
  | 'payment'
  | 'redeem'
  | 'usage'
  | 'uncollected'
  | 'refund'
  | 'compensation'
  | 'reversal'
  | 'task'
  | 'test';

export interface TransferInput {
  debitAccountId: string;
  creditAccountId: string;
  amount: bigint;
  kind: TransferKind | string;
  reference?: string | null;
  /** Unique per intended movement; a retry with the same key is answered with the first result. */
  idempotencyKey: string;
  metadata?: Record<string, unknown> | null;
  now?: number;
}

export interface Transfer {
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  amount: bigint;
  kind: string;
  reference: string | null;
  idempotencyKey: string;
  holdId: string | null;
  reversesTransferId: string | null;
  debitBalanceAfter: bigint;
  creditBalanceAfter: bigint;
  metadata: Record<string, unknown> | null;
  createdAt: number;
}

export interface TransferResult {
  transfer: Transfer;
  /** True when this call found the transfer already made by an earlier call with the same key. */
  replayed: boolean;
}

export function rowToTransfer(r: Selectable<LedgerTransfersTable>): Transfer {
  return {
    id: r.id,
    debitAccountId: r.debit_account_id,
    creditAccountId: r.credit_account_id,
    amount: toBig(r.amount),
    kind: r.kind,
    reference: r.reference ?? null,
    idempotencyKey: r.idempotency_key,
    holdId: r.hold_id ?? null,
    reversesTransferId: r.reverses_transfer_id ?? null,
    debitBalanceAfter: toBig(r.debit_balance_after),
    creditBalanceAfter: toBig(r.credit_balance_after),
    metadata: r.metadata ? JSON.parse(r.metadata) : null,
    createdAt: Number(r.created_at),
  };
}

function validate(input: TransferInput): void {
  if (typeof input.amount !== 'bigint' || input.amount <= 0n)
    throw new TallyError('invalid_amount', 'a transfer amount must be a positive number of micro-units');
  if (input.amount > MAX_MICROS) throw new TallyError('invalid_amount', `a transfer amount must be at most ${formatMoney(MAX_MICROS)}`);
  if (input.debitAccountId === input.creditAccountId) throw new TallyError('same_account', 'a transfer needs two different accounts');
  if (!input.idempotencyKey || input.idempotencyKey.length > 200)
    throw new TallyError('invalid_idempotency_key', 'an idempotency key of 1 to 200 characters is required');
}

/** Same key with different fields is a caller bug, refused as TigerBeetle and Stripe do. */
function assertSameTransfer(existing: Transfer, input: TransferInput): void {
  const same =
    existing.debitAccountId === input.debitAccountId &&
    existing.creditAccountId === input.creditAccountId &&
    existing.amount === input.amount &&
    existing.kind === input.kind &&
    (existing.reference ?? null) === (input.reference ?? null);
  if (!same) {
    throw new TallyError('idempotency_key_reused', `idempotency key "${input.idempotencyKey}" was already used for a different transfer (${existing.id})`, {
      details: {
        transferId: existing.id,
      },
    });
  }
}

export async function findTransferByKey(db: DbOrTx, key: string): Promise<Transfer | null> {
  const r = await db.selectFrom('ledger_transfers').selectAll().where('idempotency_key', '=', key).executeTakeFirst();
  return r ? rowToTransfer(r) : null;
}

export async function getTransfer(db: DbOrTx, id: string): Promise<Transfer> {
  const r = await db.selectFrom('ledger_transfers').selectAll().where('id', '=', id).executeTakeFirst();
  if (!r) throw new TallyError('transfer_not_found', `transfer ${id} does not exist`);
  return rowToTransfer(r);
}

export class InsufficientFundsError extends TallyError {
  constructor(accountId: string, needed: bigint, available: bigint) {
    super('insufficient_balance', `insufficient balance: ${formatMoney(needed)} needed, ${formatMoney(available)} available`, {
      details: { accountId, needed: formatMoney(needed), available: formatMoney(available) },
    });
  }
}

/** Throws the precise reason a conditional debit matched no row. */
export async function explainFailedDebit(tx: DbOrTx, accountId: string, amount: bigint): Promise<never> {
  const acc = await tx.selectFrom('ledger_accounts').select(['balance', 'pending_debits', 'overdraft_limit']).where('id', '=', accountId).executeTakeFirst();
  if (!acc) throw new TallyError('account_not_found', `ledger account ${accountId} does not exist`);
  throw new InsufficientFundsError(accountId, amount, spendableOf(acc));
}

/**
 * Moves money between accounts with the balance check and the immutable
 * transfer row in one transaction. Account rows are locked in id order so two
 * opposite transfers cannot deadlock each other.
 */
export async function applyTransfer(
  tx: Tx,
  input: TransferInput & {
    holdId?: string | null;
    reversesTransferId?: string | null;
    skipLimitCheck?: boolean;
    /** Posting a hold: release this much of the debit account's pending total in the same UPDATE (same lock order). */
    releasePending?: bigint;
  },
): Promise<Transfer> {
  const now = input.now ?? Date.now();
  const balances = new Map<string, bigint>();
  const order = [input.debitAccountId, input.creditAccountId].sort();
  for (const id of order) {
    if (id === input.debitAccountId) {
      const release = input.releasePending ?? 0n;
      let q = tx
        .updateTable('ledger_accounts')
        .set(
          release > 0n
            ? { balance: sql`balance - ${input.amount}`, pending_debits: sql`pending_debits - ${release}` }
            : { balance: sql`balance - ${input.amount}` },
        )
        .where('id', '=', id);
      if (!input.skipLimitCheck) q = q.where(withinLimit(input.amount));
      const r = await q.returning('balance').executeTakeFirst();
      if (!r) await explainFailedDebit(tx, id, input.amount);
      balances.set(id, toBig(r!.balance));
    } else {
      const r = await tx
        .updateTable('ledger_accounts')
        .set({ balance: sql`balance + ${input.amount}` })
        .where('id', '=', id)
        .returning('balance')
        .executeTakeFirst();
      if (!r) throw new TallyError('account_not_found', `ledger account ${id} does not exist`);
      balances.set(id, toBig(r.balance));
    }
  }
  const row = {
    id: newId('trf'),
    debit_account_id: input.debitAccountId,
    credit_account_id: input.creditAccountId,
    amount: input.amount,
    kind: input.kind,
    reference: input.reference ?? null,
    idempotency_key: input.idempotencyKey,
    hold_id: input.holdId ?? null,
    reverses_transfer_id: input.reversesTransferId ?? null,
    debit_balance_after: balances.get(input.debitAccountId)!,
    credit_balance_after: balances.get(input.creditAccountId)!,
    metadata: input.metadata ? JSON.stringify(input.metadata) : null,
    created_at: now,
  };
  await tx.insertInto('ledger_transfers').values(row).execute();
  return rowToTransfer(row);
}

/**
 * Creates a transfer exactly once per idempotency key. Inside an outer
 * transaction a concurrent duplicate surfaces as a unique violation that
 * aborts the outer unit of work; callers that own their transaction get the
 * replay handled here.
 */
export async function createTransfer(db: DbOrTx, input: TransferInput): Promise<TransferResult> {
  validate(input);
  const run = () =>
    withTransaction(db, async (tx) => {
      const existing = await findTransferByKey(tx, input.idempotencyKey);
      if (existing) {
        assertSameTransfer(existing, input);
        return { transfer: existing, replayed: true };
      }
      return { transfer: await applyTransfer(tx, input), replayed: false };
    });
  try {
    return await run();
  } catch (e) {
    if (!db.isTransaction && isUniqueViolation(e)) {
      const existing = await findTransferByKey(db, input.idempotencyKey);
      if (existing) {
        assertSameTransfer(existing, input);
        return { transfer: existing, replayed: true };
      }
    }
    throw e;
  }
}

/**
 * Corrects a transfer by moving the same amount back. The original is never
 * touched; a transfer can be reversed once (unique index on reverses_transfer_id).
 */
export async function reverseTransfer(
  db: DbOrTx,
  input: { transferId: string; reason: string; idempotencyKey?: string; amount?: bigint; now?: number },
): Promise<TransferResult> {
  if (!input.reason?.trim()) throw new TallyError('reason_required', 'a reversal needs a reason');
  const key = input.idempotencyKey ?? `reversal:${input.transferId}`;
  // Keyed by the reversal's idempotency key: a lost race re-runs once and answers as a replay.
  return withIdempotentTransaction(db, async (tx) => {
    const original = await getTransfer(tx, input.transferId);
    const amount = input.amount ?? original.amount;
    if (amount <= 0n || amount > original.amount) throw new TallyError('invalid_amount', `a reversal can return at most ${formatMoney(original.amount)}`);
    const spec: TransferInput = {
      debitAccountId: original.creditAccountId,
      creditAccountId: original.debitAccountId,
      amount,
      kind: 'reversal',
      reference: original.id,
      idempotencyKey: key,
      metadata: { reason: input.reason, reversedKind: original.kind },
      now: input.now,
    };
    const existing = await findTransferByKey(tx, key);
    if (existing) {
      assertSameTransfer(existing, spec);
      return { transfer: existing, replayed: true };
    }
    if (original.reversesTransferId) throw new TallyError('cannot_reverse_reversal', 'a reversal cannot itself be reversed; make a new transfer instead');
    const prior = await tx.selectFrom('ledger_transfers').select('id').where('reverses_transfer_id', '=', original.id).executeTakeFirst();
    if (prior) throw new TallyError('already_reversed', `transfer ${original.id} was already reversed by ${prior.id}`);
    return { transfer: await applyTransfer(tx, { ...spec, reversesTransferId: original.id }), replayed: false };
  });
}

export interface StatementEntry {
  transferId: string;
  kind: string;
  /** Signed change to this account: positive = money in. */
  amount: bigint;
  balanceAfter: bigint;
  counterparty: string;
  reference: string | null;
  metadata: Record<string, unknown> | null;
  createdAt: number;
}

/** Every balance change of one account, newest first, with the balance after each. */
export async function listStatement(db: DbOrTx, accountId: string, opts: { limit?: number; before?: string; kind?: string } = {}): Promise<StatementEntry[]> {
  const limit = Math.min(Math.max(opts.limit ?? 50, 1), 500);
  let q = db
    .selectFrom('ledger_transfers')
    .selectAll()
    .where((eb) => eb.or([eb('debit_account_id', '=', accountId), eb('credit_account_id', '=', accountId)]))
    .orderBy('id', 'desc')
    .limit(limit);
  if (opts.before) q = q.where('id', '<', opts.before);
  if (opts.kind) q = q.where('kind', '=', opts.kind);
  const rows = await q.execute();
  return rows.map((r) => {
    const t = rowToTransfer(r);
    const incoming = t.creditAccountId === accountId;
    return {
      transferId: t.id,
      kind: t.kind,
      amount: incoming ? t.amount : -t.amount,
      balanceAfter: incoming ? t.creditBalanceAfter : t.debitBalanceAfter,
      counterparty: incoming ? t.debitAccountId : t.creditAccountId,
      reference: t.reference,
      metadata: t.metadata,
      createdAt: t.createdAt,
    };
  });
}
