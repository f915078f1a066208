import type { Selectable } from 'kysely';
import type { RedeemRedemptionsTable } from '../db/schema.ts';
import type { DbOrTx, Tx } from '../db/index.ts';
import { withIdempotentTransaction } from '../db/idempotent.ts';
import { newId } from '../lib/ids.ts';
import type { TallyError } from '../lib/errors.ts';
import type { RateLimiter } from '../lib/rateLimit.ts';
import { SYSTEM_ACCOUNTS, teamWalletId, walletAccountId } from '../ledger/accounts.ts';
import { recordAudit } from '../audit/index.ts';
import { createTransfer } from '../ledger/transfers.ts';
import { toBig, formatMoney } from '../ledger/money.ts';
import { normalizeRedeemCode, maskCodeInput, hashRedeemCode } from './format.ts';
import { rowToBatch } from './batches.ts';
import { redeemErrors, type RedeemOutcome } from './outcomes.ts';
import { recordRedeemAttempt, recordRefusedAttempt } from './attempts.ts';
import { countRedeemAttempt, clearUserRedeemLimits, REDEEM_LIMITS, type RedeemLimits } from './limits.ts';

export interface Redemption {
  id: string;
  codeId: string;
  batchId: string;
  userId: string;
  code: string; // masked
  amount: bigint;
  transferId: string;
  status: 'credited' | 'reversed';
  createdAt: number;
}

export interface RedeemInput {
  userId: string;
  code: unknown;
  ip: string | null;
  secret: string;
  limiter: RateLimiter;
  limits?: RedeemLimits;
  now?: number;
  /** Redeemed for a team: its wallet is credited (the caller checked the user may fund it: src/teams). */
  teamId?: string | null;
}

/** What `redeemCode` settles on: a redemption, or the error that explains why not. */
type Attempt =
  | { outcome: 'redeemed'; redemption: Redemption; codeId: string }
  | { outcome: Exclude<RedeemOutcome, 'redeemed'>; error: TallyError; codeId: string | null };

/**
 * Redeems a code for a signed-in user: counts the attempt against the
 * brute-force limits, rejects a malformed or mistyped code before any lookup,
 * then claims one use of the code and credits the wallet from `system:redeem`
 * in one transaction. The claim is a conditional UPDATE (`uses < max_uses`),
 * so however many accounts race for one code, exactly as many succeed as it
 * has uses; one account can redeem a code once (unique index), and a retry is
 * answered `already_redeemed` with the first result. Every attempt is recorded
 * (refused ones counted into one row per account per lock window).
 */
export async function redeemCode(db: DbOrTx, input: RedeemInput): Promise<Redemption> {
  const now = input.now ?? Date.now();
  const masked = maskCodeInput(input.code);
  const result = await attemptRedemption(db, input, now);
  if (result.outcome === 'redeemed') {
    await clearUserRedeemLimits(input.limiter, input.userId, input.ip);
    return result.redemption;
  }
  if (result.outcome === 'rate_limited') {
    // Folded into one row per account per lock window: refusals cost a guesser nothing, so they must not cost a row each.
    await recordRefusedAttempt(db, { userId: input.userId, ip: input.ip, code: masked, now, windowMs: (input.limits ?? REDEEM_LIMITS).lockoutWindowMs });
  } else {
    await recordRedeemAttempt(db, { userId: input.userId, ip: input.ip, code: masked, codeId: result.codeId, outcome: result.outcome, now });
  }
  throw result.error;
}

async function attemptRedemption(db: DbOrTx, input: RedeemInput, now: number): Promise<Attempt> {
  const limit = await countRedeemAttempt(input.limiter, { userId: input.userId, ip: input.ip, limits: input.limits });
  if (!limit.allowed) return { outcome: 'rate_limited', error: redeemErrors.rateLimited(limit.retryAfterMs), codeId: null };
  const n = normalizeRedeemCode(input.code);
  if (!n.ok) return { outcome: n.reason, error: n.reason === 'mistyped' ? redeemErrors.mistyped() : redeemErrors.invalidFormat(), codeId: null };
  const hash = hashRedeemCode(input.secret, n.normalized);
  // The same account redeeming one multi-use code twice at once: the loser's
  // insert hits the unique index; run again and it finds the first result.
  return withIdempotentTransaction(db, (tx) => claimAndCredit(tx, { ...input, hash, now }));
}

