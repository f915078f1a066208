import { randomBytes } from 'node:crypto';
import type { DbOrTx } from '../../db/index.ts';
import { withTransaction, isUniqueViolation } from '../../db/index.ts';
import { decryptSecret, encryptSecret, sha256Hex } from '../../lib/crypto.ts';
import { TallyError } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import { recordAudit } from '../../audit/index.ts';
import { verifyPassword } from '../passwords.ts';
import { newTotpSecret, totpStepOf, totpUri } from './totp.ts';

// A user's second factor: set up (a secret, not active until a code from it
// is shown back), enabled (with 10 single-use recovery codes), checked, and
// disabled. The secret is stored encrypted with TALLY_SECRET like upstream API
// keys; recovery codes only as sha256 (they are 50 random bits each, so a
// fast hash is enough, as for API keys).
//
// One code, one use: a TOTP code is accepted by a conditional UPDATE that
// moves two_factor.last_step forward past the code's step, so a second use of
// the same code (or of an older one), even at the same moment from another
// request or instance, finds the condition false and is refused. Recovery
// codes are spent the same way (used_at set only where it is still null).

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

export type Factor = { code?: string; recovery_code?: string };

const invalidCode = () =>
  new TallyError(
    'invalid_two_factor_code',
    'the code is wrong, expired or already used; enter the current 6-digit code from your app or an unused recovery code',
  );

function newRecoveryCode(): string {
  let s = '';
  for (const b of randomBytes(10)) s += ALPHABET[b % ALPHABET.length];
  return `${s.slice(0, 5)}-${s.slice(5)}`;
}

/** Recovery codes are compared without case, spaces or dashes, as people type them. */
const recoveryHash = (code: string) => sha256Hex(`tally:recovery:${code.toLowerCase().replace(/[^a-z0-9]/g, '')}`);

