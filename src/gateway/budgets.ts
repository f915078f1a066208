import type { BudgetPeriod } from '../db/schema.ts';
import type { KeyPrincipal } from '../accounts/keyCache.ts';
import type { ApiKey } from '../accounts/apiKeys.ts';
import type { DbOrTx } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { formatMoney, toBig } from '../ledger/money.ts';

// Budgets (DESIGN.md "Limits, budgets and teams"): an amount per period on a
// key (`key:<keyId>`) or a team member (`member:<teamId>:<userId>`). A period
// is a calendar day, ISO week (Monday to Sunday) or month in TALLY_TIMEZONE,
// or the whole life of the budget ('total'). What a budget spent in a period
// is one budget_spend row keyed by the budget and the period's key
// (2026-12-01, 2026-W49, 2026-12, total), so a new period starts at zero
// without any job. The period a request counts in is decided once, when it
// is reserved (reservations.ts), and travels with it to settlement.

export const BUDGET_PERIODS: readonly BudgetPeriod[] = ['day', 'week', 'month', 'total'];

/** A budget as configured: whose, how much, per what. */
export interface BudgetSpec {
  ref: string;
  amount: bigint;
  period: BudgetPeriod;
}

/** A budget in one period: what a reservation and a settlement carry. */
export interface BudgetMark {
  ref: string;
  periodKey: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A cached formatter of a zone's wall-clock date and time (24 h), shared with the dashboard's days (src/ops/days.ts). */
export function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether `timeZone` is an IANA time zone this runtime knows (TALLY_TIMEZONE). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

interface Civil {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The wall-clock date and time at `ms` in `timeZone`. */
function civil(ms: number, timeZone: string): Civil {
  const out: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) if (p.type !== 'literal') out[p.type] = Number(p.value);
  return { year: out.year, month: out.month, day: out.day, hour: out.hour, minute: out.minute, second: out.second };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** ISO 8601 week-numbering year and week of a calendar date. */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const d = new Date(Date.UTC(year, month - 1, day));
  const dow = d.getUTCDay() || 7; // Monday 1 .. Sunday 7
  d.setUTCDate(d.getUTCDate() + 4 - dow); // the Thursday of this week decides its year
  const wy = d.getUTCFullYear();
  const week = Math.floor((d.getTime() - Date.UTC(wy, 0, 1)) / 86_400_000 / 7) + 1;
  return { year: wy, week };
}

/** The period `nowMs` falls in: '2026-12-01' (day), '2026-W49' (ISO week), '2026-12' (month) or 'total', in `timeZone`. */
export function periodKey(period: BudgetPeriod, nowMs: number, timeZone = 'UTC'): string {
  if (period === 'total') return 'total';
  const c = civil(nowMs, timeZone);
  if (period === 'day') return `${c.year}-${pad(c.month)}-${pad(c.day)}`;
  if (period === 'month') return `${c.year}-${pad(c.month)}`;
  const w = isoWeek(c.year, c.month, c.day);
  return `${w.year}-W${pad(w.week)}`;
}

/**
 * When the period `nowMs` falls in ends (the next one starts), as epoch ms, or
 * null for 'total'. The first instant of the next calendar period in
 * `timeZone`: usually its local midnight; where a DST change skips midnight,
 * the first time that exists that day.
 */
export function periodResetMs(period: BudgetPeriod, nowMs: number, timeZone = 'UTC'): number | null {
  if (period === 'total') return null;
  const c = civil(nowMs, timeZone);
  // The next period's first calendar day (as a UTC date, for arithmetic only).
  const start = new Date(Date.UTC(c.year, c.month - 1, c.day));
  if (period === 'day') start.setUTCDate(start.getUTCDate() + 1);
  else if (period === 'week') start.setUTCDate(start.getUTCDate() + (8 - (start.getUTCDay() || 7)));
  else start.setUTCMonth(start.getUTCMonth() + 1, 1);
  // Local midnight of that day: guess with the current offset, correct twice (offsets change at most by hours).
  const wall = start.getTime();
  let t = wall;
  for (let i = 0; i < 3; i++) {
    const w = civil(t, timeZone);
    const offset = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(t / 1000) * 1000;
    t = wall - offset;
  }
  // Exactly the first instant (to the second) whose period differs, searched near the guess: covers a midnight that does not exist.
  const current = periodKey(period, nowMs, timeZone);
  if (t > nowMs && periodKey(period, t - 1, timeZone) === current && periodKey(period, t, timeZone) !== current) return t; // the usual case
  let lo = Math.max(nowMs, t - 3 * 3_600_000);
  let hi = t + 3 * 3_600_000;
  if (periodKey(period, lo, timeZone) !== current) return lo; // cannot happen with a sane guess; never answer a time in the past
  while (periodKey(period, hi, timeZone) === current) hi += 3 * 3_600_000;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (periodKey(period, mid, timeZone) === current) lo = mid;
    else hi = mid;
  }
  return hi - (hi % 1000);
}

