import { checkLimits, limitsOf, type Limits } from '../accounts/apiKeys.ts';
import type { DbOrTx } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { toBig } from '../ledger/money.ts';

export interface Group {
  name: string;
  multiplierPpm: bigint;
  /** null = every priced model. */
  models: string[] | null;
  /** Limits for each user of the group, unless their key or account sets its own (src/gateway/limits.ts). */
  limits: Limits;
}

/** A group that was never configured behaves as 1.0x with every model allowed. */
export const implicitGroup = (name: string): Group => ({ name, multiplierPpm: 1_000_000n, models: null, limits: NO_LIMITS });

export const NO_LIMITS: Limits = Object.freeze({ rpm: null, tpm: null, concurrency: null });

export function rowToGroup(r: any): Group {
  return { name: r.name, multiplierPpm: toBig(r.multiplier_ppm), models: r.models ? JSON.parse(r.models) : null, limits: limitsOf(r) };
}

/** Parses a multiplier like "1.5" into parts per million, exactly. */
export function parseMultiplier(s: string): bigint {
  const m = /^(\d{1,6})(?:\.(\d{1,6}))?$/.exec(String(s).trim());
  if (!m) throw new TallyError('invalid_multiplier', `multiplier "${s}" must be a decimal such as 1.0 or 0.8`, { param: 'multiplier' });
  const v = BigInt(m[1]) * 1_000_000n + BigInt((m[2] ?? '').padEnd(6, '0'));
  if (v <= 0n) throw new TallyError('invalid_multiplier', 'multiplier must be greater than zero', { param: 'multiplier' });
  return v;
}

export async function upsertGroup(
  db: DbOrTx,
  input: { name: string; multiplierPpm: bigint; models: string[] | null; limits?: Partial<Limits> },
  now = Date.now(),
): Promise<Group> {
  const name = input.name?.trim();
  if (!name || !/^[\w.-]{1,64}$/.test(name)) throw new TallyError('invalid_group', 'group name must be 1 to 64 letters, digits, _ . -', { param: 'name' });
  const limits = checkLimits(input.limits ?? {});
  const row = { name, multiplier_ppm: input.multiplierPpm, models: input.models ? JSON.stringify(input.models) : null, created_at: now, updated_at: now };
  // Limits left undefined keep their value on an existing group.
  const lim: Record<string, number | null> = {};
  for (const k of ['rpm', 'tpm', 'concurrency'] as const) if (limits[k] !== undefined) lim[k] = limits[k];
  await db
    .insertInto('groups')
    .values({ ...row, ...lim })
    .onConflict((oc) => oc.column('name').doUpdateSet({ multiplier_ppm: row.multiplier_ppm, models: row.models, updated_at: now, ...lim }))
    .execute();
  return rowToGroup(await db.selectFrom('groups').selectAll().where('name', '=', name).executeTakeFirstOrThrow());
}

export async function listGroups(db: DbOrTx): Promise<Group[]> {
  return (await db.selectFrom('groups').selectAll().orderBy('name').execute()).map(rowToGroup);
}

/** Whether a user may be put in this group: "default", or one configured with `tally group set` / POST /api/admin/groups. */
export async function groupExists(db: DbOrTx, name: string): Promise<boolean> {
  if (name === 'default') return true;
  return Boolean(await db.selectFrom('groups').select('name').where('name', '=', name).executeTakeFirst());
}