export async function twoFactorStatus(db: DbOrTx, userId: string): Promise<{ enabled: boolean; recoveryCodesLeft: number }> {
  const row = await db.selectFrom('two_factor').select('enabled_at').where('user_id', '=', userId).executeTakeFirst();
  const enabled = row?.enabled_at != null;
  if (!enabled) return { enabled, recoveryCodesLeft: 0 };
  const left = await db
    .selectFrom('two_factor_recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return { enabled, recoveryCodesLeft: Number(left.n) };
}

export async function hasTwoFactor(db: DbOrTx, userId: string): Promise<boolean> {
  return (await twoFactorStatus(db, userId)).enabled;
}

/** Starts (or restarts) a setup: a new secret, stored encrypted, not active until enableTwoFactor. */
export async function startTwoFactorSetup(
  db: DbOrTx,
  input: { userId: string; account: string; issuer: string; secret: string; now: number },
): Promise<{ secret: string; uri: string }> {
  const totpSecret = newTotpSecret();
  try {
    await withTransaction(db, async (tx) => {
      await tx.deleteFrom('two_factor').where('user_id', '=', input.userId).where('enabled_at', 'is', null).execute();
      await tx
        .insertInto('two_factor')
        .values({ user_id: input.userId, secret_enc: encryptSecret(input.secret, totpSecret), enabled_at: null, last_step: null, created_at: input.now })
        .execute();
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw alreadyEnabled();
    throw e;
  }
  return { secret: totpSecret, uri: totpUri(totpSecret, { issuer: input.issuer, account: input.account }) };
}

const alreadyEnabled = () => new TallyError('two_factor_already_enabled', 'two-factor sign-in is already on; turn it off first to set up another app');

/** Confirms a setup with a code from the app; returns the recovery codes (shown once, stored hashed). */
export async function enableTwoFactor(db: DbOrTx, input: { userId: string; code: string; secret: string; now: number }): Promise<string[]> {
  const row = await db.selectFrom('two_factor').selectAll().where('user_id', '=', input.userId).executeTakeFirst();
  if (row?.enabled_at != null) throw alreadyEnabled();
  if (!row) throw new TallyError('two_factor_not_started', 'start with POST /api/auth/2fa/setup, add the secret to your app, then enable with a code from it');
  const step = totpStepOf(decryptSecret(input.secret, row.secret_enc), input.code, input.now);
  if (step === null) throw invalidCode();
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  await withTransaction(db, async (tx) => {
    const r = await tx
      .updateTable('two_factor')
      .set({ enabled_at: input.now, last_step: step })
      .where('user_id', '=', input.userId)
      .where('enabled_at', 'is', null)
      .where('secret_enc', '=', row.secret_enc)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) throw alreadyEnabled();
    await tx.deleteFrom('two_factor_recovery_codes').where('user_id', '=', input.userId).execute();
    await tx
      .insertInto('two_factor_recovery_codes')
      .values(codes.map((c) => ({ id: newId('rec'), user_id: input.userId, code_hash: recoveryHash(c), used_at: null, created_at: input.now })))
      .execute();
    await recordAudit(tx, { actor: { type: 'system' }, action: 'user.2fa.enable', target: input.userId, now: input.now });
  });
  return codes;
}

/**
 * Checks and spends a second factor of a user with 2FA on: a TOTP code (its
 * step must be later than the last accepted one) or an unused recovery code.
 * Throws invalid_two_factor_code otherwise.
 */
export async function spendSecondFactor(db: DbOrTx, input: { userId: string; factor: Factor; secret: string; now: number }): Promise<'totp' | 'recovery_code'> {
  const row = await db.selectFrom('two_factor').selectAll().where('user_id', '=', input.userId).executeTakeFirst();
  if (row?.enabled_at == null) throw new TallyError('two_factor_not_enabled', 'two-factor sign-in is not on for this account');
  const { code, recovery_code: recovery } = input.factor;
  if (code) {
    const step = totpStepOf(decryptSecret(input.secret, row.secret_enc), code.trim(), input.now);
    if (step === null) throw invalidCode();
    const r = await db
      .updateTable('two_factor')
      .set({ last_step: step })
      .where('user_id', '=', input.userId)
      .where('enabled_at', 'is not', null)
      .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) throw invalidCode();
    return 'totp';
  }
  if (recovery) {
    const r = await db
      .updateTable('two_factor_recovery_codes')
      .set({ used_at: input.now })
      .where('user_id', '=', input.userId)
      .where('code_hash', '=', recoveryHash(recovery))
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) throw invalidCode();
    return 'recovery_code';
  }
  throw new TallyError('invalid_request', 'send code (the 6 digits from your app) or recovery_code', { param: 'code' });
}

/** Turns 2FA off after a current code, a recovery code or the password. */
export async function disableTwoFactor(
  db: DbOrTx,
  input: { userId: string; factor: Factor & { password?: string }; secret: string; now: number },
): Promise<void> {
  if (!(await hasTwoFactor(db, input.userId))) throw new TallyError('two_factor_not_enabled', 'two-factor sign-in is not on for this account');
  if (input.factor.code || input.factor.recovery_code) {
    await spendSecondFactor(db, { ...input, factor: input.factor });
  } else if (input.factor.password) {
    const u = await db.selectFrom('users').select('password_hash').where('id', '=', input.userId).executeTakeFirstOrThrow();
    if (!(await verifyPassword(input.factor.password, u.password_hash))) {
      throw new TallyError('invalid_two_factor_code', 'the password is not right; enter your current password or a code from your app');
    }
  } else {
    throw new TallyError('invalid_request', 'send code, recovery_code or password to turn two-factor sign-in off', { param: 'code' });
  }
  await withTransaction(db, async (tx) => {
    await tx.deleteFrom('two_factor').where('user_id', '=', input.userId).execute();
    await tx.deleteFrom('two_factor_recovery_codes').where('user_id', '=', input.userId).execute();
    await tx.updateTable('sessions').set({ two_factor_at: null }).where('user_id', '=', input.userId).execute();
    await recordAudit(tx, { actor: { type: 'system' }, action: 'user.2fa.disable', target: input.userId, now: input.now });
  });
}
