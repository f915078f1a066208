import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { DbHandle } from './index.ts';

// SQLite in WAL mode appends commits to the -wal file, and every 1000 pages
// the committing connection copies them back into the database file and
// fsyncs it: on the relay that connection is the event loop, so one request
// in a few hundred paid for a checkpoint (measured: ~15% of settlement time,
// and an fsync on the loop). The server instead checkpoints from a worker
// thread with its own connection (PASSIVE: never blocks writers), and leaves
// the event loop's connection an automatic checkpoint only as a safety net
// (at 10,000 pages, about 40 MB, should the worker fall behind or die).

export interface WalCheckpointer {
  stop(): Promise<void>;
}

export function startWalCheckpointer(dbh: DbHandle, log: Logger, intervalMs = 200): WalCheckpointer | null {
  if (dbh.dialect !== 'sqlite' || !dbh.sqlite || !dbh.sqliteFile) return null;
  dbh.sqlite.pragma('wal_autocheckpoint = 10000');
  const worker = new Worker(new URL('./walCheckpointWorker.cjs', import.meta.url), { workerData: { file: dbh.sqliteFile, intervalMs }, execArgv: [] });
  worker.unref();
  let lastError = '';
  worker.on('message', (m: { error?: string }) => {
    // Busy or locked now and then is normal (the next round catches up); log each new kind once.
    if (m.error && m.error !== lastError) log.warn({ error: m.error }, 'WAL checkpoint did not complete; it is retried');
    if (m.error) lastError = m.error;
  });
  worker.on('error', (e) => log.error({ err: e }, 'the WAL checkpoint worker failed; the database connection checkpoints by itself from now on'));
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => void worker.terminate().then(done, done), 2000);
        worker.once('exit', done);
        worker.on('message', (m: { stopped?: boolean }) => {
          if (m.stopped) void worker.terminate().then(done, done);
        });
        worker.postMessage('stop');
      }),
  };
}
