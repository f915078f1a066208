import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { parseInput } from '../../lib/validate.ts';
import { login, logout, SESSION_COOKIE } from '../../accounts/sessions.ts';
import { countLoginAttempt, clearLoginFailures } from '../../accounts/loginLimits.ts';
import { TallyError } from '../../lib/errors.ts';

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
    const s = await login(ctx.db, { ...body, ip: req.ip, userAgent: req.headers['user-agent'] ?? null, now: ctx.now() });
    await clearLoginFailures(ctx.limiter, { email: body.email, ip: req.ip, counted: limit });
    const secure = ctx.config.secureCookies === 'on' || (ctx.config.secureCookies === 'auto' && req.protocol === 'https');
    reply.setCookie(SESSION_COOKIE, s.token, { path: '/', httpOnly: true, sameSite: 'lax', secure, expires: new Date(s.expiresAt) });
    return { user: { id: s.user.id, email: s.user.email, nickname: s.user.nickname, role: s.user.role } };
  });

  app.post('/api/auth/logout', async (req, reply) => {
    const token = req.cookies?.[SESSION_COOKIE];
    if (token) await logout(ctx.db, token, ctx.now());
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { ok: true };
  });
}
