import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../context.ts';
import { TallyError } from '../lib/errors.ts';
import { safeEqual } from '../lib/crypto.ts';
import { SESSION_COOKIE, userForSession } from '../accounts/sessions.ts';
import type { Role, User } from '../accounts/users.ts';
import { isAdminActor, type Actor } from '../audit/index.ts';
import { rolesFor, PERMISSIONS, type StaffAction } from '../support/permissions.ts';
import { maskEmail } from '../accounts/users.ts';
import { checkStaffSecondFactor } from '../accounts/twoFactor/staffGate.ts';

const unauthenticated = () => new TallyError('not_signed_in', 'sign in first (POST /api/auth/login)');

/** The signed-in user of a console request, or 401. */
export async function requireUser(ctx: AppContext, req: FastifyRequest): Promise<User> {
  const token = req.cookies?.[SESSION_COOKIE];
  const user = token ? await userForSession(ctx.db, token, ctx.now()) : null;
  if (!user) throw unauthenticated();
  return user;
}

/**
 * Admin/support API access: the admin token (`Authorization: Bearer <TALLY_ADMIN_TOKEN>`
 * or `x-admin-token`) acts as admin; otherwise a session whose role is allowed.
 * Routes name their entry of the permission table (src/support/permissions.ts),
 * which says which roles may call them; a list of roles still works.
 */
export async function requireStaff(ctx: AppContext, req: FastifyRequest, rolesOrAction: Role[] | StaffAction = ['admin']): Promise<Actor> {
  const roles: Role[] = typeof rolesOrAction === 'string' ? rolesFor(rolesOrAction) : rolesOrAction;
  if (typeof rolesOrAction === 'string' && !PERMISSIONS[rolesOrAction]) throw new Error(`unknown staff action ${rolesOrAction}`);
  const token = adminTokenOf(req);
  if (token !== null) {
    if (ctx.config.adminToken && safeEqual(token, ctx.config.adminToken)) return { type: 'admin_token' };
    throw new TallyError('invalid_admin_token', 'the admin token is not valid');
  }
  const user = await requireUser(ctx, req);
  if (!roles.includes(user.role)) {
    throw new TallyError('forbidden', `this needs the ${roles.join(' or ')} role`);
  }
  // Two-factor for staff sessions (TALLY_STAFF_2FA, a recent factor for money and reveals): see staffGate.ts.
  await checkStaffSecondFactor(ctx.db, {
    sessionToken: req.cookies?.[SESSION_COOKIE] ?? '',
    action: typeof rolesOrAction === 'string' ? rolesOrAction : null,
    staffTwoFactor: ctx.config.security.staffTwoFactor,
    now: ctx.now(),
  });
  return { type: 'user', userId: user.id, role: user.role };
}

function adminTokenOf(req: FastifyRequest): string | null {
  const x = req.headers['x-admin-token'];
  if (typeof x === 'string' && x) return x;
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ') && !auth.startsWith('Bearer sk-')) return auth.slice(7).trim();
  return null;
}

/** Support staff see personal data masked (a***e@example.com); admins see it whole and reveal with a reason elsewhere. */
export function emailFor(actor: Actor, email: string): string {
  return isAdminActor(actor) ? email : maskEmail(email);
}