async function claimAndCredit(tx: Tx, input: RedeemInput & { hash: string; now: number }): Promise<Attempt> {
  const code = await tx.selectFrom('redeem_codes').selectAll().where('code_hash', '=', input.hash).executeTakeFirst();
  if (!code) return { outcome: 'not_found', error: redeemErrors.notFound(), codeId: null };
  const fail = (outcome: Exclude<RedeemOutcome, 'redeemed'>, error: TallyError): Attempt => ({ outcome, error, codeId: code.id });

  const mine = await tx.selectFrom('redeem_redemptions').selectAll().where('code_id', '=', code.id).where('user_id', '=', input.userId).executeTakeFirst();
  if (mine) {
    const r = rowToRedemption(mine, code.display);
    return fail(
      'already_redeemed',
      redeemErrors.alreadyRedeemed({ redemptionId: r.id, amount: formatMoney(r.amount), redeemedAt: r.createdAt, transferId: r.transferId, code: r.code }),
    );
  }
  const batch = rowToBatch(await tx.selectFrom('redeem_batches').selectAll().where('id', '=', code.batch_id).executeTakeFirstOrThrow());
  const usedUp = async () => {
    const last = await tx.selectFrom('redeem_redemptions').select('created_at').where('code_id', '=', code.id).orderBy('created_at', 'desc').executeTakeFirst();
    return fail('already_redeemed_by_another_account', redeemErrors.byAnotherAccount(last ? Number(last.created_at) : input.now));
  };
  // "Someone used my code" is the fact that matters most, so it is reported before disabled or expired.
  if (Number(code.uses) >= Number(code.max_uses)) return usedUp();
  if (code.status !== 'active' || batch.status !== 'active') return fail('disabled', redeemErrors.disabled());
  if (batch.expiresAt !== null && batch.expiresAt <= input.now) return fail('expired', redeemErrors.expired(batch.expiresAt));

  const claimed = await tx
    .updateTable('redeem_codes')
    .set((eb) => ({ uses: eb('uses', '+', 1) }))
    .where('id', '=', code.id)
    .where('status', '=', 'active')
    .where((eb) => eb('uses', '<', eb.ref('max_uses')))
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) !== 1) {
    // Another transaction claimed the last use (or disabled the code) while we looked: say which.
    const again = await tx.selectFrom('redeem_redemptions').selectAll().where('code_id', '=', code.id).where('user_id', '=', input.userId).executeTakeFirst();
    if (again) {
      const r = rowToRedemption(again, code.display);
      return fail(
        'already_redeemed',
        redeemErrors.alreadyRedeemed({ redemptionId: r.id, amount: formatMoney(r.amount), redeemedAt: r.createdAt, transferId: r.transferId, code: r.code }),
      );
    }
    const current = await tx.selectFrom('redeem_codes').select('status').where('id', '=', code.id).executeTakeFirstOrThrow();
    if (current.status !== 'active') return fail('disabled', redeemErrors.disabled());
    return usedUp();
  }

  const redemptionId = newId('rda');
  const { transfer } = await createTransfer(tx, {
    debitAccountId: SYSTEM_ACCOUNTS.redeem,
    creditAccountId: input.teamId ? teamWalletId(input.teamId) : walletAccountId(input.userId),
    amount: batch.amount,
    kind: 'redeem',
    reference: code.display,
    idempotencyKey: `redeem:${code.id}:${input.userId}`,
    // The statement shows `reason`: the masked code, which the user can match to their card.
    metadata: {
      reason: `redeem code ${code.display}`,
      redemptionId,
      codeId: code.id,
      batchId: batch.id,
      ...(input.teamId ? { team: input.teamId, by: input.userId } : {}),
    },
    now: input.now,
  });
  const row = {
    id: redemptionId,
    code_id: code.id,
    batch_id: batch.id,
    user_id: input.userId,
    amount: batch.amount,
    transfer_id: transfer.id,
    status: 'credited' as const,
    created_at: input.now,
    reversed_at: null,
    reversal_transfer_id: null,
    reversal_reason: null,
  };
  await tx.insertInto('redeem_redemptions').values(row).execute();
  if (input.teamId)
    await recordAudit(tx, {
      actor: { type: 'user', userId: input.userId, role: 'user' },
      action: 'team.redeem',
      target: `team:${input.teamId}`,
      data: { redemption: redemptionId, code: code.display, amount: formatMoney(batch.amount), transfer_id: transfer.id },
      now: input.now,
    });
  // The success is recorded with the credit itself: no redemption without its attempt row.
  await recordRedeemAttempt(tx, { userId: input.userId, ip: input.ip, code: code.display, codeId: code.id, outcome: 'redeemed', now: input.now });
  return { outcome: 'redeemed', redemption: rowToRedemption(row, code.display), codeId: code.id };
}

export function rowToRedemption(r: Selectable<RedeemRedemptionsTable>, display: string): Redemption {
  return {
    id: r.id,
    codeId: r.code_id,
    batchId: r.batch_id,
    userId: r.user_id,
    code: display,
    amount: toBig(r.amount),
    transferId: r.transfer_id,
    status: r.status,
    createdAt: Number(r.created_at),
  };
}
