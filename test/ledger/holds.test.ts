import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';
import {
  SYSTEM_ACCOUNTS,
  openWallet,
  createTransfer,
  createHold,
  postHold,
  voidHold,
  expireHolds,
  getAccount,
  verifyLedger,
  walletAccountId,
  reverseTransfer,
} from '../../src/ledger/index.ts';

async function fundedWallet(db: TestDb, userId: string, amount: bigint) {
  const id = await openWallet(db.db, { userId });
  await createTransfer(db.db, { debitAccountId: SYSTEM_ACCOUNTS.manual, creditAccountId: id, amount, kind: 'manual_credit', idempotencyKey: `fund:${userId}` });
  return id;
}

async function assertLedgerOk(db: TestDb) {
  const r = await verifyLedger(db.db);
  assert.ok(
    r.ok,
    JSON.stringify(
      r.checks.filter((c) => !c.ok),
      null,
      2,
    ),
  );
}

for (const dialect of testDialects()) {
  describe(`holds on ${dialect}`, () => {
    let db: TestDb;
    before(async () => {
      db = await createTestDb(dialect, { poolSize: 20 });
    });
    after(async () => {
      await db?.cleanup();
    });

    test('a hold reserves available balance; post moves the actual amount and releases the rest', async () => {
      const w = await fundedWallet(db, 'u1', 10_000_000n);
      const { hold } = await createHold(db.db, {
        debitAccountId: w,
        creditAccountId: SYSTEM_ACCOUNTS.usageRevenue,
        amount: 3_000_000n,
        kind: 'usage',
        idempotencyKey: 'h1',
        timeoutMs: 60_000,
      });
      let acc = await getAccount(db.db, w);
      assert.equal(acc.available, 7_000_000n);
      assert.equal(acc.balance, 10_000_000n);
      const posted = await postHold(db.db, { holdId: hold.id, amount: 1_250_000n });
      assert.equal(posted.transfer?.amount, 1_250_000n);
      acc = await getAccount(db.db, w);
      assert.equal(acc.balance, 8_750_000n);
      assert.equal(acc.available, 8_750_000n);
      const again = await postHold(db.db, { holdId: hold.id, amount: 1_250_000n });
      assert.equal(again.replayed, true);
      assert.equal(again.transfer?.id, posted.transfer?.id);
      await assert.rejects(postHold(db.db, { holdId: hold.id, amount: 1n }), { code: 'hold_not_pending' });
      await assertLedgerOk(db);
    });

    test('a hold the balance cannot cover is refused and changes nothing', async () => {
      const w = await fundedWallet(db, 'u2', 1_000_000n);
      await assert.rejects(
        createHold(db.db, {
          debitAccountId: w,
          creditAccountId: SYSTEM_ACCOUNTS.usageRevenue,
          amount: 1_000_001n,
          kind: 'usage',
          idempotencyKey: 'h2',
          timeoutMs: 60_000,
        }),
        { code: 'insufficient_balance', status: 402 },
      );
      assert.equal((await getAccount(db.db, w)).available, 1_000_000n);
      await assertLedgerOk(db);
    });

    test('void releases everything and an expired hold is swept', async () => {
      const w = await fundedWallet(db, 'u3', 5_000_000n);
      const a = await createHold(db.db, {
        debitAccountId: w,
        creditAccountId: SYSTEM_ACCOUNTS.usageRevenue,
        amount: 2_000_000n,
        kind: 'usage',
        idempotencyKey: 'h3a',
        timeoutMs: 60_000,
      });
      await voidHold(db.db, { holdId: a.hold.id });
      const b = await createHold(db.db, {
        debitAccountId: w,
        creditAccountId: SYSTEM_ACCOUNTS.usageRevenue,
        amount: 5_000_000n,
        kind: 'usage',
        idempotencyKey: 'h3b',
        timeoutMs: 1,
      });
      assert.equal((await getAccount(db.db, w)).available, 0n);
      await new Promise((r) => setTimeout(r, 5));
      await assert.rejects(postHold(db.db, { holdId: b.hold.id, amount: 1n }), { code: 'hold_expired' });
      assert.equal(await expireHolds(db.db), 1);
      assert.equal((await getAccount(db.db, w)).available, 5_000_000n);
      await assertLedgerOk(db);
    });

    test('200 concurrent holds race for a balance that covers 50: exactly 50 win', async () => {
      const w = await fundedWallet(db, 'race', 50_000_000n);
      const results = await Promise.allSettled(
        Array.from({ length: 200 }, (_, i) =>
          createHold(db.db, {
            debitAccountId: w,
            creditAccountId: SYSTEM_ACCOUNTS.usageRevenue,
            amount: 1_000_000n,
            kind: 'usage',
            idempotencyKey: `race:${i}`,
            timeoutMs: 60_000,
          }),
        ),
      );
      const won = results.filter((r) => r.status === 'fulfilled').length;
      const lost = results.filter((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'insufficient_balance').length;
      assert.equal(won, 50);
      assert.equal(lost, 150);
      const acc = await getAccount(db.db, w);
      assert.equal(acc.available, 0n);
      assert.equal(acc.pendingDebits, 50_000_000n);
      await assertLedgerOk(db);
    });

    test('a retried transfer with the same key credits once; different fields are refused', async () => {
      const w = await openWallet(db.db, { userId: 'idem' });
      const spec = { debitAccountId: SYSTEM_ACCOUNTS.manual, creditAccountId: w, amount: 2_000_000n, kind: 'manual_credit', idempotencyKey: 'idem:1' };
      const results = await Promise.all(Array.from({ length: 20 }, () => createTransfer(db.db, spec)));
      assert.equal(new Set(results.map((r) => r.transfer.id)).size, 1);
      assert.equal(results.filter((r) => !r.replayed).length, 1);
      await assert.rejects(createTransfer(db.db, { ...spec, amount: 3_000_000n }), { code: 'idempotency_key_reused' });
      assert.equal((await getAccount(db.db, w)).balance, 2_000_000n);
      const rev = await reverseTransfer(db.db, { transferId: results[0].transfer.id, reason: 'test correction' });
      assert.equal(rev.transfer.kind, 'reversal');
      assert.equal((await getAccount(db.db, walletAccountId('idem'))).balance, 0n);
      await assert.rejects(reverseTransfer(db.db, { transferId: results[0].transfer.id, reason: 'again', idempotencyKey: 'other' }), {
        code: 'already_reversed',
      });
      await assertLedgerOk(db);
    });
  });
}
