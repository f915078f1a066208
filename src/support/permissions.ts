import { TallyError } from '../lib/errors.ts';
import { formatMoney, parseMoney } from '../ledger/money.ts';
import type { Actor } from '../audit/index.ts';

// Who may do what on the staff API. This table is the one rule: every
// /api/admin route names its entry (requireStaff reads the roles from it),
// the money verbs ask it whether a support caller acts alone or needs a second
// person, and the README's role table is printed from it
// (`tally admin permissions`), so the text and the checks cannot drift.
//
// Callers: a plain `user` session never reaches /api/admin (403); `support`
// and `admin` are sessions with that role; the admin token (and the `tally`
// CLI on the host) is the operator: allowed everywhere, audited as
// `admin_token` / `cli`. Unauthenticated calls are 401.

/**
 * - `yes` / `no`
 * - `limit`: alone up to TALLY_SUPPORT_APPROVAL_ABOVE (in the platform currency), above it the request waits for an admin's approval
 * - `provider`: alone when the payment provider confirms the payment; when the provider cannot be asked the request waits for an admin's approval; when it says "not paid", refused
 */
export type Access = 'yes' | 'no' | 'limit' | 'provider';
export type Kind = 'read' | 'write' | 'money';

export interface Permission {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  path: string;
  what: string;
  kind: Kind;
  support: Access;
  admin: Access;
  /** Refused (403 self_action_forbidden) when the target is the caller's own account. */
  self?: true;
}

const p = (method: Permission['method'], path: string, kind: Kind, support: Access, admin: Access, what: string, self?: true): Permission => ({
  method,
  path,
  kind,
  support,
  admin,
  what,
  ...(self ? { self } : {}),
});

