import { randomBytes } from 'node:crypto';
import type { DbOrTx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { sha256Hex } from '../lib/crypto.ts';
import { TallyError } from '../lib/errors.ts';

// The links Tally mails: e-mail verification (24 h) and password reset (1 h).
// The mail carries a random token; the database keeps only its sha256, so a
// copy of the database opens nothing. A token is spent by one conditional
// UPDATE (used_at is null and not expired), so two clicks or two instances
// racing spend it once. Issuing a new token of a purpose retires the older
// ones of that user, so only the latest mail works.

export type TokenPurpose = 'verify' | 'reset';

export const TOKEN_TTL_MS: Record<TokenPurpose, number> = { verify: 24 * 3600_000, reset: 3600_000 };

export async function issueEmailToken(
  db: DbOrTx,
  input: { userId: string; emailNormalized: string; purpose: TokenPurpose; now: number },
): Promise<{ token: string; expiresAt: number }> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = input.now + TOKEN_TTL_MS[input.purpose];
  await db
    .updateTable('account_tokens')
    .set({ used_at: input.now })
    .where('user_id', '=', input.userId)
    .where('purpose', '=', input.purpose)
    .where('used_at', 'is', null)
    .execute();
  await db
    .insertInto('account_tokens')
    .values({
      id: newId('atk'),
      purpose: input.purpose,
      token_hash: sha256Hex(token),
      user_id: input.userId,
      email_normalized: input.emailNormalized,
      created_at: input.now,
      expires_at: expiresAt,
      used_at: null,
    })
    .execute();
  return { token, expiresAt };
}

const invalid = () =>
  new TallyError('invalid_token', 'this link is not valid: it expired, was already used, or a newer one was sent; ask for a new one', { param: 'token' });

/** Spends a token: returns whose it was and the address it was sent to, or throws `invalid_token`. */
export async function spendEmailToken(
  db: DbOrTx,
  input: { token: string; purpose: TokenPurpose; now: number },
): Promise<{ userId: string; emailNormalized: string }> {
  if (!input.token || input.token.length > 100) throw invalid();
  const hash = sha256Hex(input.token);
  const spent = await db
    .updateTable('account_tokens')
    .set({ used_at: input.now })
    .where('token_hash', '=', hash)
    .where('purpose', '=', input.purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', input.now)
    .returning(['user_id', 'email_normalized'])
    .executeTakeFirst();
  if (!spent) throw invalid();
  return { userId: spent.user_id, emailNormalized: spent.email_normalized };
}

/** Whether a token could still be spent (the reset page asks before showing its form). */
export async function isEmailTokenLive(db: DbOrTx, input: { token: string; purpose: TokenPurpose; now: number }): Promise<boolean> {
  if (!input.token || input.token.length > 100) return false;
  const r = await db
    .selectFrom('account_tokens')
    .select('id')
    .where('token_hash', '=', sha256Hex(input.token))
    .where('purpose', '=', input.purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', input.now)
    .executeTakeFirst();
  return Boolean(r);
}
