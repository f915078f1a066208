import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { requireUser } from '../auth.ts';
import { sha256Hex } from '../../lib/crypto.ts';
import { SESSION_COOKIE, listSessions, revokeSession, revokeAllSessions, userForSession } from '../../accounts/sessions.ts';

// A signed-in person's own sessions: where they are signed in (device, address,
// last seen), ending one (a lost phone), ending every other one. Tokens never
// leave the server; sessions are named by their id.
export function sessionRoutes(app: FastifyInstance, ctx: AppContext) {
  const currentHash = (token: string | undefined) => (token ? sha256Hex(token) : null);

  app.get('/api/auth/sessions', async (req) => {
    const user = await requireUser(ctx, req);
    return { data: await listSessions(ctx.db, { userId: user.id, currentTokenHash: currentHash(req.cookies?.[SESSION_COOKIE]), now: ctx.now() }) };
  });

  app.delete<{ Params: { id: string } }>('/api/auth/sessions/:id', async (req, reply) => {
    const user = await requireUser(ctx, req);
    await revokeSession(ctx.db, { userId: user.id, sessionId: req.params.id, now: ctx.now() });
    // Ending the session this browser uses is signing out: the cookie goes too.
    const token = req.cookies?.[SESSION_COOKIE];
    const signedOut = !token || (await userForSession(ctx.db, token, ctx.now())) === null;
    if (signedOut) reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { ok: true, signed_out: signedOut };
  });

  app.post('/api/auth/sessions/revoke-others', async (req) => {
    const user = await requireUser(ctx, req);
    const token = req.cookies?.[SESSION_COOKIE];
    const ended = await revokeAllSessions(ctx.db, user.id, { now: ctx.now(), exceptTokenHash: currentHash(token) ?? undefined });
    return { ok: true, sessions_ended: ended };
  });
}