export const PERMISSIONS = {
  // Users and balances
  'users.list': p('GET', '/api/admin/users', 'read', 'yes', 'yes', 'list users (support sees e-mails masked)'),
  'users.get': p('GET', '/api/admin/users/:id', 'read', 'yes', 'yes', 'a user and their balance'),
  'users.ledger': p('GET', '/api/admin/users/:id/ledger', 'read', 'yes', 'yes', "a user's statement"),
  'users.requests': p('GET', '/api/admin/users/:id/requests', 'read', 'yes', 'yes', "a user's request log (client IPs left out)"),
  'tasks.list': p('GET', '/api/admin/tasks', 'read', 'yes', 'yes', 'tasks (videos) of any user or one (?user=), with their holds and charges'),
  'tasks.get': p('GET', '/api/admin/tasks/:id', 'read', 'yes', 'yes', "a task's timeline: submit, hold, polls, charge or release"),
  'users.diagnose': p('GET', '/api/admin/users/:id/diagnose', 'read', 'yes', 'yes', 'the billing doctor for a user'),
  'users.create': p('POST', '/api/admin/users', 'write', 'no', 'yes', 'create a user (any role)'),
  'users.credit': p('POST', '/api/admin/users/:id/credit', 'money', 'no', 'yes', 'manual credit or debit (`tally admin credit`)', true),
  'users.compensate': p('POST', '/api/admin/users/:id/compensate', 'money', 'limit', 'yes', 'goodwill compensation with a ticket', true),
  'users.limits': p(
    'POST',
    '/api/admin/users/:id/limits',
    'write',
    'no',
    'yes',
    "a user's requests per minute, tokens per minute and requests in flight (`tally user set-limits`); audited",
  ),
  'users.reveal': p('POST', '/api/admin/users/:id/reveal', 'read', 'no', 'yes', 'reveal a masked field (e-mail, client IPs), with a reason; audited', true),
  // Sign-up invitations and e-mail verification (src/app/routes/signup.ts)
  'invites.list': p('GET', '/api/admin/invites', 'read', 'no', 'yes', 'sign-up invitations and their state'),
  'users.invite': p(
    'POST',
    '/api/admin/invites',
    'write',
    'no',
    'yes',
    'create a single-use sign-up invitation (plain user; optional e-mail and group); audited',
  ),
  'invites.revoke': p('POST', '/api/admin/invites/:id/revoke', 'write', 'no', 'yes', 'revoke an unused sign-up invitation; audited'),
  'users.resendVerification': p(
    'POST',
    '/api/admin/users/:id/resend-verification',
    'write',
    'yes',
    'yes',
    'mail a user a new e-mail verification link; audited',
  ),
  // Teams
  'teams.list': p('GET', '/api/admin/teams', 'read', 'yes', 'yes', 'teams, their owners and wallets'),
  'teams.get': p(
    'GET',
    '/api/admin/teams/:id',
    'read',
    'yes',
    'yes',
    "a team: members, roles, budgets, wallet, every member's spend this period and team keys",
  ),
  'teams.compensate': p('POST', '/api/admin/teams/:id/compensate', 'money', 'no', 'yes', "goodwill compensation to a team's wallet, with a ticket", true),
  'ledger.verify': p('GET', '/api/admin/ledger/verify', 'read', 'yes', 'yes', 'verify the books'),
  // Orders and payments
  'orders.list': p('GET', '/api/admin/orders', 'read', 'yes', 'yes', 'orders and queues'),
  'orders.get': p('GET', '/api/admin/orders/:id', 'read', 'yes', 'yes', "an order's timeline, trades and refunds"),
  'orders.check': p(
    'POST',
    '/api/admin/support/orders/:id/check',
    'write',
    'yes',
    'yes',
    'check an order with its provider (credits only what the provider confirms)',
  ),
  'orders.reconcile': p('POST', '/api/admin/orders/:id/reconcile', 'write', 'yes', 'yes', 'reconcile one order with its provider'),
  'payments.reconcile': p('POST', '/api/admin/payments/reconcile', 'write', 'yes', 'yes', 'reconcile every open order'),
  'orders.fail': p('POST', '/api/admin/orders/:id/fail', 'write', 'yes', 'yes', 'mark an unpaid order failed'),
  'orders.credit': p(
    'POST',
    '/api/admin/orders/:id/credit',
    'money',
    'provider',
    'yes',
    'credit an order by hand (the provider is asked first; an admin may force "not paid" with a reason)',
    true,
  ),
  'orders.refund': p(
    'POST',
    '/api/admin/orders/:id/refund',
    'money',
    'limit',
    'yes',
    'refund an order to the payer (force, booking a shortfall to uncollected: admin only)',
    true,
  ),
  'trades.refund': p('POST', '/api/admin/payments/trades/:trade/refund', 'money', 'limit', 'yes', 'refund a duplicate payment to the payer', true),
  'trades.keep': p('POST', '/api/admin/payments/trades/:trade/keep', 'money', 'limit', 'yes', 'keep a duplicate payment as balance', true),
  // Approvals (the second person)
  'approvals.list': p('GET', '/api/admin/approvals', 'read', 'yes', 'yes', 'money actions waiting for approval, and decided ones'),
  'approvals.get': p('GET', '/api/admin/approvals/:id', 'read', 'yes', 'yes', 'one approval request'),
  'approvals.approve': p(
    'POST',
    '/api/admin/approvals/:id/approve',
    'money',
    'no',
    'yes',
    "approve a support request (not one's own, not for one's own account); it runs once",
    true,
  ),
  'approvals.reject': p('POST', '/api/admin/approvals/:id/reject', 'write', 'no', 'yes', 'reject a support request, with a reason'),
  // Support work
  'tickets.list': p('GET', '/api/admin/tickets', 'read', 'yes', 'yes', 'tickets'),
  'tickets.get': p('GET', '/api/admin/tickets/:id', 'read', 'yes', 'yes', 'one ticket'),
  'tickets.reply': p('POST', '/api/admin/tickets/:id/messages', 'write', 'yes', 'yes', 'reply to a ticket'),
  'tickets.status': p('POST', '/api/admin/tickets/:id/status', 'write', 'yes', 'yes', "change a ticket's status or assignee"),
  'tickets.handoff': p('PUT', '/api/admin/tickets/:id/handoff', 'write', 'yes', 'yes', 'write a handoff note'),
  'audit.list': p('GET', '/api/admin/audit', 'read', 'yes', 'yes', 'the audit trail'),
  // Gateway configuration
  'channels.list': p('GET', '/api/admin/channels', 'read', 'yes', 'yes', 'channels and their health'),
  'channels.create': p('POST', '/api/admin/channels', 'write', 'no', 'yes', 'add a channel'),
  'channels.update': p(
    'PATCH',
    '/api/admin/channels/:id',
    'write',
    'no',
    'yes',
    'change a channel: name, URL, models, map, priority, weight, timeouts, api-version, keys (rotate, add, remove)',
  ),
  'channels.action': p('POST', '/api/admin/channels/:id/:action', 'write', 'no', 'yes', 'test, disable or enable a channel'),
  'models.list': p('GET', '/api/admin/models', 'read', 'yes', 'yes', 'model prices'),
  'models.set': p('POST', '/api/admin/models', 'write', 'no', 'yes', 'set a model price'),
  'groups.list': p('GET', '/api/admin/groups', 'read', 'yes', 'yes', 'pricing groups'),
  'groups.set': p('POST', '/api/admin/groups', 'write', 'no', 'yes', 'create or change a pricing group'),
  'requests.get': p('GET', '/api/admin/requests/:requestId', 'read', 'yes', 'yes', "any request's billing arithmetic"),
  // Redeem codes
  'redeem.generate': p('POST', '/api/admin/redeem/batches', 'money', 'no', 'yes', 'generate redeem codes (prints them once)'),
  'redeem.batches': p('GET', '/api/admin/redeem/batches', 'read', 'yes', 'yes', 'redeem batches'),
  'redeem.codes': p('GET', '/api/admin/redeem/batches/:id/codes', 'read', 'yes', 'yes', "a batch's codes (masked) and redemptions"),
  'redeem.disableBatch': p('POST', '/api/admin/redeem/batches/:id/disable', 'write', 'no', 'yes', 'disable a batch'),
  'redeem.disableCode': p('POST', '/api/admin/redeem/codes/:id/disable', 'write', 'no', 'yes', 'disable a code'),
  'redeem.reverse': p(
    'POST',
    '/api/admin/redeem/redemptions/:id/reverse',
    'write',
    'no',
    'yes',
    'reverse a redemption (takes the credit back; creates no money)',
  ),
  'redeem.attempts': p('GET', '/api/admin/redeem/attempts', 'read', 'yes', 'yes', 'redeem attempts of a user, code or IP'),
  // Operator dashboard (src/ops)
  'stats.view': p(
    'GET',
    '/api/admin/stats',
    'read',
    'no',
    'yes',
    'the dashboard: top-ups, redemptions, spend, refunds, compensation, margin by day, model, channel, group, user',
  ),
  'requests.search': p(
    'GET',
    '/api/admin/requests',
    'read',
    'yes',
    'yes',
    'search the request log across users (support: e-mails masked; client IPs left out)',
  ),
  // Account administration (issue 17 C): support may sign a user out (a lost device); the rest is an admin's.
  'users.disable': p(
    'POST',
    '/api/admin/users/:id/disable',
    'write',
    'no',
    'yes',
    'disable an account, with a reason: sign-in refused, sessions ended, its keys refused at once on every instance; audited',
    true,
  ),
  'users.enable': p('POST', '/api/admin/users/:id/enable', 'write', 'no', 'yes', 'enable a disabled account again; audited'),
  'users.group': p('POST', '/api/admin/users/:id/group', 'write', 'no', 'yes', 'move a user to another pricing group (from the next request); audited', true),
  'users.role': p('POST', '/api/admin/users/:id/role', 'write', 'no', 'yes', "change a user's role, with a reason; their sessions end; audited", true),
  'users.signOut': p('POST', '/api/admin/users/:id/sign-out', 'write', 'yes', 'yes', 'sign a user out everywhere (API keys keep working); audited'),
} satisfies Record<string, Permission>;

