import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { parseInput } from '../../lib/validate.ts';
import { checkCredentials, openSession, logout, SESSION_COOKIE } from '../../accounts/sessions.ts';
import { countLoginAttempt, clearLoginFailures } from '../../accounts/loginLimits.ts';
import { hasTwoFactor } from '../../accounts/twoFactor/factor.ts';
import { createChallenge, deleteExpiredChallenges } from '../../accounts/twoFactor/challenges.ts';
import { TallyError } from '../../lib/errors.ts';
import { setSessionCookie } from '../sessionCookie.ts';

const LoginBody = z.object({ email: z.string().min(1).max(320), password: z.string().min(1).max(200) });

export function authRoutes(app: FastifyInstance, ctx: AppContext) {
  app.post('/api/auth/login', async (req, reply) => {
    const body = parseInput(LoginBody, req.body);
    // Per address, per account+address, and per account from addresses new to it: see loginLimits.ts.
    const limit = await countLoginAttempt(ctx.limiter, ctx.db, { email: body.email, ip: req.ip, now: ctx.now() });
    if (!limit.allowed) {
      const wait = Math.ceil(limit.retryAfterMs / 1000);
      throw new TallyError('rate_limited', `too many sign-in attempts; try again in ${wait} s`, { details: { retry_after: String(wait) } });
    }
    const user = await checkCredentials(ctx.db, body);
    await clearLoginFailures(ctx.limiter, { email: body.email, ip: req.ip, counted: limit });
    // With two-factor on, the right password opens no session: it earns a challenge to answer with a code
    // (POST /api/auth/2fa/verify), which then opens a new session.
    if (await hasTwoFactor(ctx.db, user.id)) {
      await deleteExpiredChallenges(ctx.db, ctx.now());
      const c = await createChallenge(ctx.db, { userId: user.id, now: ctx.now() });
      return { two_factor_required: true, challenge: c.challenge, expires_at: new Date(c.expiresAt).toISOString() };
    }
    const s = await openSession(ctx.db, { userId: user.id, ip: req.ip, userAgent: req.headers['user-agent'] ?? null, now: ctx.now() });
    setSessionCookie(ctx.config, req, reply, s);
    return { user: { id: user.id, email: user.email, nickname: user.nickname, role: user.role } };
  });

  app.post('/api/auth/logout', async (req, reply) => {
    const token = req.cookies?.[SESSION_COOKIE];
    if (token) await logout(ctx.db, token, ctx.now());
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { ok: true };
  });
}
