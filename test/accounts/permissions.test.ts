import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { testDialects } from '../helpers/db.ts';
import { ADMIN_TOKEN } from '../helpers/tally.ts';
import { call, send, type Fetcher } from './http.ts';
import { PERMISSIONS, permissionTableMarkdown, type StaffAction, type Permission } from '../../src/support/permissions.ts';
import { startPayWorld, customer, order, json, sandboxPay, assertLedgerOk, type PayWorld, type Customer } from '../payments/helpers.ts';

// The role table (src/support/permissions.ts), cell by cell: every staff route
// called as no one, a plain user, support, an admin and the admin token, each
// call on fresh state so that an allowed call really succeeds. Then the cells
// for one's own account, and that the table covers every /api/admin route.

type Caller = 'none' | 'user' | 'support' | 'admin' | 'admin_token';
const CALLERS: Caller[] = ['none', 'user', 'support', 'admin', 'admin_token'];

interface Fx {
  path: string;
  body?: unknown;
  ok?: number[];
}

/** The routes fastify registered, from its route tree (printRoutes nests shared prefixes). */
function registeredRoutes(tree: string): Array<{ method: string; path: string }> {
  const out: Array<{ method: string; path: string }> = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([^)]+)\))?/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    stack[depth] = m[2];
    const path = stack.join('');
    for (const method of (m[3] ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x && x !== 'HEAD'))
      out.push({ method, path });
  }
  return out;
}

