import { sql, type Expression, type RawBuilder } from 'kysely';
import type { DbOrTx } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { idFloor } from '../lib/ids.ts';
import { SYSTEM_ACCOUNTS } from '../ledger/accounts.ts';
import { divCeil, formatMoney, toBig } from '../ledger/money.ts';
import { listUpstreamCosts, type UpstreamCost } from '../gateway/upstreamCost.ts';
import { dayStart, daysBetween, nextDay, parseDay } from './days.ts';

// The operator dashboard's figures (DESIGN.md "Operations"). Every money
// figure is the net movement of one system account of the ledger in the
// window, so the dashboard cannot disagree with the books:
//   top-ups       out of system:payments_in    (orders credited, less reversals)
//   redemptions   out of system:redeem         (codes claimed, less reversed redemptions)
//   spend         into system:usage_revenue    (requests and tasks, including what no wallet paid)
//   uncollected   out of system:uncollected    (usage above a hold, refund shortfalls)
//   refunds       into system:refunds_out
//   compensation  out of system:compensation
//   manual        out of system:manual_adjustments (credits less debits)
// Days are calendar days in TALLY_TIMEZONE. The breakdowns by model, channel,
// group and user read the request log, each row at the time of its ledger
// entry (its usage transfer; a row without one at its own time), so they add
// up to the ledger's spend; what they cannot attribute (video tasks, a request
// booked without its log row) is shown as `unattributed`, never hidden.
// Margin = price charged − upstream cost, from each model's optional upstream
// cost (0025); a model without one has an unknown margin, not zero.

export const MAX_STATS_DAYS = 92;
/** Rows of a breakdown; the rest are summed into one row keyed OTHERS. */
export const MAX_ROWS = 200;
export const OTHERS = '(others)';
export const STATS_GROUPINGS = ['day', 'model', 'channel', 'group', 'user'] as const;
export type StatsGrouping = (typeof STATS_GROUPINGS)[number];

const FIGURES = [
  ['topups', SYSTEM_ACCOUNTS.paymentsIn, 'out'],
  ['redemptions', SYSTEM_ACCOUNTS.redeem, 'out'],
  ['spend', SYSTEM_ACCOUNTS.usageRevenue, 'in'],
  ['uncollected', SYSTEM_ACCOUNTS.uncollected, 'out'],
  ['refunds', SYSTEM_ACCOUNTS.refundsOut, 'in'],
  ['compensation', SYSTEM_ACCOUNTS.compensation, 'out'],
  ['manual', SYSTEM_ACCOUNTS.manual, 'out'],
] as const;
export type Figure = (typeof FIGURES)[number][0];
export type Figures = Record<Figure, bigint>;

const zeroFigures = (): Figures => ({ topups: 0n, redemptions: 0n, spend: 0n, uncollected: 0n, refunds: 0n, compensation: 0n, manual: 0n });

/** A request span can start this long before its usage transfer (the longest total timeout is 24 hours). */
const LOG_LEAD_MS = 25 * 3_600_000;
/** Instances' clocks may differ a little: a row's id may be this much later than its transfer. */
const CLOCK_SKEW_MS = 5 * 60_000;

export interface StatsRange {
  from: string;
  to: string;
  timeZone: string;
  days: string[];
  /** days.length + 1 instants: day i is [bounds[i], bounds[i + 1]). */
  bounds: number[];
}

