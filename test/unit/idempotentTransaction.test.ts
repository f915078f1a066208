import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';
import { isUniqueViolation, withTransaction, type Tx } from '../../src/db/index.ts';
import { withIdempotentTransaction } from '../../src/db/idempotent.ts';

// The one helper for "a concurrent call with the same key won the insert":
// the loser runs once more and answers with the winner's row.

for (const dialect of testDialects()) {
  describe(`withIdempotentTransaction on ${dialect}`, () => {
    let db: TestDb;
    before(async () => {
      db = await createTestDb(dialect);
    });
    after(async () => {
      await db?.cleanup();
    });

    const insert = (tx: Tx, key: string, value: string) => tx.insertInto('settings').values({ key, value, updated_at: 1 }).execute();
    const read = (tx: Tx, key: string) => tx.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();

    test('a loser whose insert hits the winner’s row runs once more and replays the winner’s result', async () => {
      await withTransaction(db.db, (tx) => insert(tx, 'race', 'winner'));
      let calls = 0;
      const r = await withIdempotentTransaction(db.db, async (tx) => {
        calls++;
        // The first run read "not there yet" before the winner committed: it goes straight to the insert.
        const existing = calls === 1 ? undefined : await read(tx, 'race');
        if (existing) return { value: existing.value, replayed: true };
        await insert(tx, 'race', 'loser');
        return { value: 'loser', replayed: false };
      });
      assert.deepEqual(r, { value: 'winner', replayed: true });
      assert.equal(calls, 2);
    });

    test('other errors are not retried, and a second violation is not retried again', async () => {
      let calls = 0;
      await assert.rejects(
        withIdempotentTransaction(db.db, async () => {
          calls++;
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(calls, 1);
      await withTransaction(db.db, (tx) => insert(tx, 'always', 'first'));
      calls = 0;
      await assert.rejects(
        withIdempotentTransaction(db.db, async (tx) => {
          calls++;
          await insert(tx, 'always', 'again');
        }),
        (e) => isUniqueViolation(e),
      );
      assert.equal(calls, 2);
    });

    test('inside a caller’s transaction the violation goes to the caller (who owns the transaction and its retry)', async () => {
      await withTransaction(db.db, (tx) => insert(tx, 'outer', 'first'));
      let calls = 0;
      await assert.rejects(
        withTransaction(db.db, (outer) =>
          withIdempotentTransaction(outer, async (tx) => {
            calls++;
            await insert(tx, 'outer', 'again');
          }),
        ),
        (e) => isUniqueViolation(e),
      );
      assert.equal(calls, 1);
    });
  });
}