for (const dialect of testDialects()) {
  describe(`the role table, every cell, on ${dialect}`, () => {
    let w: PayWorld;
    let fetchers: Record<Exclude<Caller, 'none' | 'admin_token'>, Fetcher>;
    let staff: { support: Customer; admin: Customer; requester: Customer };
    let shared: { userId: string; ticketId: string; batchId: string; approvalId: string; orderId: string };

    const asCaller = (caller: Caller, method: string, path: string, body?: unknown) => {
      const b = body ?? (method === 'GET' ? undefined : {});
      if (caller === 'none') return call(w.t, method, path, b);
      if (caller === 'admin_token') return call(w.t, method, path, b, { 'x-admin-token': ADMIN_TOKEN });
      return send(fetchers[caller], method, path, b);
    };
    const admin = (method: string, path: string, body?: unknown) => asCaller('admin_token', method, path, body);

    async function paidOrder(c: Customer, amount: string, outcome: 'succeed' | 'never' = 'succeed') {
      const o = await order(c, { amount });
      await json(await sandboxPay(w.t, o.id, outcome));
      return o;
    }
    async function duplicateTrade(c: Customer) {
      const o = await paidOrder(c, '1.00');
      return (await json(await sandboxPay(w.t, o.id, 'pay_again'))).trade_id as string;
    }
    /** A support request waiting for approval (compensation above the limit), asked by a support user who is not a caller here. */
    async function pendingApproval(userId: string) {
      const r = await json(
        await send(staff.requester.f, 'POST', `/api/admin/users/${userId}/compensate`, { amount: '20.00', reason: 'outage credit', ticket: 'TCK-1' }),
        202,
      );
      return r.approval.id as string;
    }
    async function redemption() {
      const b = await json(await admin('POST', '/api/admin/redeem/batches', { count: 1, amount: '1.00' }), 201);
      const c = await customer(w.t);
      const r = await json(await c.f('/api/redeem', { method: 'POST', body: JSON.stringify({ code: b.codes[0].code }) }));
      return (r.redemption?.id ?? r.redemption_id ?? r.id) as string;
    }

    const fixtures: Record<StaffAction, () => Promise<Fx>> = {
      'users.list': async () => ({ path: '/api/admin/users' }),
      'users.get': async () => ({ path: `/api/admin/users/${shared.userId}` }),
      'users.ledger': async () => ({ path: `/api/admin/users/${shared.userId}/ledger` }),
      'users.requests': async () => ({ path: `/api/admin/users/${shared.userId}/requests` }),
      'users.diagnose': async () => ({ path: `/api/admin/users/${shared.userId}/diagnose` }),
      'tasks.list': async () => ({ path: `/api/admin/tasks?user=${shared.userId}` }),
      // Past the permission check the lookup answers: no such task (a 404, not the 403 a refused role gets).
      'tasks.get': async () => ({ path: '/api/admin/tasks/video_00000000000000000000000000', ok: [404] }),
      'users.create': async () => ({ path: '/api/admin/users', body: { email: `n${Math.random().toString(36).slice(2)}@test.io` }, ok: [201] }),
      'users.credit': async () => ({ path: `/api/admin/users/${shared.userId}/credit`, body: { amount: '1.00', reason: 'bank transfer' } }),
      'users.compensate': async () => ({
        path: `/api/admin/users/${shared.userId}/compensate`,
        body: { amount: '1.00', reason: 'slow callback', ticket: 'TCK-2' },
      }),
      'users.limits': async () => ({ path: `/api/admin/users/${shared.userId}/limits`, body: { rpm: 600 } }),
      'users.reveal': async () => ({ path: `/api/admin/users/${shared.userId}/reveal`, body: { field: 'email', reason: 'verify identity' } }),
      'teams.list': async () => ({ path: '/api/admin/teams' }),
      // Past the permission check the lookup answers: no such team (404, not the 403 a refused role gets).
      'teams.get': async () => ({ path: '/api/admin/teams/team_00000000000000000000', ok: [404] }),
      'teams.compensate': async () => ({
        path: '/api/admin/teams/team_00000000000000000000/compensate',
        body: { amount: '1.00', reason: 'outage', ticket: 'TCK-3' },
        ok: [404],
      }),
      'ledger.verify': async () => ({ path: '/api/admin/ledger/verify' }),
      'orders.list': async () => ({ path: '/api/admin/orders' }),
      'orders.get': async () => ({ path: `/api/admin/orders/${shared.orderId}` }),
      'orders.check': async () => ({
        path: `/api/admin/support/orders/${(await order(await customer(w.t), { amount: '1.00' })).id}/check`,
        body: { reason: 'customer asked' },
      }),
      'orders.reconcile': async () => ({ path: `/api/admin/orders/${shared.orderId}/reconcile` }),
      'payments.reconcile': async () => ({ path: '/api/admin/payments/reconcile' }),
      'orders.fail': async () => ({
        path: `/api/admin/orders/${(await order(await customer(w.t), { amount: '1.00' })).id}/fail`,
        body: { reason: 'customer gave up' },
      }),
      // The sandbox confirms the payment (its callback never came), so support may credit it alone.
      'orders.credit': async () => {
        const o = await paidOrder(await customer(w.t), '2.00', 'never');
        return { path: `/api/admin/orders/${o.id}/credit`, body: { provider_reference: 'from the receipt', reason: 'receipt checked' } };
      },
      'orders.refund': async () => ({
        path: `/api/admin/orders/${(await paidOrder(await customer(w.t), '2.00')).id}/refund`,
        body: { reason: 'requested_by_customer' },
      }),
      'trades.refund': async () => ({ path: `/api/admin/payments/trades/${await duplicateTrade(await customer(w.t))}/refund`, body: { reason: 'paid twice' } }),
      'trades.keep': async () => ({ path: `/api/admin/payments/trades/${await duplicateTrade(await customer(w.t))}/keep`, body: { reason: 'keeps it' } }),
      'approvals.list': async () => ({ path: '/api/admin/approvals' }),
      'approvals.get': async () => ({ path: `/api/admin/approvals/${shared.approvalId}` }),
      'approvals.approve': async () => ({
        path: `/api/admin/approvals/${await pendingApproval(shared.userId)}/approve`,
        body: { reason: 'checked the outage' },
      }),
      'approvals.reject': async () => ({ path: `/api/admin/approvals/${await pendingApproval(shared.userId)}/reject`, body: { reason: 'not covered' } }),
      'tickets.list': async () => ({ path: '/api/admin/tickets' }),
      'tickets.get': async () => ({ path: `/api/admin/tickets/${shared.ticketId}` }),
      'tickets.reply': async () => ({ path: `/api/admin/tickets/${shared.ticketId}/messages`, body: { message: 'looking into it' }, ok: [201] }),
      'tickets.status': async () => ({ path: `/api/admin/tickets/${shared.ticketId}/status`, body: { status: 'waiting_on_user' } }),
      'tickets.handoff': async () => ({ path: `/api/admin/tickets/${shared.ticketId}/handoff`, body: { owner: 'sam', observed_symptom: 'no credit' } }),
      'audit.list': async () => ({ path: '/api/admin/audit' }),
      'channels.list': async () => ({ path: '/api/admin/channels' }),
      'channels.create': async () => ({
        path: '/api/admin/channels',
        body: {
          name: `c${Math.random().toString(36).slice(2, 8)}`,
          type: 'openai',
          base_url: 'http://127.0.0.1:9',
          api_key: 'sk-upstream',
          models: ['m-perm'],
        },
        ok: [201],
      }),
      'channels.action': async () => {
        const c = await json(
          await admin('POST', '/api/admin/channels', {
            name: `d${Math.random().toString(36).slice(2, 8)}`,
            type: 'openai',
            base_url: 'http://127.0.0.1:9',
            api_key: 'sk-upstream',
            models: ['m-perm'],
          }),
          201,
        );
        return { path: `/api/admin/channels/${c.id}/disable` };
      },
      'channels.update': async () => {
        const c = await json(
          await admin('POST', '/api/admin/channels', {
            name: `e${Math.random().toString(36).slice(2, 8)}`,
            type: 'openai',
            base_url: 'http://127.0.0.1:9',
            api_key: 'sk-upstream',
            models: ['m-perm'],
          }),
          201,
        );
        return { path: `/api/admin/channels/${c.id}`, body: { models: ['m-perm', 'm-perm-2'], add_api_keys: ['sk-upstream-2'] } };
      },
      'models.list': async () => ({ path: '/api/admin/models' }),
      'models.set': async () => ({ path: '/api/admin/models', body: { model: 'm-perm', input: '1.00', output: '2.00' } }),
      'groups.list': async () => ({ path: '/api/admin/groups' }),
      'groups.set': async () => ({ path: '/api/admin/groups', body: { name: 'perm', multiplier: '1.0' } }),
      // No such request: passing the role check is all that is asked here.
      'requests.get': async () => ({ path: '/api/admin/requests/req_doesnotexist', ok: [404] }),
      'redeem.generate': async () => ({ path: '/api/admin/redeem/batches', body: { count: 1, amount: '1.00' }, ok: [201] }),
      'redeem.batches': async () => ({ path: '/api/admin/redeem/batches' }),
      'redeem.codes': async () => ({ path: `/api/admin/redeem/batches/${shared.batchId}/codes` }),
      'redeem.disableBatch': async () => ({
        path: `/api/admin/redeem/batches/${(await json(await admin('POST', '/api/admin/redeem/batches', { count: 1, amount: '1.00' }), 201)).batch.id}/disable`,
        body: { reason: 'leaked' },
      }),
      'redeem.disableCode': async () => ({
        path: `/api/admin/redeem/codes/${(await json(await admin('POST', '/api/admin/redeem/batches', { count: 1, amount: '1.00' }), 201)).codes[0].id}/disable`,
        body: { reason: 'leaked' },
      }),
      'redeem.reverse': async () => ({ path: `/api/admin/redeem/redemptions/${await redemption()}/reverse`, body: { reason: 'sold by mistake' } }),
      'redeem.attempts': async () => ({ path: '/api/admin/redeem/attempts' }),
      'stats.view': async () => ({ path: `/api/admin/stats?from=${new Date().toISOString().slice(0, 10)}&to=${new Date().toISOString().slice(0, 10)}` }),
      'requests.search': async () => ({ path: '/api/admin/requests' }),
      'invites.list': async () => ({ path: '/api/admin/invites' }),
      'users.invite': async () => ({ path: '/api/admin/invites', body: { group: 'default' }, ok: [201] }),
      'invites.revoke': async () => ({ path: `/api/admin/invites/${(await json(await admin('POST', '/api/admin/invites', {}), 201)).id}/revoke` }),
      // Without SMTP in this world verification is off: past the permission check the answer is 409 verification_off.
      'users.resendVerification': async () => ({ path: `/api/admin/users/${shared.userId}/resend-verification`, ok: [409] }),
      // Account administration: each call on an account of its own, so an allowed call really changes it.
      'users.disable': async () => ({ path: `/api/admin/users/${(await customer(w.t)).userId}/disable`, body: { reason: 'abuse report' } }),
      'users.enable': async () => {
        const c = await customer(w.t);
        await json(await admin('POST', `/api/admin/users/${c.userId}/disable`, { reason: 'abuse report' }));
        return { path: `/api/admin/users/${c.userId}/enable`, body: { reason: 'cleared' } };
      },
      'users.group': async () => {
        await json(await admin('POST', '/api/admin/groups', { name: 'perm-users', multiplier: '1.5' }));
        return { path: `/api/admin/users/${(await customer(w.t)).userId}/group`, body: { group: 'perm-users' } };
      },
      'users.role': async () => ({ path: `/api/admin/users/${(await customer(w.t)).userId}/role`, body: { role: 'support', reason: 'joins support' } }),
      'users.signOut': async () => ({ path: `/api/admin/users/${(await customer(w.t)).userId}/sign-out`, body: { reason: 'lost laptop' } }),
    };

    before(async () => {
      w = await startPayWorld(dialect);
      const plain = await customer(w.t);
      // Staff are customers too (their own orders are paid through the sandbox as the owner), given a role.
      const staffOf = async (role: 'support' | 'admin') => {
        const c = await customer(w.t);
        await w.t.ctx.db.updateTable('users').set({ role }).where('id', '=', c.userId).execute();
        return c;
      };
      staff = { support: await staffOf('support'), admin: await staffOf('admin'), requester: await staffOf('support') };
      fetchers = { user: plain.f, support: staff.support.f, admin: staff.admin.f };
      const target = await customer(w.t);
      const { ticket } = await json(
        await target.f('/api/tickets', { method: 'POST', body: JSON.stringify({ subject: 'where is my credit', message: 'paid 2.00' }) }),
        201,
      );
      const batch = await json(await admin('POST', '/api/admin/redeem/batches', { count: 1, amount: '1.00' }), 201);
      const o = await paidOrder(target, '1.00');
      shared = { userId: target.userId, ticketId: ticket.id, batchId: batch.batch.id, approvalId: '', orderId: o.id };
      shared.approvalId = await pendingApproval(target.userId);
    });
    after(async () => {
      if (!w) return;
      try {
        await assertLedgerOk(w.t);
      } finally {
        await w.close();
      }
    });

    test('every staff route is in the table, and every table row names a registered route', () => {
      const routes = registeredRoutes(w.t.app.printRoutes({ commonPrefix: false })).filter((r) => r.path.startsWith('/api/admin'));
      const table = Object.values(PERMISSIONS).map((e: Permission) => `${e.method} ${e.path}`);
      assert.ok(routes.length >= table.length, `found only ${routes.length} routes in the tree`);
      for (const r of routes) assert.ok(table.includes(`${r.method} ${r.path}`), `${r.method} ${r.path} is not in src/support/permissions.ts`);
      for (const e of table)
        assert.ok(
          routes.some((r) => `${r.method} ${r.path}` === e),
          `${e} is in the table but not registered`,
        );
      assert.deepEqual(Object.keys(fixtures).sort(), Object.keys(PERMISSIONS).sort(), 'every row has a fixture');
    });

    test('every route answers each caller as the table says: 401 without credentials, 403 for a plain user, support per its column, admin and the admin token allowed', async () => {
      const seen: string[] = [];
      for (const [name, raw] of Object.entries(PERMISSIONS) as Array<[StaffAction, Permission]>) {
        for (const caller of CALLERS) {
          const fx = await fixtures[name]();
          const res = await asCaller(caller, raw.method, fx.path, fx.body);
          const text = await res.text();
          const cell = `${name} (${raw.method} ${raw.path}) as ${caller}: ${res.status} ${text.slice(0, 300)}`;
          const allowed = caller === 'admin' || caller === 'admin_token' || (caller === 'support' && raw.support !== 'no');
          if (caller === 'none') assert.equal(res.status, 401, cell);
          else if (!allowed) {
            assert.equal(res.status, 403, cell);
            assert.equal(JSON.parse(text).error.code, 'forbidden', cell);
          } else assert.ok((fx.ok ?? [200, 202]).includes(res.status), cell);
          seen.push(`${name}:${caller}`);
        }
      }
      assert.equal(seen.length, Object.keys(PERMISSIONS).length * CALLERS.length);
    });

    test("a money action on the caller's own account is refused to support and admin alike (403 self_action_forbidden), and the operator token is not a person", async () => {
      const self = {
        'users.credit': async (me: Customer) => ({ path: `/api/admin/users/${me.userId}/credit`, body: { amount: '999999.00', reason: 'mine' } }),
        'users.compensate': async (me: Customer) => ({
          path: `/api/admin/users/${me.userId}/compensate`,
          body: { amount: '999999.00', reason: 'mine', ticket: 'TCK-0' },
        }),
        'users.reveal': async (me: Customer) => ({ path: `/api/admin/users/${me.userId}/reveal`, body: { field: 'email', reason: 'curious about me' } }),
        'orders.credit': async (me: Customer) => ({
          path: `/api/admin/orders/${(await order(me, { amount: '5.00' })).id}/credit`,
          body: { provider_reference: 'made-up-123', reason: 'trust me' },
        }),
        'orders.refund': async (me: Customer) => ({
          path: `/api/admin/orders/${(await paidOrder(me, '1.00')).id}/refund`,
          body: { reason: 'requested_by_customer' },
        }),
        'trades.refund': async (me: Customer) => ({ path: `/api/admin/payments/trades/${await duplicateTrade(me)}/refund`, body: { reason: 'mine' } }),
        'trades.keep': async (me: Customer) => ({ path: `/api/admin/payments/trades/${await duplicateTrade(me)}/keep`, body: { reason: 'mine' } }),
        'approvals.approve': async (me: Customer) => ({
          path: `/api/admin/approvals/${await pendingApproval(me.userId)}/approve`,
          body: { reason: 'fine by me' },
        }),
        // A team the staff member owns is their own account too.
        'teams.compensate': async (me: Customer) => {
          const team = await json(
            await me.f('/api/teams', { method: 'POST', body: JSON.stringify({ name: `mine ${Math.random().toString(36).slice(2)}` }) }),
            201,
          );
          return { path: `/api/admin/teams/${team.id}/compensate`, body: { amount: '999999.00', reason: 'mine', ticket: 'TCK-0' } };
        },
        // Nobody disables, re-prices or re-roles their own account.
        'users.disable': async (me: Customer) => ({ path: `/api/admin/users/${me.userId}/disable`, body: { reason: 'mine' } }),
        'users.group': async (me: Customer) => ({ path: `/api/admin/users/${me.userId}/group`, body: { group: 'default' } }),
        'users.role': async (me: Customer) => ({ path: `/api/admin/users/${me.userId}/role`, body: { role: 'admin', reason: 'mine' } }),
      } satisfies Partial<Record<StaffAction, (me: Customer) => Promise<Fx>>>;
      const selfRows = (Object.entries(PERMISSIONS) as Array<[StaffAction, Permission]>)
        .filter(([, e]) => e.self)
        .map(([n]) => n)
        .sort();
      assert.deepEqual(Object.keys(self).sort(), selfRows);
      for (const [name, fx] of Object.entries(self) as Array<[StaffAction, (me: Customer) => Promise<Fx>]>) {
        const e: Permission = PERMISSIONS[name];
        for (const role of ['support', 'admin'] as const) {
          const me = staff[role];
          const f = await fx(me);
          const res = await send(me.f, e.method, f.path, f.body);
          const body = await res.text();
          assert.equal(res.status, 403, `${name} as ${role}: ${body}`);
          assert.equal(
            JSON.parse(body).error.code,
            role === 'support' && e.support === 'no' ? 'forbidden' : 'self_action_forbidden',
            `${name} as ${role}: ${body}`,
          );
        }
      }
      // Their wallets hold only what their own sandbox payments credited: nothing granted by hand.
      for (const role of ['support', 'admin'] as const) {
        const kinds = (
          await w.t.ctx.db.selectFrom('ledger_transfers').select('kind').where('credit_account_id', '=', `user:${staff[role].userId}`).execute()
        ).map((x) => x.kind);
        assert.deepEqual([...new Set(kinds)], ['payment'], role);
      }
    });

    test('the README role table is printed from the same table (when the README carries it)', () => {
      const md = permissionTableMarkdown();
      for (const [name, raw] of Object.entries(PERMISSIONS)) assert.ok(md.includes(`\`${raw.method} ${raw.path}\``) && md.includes(`\`${name}\``), name);
      let readme = '';
      try {
        readme = readFileSync('README.md', 'utf8');
      } catch {
        return;
      }
      const m = /<!-- role-table:start -->\n([\s\S]*?)\n<!-- role-table:end -->/.exec(readme);
      if (m)
        assert.equal(
          m[1].trim(),
          md.trim(),
          'README.md role table differs from src/support/permissions.ts: paste `tally admin permissions` between the markers',
        );
    });
  });
}
