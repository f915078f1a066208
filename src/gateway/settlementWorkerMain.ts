// The SQLite settlement worker (see settlementWriter.ts): its own connection,
// the same commit code as the in-process writer.
import { parentPort, workerData } from 'node:worker_threads';
import { openDb, withTransaction } from '../db/index.ts';
import { commitSettlementBatch, commitSettlementItemOnce, type SettlementItem } from './settlementCommit.ts';

const h = openDb((workerData as { databaseUrl: string }).databaseUrl);

parentPort!.on('message', async (m: { id: number; op: 'batch' | 'one'; payload: unknown }) => {
  try {
    const committed =
      m.op === 'batch'
        ? await withTransaction(h.db, (tx) => commitSettlementBatch(tx, h.dialect, m.payload as SettlementItem[]))
        : await commitSettlementItemOnce(h.db, h.dialect, m.payload as SettlementItem);
    parentPort!.postMessage({ id: m.id, ok: true, committed });
  } catch (e) {
    const err = e as { message?: string; code?: string };
    parentPort!.postMessage({ id: m.id, ok: false, error: { message: err?.message ?? String(e), code: err?.code } });
  }
});

// The main thread waits for this before it serves requests: until then a settlement could only wait in memory.
parentPort!.postMessage({ ready: true });
