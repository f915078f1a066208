import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/index.ts';
import { SESSION_COOKIE } from '../accounts/sessions.ts';

/** Whether cookies get `Secure`: TALLY_SECURE_COOKIES=on, or auto and the request came over https. */
export function secureCookie(config: Config, req: FastifyRequest): boolean {
  return config.secureCookies === 'on' || (config.secureCookies === 'auto' && req.protocol === 'https');
}

/** The console's session cookie, as every sign-in path (password, two-factor, OpenID Connect) sets it. */
export function setSessionCookie(config: Config, req: FastifyRequest, reply: FastifyReply, s: { token: string; expiresAt: number }): void {
  reply.setCookie(SESSION_COOKIE, s.token, { path: '/', httpOnly: true, sameSite: 'lax', secure: secureCookie(config, req), expires: new Date(s.expiresAt) });
}
