import { isUniqueViolation, withTransaction, type DbOrTx, type Tx } from './index.ts';

/**
 * `withTransaction` for an effect keyed by a unique index: an idempotency key,
 * a provider's (provider, trade_id), one redemption per user and code. Of two
 * concurrent calls with the same key both may read "not done yet"; the loser's
 * insert then fails on the index. Running the loser once more reads the winner's
 * row, so it answers as a replay instead of an error. `fn` must therefore look
 * for the keyed row before writing it.
 *
 * Inside a caller's transaction the violation propagates: on PostgreSQL that
 * transaction is aborted, and the outermost caller's retry decides.
 */
export async function withIdempotentTransaction<T>(db: DbOrTx, fn: (tx: Tx) => Promise<T>): Promise<T> {
  try {
    return await withTransaction(db, fn);
  } catch (e) {
    if (db.isTransaction || !isUniqueViolation(e)) throw e;
    return withTransaction(db, fn);
  }
}