/** A from/to pair of calendar days (both included), at most MAX_STATS_DAYS apart. */
export function statsRange(fromRaw: unknown, toRaw: unknown, timeZone: string): StatsRange {
  if (fromRaw === undefined || toRaw === undefined)
    throw new TallyError('invalid_stats_range', `from and to are required, as calendar dates like 2026-12-01 (at most ${MAX_STATS_DAYS} days)`, {
      param: fromRaw === undefined ? 'from' : 'to',
    });
  const from = parseDay(fromRaw, 'from');
  const to = parseDay(toRaw, 'to');
  if (to < from) throw new TallyError('invalid_stats_range', `to (${to}) is before from (${from})`, { param: 'to' });
  const span = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000 + 1;
  if (span > MAX_STATS_DAYS)
    throw new TallyError('invalid_stats_range', `the range is ${span} days; ask for at most ${MAX_STATS_DAYS} days at a time`, { param: 'to' });
  const days = daysBetween(from, to);
  const bounds = [...days.map((d) => dayStart(d, timeZone)), dayStart(nextDay(to), timeZone)];
  return { from, to, timeZone, days, bounds };
}

/** The index of the day an instant falls in: a CASE over the range's bounds (literal numbers we computed). */
function dayIndex(at: Expression<unknown>, bounds: number[]): RawBuilder<number> {
  const whens = bounds.slice(1, -1).map((b, i) => sql`when ${at} < ${sql.lit(b)} then ${sql.lit(i)}`);
  if (!whens.length) return sql<number>`${sql.lit(0)}`;
  return sql<number>`case ${sql.join(whens, sql` `)} else ${sql.lit(bounds.length - 2)} end`;
}

/** The ledger figures of each day of the range, read from the transfers of the system accounts. */
export async function ledgerFiguresByDay(db: DbOrTx, range: StatsRange): Promise<Figures[]> {
  const out = range.days.map(zeroFigures);
  const lo = range.bounds[0];
  const hi = range.bounds[range.bounds.length - 1];
  const accounts = FIGURES.map((f) => f[1]);
  for (const side of ['debit', 'credit'] as const) {
    const col = side === 'debit' ? 'debit_account_id' : 'credit_account_id';
    // Each side reads its own index (ledger_transfers_debit / _credit: account, created_at).
    const rows = await db
      .selectFrom('ledger_transfers')
      .select([`${col} as account`, dayIndex(sql.ref('created_at'), range.bounds).as('day'), sql<string>`sum(amount)`.as('total')])
      .where(col, 'in', accounts)
      .where('created_at', '>=', lo)
      .where('created_at', '<', hi)
      .groupBy([col, sql`day`])
      .execute();
    for (const r of rows) {
      const [name, , direction] = FIGURES.find((f) => f[1] === r.account)!;
      // 'out' figures grow when the system account is debited; 'in' figures when it is credited.
      const sign = (direction === 'out') === (side === 'debit') ? 1n : -1n;
      out[Number(r.day)][name] += sign * toBig(r.total);
    }
  }
  return out;
}

interface LogAggregate {
  requests: number;
  spend: bigint;
  /** Upstream cost of the models that have one. */
  upstreamCost: bigint;
  /** Spend on models without an upstream cost: their margin is unknown. */
  unpricedSpend: bigint;
}

const zeroAggregate = (): LogAggregate => ({ requests: 0, spend: 0n, upstreamCost: 0n, unpricedSpend: 0n });

/** What a model's tokens cost upstream, rounded up once per aggregate. */
function upstreamCostOf(c: UpstreamCost, t: { prompt: bigint; toolUse: bigint; cached: bigint; completion: bigint; reasoning: bigint }): bigint {
  const input = t.prompt + t.toolUse;
  const cached = t.cached < input ? t.cached : input;
  const micros = (input - cached) * c.inputPer1M + cached * (c.cachedInputPer1M ?? c.inputPer1M) + (t.completion + t.reasoning) * c.outputPer1M;
  return divCeil(micros, 1_000_000n);
}

type Dimension = 'day' | 'model' | 'channel_id' | 'group_name' | 'user_id';

