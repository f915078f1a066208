import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { requireUser } from '../auth.ts';
import { accountDeps } from '../accountDeps.ts';
import { requireVerified } from '../../accounts/verification.ts';
import { parseInput } from '../../lib/validate.ts';
import { redeemCode, listRedeemAttempts } from '../../redeem/index.ts';
import { redemptionView, attemptView } from '../../redeem/present.ts';
import { getUserBalance } from '../../accounts/users.ts';
import { formatMoney } from '../../ledger/money.ts';
import { requireTeamRole, walletView } from '../../teams/index.ts';

// The code is validated by the redeem module, not here: a malformed code must
// still be counted and recorded as an attempt (invalid_format).
// `team`: redeemed for a team's wallet, by its owner or an admin (a plain member cannot move money into the
// team's name; their own redemptions go to their own wallet).
const RedeemBody = z.object({ code: z.string().max(200), team: z.string().min(1).max(64).optional() });

const AttemptsQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).optional(), before: z.string().max(64).optional() });

export function redeemRoutes(app: FastifyInstance, ctx: AppContext) {
  app.post('/api/redeem', async (req) => {
    const user = await requireUser(ctx, req);
    requireVerified(accountDeps(ctx), user); // an unproved address may look, not spend or hand out keys
    const body = parseInput(RedeemBody, req.body);
    const team = body.team ? (await requireTeamRole(ctx.db, body.team, user.id, ['owner', 'admin'])).team : null;
    const r = await redeemCode(ctx.db, {
      userId: user.id,
      teamId: team?.id ?? null,
      code: body.code,
      ip: req.ip,
      secret: ctx.config.secret,
      limiter: ctx.limiter,
      now: ctx.now(),
    });
    ctx.log.info({ userId: user.id, teamId: team?.id, redemptionId: r.id, codeDisplay: r.code, amount: formatMoney(r.amount) }, 'redeem code credited');
    if (team) return { ...redemptionView(r), team_id: team.id, balance: (await walletView(ctx.db, team)).balance };
    const b = await getUserBalance(ctx.db, user.id);
    return { ...redemptionView(r), balance: formatMoney(b.balance) };
  });

  app.get('/api/redeem/attempts', async (req) => {
    const user = await requireUser(ctx, req);
    const q = parseInput(AttemptsQuery, req.query);
    const attempts = await listRedeemAttempts(ctx.db, { userId: user.id, limit: q.limit, before: q.before });
    return { data: attempts.map(attemptView), next_before: attempts.length === (q.limit ?? 50) ? attempts[attempts.length - 1].id : null };
  });
}
