import { TallyError } from '../lib/errors.ts';
import { formatter } from '../gateway/budgets.ts';

// Calendar days in TALLY_TIMEZONE: the dashboard's buckets. A day is
// [local midnight, next local midnight), so a day across a daylight-saving
// change is 23 or 25 hours long, as the operator's own calendar says.

/** Wall-clock time at `ms` in `timeZone`, read as if it were UTC, minus `ms`: the zone's offset then. */
function offsetAt(ms: number, timeZone: string): number {
  const p: Record<string, number> = {};
  for (const x of formatter(timeZone).formatToParts(new Date(ms))) if (x.type !== 'literal') p[x.type] = Number(x.value);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(ms / 1000) * 1000;
}

/** The day `YYYY-MM-DD` in `timeZone` that contains `ms`. */
export function dayOf(ms: number, timeZone: string): string {
  return new Date(ms + offsetAt(ms, timeZone)).toISOString().slice(0, 10);
}

/** The instant a calendar day begins in `timeZone` (epoch ms). */
export function dayStart(day: string, timeZone: string): number {
  const guess = Date.parse(`${day}T00:00:00Z`);
  const first = guess - offsetAt(guess, timeZone);
  return guess - offsetAt(first, timeZone);
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A `YYYY-MM-DD` query parameter, or a clear error naming it. */
export function parseDay(v: unknown, param: string): string {
  if (typeof v !== 'string' || !DAY.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`)) || new Date(`${v}T00:00:00Z`).toISOString().slice(0, 10) !== v)
    throw new TallyError('invalid_stats_range', `${param} must be a calendar date like 2026-12-01`, { param });
  return v;
}

/** The days from `from` to `to`, both included, in order. */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`), end = Date.parse(`${to}T00:00:00Z`); t <= end; t += 86_400_000)
    out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

/** The day after `day`. */
export const nextDay = (day: string) => new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
