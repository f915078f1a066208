import type { DbOrTx } from '../db/index.ts';
import { rowToApiKey, type ApiKey } from './apiKeys.ts';

/** Keys whose display ends with the 4 characters a user can read from the key (`sk-…abcd`); for support's identity checks. */
export async function findKeysByLast4(db: DbOrTx, last4: string, limit = 10): Promise<ApiKey[]> {
  const s = last4.trim();
  if (!/^[A-Za-z0-9]{4}$/.test(s)) return [];
  const rows = await db.selectFrom('api_keys').selectAll().where('display', '=', `sk-…${s}`).limit(limit).execute();
  return rows.map(rowToApiKey);
}
