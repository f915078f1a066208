// Who may do what in a team: only owners and admins manage members, an admin
// cannot touch an owner nor make one, the last owner cannot leave, outsiders
// see nothing (404), plain members cannot fund the team in its name; and a
// removed member's team keys stop at once. SQLite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { relaySdk } from '../helpers/relay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { listAudit } from '../../src/audit/index.ts';
import { startPayWorld, admin, json, assertLedgerOk, type PayWorld } from '../payments/helpers.ts';
import { call, person, team, teamKey } from './helpers.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';
const CHAT = 'gpt-4o-mini';

for (const dialect of testDialects()) {
  describe(`team roles and removal on ${dialect}`, () => {
    let w: PayWorld;
    let mock: MockOpenAI;

    before(async () => {
      w = await startPayWorld(dialect);
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY });
      await createChannel(w.t.ctx.db, w.t.config.secret, { name: 'primary', type: 'openai', baseUrl: mock.url, apiKey: UPSTREAM_KEY, models: [CHAT] });
      await setModelPrice(w.t.ctx.db, { model: CHAT, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n });
      await w.t.ctx.catalog.reload();
    });
    after(async () => {
      try {
        await w.t.ctx.relay.flush();
        await assertLedgerOk(w.t);
      } finally {
        await w?.close();
        await mock?.close();
      }
    });

    test('members cannot manage, admins cannot touch owners, the last owner stays, outsiders get 404', async () => {
      const t = w.t;
      const [owner, adm, mem, outsider, extra] = [await person(t), await person(t), await person(t), await person(t), await person(t)];
      const tm = await team(owner, `roles ${dialect}`, [{ p: adm, role: 'admin' }, { p: mem }]);
      const detail = await call(owner.f, 'GET', `/api/teams/${tm.id}`);
      const id = (p: { userId: string }) => detail.members.find((m: any) => m.user_id === p.userId).id as string;

      // A plain member manages nothing.
      await call(mem.f, 'POST', `/api/teams/${tm.id}/members`, { email: extra.email }, 403);
      await call(mem.f, 'PATCH', `/api/teams/${tm.id}/members/${id(adm)}`, { role: 'member' }, 403);
      await call(mem.f, 'DELETE', `/api/teams/${tm.id}/members/${id(adm)}`, undefined, 403);
      // Nor funds the team in its name.
      await call(mem.f, 'POST', '/api/orders', { amount: '5.00', provider: 'sandbox', team: tm.id }, 403);
      await call(mem.f, 'POST', '/api/redeem', { code: 'ABCD-EFGH-JKLM-NPQR', team: tm.id }, 403);

      // An admin adds members, but cannot make an owner, demote or remove the owner.
      await call(adm.f, 'POST', `/api/teams/${tm.id}/members`, { email: extra.email, role: 'owner' }, 403);
      await call(adm.f, 'PATCH', `/api/teams/${tm.id}/members/${id(owner)}`, { role: 'member' }, 403);
      await call(adm.f, 'DELETE', `/api/teams/${tm.id}/members/${id(owner)}`, undefined, 403);
      await call(adm.f, 'PATCH', `/api/teams/${tm.id}/members/${id(owner)}`, { budget: '1.00' }, 403);
      const added = await call(adm.f, 'POST', `/api/teams/${tm.id}/members`, { email: extra.email, budget: '3.00', budget_period: 'day' }, 201);
      assert.equal(added.role, 'member');
      await call(adm.f, 'POST', `/api/teams/${tm.id}/members`, { email: extra.email }, 409);

      // The last owner cannot leave, be demoted, or be removed by staff.
      const left = await call(owner.f, 'POST', `/api/teams/${tm.id}/leave`, undefined, 409);
      assert.equal(left.error?.code ?? left.code, 'last_team_owner');
      await call(owner.f, 'PATCH', `/api/teams/${tm.id}/members/${id(owner)}`, { role: 'admin' }, 409);
      // With a second owner, the first may leave.
      await call(owner.f, 'PATCH', `/api/teams/${tm.id}/members/${id(adm)}`, { role: 'owner' }, 200);
      await call(owner.f, 'POST', `/api/teams/${tm.id}/leave`, undefined, 200);
      await call(owner.f, 'GET', `/api/teams/${tm.id}`, undefined, 404);

      // Outsiders: the same 404 as for a team that does not exist, and no team keys.
      await call(outsider.f, 'GET', `/api/teams/${tm.id}`, undefined, 404);
      await call(outsider.f, 'GET', '/api/teams/team_00000000000000000000', undefined, 404);
      await call(outsider.f, 'POST', '/api/keys', { team: tm.id }, 404);
      await call(outsider.f, 'POST', `/api/teams/${tm.id}/members`, { email: outsider.email }, 404);
      // Staff pages are not for users.
      await call(mem.f, 'GET', '/api/admin/teams', undefined, 403);

      const actions = (await listAudit(t.ctx.db, { target: `team:${tm.id}` })).map((x) => x.action);
      for (const a of ['team.create', 'team.member.add', 'team.member.role', 'team.member.leave'])
        assert.ok(actions.includes(a), `audit lacks ${a}: ${actions}`);
    });

    test("removal revokes the member's team keys at once, and only those", async () => {
      const t = w.t;
      const [owner, mem] = [await person(t), await person(t, { balance: 1_000_000n })];
      const tm = await team(owner, `removal ${dialect}`, [{ p: mem }]);
      await json(await admin(t, 'POST', `/api/admin/teams/${tm.id}/compensate`, { amount: '1.00', reason: 'launch', ticket: 'TCK-R1' }));
      const tk = await teamKey(mem, tm.id);
      const personal = await call(mem.f, 'POST', '/api/keys', { name: 'mine' }, 201);
      const viaTeam = relaySdk(t, tk.key);
      const viaOwn = relaySdk(t, personal.key);
      await viaTeam.chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'hello' }], max_tokens: 8 }); // cached now
      const detail = await call(owner.f, 'GET', `/api/teams/${tm.id}`);
      const memberId = detail.members.find((m: any) => m.user_id === mem.userId).id;
      const removed = await call(owner.f, 'DELETE', `/api/teams/${tm.id}/members/${memberId}`);
      assert.equal(removed.status, 'removed');
      assert.equal(removed.keys_revoked, 1);
      await assert.rejects(viaTeam.chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'again' }], max_tokens: 8 }), (e: any) => {
        assert.equal(e.status, 401);
        assert.equal(e.code, 'api_key_revoked');
        return true;
      });
      // Their own key (and wallet) are theirs still.
      await viaOwn.chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'mine' }], max_tokens: 8 });
      const row = await t.ctx.db.selectFrom('api_keys').select(['status', 'revoked_at']).where('id', '=', tk.id).executeTakeFirstOrThrow();
      assert.equal(row.status, 'revoked');
      const audit = await listAudit(t.ctx.db, { target: `team:${tm.id}`, action: 'team.member.remove' });
      assert.equal(audit.length, 1);
      // Added again later, the old key stays revoked.
      await call(owner.f, 'POST', `/api/teams/${tm.id}/members`, { email: mem.email }, 201);
      await assert.rejects(viaTeam.chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'back' }], max_tokens: 8 }));
    });
  });
}