/** The request log in the range, grouped by a dimension (and model, for the upstream cost). */
async function logAggregates(db: DbOrTx, range: StatsRange, dim: Dimension, costs: Map<string, UpstreamCost>): Promise<Map<string, LogAggregate>> {
  const lo = range.bounds[0];
  const hi = range.bounds[range.bounds.length - 1];
  // The row's time in the books: its usage transfer's, else its own.
  const at = sql`coalesce(t.created_at, l.created_at)`;
  const key = dim === 'day' ? dayIndex(at, range.bounds) : sql.ref(`l.${dim}`);
  const rows = await db
    .selectFrom('request_logs as l')
    .leftJoin('ledger_transfers as t', 't.id', 'l.transfer_id')
    .select([
      key.as('k'),
      'l.model',
      sql<string>`count(*)`.as('n'),
      sql<string>`sum(l.cost)`.as('cost'),
      sql<string>`sum(l.prompt_tokens)`.as('prompt'),
      sql<string>`sum(l.tool_use_prompt_tokens)`.as('tool_use'),
      sql<string>`sum(l.cached_tokens)`.as('cached'),
      sql<string>`sum(l.completion_tokens)`.as('completion'),
      sql<string>`sum(l.reasoning_tokens)`.as('reasoning'),
    ])
    // A primary-key range first (ids are time-sortable), then the exact window.
    .where('l.id', '>=', idFloor('req', lo - LOG_LEAD_MS))
    .where('l.id', '<', idFloor('req', hi + CLOCK_SKEW_MS))
    .where(sql<boolean>`${at} >= ${lo}`)
    .where(sql<boolean>`${at} < ${hi}`)
    .groupBy([sql`k`, 'l.model'])
    .execute();
  const out = new Map<string, LogAggregate>();
  for (const r of rows) {
    const k = r.k === null || r.k === undefined ? '' : String(r.k);
    const a = out.get(k) ?? zeroAggregate();
    const spend = toBig(r.cost);
    a.requests += Number(r.n);
    a.spend += spend;
    const c = r.model ? costs.get(r.model) : undefined;
    if (c)
      a.upstreamCost += upstreamCostOf(c, {
        prompt: toBig(r.prompt),
        toolUse: toBig(r.tool_use),
        cached: toBig(r.cached),
        completion: toBig(r.completion),
        reasoning: toBig(r.reasoning),
      });
    else a.unpricedSpend += spend;
    out.set(k, a);
  }
  return out;
}

/** The spenders of the range: wallets debited into usage revenue, the largest first. */
async function topSpenders(db: DbOrTx, range: StatsRange, limit: number) {
  return db
    .selectFrom('ledger_transfers')
    .select(['debit_account_id as account', sql<string>`sum(amount)`.as('total')])
    .where('credit_account_id', '=', SYSTEM_ACCOUNTS.usageRevenue)
    .where('debit_account_id', '<>', SYSTEM_ACCOUNTS.uncollected)
    .where('created_at', '>=', range.bounds[0])
    .where('created_at', '<', range.bounds[range.bounds.length - 1])
    .groupBy('debit_account_id')
    .orderBy(sql`sum(amount)`, 'desc')
    .orderBy('debit_account_id')
    .limit(limit)
    .execute();
}

const marginView = (a: { spend: bigint; upstreamCost: bigint; unpricedSpend: bigint }, known: boolean) => ({
  upstream_cost: known ? formatMoney(a.upstreamCost) : null,
  margin: known ? formatMoney(a.spend - a.unpricedSpend - a.upstreamCost) : null,
  unpriced_spend: formatMoney(a.unpricedSpend),
});

const figuresView = (f: Figures) => Object.fromEntries(FIGURES.map(([name]) => [name, formatMoney(f[name])])) as Record<Figure, string>;

export interface StatsLabels {
  channels(ids: string[]): Promise<Map<string, string>>;
  users(ids: string[]): Promise<Map<string, string>>;
  teams(ids: string[]): Promise<Map<string, string>>;
}

