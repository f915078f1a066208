import { Worker } from 'node:worker_threads';
import type { DbOrTx, Dialect } from '../db/index.ts';
import { withTransaction } from '../db/index.ts';
import { commitSettlementBatch, commitSettlementItemOnce, type Committed, type SettlementItem } from './settlementCommit.ts';

/** Where settlement batches are written. */
export interface SettlementWriter {
  commitBatch(batch: SettlementItem[]): Promise<Committed>;
  commitItemOnce(item: SettlementItem): Promise<Committed>;
  close(): Promise<void>;
}

/** Writes on the caller's connection pool (PostgreSQL: the I/O is already off the event loop). */
export function inProcessWriter(db: DbOrTx, dialect: Dialect): SettlementWriter {
  return {
    commitBatch: (batch) => withTransaction(db, (tx) => commitSettlementBatch(tx, dialect, batch)),
    commitItemOnce: (item) => commitSettlementItemOnce(db, dialect, item),
    close: async () => {},
  };
}

/**
 * SQLite's writes are synchronous CPU work on the thread that runs them; the
 * settlement batch (a transfer and a 30-column log row per request, plus
 * their indexes) was the largest single cost on the relay's event loop. A
 * worker thread with its own connection to the same WAL database takes it
 * off the loop; other writers wait on SQLite's busy timeout as before.
 */
export function workerWriter(databaseUrl: string): SettlementWriter {
  const worker = new Worker(new URL('./settlementWorker.mjs', import.meta.url), { workerData: { databaseUrl }, execArgv: [] });
  worker.unref();
  let seq = 0;
  const pending = new Map<number, { resolve: (c: Committed) => void; reject: (e: unknown) => void }>();
  const failAll = (e: unknown) => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.on('message', (m: { id: number; ok: boolean; committed?: Committed; error?: { message: string; code?: string } }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.committed!);
    else p.reject(Object.assign(new Error(m.error?.message ?? 'settlement worker failed'), { code: m.error?.code }));
  });
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new Error(`settlement worker exited (${code})`)));
  const call = (op: 'batch' | 'one', payload: unknown) =>
    new Promise<Committed>((resolve, reject) => {
      const id = ++seq;
      pending.set(id, { resolve, reject });
      worker.ref(); // keep the process alive while a write is in flight
      worker.postMessage({ id, op, payload });
    }).finally(() => {
      if (pending.size === 0) worker.unref();
    });
  return {
    commitBatch: (batch) => call('batch', batch),
    commitItemOnce: (item) => call('one', item),
    close: async () => {
      await worker.terminate();
    },
  };
}
