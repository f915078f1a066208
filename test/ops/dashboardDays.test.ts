// The dashboard's days are calendar days in TALLY_TIMEZONE: an entry a
// millisecond before local midnight counts on the day before, one at midnight
// on the new day, and a day across a daylight-saving change keeps all of its
// 23 or 25 hours. Entries are booked at chosen instants through the ledger.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, ADMIN_TOKEN, type TestTally } from '../helpers/tally.ts';
import { SYSTEM_ACCOUNTS, createTransfer, walletAccountId } from '../../src/ledger/index.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';
import { dayOf, dayStart } from '../../src/ops/days.ts';

const stats = async (t: TestTally, qs: string) => {
  const r = await fetch(`${t.url}/api/admin/stats?${qs}`, { headers: { 'x-admin-token': ADMIN_TOKEN } });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json() as Promise<any>;
};

test('local midnight in a zone, across daylight-saving changes', () => {
  assert.equal(new Date(dayStart('2026-12-01', 'Asia/Shanghai')).toISOString(), '2026-11-30T16:00:00.000Z');
  assert.equal(new Date(dayStart('2026-11-01', 'America/New_York')).toISOString(), '2026-11-01T04:00:00.000Z');
  // 1 November 2026 ends daylight saving time in New York: the day is 25 hours long.
  assert.equal(dayStart('2026-11-02', 'America/New_York') - dayStart('2026-11-01', 'America/New_York'), 25 * 3_600_000);
  assert.equal(dayStart('2026-03-09', 'America/New_York') - dayStart('2026-03-08', 'America/New_York'), 23 * 3_600_000);
  assert.equal(dayOf(Date.parse('2026-11-02T04:30:00Z'), 'America/New_York'), '2026-11-01');
  assert.equal(dayOf(Date.parse('2026-11-02T05:00:00Z'), 'America/New_York'), '2026-11-02');
});

for (const dialect of testDialects()) {
  for (const [zone, before0, at0, lastOfDay1] of [
    // Asia/Shanghai is UTC+8: 1 December begins at 16:00 UTC on 30 November.
    ['Asia/Shanghai', '2026-11-30T15:59:59.999Z', '2026-11-30T16:00:00.000Z', '2026-11-30T15:00:00.000Z'],
    // The 25-hour day: 23:30 EST on 1 November is still 1 November.
    ['America/New_York', '2026-11-02T04:59:59.999Z', '2026-11-02T05:00:00.000Z', '2026-11-02T04:30:00.000Z'],
  ] as const) {
    describe(`days in ${zone} on ${dialect}`, () => {
      let t: TestTally;
      before(async () => {
        t = await startTestTally(dialect, {}, { TALLY_TIMEZONE: zone });
      });
      after(async () => {
        const report = await verifyBooks(t.ctx.db);
        await t.close();
        assert.ok(report.ok);
      });

      test('an entry a millisecond before local midnight counts on the day before; one at midnight on the new day', async () => {
        const u = await seedUser(t);
        const credit = (amount: bigint, at: string, key: string) =>
          createTransfer(t.ctx.db, {
            debitAccountId: SYSTEM_ACCOUNTS.manual,
            creditAccountId: walletAccountId(u.user.id),
            amount,
            kind: 'manual_credit',
            idempotencyKey: `dash-days:${key}`,
            now: Date.parse(at),
          });
        await credit(1_000_000n, lastOfDay1, 'a');
        await credit(2_000_000n, before0, 'b');
        await credit(4_000_000n, at0, 'c');
        const [day1, day2] = zone === 'Asia/Shanghai' ? ['2026-11-30', '2026-12-01'] : ['2026-11-01', '2026-11-02'];
        const s = await stats(t, `from=${day1}&to=${day2}`);
        assert.equal(s.timezone, zone);
        assert.deepEqual(
          s.rows.map((r: any) => [r.day, r.manual]),
          [
            [day1, '3.00'],
            [day2, '4.00'],
          ],
        );
        assert.equal(s.totals.manual, '7.00');
        const only2 = await stats(t, `from=${day2}&to=${day2}`);
        assert.equal(only2.totals.manual, '4.00');
      });
    });
  }
}
