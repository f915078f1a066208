import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { requireUser } from '../auth.ts';
import { parseInput } from '../../lib/validate.ts';
import { csvHeaders, toCsv } from '../../lib/csv.ts';
import { listStatement, walletAccountId } from '../../ledger/index.ts';
import { listTasks, ENDED, LIVE } from '../../gateway/tasks/index.ts';
import { taskView } from '../../gateway/tasks/view.ts';
import type { TaskStatus } from '../../db/schema.ts';
import { statementLine } from './me.ts';

// The signed-in user's records as spreadsheets: the statement
// (GET /api/ledger.csv, the filters of GET /api/ledger) and the task list
// (GET /api/tasks.csv, the filters of GET /api/tasks). Without `limit` the
// whole history is written, page by page, up to MAX_ROWS.

const MAX_ROWS = 100_000;
const PAGE = 500;

const LedgerCsvQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_ROWS).optional(),
  before: z.string().max(64).optional(),
  kind: z.string().max(40).optional(),
});
const STATUSES = [...LIVE, ...ENDED] as [TaskStatus, ...TaskStatus[]];
const TasksCsvQuery = z.object({
  status: z.enum(STATUSES).optional(),
  before: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_ROWS).optional(),
});

/** Reads pages of `PAGE` (newest first) until `limit` rows or the end. */
async function allPages<R>(limit: number, before: string | undefined, page: (before: string | undefined, n: number) => Promise<R[]>, idOf: (r: R) => string) {
  const out: R[] = [];
  let cursor = before;
  while (out.length < limit) {
    const n = Math.min(PAGE, limit - out.length);
    const rows = await page(cursor, n);
    out.push(...rows);
    if (rows.length < n) break;
    cursor = idOf(rows[rows.length - 1]);
  }
  return out;
}

const today = (now: number) => new Date(now).toISOString().slice(0, 10);

/** A wallet's statement as CSV (the filters of GET /api/ledger): a user's, or a team's (routes/teamStatement.ts). */
export async function statementCsv(ctx: AppContext, walletId: string, query: unknown, reply: FastifyReply, filePrefix: string): Promise<string> {
  const q = parseInput(LedgerCsvQuery, query);
  const entries = await allPages(
    q.limit ?? MAX_ROWS,
    q.before,
    (before, limit) => listStatement(ctx.db, walletId, { before, limit, kind: q.kind }),
    (e) => e.transferId,
  );
  const rows = entries.map(statementLine).map((l) => [l.id, l.created_at, l.kind, l.amount, l.balance_after, l.reference, l.reason]);
  reply.headers(csvHeaders(`${filePrefix}-${today(ctx.now())}.csv`));
  return toCsv(['id', 'created_at', 'kind', 'amount', 'balance_after', 'reference', 'reason'], rows);
}

export function exportRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/api/ledger.csv', async (req, reply) => {
    const user = await requireUser(ctx, req);
    return statementCsv(ctx, walletAccountId(user.id), req.query, reply, 'tally-statement');
  });

  app.get('/api/tasks.csv', async (req, reply) => {
    const user = await requireUser(ctx, req);
    const q = parseInput(TasksCsvQuery, req.query);
    const tasks = await allPages(
      q.limit ?? MAX_ROWS,
      q.before,
      (before, limit) => listTasks(ctx.db, { userId: user.id, status: q.status, before, includeDeleted: true, limit }),
      (t) => t.id,
    );
    const rows = tasks
      .map((t) => taskView(t))
      .map((v) => [v.id, v.created_at, v.model, v.status, v.seconds, v.held, v.charged, v.released, v.error?.code ?? null, v.request_id]);
    reply.headers(csvHeaders(`tally-tasks-${today(ctx.now())}.csv`));
    return toCsv(['id', 'created_at', 'model', 'status', 'seconds', 'held', 'charged', 'released', 'error_code', 'request_id'], rows);
  });
}