/**
 * When the period `nowMs` falls in began, as epoch ms (0 for 'total'): the
 * reset of the period before it. Starts from an instant surely one or two
 * periods back and steps forward reset by reset (at most three steps).
 */
export function periodStartMs(period: BudgetPeriod, nowMs: number, timeZone = 'UTC'): number {
  if (period === 'total') return 0;
  const back = period === 'day' ? 50 * 3_600_000 : period === 'week' ? 8 * 86_400_000 + 2 * 3_600_000 : 32 * 86_400_000;
  let start = periodResetMs(period, nowMs - back, timeZone) as number;
  for (let next = periodResetMs(period, start, timeZone) as number; next <= nowMs; next = periodResetMs(period, start, timeZone) as number) start = next;
  return start;
}

/** periodResetMs as an ISO time (UTC), or null for 'total'. */
export function periodResetAt(period: BudgetPeriod, nowMs: number, timeZone = 'UTC'): string | null {
  const ms = periodResetMs(period, nowMs, timeZone);
  return ms === null ? null : new Date(ms).toISOString();
}

/** The budgets a request on this key counts against: the key's own, and its member's on a team key. */
const NO_BUDGETS: BudgetSpec[] = [];

export function budgetsOf(p: Pick<KeyPrincipal, 'key' | 'memberBudget'>): BudgetSpec[] {
  // No budget (the common case): a shared empty list, nothing allocated on the hot path.
  if ((p.key.budget === null || !p.key.budgetPeriod) && !p.memberBudget) return NO_BUDGETS;
  const out: BudgetSpec[] = [];
  if (p.key.budget !== null && p.key.budgetPeriod) out.push({ ref: keyBudgetRef(p.key.id), amount: p.key.budget, period: p.key.budgetPeriod });
  const m = p.memberBudget;
  if (m) out.push({ ref: m.ref, amount: m.amount, period: m.period });
  return out;
}

export const keyBudgetRef = (keyId: string) => `key:${keyId}`;

/** How a budget is named to its user: "this API key's budget" or "your team member budget". */
export function budgetName(ref: string): string {
  if (ref.startsWith('key:')) return "this API key's budget";
  if (ref.startsWith('member:')) return `your budget as a member of team ${ref.split(':')[1]}`;
  return `the budget ${ref}`;
}

/** "5.00 per day" / "5.00 in total". */
export function describeBudget(amount: bigint, period: BudgetPeriod): string {
  return `${formatMoney(amount)} ${period === 'total' ? 'in total' : `per ${period}`}`;
}

/** A budget's state now: the period, what it spent, what is left and when it resets (the key views). */
export async function budgetStatus(db: DbOrTx, spec: BudgetSpec, nowMs: number, timeZone: string) {
  const pk = periodKey(spec.period, nowMs, timeZone);
  const r = await db.selectFrom('budget_spend').select('spent').where('budget_ref', '=', spec.ref).where('period_key', '=', pk).executeTakeFirst();
  const spent = toBig(r?.spent ?? 0n);
  const left = spec.amount - spent;
  return {
    period_key: pk,
    spent: formatMoney(spent, 6),
    remaining: formatMoney(left > 0n ? left : 0n, 6),
    resets_at: periodResetAt(spec.period, nowMs, timeZone),
  };
}

/** A key's budget state, or null when it has none. */
export async function keyBudgetStatus(db: DbOrTx, key: ApiKey, nowMs: number, timeZone: string) {
  if (key.budget === null || !key.budgetPeriod) return null;
  return budgetStatus(db, { ref: keyBudgetRef(key.id), amount: key.budget, period: key.budgetPeriod }, nowMs, timeZone);
}

/** A budget and its period from an API body or CLI flags; both given, both null (no budget), or neither (unchanged). */
export function parseBudgetPeriod(v: string | null | undefined): BudgetPeriod | null {
  if (v === null || v === undefined || v === '') return null;
  if (!(BUDGET_PERIODS as string[]).includes(v))
    throw new TallyError('invalid_budget', `budget_period must be one of ${BUDGET_PERIODS.join(', ')} (got "${v}")`, { param: 'budget_period' });
  return v as BudgetPeriod;
}
