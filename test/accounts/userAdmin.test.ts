// Staff account administration (POST /api/admin/users/:id/disable, /enable,
// /group, /role, /sign-out): a disabled user's key is refused at once (it was
// cached), their sessions end and sign-in is refused; enabled, the key works
// again; a new group prices the very next request; a new role ends the
// sessions; every change is audited with its reason; bad input and one's own
// account change nothing. On SQLite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { asAdminToken, login, send, expectError, expectJson, type Fetcher } from './http.ts';
import { startMockOpenAI, mockUsageFor, toUsage, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { requestLogRow, verifyThenClose } from '../helpers/relay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice, computeCost, type ModelPrice } from '../../src/gateway/pricing.ts';
import { upsertGroup } from '../../src/gateway/groups.ts';
import { toBig } from '../../src/ledger/index.ts';

const CHAT = 'gpt-4o-mini';
const messages = [{ role: 'user' as const, content: 'How much did I spend today?' }];

for (const dialect of testDialects()) {
  describe(`user administration on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let price: ModelPrice;
    let admin: { id: string; f: Fetcher };
    let support: { id: string; f: Fetcher };

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockOpenAI();
      price = await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 2_500_000n, outputPer1M: 10_000_000n });
      await createChannel(t.ctx.db, t.config.secret, { name: 'mock', type: 'openai', baseUrl: mock.url, apiKey: 'sk-upstream-0123456789', models: [CHAT] });
      await upsertGroup(t.ctx.db, { name: 'double', multiplierPpm: 2_000_000n, models: null });
      await t.ctx.catalog.reload();
      const a = await seedUser(t, { role: 'admin' });
      admin = { id: a.user.id, f: await signIn(t, a.email, a.password) };
      const s = await seedUser(t, { role: 'support' });
      support = { id: s.user.id, f: await signIn(t, s.email, s.password) };
    });
    after(() => verifyThenClose(t, mock));

    /** One chat request with a key: the HTTP status and the error code (null when it passed), and the request id. */
    async function ask(apiKey: string) {
      const res = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: CHAT, messages }),
      });
      const body: any = await res.json();
      return { status: res.status, code: (body.error?.code as string) ?? null, rid: res.headers.get('x-request-id') };
    }
    const audit = (target: string, action: string) =>
      t.ctx.db.selectFrom('audit_log').selectAll().where('target', '=', target).where('action', '=', action).orderBy('id').execute();
    const statusOf = async (id: string) =>
      await t.ctx.db.selectFrom('users').select(['status', 'group_name', 'role']).where('id', '=', id).executeTakeFirstOrThrow();

    test('disable: the cached key is refused with account_disabled at once, sessions end, sign-in refused; enable: all works again', async () => {
      const u = await seedUser(t, { balance: 5_000_000n });
      const session = await signIn(t, u.email, u.password);
      assert.equal((await ask(u.apiKey)).status, 200); // the key is now in this instance's cache

      const r = await expectJson(await send(admin.f, 'POST', `/api/admin/users/${u.user.id}/disable`, { reason: 'chargeback fraud, ticket 41' }));
      assert.equal(r.status, 'disabled');
      assert.equal(r.changed, true);
      assert.equal(r.sessions_ended, 1);
      assert.equal(r.disabled_reason, 'chargeback fraud, ticket 41');
      assert.ok(Date.parse(r.disabled_at));

      assert.deepEqual(await ask(u.apiKey).then((x) => [x.status, x.code]), [403, 'account_disabled']);
      await expectError(await session('/api/me'), 401, 'not_signed_in');
      await expectError(await login(t, u.email, u.password), 403, 'account_disabled');
      const view = await expectJson(await admin.f(`/api/admin/users/${u.user.id}`));
      assert.equal(view.status, 'disabled');
      assert.equal(view.disabled_reason, 'chargeback fraud, ticket 41');
      const rows = await audit(u.user.id, 'user.disable');
      assert.equal(rows.length, 1);
      assert.equal(rows[0].actor, `user:${admin.id}`);
      assert.equal(rows[0].reason, 'chargeback fraud, ticket 41');

      // Disabling again changes nothing and writes no second audit row.
      const again = await expectJson(await send(admin.f, 'POST', `/api/admin/users/${u.user.id}/disable`, { reason: 'twice' }));
      assert.equal(again.changed, false);
      assert.equal((await audit(u.user.id, 'user.disable')).length, 1);

      const en = await expectJson(await send(admin.f, 'POST', `/api/admin/users/${u.user.id}/enable`, { reason: 'bank confirmed the payment' }));
      assert.deepEqual([en.status, en.changed, en.disabled_reason, en.disabled_at], ['active', true, null, null]);
      assert.equal((await ask(u.apiKey)).status, 200);
      await expectError(await session('/api/me'), 401, 'not_signed_in'); // the old session stays ended
      await expectJson(await login(t, u.email, u.password));
      const enRows = await audit(u.user.id, 'user.enable');
      assert.equal(enRows.length, 1);
      assert.equal(enRows[0].reason, 'bank confirmed the payment');
    });

    test('a new group prices the very next request with its multiplier', async () => {
      const u = await seedUser(t, { balance: 5_000_000n });
      const first = await ask(u.apiKey);
      assert.equal(first.status, 200);
      const usage = toUsage(mockUsageFor({ model: CHAT, messages }));
      const base = computeCost(price, usage, 1_000_000n);
      assert.equal(toBig((await requestLogRow(t, first.rid)).cost), base);

      const r = await expectJson(await send(admin.f, 'POST', `/api/admin/users/${u.user.id}/group`, { group: 'double', reason: 'reseller contract' }));
      assert.deepEqual([r.group, r.changed], ['double', true]);
      const second = await ask(u.apiKey);
      assert.equal(second.status, 200);
      const row = await requestLogRow(t, second.rid);
      assert.equal(row.group_name, 'double');
      assert.equal(toBig(row.cost), computeCost(price, usage, 2_000_000n));
      assert.ok(toBig(row.cost) >= base * 2n - 1n && toBig(row.cost) > base, 'twice the price, rounded up once');
      const rows = await audit(u.user.id, 'user.set_group');
      assert.equal(rows.length, 1);
      assert.deepEqual(
        [JSON.parse(rows[0].before_state!), JSON.parse(rows[0].after_state!), rows[0].reason],
        [{ group: 'default' }, { group: 'double' }, 'reseller contract'],
      );

      // An unknown or malformed group changes nothing.
      await expectError(await send(admin.f, 'POST', `/api/admin/users/${u.user.id}/group`, { group: 'dubble' }), 404, 'group_not_found', 'group');
      await expectError(await send(admin.f, 'POST', `/api/admin/users/${u.user.id}/group`, { group: 'no spaces!' }), 400, 'invalid_group', 'group');
      assert.equal((await statusOf(u.user.id)).group_name, 'double');
    });

    test("a role change ends that user's sessions (they sign in again under the new role); audited", async () => {
      const u = await seedUser(t);
      const session = await signIn(t, u.email, u.password);
      await expectError(await session('/api/admin/users'), 403, 'forbidden');
      const r = await expectJson(await send(admin.f, 'POST', `/api/admin/users/${u.user.id}/role`, { role: 'support', reason: 'joins the support team' }));
      assert.deepEqual([r.role, r.changed, r.sessions_ended], ['support', true, 1]);
      await expectError(await session('/api/me'), 401, 'not_signed_in');
      const again = await signIn(t, u.email, u.password);
      assert.equal((await expectJson(await again('/api/me'))).role, 'support');
      await expectJson(await again('/api/admin/users'));
      const rows = await audit(u.user.id, 'user.set_role');
      assert.deepEqual([rows.length, rows[0].reason, JSON.parse(rows[0].after_state!).role], [1, 'joins the support team', 'support']);
      await expectError(await send(admin.f, 'POST', `/api/admin/users/${u.user.id}/role`, { role: 'owner', reason: 'x' }), 400, 'invalid_role', 'role');
      await expectError(await send(admin.f, 'POST', `/api/admin/users/${u.user.id}/role`, { role: 'admin' }), 400, 'reason_required', 'reason');
      assert.equal((await statusOf(u.user.id)).role, 'support');
    });

    test('sign out everywhere: support may, every session ends, the API key keeps working', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const s1 = await signIn(t, u.email, u.password);
      const s2 = await signIn(t, u.email, u.password);
      const r = await expectJson(await send(support.f, 'POST', `/api/admin/users/${u.user.id}/sign-out`, { reason: 'lost laptop' }));
      assert.deepEqual([r.sessions_ended, r.status], [2, 'active']);
      assert.ok(r.email.includes('***'), 'support sees the e-mail masked');
      await expectError(await s1('/api/me'), 401, 'not_signed_in');
      await expectError(await s2('/api/me'), 401, 'not_signed_in');
      assert.equal((await ask(u.apiKey)).status, 200);
      const rows = await audit(u.user.id, 'user.sign_out');
      assert.deepEqual([rows.length, rows[0].actor, rows[0].reason], [1, `user:${support.id}`, 'lost laptop']);
      // Support may not disable.
      await expectError(await send(support.f, 'POST', `/api/admin/users/${u.user.id}/disable`, { reason: 'spam' }), 403, 'forbidden');
      assert.equal((await statusOf(u.user.id)).status, 'active');
    });

    test("refused and changing nothing: no reason, one's own account, an unknown user", async () => {
      const u = await seedUser(t);
      const session = await signIn(t, u.email, u.password);
      await expectError(await send(admin.f, 'POST', `/api/admin/users/${u.user.id}/disable`, {}), 400, 'reason_required', 'reason');
      await expectError(await send(admin.f, 'POST', `/api/admin/users/${u.user.id}/disable`, { reason: '   ' }), 400, 'reason_required', 'reason');
      await expectError(await send(admin.f, 'POST', `/api/admin/users/${u.user.id}/disable`, { reason: 'x'.repeat(501) }), 400, 'reason_too_long', 'reason');
      await expectError(await send(admin.f, 'POST', `/api/admin/users/${u.user.id}/disable`, { reason: 42 }), 400, 'invalid_request', 'reason');
      assert.equal((await statusOf(u.user.id)).status, 'active');
      await expectJson(await session('/api/me'));
      assert.equal((await audit(u.user.id, 'user.disable')).length, 0);

      const own = await expectError(await send(admin.f, 'POST', `/api/admin/users/${admin.id}/disable`, { reason: 'testing' }), 403, 'self_action_forbidden');
      assert.match(own.message, /another admin/);
      await expectJson(await admin.f('/api/me'));
      await expectError(await send(admin.f, 'POST', `/api/admin/users/${admin.id}/group`, { group: 'double' }), 403, 'self_action_forbidden');
      await expectError(await send(admin.f, 'POST', `/api/admin/users/${admin.id}/role`, { role: 'user', reason: 'x' }), 403, 'self_action_forbidden');
      assert.deepEqual(await statusOf(admin.id), { status: 'active', group_name: 'default', role: 'admin' });

      await expectError(await send(admin.f, 'POST', '/api/admin/users/usr_nobody/disable', { reason: 'spam' }), 404, 'user_not_found');
      // The operator's token (no account of its own) may, by e-mail too.
      const r = await expectJson(await asAdminToken(t, 'POST', `/api/admin/users/${encodeURIComponent(u.email)}/disable`, { reason: 'operator' }));
      assert.equal(r.status, 'disabled');
      assert.equal((await audit(u.user.id, 'user.disable'))[0].actor, 'admin_token');
    });
  });
}
