import { Worker } from 'node:worker_threads';
import type { DbOrTx, Dialect } from '../db/index.ts';
import { withTransaction } from '../db/index.ts';
import { commitSettlementBatch, commitSettlementItemOnce, type Committed, type SettlementItem } from './settlementCommit.ts';

/** Where settlement batches are written. */
export interface SettlementWriter {
  commitBatch(batch: SettlementItem[]): Promise<Committed>;
  commitItemOnce(item: SettlementItem): Promise<Committed>;
  /** Starts the writer if it is not running and resolves when it can commit (a worker thread has loaded and opened its connection). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** Writes on the caller's connection pool (PostgreSQL: the I/O is already off the event loop). */
export function inProcessWriter(db: DbOrTx, dialect: Dialect): SettlementWriter {
  return {
    commitBatch: (batch) => withTransaction(db, (tx) => commitSettlementBatch(tx, dialect, batch)),
    commitItemOnce: (item) => commitSettlementItemOnce(db, dialect, item),
    ready: async () => {},
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
  let seq = 0;
  const pending = new Map<number, { resolve: (c: Committed) => void; reject: (e: unknown) => void }>();
  const failAll = (e: unknown) => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  let closing = false;
  // The worker (and its ready promise); replaced if it dies, so one crash of the thread does not stop settlement.
  let current: { worker: Worker; ready: Promise<void> } | null = null;
  const start = () => {
    const worker = new Worker(new URL('./settlementWorker.mjs', import.meta.url), { workerData: { databaseUrl }, execArgv: [] });
    worker.unref();
    const ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: { ready?: true; id: number; ok: boolean; committed?: Committed; error?: { message: string; code?: string } }) => {
        if (m.ready) return resolve();
        const p = pending.get(m.id);
        if (!p) return;
        pending.delete(m.id);
        if (m.ok) p.resolve(m.committed!);
        else p.reject(Object.assign(new Error(m.error?.message ?? 'settlement worker failed'), { code: m.error?.code }));
      });
      worker.on('error', (e) => {
        reject(e);
        failAll(e);
      });
      worker.on('exit', (code) => {
        const e = new Error(`settlement worker exited (${code})`);
        reject(e);
        failAll(e);
        if (current?.worker === worker) current = null;
      });
    });
    ready.catch(() => undefined); // observed through ready() and the calls
    return { worker, ready };
  };
  const running = () => {
    if (closing) throw new Error('the settlement writer is closed');
    current ??= start();
    return current;
  };
  const call = async (op: 'batch' | 'one', payload: unknown) => {
    const w = running();
    await w.ready;
    return new Promise<Committed>((resolve, reject) => {
      if (current !== w) return reject(new Error('settlement worker exited')); // it died after it was ready: the queue retries
      const id = ++seq;
      pending.set(id, { resolve, reject });
      w.worker.ref(); // keep the process alive while a write is in flight
      w.worker.postMessage({ id, op, payload });
    }).finally(() => {
      if (pending.size === 0) w.worker.unref();
    });
  };
  return {
    commitBatch: (batch) => call('batch', batch),
    commitItemOnce: (item) => call('one', item),
    ready: () => running().ready,
    close: async () => {
      closing = true;
      await current?.worker.terminate();
    },
  };
}
