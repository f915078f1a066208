import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { requireUser } from '../auth.ts';
import { parseInput } from '../../lib/validate.ts';
import { listStatement } from '../../ledger/index.ts';
import { requireTeamRole } from '../../teams/index.ts';
import { LedgerQuery, statementLine } from './me.ts';
import { statementCsv } from './exports.ts';

// A team wallet's statement: what funded it (top-ups, redeem codes,
// compensation) and what its keys spent, line by line, for the team's owner
// and admins (a member sees their own usage and spend, not the team's books).
// The same shape and filters as the user's GET /api/ledger and /api/ledger.csv.

export function teamStatementRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get<{ Params: { id: string } }>('/api/teams/:id/ledger', async (req) => {
    const user = await requireUser(ctx, req);
    const { team } = await requireTeamRole(ctx.db, req.params.id, user.id, ['owner', 'admin']);
    const q = parseInput(LedgerQuery, req.query);
    const entries = await listStatement(ctx.db, team.walletId, q);
    return { data: entries.map(statementLine), next_before: entries.length === (q.limit ?? 50) ? entries[entries.length - 1].transferId : null };
  });

  app.get<{ Params: { id: string } }>('/api/teams/:id/ledger.csv', async (req, reply) => {
    const user = await requireUser(ctx, req);
    const { team } = await requireTeamRole(ctx.db, req.params.id, user.id, ['owner', 'admin']);
    return statementCsv(ctx, team.walletId, req.query, reply, `tally-team-statement-${team.id}`);
  });
}