/** GET /api/admin/stats. */
export async function dashboardStats(db: DbOrTx, input: { range: StatsRange; by: StatsGrouping; labels: StatsLabels; topSpenders?: number }) {
  const { range, by, labels } = input;
  const costs = await listUpstreamCosts(db);
  const daily = await ledgerFiguresByDay(db, range);
  const totals = daily.reduce((s, d) => {
    for (const [name] of FIGURES) s[name] += d[name];
    return s;
  }, zeroFigures());
  const dim: Dimension = by === 'day' ? 'day' : by === 'model' ? 'model' : by === 'channel' ? 'channel_id' : by === 'group' ? 'group_name' : 'user_id';
  const aggregates = await logAggregates(db, range, dim, costs);
  const sum = [...aggregates.values()].reduce((s, a) => {
    s.requests += a.requests;
    s.spend += a.spend;
    s.upstreamCost += a.upstreamCost;
    s.unpricedSpend += a.unpricedSpend;
    return s;
  }, zeroAggregate());
  // Unknown margin only where nothing of the figure has an upstream cost; otherwise the margin of the part that has one.
  const knownFor = (a: LogAggregate) => a.spend === 0n || a.unpricedSpend < a.spend;

  let rows: Array<Record<string, unknown>>;
  if (by === 'day') {
    rows = range.days.map((day, i) => {
      const a = aggregates.get(String(i)) ?? zeroAggregate();
      return { day, ...figuresView(daily[i]), requests: a.requests, ...marginView(a, knownFor(a)) };
    });
  } else {
    const sorted = [...aggregates.entries()].sort(([ka, a], [kb, b]) => (a.spend === b.spend ? ka.localeCompare(kb) : a.spend > b.spend ? -1 : 1));
    // Bounded: the largest rows, and the rest folded into one row, so the rows still add up to the totals.
    const shown = sorted.slice(0, MAX_ROWS);
    if (sorted.length > MAX_ROWS) {
      const rest = sorted.slice(MAX_ROWS).reduce((s, [, a]) => {
        s.requests += a.requests;
        s.spend += a.spend;
        s.upstreamCost += a.upstreamCost;
        s.unpricedSpend += a.unpricedSpend;
        return s;
      }, zeroAggregate());
      shown.push([OTHERS, rest]);
    }
    const keys = shown.map(([k]) => k).filter((k) => k && k !== OTHERS);
    const names = by === 'channel' ? await labels.channels(keys) : by === 'user' ? await labels.users(keys) : new Map<string, string>();
    rows = shown.map(([k, a]) => ({
      key: k || null,
      label: k ? (names.get(k) ?? k) : null,
      requests: a.requests,
      spend: formatMoney(a.spend),
      // A model's margin is known or not; a channel's, group's or user's covers the models that have an upstream cost.
      ...marginView(a, by === 'model' ? a.unpricedSpend === 0n : knownFor(a)),
    }));
  }
  const spenders = await topSpenders(db, range, input.topSpenders ?? 10);
  const userIds = spenders.filter((s) => s.account.startsWith('user:')).map((s) => s.account.slice(5));
  const teamIds = spenders.filter((s) => s.account.startsWith('team:')).map((s) => s.account.slice(5));
  const [userNames, teamNames] = await Promise.all([labels.users(userIds), labels.teams(teamIds)]);
  return {
    from: range.from,
    to: range.to,
    timezone: range.timeZone,
    by,
    totals: { ...figuresView(totals), requests: sum.requests, ...marginView(sum, knownFor(sum)) },
    rows,
    // Spend the ledger booked that no request log row in the window accounts for (video tasks, among others).
    unattributed_spend: formatMoney(totals.spend - sum.spend),
    top_spenders: spenders.map((s) => {
      const [type, id] = [s.account.slice(0, 4), s.account.slice(5)];
      return {
        account: s.account,
        type: type === 'team' ? 'team' : 'user',
        id,
        label: (type === 'team' ? teamNames.get(id) : userNames.get(id)) ?? id,
        spend: formatMoney(toBig(s.total)),
      };
    }),
  };
}