export type StaffAction = keyof typeof PERMISSIONS;

/** The roles a session needs for an action (the admin token is always allowed). */
export function rolesFor(action: StaffAction): Array<'support' | 'admin'> {
  const e: Permission = PERMISSIONS[action];
  return [...(e.support !== 'no' ? ['support' as const] : []), ...(e.admin !== 'no' ? ['admin' as const] : [])];
}

export const SUPPORT_APPROVAL_DEFAULT = '10.00';

/** TALLY_SUPPORT_APPROVAL_ABOVE, in micro-units of the platform currency ("0" = every support money action needs approval). */
export function supportApprovalLimit(env: { TALLY_SUPPORT_APPROVAL_ABOVE?: string }): bigint {
  return parseMoney(env.TALLY_SUPPORT_APPROVAL_ABOVE ?? SUPPORT_APPROVAL_DEFAULT, { field: 'TALLY_SUPPORT_APPROVAL_ABOVE' });
}

export const isOperator = (a: Actor) => a.type === 'admin_token' || a.type === 'cli' || a.type === 'system';

/** What an actor's role gets for an action: the operator and admins act; support per the table. */
export function accessOf(actor: Actor, action: StaffAction): Access {
  if (isOperator(actor)) return 'yes';
  if (actor.type !== 'user' || actor.role === 'user') return 'no';
  const e: Permission = PERMISSIONS[action];
  return actor.role === 'admin' ? e.admin : e.support;
}

