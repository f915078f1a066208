import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openDb } from '../../src/db/index.ts';
import { startWalCheckpointer } from '../../src/db/walCheckpointer.ts';

// The server checkpoints SQLite's WAL from a worker thread so the event loop
// never copies pages or fsyncs. Committed pages live only in the -wal file
// until a checkpoint copies them into the database file, so the database
// file growing shows that the worker did it (the connection's own automatic
// checkpoint is pushed out to 10,000 pages).
describe('WAL checkpointer', () => {
  test('commits made on the main connection reach the database file without the main connection checkpointing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tally-wal-'));
    const h = openDb(`sqlite:${join(dir, 't.db')}`);
    let cp: ReturnType<typeof startWalCheckpointer> = null;
    try {
      h.sqlite!.exec('create table t (id integer primary key, v text)');
      // The table's pages go into the file now, so the only pages left in the WAL are the ones this test writes
      // (waiting for the worker's first checkpoint instead raced with it on a loaded host).
      h.sqlite!.pragma('wal_checkpoint(TRUNCATE)');
      cp = startWalCheckpointer(h, pino({ level: 'silent' }), 50)!;
      assert.ok(cp, 'a file-backed SQLite database gets a checkpointer');
      assert.equal(Number(h.sqlite!.pragma('wal_autocheckpoint', { simple: true })), 10000);
      const before = statSync(join(dir, 't.db')).size;
      const insert = h.sqlite!.prepare('insert into t (v) values (?)');
      h.sqlite!.transaction(() => {
        for (let i = 0; i < 2000; i++) insert.run('x'.repeat(1000));
      })();
      assert.equal(statSync(join(dir, 't.db')).size, before, 'right after the commit the pages are only in the WAL');
      let after = before;
      // Up to 10 s: on a loaded host the worker may not get a core for a while, and a checkpoint copies the pages
      // as it goes (the file is seen growing part-way: wait for all of them, not for the first).
      for (let i = 0; i < 200 && after <= before + 1_000_000; i++) {
        await new Promise((r) => setTimeout(r, 50));
        after = statSync(join(dir, 't.db')).size;
      }
      assert.ok(after > before + 1_000_000, `the worker copied the pages into the database file (${before} -> ${after} bytes)`);
    } finally {
      // Stopped in finally: a failed assertion must not leave the worker thread keeping the test process alive.
      await cp?.stop();
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('PostgreSQL and in-memory SQLite get none', () => {
    const h = openDb('sqlite::memory:');
    assert.equal(startWalCheckpointer(h, pino({ level: 'silent' })), null);
    void h.close();
  });
});
