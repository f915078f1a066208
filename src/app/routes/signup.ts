import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { parseInput } from '../../lib/validate.ts';
import { requireStaff, requireUser } from '../auth.ts';
import { TallyError } from '../../lib/errors.ts';
import { accountDeps, accountWarnings } from '../accountDeps.ts';
import { signUp, verificationOn } from '../../accounts/signup.ts';
import { verifyEmail, sendVerification } from '../../accounts/verification.ts';
import { forgotPassword, resetPassword, changePassword } from '../../accounts/passwordChanges.ts';
import { createSignupInvite, listSignupInvites, revokeSignupInvite, type SignupInvite } from '../../accounts/signupInvites.ts';
import { languageOf } from '../../accounts/accountMails.ts';
import { resolveUser } from '../../accounts/users.ts';
import { SESSION_COOKIE } from '../../accounts/sessions.ts';
import { emailFor } from '../auth.ts';
import type { Actor } from '../../audit/index.ts';

// Sign-up, e-mail verification, forgotten and changed passwords, and the
// admin's sign-up invitations. The verbs live in src/accounts/; this file
// validates, calls them, and shapes the answers.

// Passwords are length-checked by the verbs (weak_password names the rule); the
// schema only caps what is read.
const Password = z.string().max(1000);
const SignupBody = z.object({
  email: z.string().min(1).max(320),
  password: Password,
  invite: z.string().max(200).optional(),
  captcha_token: z.string().max(4096).optional(),
});
const TokenBody = z.object({ token: z.string().min(1).max(200) });
const ForgotBody = z.object({ email: z.string().min(1).max(320) });
const ResetBody = z.object({ token: z.string().min(1).max(200), password: Password });
const ChangeBody = z.object({ current: z.string().min(1).max(1000), password: Password });
const InviteBody = z.object({
  email: z.string().max(320).optional(),
  role: z.literal('user', { message: "an invitation makes a plain user: role must be 'user' (staff roles are given by an admin afterwards)" }).optional(),
  group: z.string().min(1).max(64).optional(),
  expires_in_days: z.number().int().optional(),
});

const RESEND_PER_HOUR = 5;

const lang = (req: FastifyRequest) => languageOf(req.headers['accept-language']);

function inviteView(i: SignupInvite, actor: Actor) {
  return {
    id: i.id,
    email: i.email === null ? null : emailFor(actor, i.email),
    role: i.role,
    group: i.group,
    status: i.status,
    created_by: i.createdBy,
    created_at: new Date(i.createdAt).toISOString(),
    expires_at: new Date(i.expiresAt).toISOString(),
    used_at: i.usedAt === null ? null : new Date(i.usedAt).toISOString(),
    used_by: i.usedBy,
  };
}

export function signupRoutes(app: FastifyInstance, ctx: AppContext) {
  const deps = accountDeps(ctx);
  for (const w of accountWarnings(ctx)) ctx.log.warn(w);

  /** What the sign-up page needs to draw itself: the mode, the captcha widget's site key, whether a mail will follow. */
  app.get('/api/auth/signup', async () => {
    const c = ctx.config.accounts.captcha;
    return {
      mode: ctx.config.accounts.signup,
      captcha: c ? { provider: c.provider, site_key: c.siteKey } : null,
      verification: verificationOn(deps),
    };
  });

  app.post('/api/auth/signup', async (req, reply) => {
    const body = parseInput(SignupBody, req.body);
    const r = await signUp(deps, {
      email: body.email,
      password: body.password,
      invite: body.invite,
      captchaToken: body.captcha_token,
      ip: req.ip,
      language: lang(req),
    });
    // The same answer for a new address and a known one (see src/accounts/signup.ts).
    reply.code(202);
    return {
      status: 'accepted',
      verification: r.verification,
      message: r.verification
        ? 'if this address can be used, a mail is on its way: open its link to verify the address, then sign in'
        : 'if this address can be used, its account is ready: sign in',
    };
  });

  app.post('/api/auth/verify', async (req) => {
    const body = parseInput(TokenBody, req.body);
    const user = await verifyEmail(deps, body.token);
    return { ok: true, email_verified: user.emailVerified };
  });

  app.post('/api/auth/verify/resend', async (req) => {
    const user = await requireUser(ctx, req);
    const r = await ctx.limiter.hit(`verify-resend:${user.id}`, RESEND_PER_HOUR, 3600_000);
    if (!r.allowed) {
      const wait = Math.ceil(r.retryAfterMs / 1000);
      throw new TallyError('rate_limited', `too many verification mails asked for; try again in ${wait} s`, { details: { retry_after: String(wait) } });
    }
    await sendVerification(deps, { user, language: lang(req) });
    return { ok: true };
  });

  app.post('/api/auth/password/forgot', async (req, reply) => {
    const body = parseInput(ForgotBody, req.body);
    await forgotPassword(deps, { email: body.email, ip: req.ip, language: lang(req) });
    reply.code(202);
    return { status: 'accepted', message: 'if this address has an account, a mail with a reset link is on its way' };
  });

  app.post('/api/auth/password/reset', async (req) => {
    const body = parseInput(ResetBody, req.body);
    await resetPassword(deps, { token: body.token, password: body.password, language: lang(req) });
    return { ok: true };
  });

  app.post('/api/auth/password', async (req) => {
    const user = await requireUser(ctx, req);
    const body = parseInput(ChangeBody, req.body);
    const sessionToken = req.cookies?.[SESSION_COOKIE] ?? '';
    await changePassword(deps, { user, current: body.current, password: body.password, sessionToken, language: lang(req) });
    return { ok: true };
  });

  app.get('/api/admin/invites', async (req) => {
    const actor = await requireStaff(ctx, req, 'invites.list');
    return { data: (await listSignupInvites(ctx.db, { now: ctx.now() })).map((i) => inviteView(i, actor)) };
  });

  app.post('/api/admin/invites', async (req, reply) => {
    const actor = await requireStaff(ctx, req, 'users.invite');
    const body = parseInput(InviteBody, req.body);
    const { invite, token } = await createSignupInvite(ctx.db, { email: body.email, group: body.group, days: body.expires_in_days, actor, now: ctx.now() });
    const link = deps.link(`/signup?invite=${token}`);
    if (invite.email) deps.mail.send(invite.email, { kind: 'invite', link, expiresAt: invite.expiresAt }, lang(req));
    reply.code(201);
    // The token is in the answer once, inside the link; only its hash is kept.
    return { ...inviteView(invite, actor), link, mailed: Boolean(invite.email && deps.mail.enabled) };
  });

  app.post<{ Params: { id: string } }>('/api/admin/invites/:id/revoke', async (req) => {
    const actor = await requireStaff(ctx, req, 'invites.revoke');
    return inviteView(await revokeSignupInvite(ctx.db, { id: req.params.id, actor, now: ctx.now() }), actor);
  });

  app.post<{ Params: { id: string } }>('/api/admin/users/:id/resend-verification', async (req) => {
    const actor = await requireStaff(ctx, req, 'users.resendVerification');
    const user = await resolveUser(ctx.db, req.params.id);
    await sendVerification(deps, { user, actor, language: lang(req) });
    return { ok: true };
  });
}