export function selfActionForbidden(what: string) {
  return new TallyError('self_action_forbidden', `staff cannot ${what} on their own account; ask another admin to do it`);
}

/** Nobody acts on their own account: a staff session whose user is the target is refused (the operator has no account). */
export function assertNotSelf(actor: Actor, targetUserId: string | null | undefined, what: string): void {
  if (actor.type === 'user' && targetUserId && actor.userId === targetUserId) throw selfActionForbidden(what);
}

const forbidden = (action: StaffAction) => new TallyError('forbidden', `this needs the admin role (${PERMISSIONS[action].what})`);

/**
 * The decision for a money action with a value (in platform micro-units):
 * `act` now, or `approval` (a support caller above the limit). Throws 403 for a role that may not ask at all, or
 * when the target is the caller's own account.
 */
export function decideMoneyAction(
  actor: Actor,
  action: StaffAction,
  input: { targetUserId: string | null; value: bigint; limit: bigint; what: string },
): 'act' | 'approval' {
  const access = accessOf(actor, action);
  if (access === 'no') throw forbidden(action);
  if (PERMISSIONS[action] && (PERMISSIONS[action] as Permission).self) assertNotSelf(actor, input.targetUserId, input.what);
  if (access === 'limit') return input.value > input.limit ? 'approval' : 'act';
  return 'act';
}

export function approvalRequired(action: StaffAction, value: bigint, limit: bigint) {
  return new TallyError(
    'approval_required',
    `${PERMISSIONS[action].what}: ${formatMoney(value)} is above the support limit of ${formatMoney(limit)} (TALLY_SUPPORT_APPROVAL_ABOVE); request an approval instead`,
  );
}

const ACCESS_TEXT: Record<Access, string> = {
  yes: 'yes',
  no: 'no',
  limit: 'alone up to the limit¹, approval above',
  provider: 'when the provider confirms²',
};

/** The role table as Markdown (the README's copy is printed from this). */
export function permissionTableMarkdown(): string {
  const rows = Object.entries(PERMISSIONS).map(([name, raw]) => {
    const e: Permission = raw;
    const admin = ACCESS_TEXT[e.admin] + (e.self ? ', not own account' : '');
    const support = ACCESS_TEXT[e.support] + (e.self && e.support !== 'no' ? ', not own account' : '');
    return `| \`${e.method} ${e.path}\` | ${e.what} | ${e.kind === 'read' ? 'read' : e.kind === 'money' ? 'money' : 'change'} | no | ${support} | ${admin} | yes | \`${name}\` |`;
  });
  return [
    '| route | what | kind | user | support | admin | admin token / CLI | name |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `¹ \`TALLY_SUPPORT_APPROVAL_ABOVE\` (default ${SUPPORT_APPROVAL_DEFAULT}, in the platform currency; compared with the credit the action moves). Above it the call answers 202 \`approval_pending\` and waits for an admin other than the requester.`,
    '² Support may credit by hand only what the provider confirms as paid. When the provider cannot be asked, the call answers 202 `approval_pending`; when it says "not paid", 409 `provider_says_not_paid` (an admin may force it with `force: true` and a reason).',
    '"Not own account": 403 `self_action_forbidden` when the target is the caller\'s own user id. A plain user session gets 403 `forbidden` on every row; no credentials, 401.',
  ].join('\n');
}
