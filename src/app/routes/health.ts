import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { AppContext } from '../../context.ts';

export function healthRoutes(app: FastifyInstance, ctx: AppContext) {
  // 200 once the server is listening with its database migrated; 503 if the database stops answering.
  app.get('/healthz', async (_req, reply) => {
    try {
      await sql`select 1`.execute(ctx.db);
      return { status: 'ok', database: ctx.dialect };
    } catch {
      return reply.code(503).send({ status: 'unavailable', database: ctx.dialect });
    }
  });
}
