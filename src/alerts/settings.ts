import type { DbOrTx } from '../db/index.ts';
import { toBig } from '../ledger/money.ts';
import type { AlertLanguage } from './templates.ts';

// An owner's alert settings: one alert_settings row per `user:<id>` (or
// `team:<id>`), which is also the id of the wallet it watches. No row means
// no balance alert, and budget alerts by e-mail only.

export interface AlertSettings {
  owner: string;
  /** Alert when what the wallet can spend falls below this (micro-units); null: no balance alert. */
  balanceBelow: bigint | null;
  email: boolean;
  webhookUrl: string | null;
  language: AlertLanguage;
}

export const defaultSettings = (owner: string): AlertSettings => ({ owner, balanceBelow: null, email: true, webhookUrl: null, language: 'en' });

type Row = { owner_ref: string; balance_below: unknown; email: number; webhook_url: string | null; language: string | null };

function rowToSettings(r: Row): AlertSettings {
  return {
    owner: r.owner_ref,
    balanceBelow: r.balance_below === null || r.balance_below === undefined ? null : toBig(r.balance_below),
    email: Number(r.email) === 1,
    webhookUrl: r.webhook_url,
    language: r.language === 'zh' ? 'zh' : 'en',
  };
}

export async function readAlertSettings(db: DbOrTx, owner: string): Promise<AlertSettings> {
  const r = await db.selectFrom('alert_settings').selectAll().where('owner_ref', '=', owner).executeTakeFirst();
  return r ? rowToSettings(r) : defaultSettings(owner);
}

/** Every owner with a balance threshold: the cache the settlement hook checks without a database round trip. */
export async function readBalanceThresholds(db: DbOrTx): Promise<Map<string, AlertSettings>> {
  const rows = await db.selectFrom('alert_settings').selectAll().where('balance_below', 'is not', null).execute();
  return new Map(rows.map((r) => [r.owner_ref, rowToSettings(r)]));
}

export async function writeAlertSettings(db: DbOrTx, s: AlertSettings, now: number): Promise<void> {
  const values = {
    balance_below: s.balanceBelow,
    email: s.email ? 1 : 0,
    webhook_url: s.webhookUrl,
    language: s.language,
    updated_at: now,
  };
  await db
    .insertInto('alert_settings')
    .values({ owner_ref: s.owner, ...values })
    .onConflict((oc) => oc.column('owner_ref').doUpdateSet(values))
    .execute();
}

/** Where an owner's e-mail goes: the user's address, or a team owner's. */
export async function ownerEmail(db: DbOrTx, owner: string): Promise<string | null> {
  let userId: string | null = null;
  if (owner.startsWith('user:')) userId = owner.slice(5);
  else if (owner.startsWith('team:')) {
    const t = await db.selectFrom('teams').select('owner_user_id').where('id', '=', owner.slice(5)).executeTakeFirst();
    userId = t?.owner_user_id ?? null;
  }
  if (!userId) return null;
  const u = await db.selectFrom('users').select(['email', 'status']).where('id', '=', userId).executeTakeFirst();
  return u && u.status === 'active' ? u.email : null;
}
