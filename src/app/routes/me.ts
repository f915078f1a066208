import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { requireUser } from '../auth.ts';
import { accountDeps } from '../accountDeps.ts';
import { verificationOn } from '../../accounts/signup.ts';
import { parseInput } from '../../lib/validate.ts';
import { getUserBalance } from '../../accounts/users.ts';
import { listStatement, walletAccountId, formatMoney, type StatementEntry } from '../../ledger/index.ts';

export const LedgerQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).optional(),
  before: z.string().max(64).optional(),
  kind: z.string().max(40).optional(),
});

export function statementLine(e: StatementEntry) {
  return {
    id: e.transferId,
    kind: e.kind,
    amount: formatMoney(e.amount),
    balance_after: formatMoney(e.balanceAfter),
    reference: e.reference,
    reason: typeof e.metadata?.reason === 'string' ? e.metadata.reason : null,
    created_at: new Date(e.createdAt).toISOString(),
  };
}

export function meRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/api/me', async (req) => {
    const user = await requireUser(ctx, req);
    const b = await getUserBalance(ctx.db, user.id);
    return {
      id: user.id,
      email: user.email,
      nickname: user.nickname,
      role: user.role,
      group: user.group,
      // false: the owner has not opened the verification link yet (no keys, top-ups or codes until then); src/accounts/verification.ts.
      email_verified: user.emailVerified || !verificationOn(accountDeps(ctx)),
      currency: b.currency,
      balance: formatMoney(b.balance),
      pending: formatMoney(b.pending),
      available: formatMoney(b.available),
    };
  });

  app.get('/api/ledger', async (req) => {
    const user = await requireUser(ctx, req);
    const q = parseInput(LedgerQuery, req.query);
    const entries = await listStatement(ctx.db, walletAccountId(user.id), q);
    return { data: entries.map(statementLine), next_before: entries.length === (q.limit ?? 50) ? entries[entries.length - 1].transferId : null };
  });
}
