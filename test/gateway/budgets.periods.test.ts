// Budget periods (src/gateway/budgets.ts): calendar days, ISO weeks and
// months in a time zone, around DST changes and year and ISO-week boundaries,
// and when each period resets.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isoWeek, isTimeZone, periodKey, periodResetAt, periodResetMs, periodStartMs } from '../../src/gateway/budgets.ts';
import type { BudgetPeriod } from '../../src/db/schema.ts';

const at = (iso: string) => Date.parse(iso);
const keys = (iso: string, tz: string) => (['day', 'week', 'month', 'total'] as BudgetPeriod[]).map((p) => periodKey(p, at(iso), tz));

describe('budget periods', () => {
  test('UTC by default; the period keys', () => {
    assert.deepEqual(keys('2026-12-01T10:00:00Z', 'UTC'), ['2026-12-01', '2026-W49', '2026-12', 'total']);
    assert.equal(periodKey('day', at('2026-12-01T23:59:59.999Z')), '2026-12-01');
    assert.equal(periodKey('day', at('2026-12-02T00:00:00Z')), '2026-12-02');
    assert.equal(periodResetAt('total', at('2026-12-01T10:00:00Z')), null);
  });

  test('ISO weeks start on Monday and belong to the year of their Thursday', () => {
    // 2026-12-31 is a Thursday: that week is 2026's 53rd, and runs to Sunday 2027-01-03.
    assert.deepEqual(keys('2026-12-31T12:00:00Z', 'UTC'), ['2026-12-31', '2026-W53', '2026-12', 'total']);
    assert.deepEqual(keys('2027-01-01T12:00:00Z', 'UTC'), ['2027-01-01', '2026-W53', '2027-01', 'total']);
    assert.equal(periodKey('week', at('2027-01-03T23:59:59Z'), 'UTC'), '2026-W53');
    assert.equal(periodKey('week', at('2027-01-04T00:00:00Z'), 'UTC'), '2027-W01');
    // Monday 2024-12-30 already belongs to 2025's first week.
    assert.equal(periodKey('week', at('2024-12-29T23:59:59Z'), 'UTC'), '2024-W52');
    assert.equal(periodKey('week', at('2024-12-30T00:00:00Z'), 'UTC'), '2025-W01');
    assert.deepEqual(isoWeek(2021, 1, 3), { year: 2020, week: 53 });
    assert.deepEqual(isoWeek(2021, 1, 4), { year: 2021, week: 1 });
    assert.equal(periodResetAt('week', at('2026-12-31T12:00:00Z'), 'UTC'), '2027-01-04T00:00:00.000Z');
    assert.equal(periodResetAt('week', at('2027-01-04T00:00:00Z'), 'UTC'), '2027-01-11T00:00:00.000Z');
    assert.equal(periodResetAt('month', at('2026-12-31T12:00:00Z'), 'UTC'), '2027-01-01T00:00:00.000Z');
  });

  test('a time zone moves the boundaries: the day and the year turn at local midnight', () => {
    assert.equal(periodKey('day', at('2026-12-01T15:59:59Z'), 'Asia/Shanghai'), '2026-12-01');
    assert.equal(periodKey('day', at('2026-12-01T16:00:00Z'), 'Asia/Shanghai'), '2026-12-02');
    assert.equal(periodResetAt('day', at('2026-12-01T10:00:00Z'), 'Asia/Shanghai'), '2026-12-01T16:00:00.000Z');
    // New Year in Auckland (UTC+13 in summer) is 11:00 UTC on 31 December.
    assert.deepEqual(keys('2026-12-31T10:59:59Z', 'Pacific/Auckland'), ['2026-12-31', '2026-W53', '2026-12', 'total']);
    assert.deepEqual(keys('2026-12-31T11:00:00Z', 'Pacific/Auckland'), ['2027-01-01', '2026-W53', '2027-01', 'total']);
    assert.equal(periodResetAt('month', at('2026-12-31T10:00:00Z'), 'Pacific/Auckland'), '2026-12-31T11:00:00.000Z');
    // A quarter-hour offset (UTC+5:45).
    assert.equal(periodResetAt('day', at('2026-12-01T00:00:00Z'), 'Asia/Kathmandu'), '2026-12-01T18:15:00.000Z');
  });

  test('around DST changes: a 23-hour and a 25-hour day, each reset at its own local midnight', () => {
    const ny = 'America/New_York';
    // 2026-03-08: clocks go from 02:00 EST to 03:00 EDT; the day is 23 hours long.
    assert.equal(periodKey('day', at('2026-03-08T04:59:59Z'), ny), '2026-03-07');
    assert.equal(periodKey('day', at('2026-03-08T05:00:00Z'), ny), '2026-03-08');
    const springStart = periodResetMs('day', at('2026-03-07T12:00:00Z'), ny)!;
    const springEnd = periodResetMs('day', at('2026-03-08T12:00:00Z'), ny)!;
    assert.equal(new Date(springStart).toISOString(), '2026-03-08T05:00:00.000Z');
    assert.equal(new Date(springEnd).toISOString(), '2026-03-09T04:00:00.000Z');
    assert.equal(springEnd - springStart, 23 * 3_600_000);
    // 2026-11-01: clocks go back from 02:00 EDT to 01:00 EST; the day is 25 hours long.
    const fallStart = periodResetMs('day', at('2026-10-31T12:00:00Z'), ny)!;
    const fallEnd = periodResetMs('day', at('2026-11-01T12:00:00Z'), ny)!;
    assert.equal(new Date(fallStart).toISOString(), '2026-11-01T04:00:00.000Z');
    assert.equal(new Date(fallEnd).toISOString(), '2026-11-02T05:00:00.000Z');
    assert.equal(fallEnd - fallStart, 25 * 3_600_000);
    // The hour that happens twice is one day (and one week).
    assert.equal(periodKey('day', at('2026-11-01T05:30:00Z'), ny), '2026-11-01');
    assert.equal(periodKey('day', at('2026-11-01T06:30:00Z'), ny), '2026-11-01');
    // Berlin's week that contains the spring change ends at Monday's midnight CEST.
    assert.equal(periodResetAt('week', at('2026-03-28T12:00:00Z'), 'Europe/Berlin'), '2026-03-29T22:00:00.000Z');
    assert.equal(periodResetAt('month', at('2026-03-28T12:00:00Z'), 'Europe/Berlin'), '2026-03-31T22:00:00.000Z');
  });

  test('where a DST change skips midnight, the day starts at the first time that exists', () => {
    // Chile moves its clocks at 24:00 on the first Saturday of September: 2026-09-06 has no 00:00.
    const tz = 'America/Santiago';
    const reset = periodResetMs('day', at('2026-09-05T12:00:00Z'), tz)!;
    assert.equal(new Date(reset).toISOString(), '2026-09-06T04:00:00.000Z');
    assert.equal(periodKey('day', reset - 1000, tz), '2026-09-05');
    assert.equal(periodKey('day', reset, tz), '2026-09-06');
  });

  test('the reset is always the first instant of the next period, for every hour of a year in several zones', () => {
    for (const tz of ['UTC', 'America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Asia/Kolkata']) {
      for (let t = at('2026-01-01T00:00:00Z'); t < at('2027-01-10T00:00:00Z'); t += 11 * 3_600_000 + 13 * 60_000) {
        for (const p of ['day', 'week', 'month'] as BudgetPeriod[]) {
          const r = periodResetMs(p, t, tz)!;
          const k = periodKey(p, t, tz);
          assert.ok(r > t, `${tz} ${p} ${new Date(t).toISOString()}`);
          assert.equal(periodKey(p, r - 1, tz), k, `${tz} ${p} ${new Date(t).toISOString()}: still ${k} just before`);
          assert.notEqual(periodKey(p, r, tz), k, `${tz} ${p} ${new Date(t).toISOString()}: a new period at the reset`);
        }
      }
    }
  });

  test('time zones are checked', () => {
    assert.equal(isTimeZone('Europe/Berlin'), true);
    assert.equal(isTimeZone('Mars/Olympus'), false);
  });
  test('a period starts where the one before it reset (the team views count spend from there)', () => {
    assert.equal(periodStartMs('total', at('2026-12-01T10:00:00Z'), 'Asia/Shanghai'), 0);
    // 2026-12-01 10:00 UTC is 18:00 in Shanghai: the day began at 16:00 UTC the day before.
    assert.equal(periodStartMs('day', at('2026-12-01T10:00:00Z'), 'Asia/Shanghai'), at('2026-11-30T16:00:00Z'));
    assert.equal(periodStartMs('week', at('2026-12-03T10:00:00Z'), 'UTC'), at('2026-11-30T00:00:00Z'));
    assert.equal(periodStartMs('month', at('2026-12-01T10:00:00Z'), 'America/New_York'), at('2026-12-01T05:00:00Z'));
    // Exactly at a boundary the new period has begun.
    assert.equal(periodStartMs('day', at('2026-12-02T00:00:00Z'), 'UTC'), at('2026-12-02T00:00:00Z'));
    // Every start: the instant before it is in another period, the start itself in now's period.
    for (const tz of ['UTC', 'Asia/Shanghai', 'America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe']) {
      for (const iso of ['2026-03-08T07:30:00Z', '2026-03-29T01:30:00Z', '2026-11-01T06:30:00Z', '2026-12-31T23:59:59Z', '2027-01-01T00:00:00Z']) {
        for (const p of ['day', 'week', 'month'] as BudgetPeriod[]) {
          const now = at(iso);
          const s0 = periodStartMs(p, now, tz);
          assert.ok(s0 <= now, `${p} ${tz} ${iso}`);
          assert.equal(periodKey(p, s0, tz), periodKey(p, now, tz), `${p} ${tz} ${iso}`);
          assert.notEqual(periodKey(p, s0 - 1000, tz), periodKey(p, now, tz), `${p} ${tz} ${iso}`);
        }
      }
    }
  });
});
