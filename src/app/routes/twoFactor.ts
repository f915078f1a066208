import type { FastifyInstance } from 'fastify';
import QRCode from 'qrcode';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { parseInput } from '../../lib/validate.ts';
import { requireUser } from '../auth.ts';
import { getUser, type User } from '../../accounts/users.ts';
import { markSessionTwoFactor, openSession, SESSION_COOKIE } from '../../accounts/sessions.ts';
import { disableTwoFactor, enableTwoFactor, spendSecondFactor, startTwoFactorSetup, twoFactorStatus } from '../../accounts/twoFactor/factor.ts';
import { answerChallenge } from '../../accounts/twoFactor/challenges.ts';
import { sendTwoFactorNotice, type TwoFactorNotice } from '../../accounts/twoFactor/notices.ts';
import { setSessionCookie } from '../sessionCookie.ts';
import { TallyError } from '../../lib/errors.ts';

// Two-factor sign-in (TOTP): set up, enable, disable, the sign-in step, and
// "confirm" (a fresh code for staff money actions; see staffGate.ts).

const Code = z.string().trim().min(1).max(12);
const Recovery = z.string().trim().min(1).max(40);
const EnableBody = z.object({ code: Code });
const FactorBody = z.object({ code: Code.optional(), recovery_code: Recovery.optional() });
const DisableBody = FactorBody.extend({ password: z.string().min(1).max(200).optional() });
const VerifyBody = FactorBody.extend({ challenge: z.string().min(1).max(100) });

const ISSUER = 'Tally';

export function twoFactorRoutes(app: FastifyInstance, ctx: AppContext) {
  const secret = ctx.config.secret;
  const notify = (user: User, kind: TwoFactorNotice) =>
    void sendTwoFactorNotice({ smtpUrl: ctx.config.alerts.smtpUrl, mailFrom: ctx.config.alerts.mailFrom, log: ctx.log }, user.email, kind);
  const staffRequired = (user: User) => ctx.config.security.staffTwoFactor && user.role !== 'user';

  app.get('/api/auth/2fa', async (req) => {
    const user = await requireUser(ctx, req);
    const s = await twoFactorStatus(ctx.db, user.id);
    return { enabled: s.enabled, recovery_codes_left: s.recoveryCodesLeft, required: staffRequired(user) };
  });

  app.post('/api/auth/2fa/setup', async (req) => {
    const user = await requireUser(ctx, req);
    const s = await startTwoFactorSetup(ctx.db, { userId: user.id, account: user.email, issuer: ISSUER, secret, now: ctx.now() });
    // The secret goes to its owner once, here (to type it into an app that cannot scan); it is stored encrypted.
    return { secret: s.secret, otpauth_uri: s.uri, qr: await QRCode.toDataURL(s.uri, { margin: 1, width: 220 }) };
  });

  app.post('/api/auth/2fa/enable', async (req) => {
    const user = await requireUser(ctx, req);
    const body = parseInput(EnableBody, req.body);
    const codes = await enableTwoFactor(ctx.db, { userId: user.id, code: body.code, secret, now: ctx.now() });
    await markSessionTwoFactor(ctx.db, req.cookies[SESSION_COOKIE] ?? '', ctx.now());
    notify(user, 'enabled');
    return { enabled: true, recovery_codes: codes };
  });

  app.post('/api/auth/2fa/disable', async (req) => {
    const user = await requireUser(ctx, req);
    const body = parseInput(DisableBody, req.body);
    await disableTwoFactor(ctx.db, { userId: user.id, factor: body, secret, now: ctx.now() });
    notify(user, 'disabled');
    return { enabled: false };
  });

  app.post('/api/auth/2fa/confirm', async (req) => {
    const user = await requireUser(ctx, req);
    const body = parseInput(FactorBody, req.body);
    const now = ctx.now();
    await spendSecondFactor(ctx.db, { userId: user.id, factor: body, secret, now });
    await markSessionTwoFactor(ctx.db, req.cookies[SESSION_COOKIE] ?? '', now);
    return { two_factor_at: new Date(now).toISOString() };
  });

  // The second step of signing in: the challenge from POST /api/auth/login and a code. Opens a new session.
  app.post('/api/auth/2fa/verify', async (req, reply) => {
    const body = parseInput(VerifyBody, req.body);
    const now = ctx.now();
    const userId = await answerChallenge(ctx.db, {
      challenge: body.challenge,
      now,
      check: (id) => spendSecondFactor(ctx.db, { userId: id, factor: body, secret, now }),
    });
    const user = await getUser(ctx.db, userId);
    if (user.status !== 'active') throw new TallyError('account_disabled', 'this account is disabled; contact support');
    const s = await openSession(ctx.db, { userId, ip: req.ip, userAgent: req.headers['user-agent'] ?? null, now, twoFactorAt: now });
    setSessionCookie(ctx.config, req, reply, s);
    return { user: { id: user.id, email: user.email, nickname: user.nickname, role: user.role } };
  });
}
