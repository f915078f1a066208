import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { parseInput } from '../validate.ts';
import { login, logout, SESSION_COOKIE } from '../../accounts/sessions.ts';
import { normalizeEmail } from '../../accounts/users.ts';
import { TallyError } from '../../lib/errors.ts';

const LoginBody = z.object({ email: z.string().min(1).max(320), password: z.string().min(1).max(200) });

// Login attempts: 10 per 15 minutes per email+IP, 50 per IP, 30 per email from anywhere.
const WINDOW_MS = 15 * 60_000;

export function authRoutes(app: FastifyInstance, ctx: AppContext) {
  app.post('/api/auth/login', async (req, reply) => {
    const body = parseInput(LoginBody, req.body);
    const perAccount = await ctx.limiter.hit(`login:${normalizeEmail(body.email)}:${req.ip}`, 10, WINDOW_MS);
    const perIp = await ctx.limiter.hit(`login-ip:${req.ip}`, 50, WINDOW_MS);
    // Across all addresses, so a guesser with many IPs still meets a lock on one account.
    const perEmail = await ctx.limiter.hit(`login-email:${normalizeEmail(body.email)}`, 30, WINDOW_MS);
    if (!perAccount.allowed || !perIp.allowed || !perEmail.allowed) {
      const wait = Math.ceil(Math.max(perAccount.retryAfterMs, perIp.retryAfterMs, perEmail.retryAfterMs) / 1000);
      throw new TallyError('rate_limited', `too many sign-in attempts; try again in ${wait} s`, { status: 429, details: { retry_after: String(wait) } });
    }
    const s = await login(ctx.db, { ...body, ip: req.ip, userAgent: req.headers['user-agent'] ?? null, now: ctx.now() });
    await ctx.limiter.reset(`login:${normalizeEmail(body.email)}:${req.ip}`);
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
