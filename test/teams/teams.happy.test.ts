// Teams as their members use them: one team wallet spent by several members'
// team keys at once through the official openai SDK (never below its limit,
// every charge in the log and the ledger), funded by a top-up, a redeem code
// and staff compensation; invitations; views; audit rows. SQLite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { relaySdk } from '../helpers/relay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { createUser } from '../../src/accounts/users.ts';
import { getAccount, walletAccountId, toBig, formatMoney, parseMoney } from '../../src/ledger/index.ts';
import { listAudit } from '../../src/audit/index.ts';
import { startPayWorld, admin, json, sandboxPay, assertLedgerOk, type PayWorld } from '../payments/helpers.ts';
import { signIn } from '../helpers/tally.ts';
import { call, person, team, teamKey, teamWallet } from './helpers.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';
const CHAT = 'gpt-4o-mini';

for (const dialect of testDialects()) {
  describe(`teams on ${dialect}`, () => {
    let w: PayWorld;
    let mock: MockOpenAI;

    before(async () => {
      w = await startPayWorld(dialect);
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, behavior: { latencyMs: 10 } });
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

    test('members spend one team wallet at once through the openai SDK: never below zero, every charge logged', async () => {
      const t = w.t;
      const [owner, a, b] = [await person(t), await person(t), await person(t)];
      const tm = await team(owner, `spenders ${dialect}`, [{ p: a }, { p: b, role: 'admin' }]);
      assert.equal(tm.wallet_id, `team:${tm.id}`);
      // Funded by staff compensation (an admin token): about 100 requests' worth.
      const perRequest = 498n; // 7 prompt tokens x 2.5 + 48 output x 10, rounded up (as relay.concurrency.test.ts)
      const funding = perRequest * 100n;
      await json(
        await admin(t, 'POST', `/api/admin/teams/${tm.id}/compensate`, { amount: formatMoney(funding), reason: 'team launch credit', ticket: 'TCK-T1' }),
      );
      const keys = [await teamKey(owner, tm.id), await teamKey(a, tm.id), await teamKey(b, tm.id)];
      const clients = keys.map((k) => relaySdk(t, k.key));

      let minSeen = funding;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const acc = await getAccount(t.ctx.db, `team:${tm.id}`);
          if (acc.available < minSeen) minSeen = acc.available;
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      const results = await Promise.all(
        Array.from({ length: 180 }, async (_, i) => {
          try {
            await clients[i % 3].chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: `count to ${i} please` }], max_tokens: 48 });
            return { ok: true as const };
          } catch (e: any) {
            return { ok: false as const, status: e?.status, code: e?.code };
          }
        }),
      );
      sampling = false;
      await sampler;
      const wallet = await teamWallet(t, tm.id);
      const ok = results.filter((r) => r.ok).length;
      const refused = results.filter((r) => !r.ok);
      for (const r of refused) assert.equal(r.status, 402, JSON.stringify(r));
      assert.ok(ok > 0 && refused.length > 0, `${ok} served, ${refused.length} refused`);
      assert.ok(minSeen >= 0n, `the team wallet went below zero: ${minSeen}`);
      assert.ok(wallet.balance >= 0n && wallet.pendingDebits === 0n);
      const rows = await t.ctx.db
        .selectFrom('request_logs')
        .select(['key_id', 'charged_amount', 'uncollected'])
        .where(
          'key_id',
          'in',
          keys.map((k) => k.id),
        )
        .execute();
      const charged = rows.reduce((s, r) => s + toBig(r.charged_amount), 0n);
      assert.equal(charged, funding - wallet.balance, 'the team wallet lost exactly what the log says its keys were charged');
      assert.equal(
        rows.reduce((s, r) => s + toBig(r.uncollected), 0n),
        0n,
      );
      // The members' own wallets paid nothing.
      for (const p of [owner, a, b]) assert.equal((await getAccount(t.ctx.db, walletAccountId(p.userId))).balance, 0n);

      // The owner sees every member's spend this period; a plain member only their own, and only their keys.
      const full = await call(owner.f, 'GET', `/api/teams/${tm.id}`);
      assert.equal(full.role, 'owner');
      assert.equal(full.wallet.balance, formatMoney(wallet.balance));
      assert.equal(full.keys.length, 3);
      const spent = full.members.reduce((s: bigint, m: any) => s + parseMoney(m.spent_this_period), 0n);
      assert.equal(spent, charged);
      const mine = await call(a.f, 'GET', `/api/teams/${tm.id}`);
      assert.equal(mine.role, 'member');
      assert.deepEqual(
        mine.keys.map((k: any) => k.id),
        [keys[1].id],
      );
      assert.equal(mine.members.filter((m: any) => 'spent_this_period' in m).length, 1);
      const list = await call(a.f, 'GET', '/api/teams');
      assert.deepEqual(
        list.data.map((x: any) => [x.id, x.role]),
        [[tm.id, 'member']],
      );
      // Staff see it too.
      const staff = await json(await admin(t, 'GET', `/api/admin/teams/${tm.id}`));
      assert.equal(staff.members.length, 3);
    });

    test('a top-up and a redeem code for a team credit the team wallet, not the payer; a refund takes it back from there', async () => {
      const t = w.t;
      const owner = await person(t);
      const tm = await team(owner, `funded ${dialect}`);
      const o = await call(owner.f, 'POST', '/api/orders', { amount: '10.00', provider: 'sandbox', team: tm.id }, 201);
      assert.equal(o.team_id, tm.id);
      await json(await sandboxPay(t, o.id, 'succeed'));
      assert.equal((await teamWallet(t, tm.id)).balance, 10_000_000n);
      assert.equal((await getAccount(t.ctx.db, walletAccountId(owner.userId))).balance, 0n);

      const batch = await json(await admin(t, 'POST', '/api/admin/redeem/batches', { count: 1, amount: '1.50' }), 201);
      const r = await call(owner.f, 'POST', '/api/redeem', { code: batch.codes[0].code, team: tm.id });
      assert.equal(r.team_id, tm.id);
      assert.equal((await teamWallet(t, tm.id)).balance, 11_500_000n);
      assert.equal((await getAccount(t.ctx.db, walletAccountId(owner.userId))).balance, 0n);

      // A refund of the team's top-up takes the credit back from the team wallet.
      await json(await admin(t, 'POST', `/api/admin/orders/${o.id}/refund`, { reason: 'requested_by_customer' }));
      assert.equal((await teamWallet(t, tm.id)).balance, 1_500_000n);
      assert.equal((await getAccount(t.ctx.db, walletAccountId(owner.userId))).balance, 0n);

      const audit = await listAudit(t.ctx.db, { target: `team:${tm.id}` });
      const actions = audit.map((x) => x.action).sort();
      assert.deepEqual(actions, ['team.create', 'team.redeem']);
    });

    test('an invitation to an address without an account becomes a membership when the account is created', async () => {
      const t = w.t;
      const owner = await person(t);
      const tm = await team(owner, `invites ${dialect}`);
      const email = `later-${dialect}@teams.io`;
      const invited = await call(owner.f, 'POST', `/api/teams/${tm.id}/members`, { email, role: 'admin', budget: '2.00', budget_period: 'week' }, 201);
      assert.equal(invited.status, 'invited');
      assert.equal(invited.user_id, null);
      const { user } = await createUser(t.ctx.db, { email, password: 'correct horse battery' });
      const f = await signIn(t, email, 'correct horse battery');
      const list = await call(f, 'GET', '/api/teams');
      assert.deepEqual(
        list.data.map((x: any) => [x.id, x.role]),
        [[tm.id, 'admin']],
      );
      const detail = await call(f, 'GET', `/api/teams/${tm.id}`);
      const me = detail.members.find((m: any) => m.user_id === user.id);
      assert.equal(me.status, 'active');
      assert.equal(me.budget, '2.00');
      assert.equal(me.budget_period, 'week');
      // The key's principal carries the member budget for the budget checks (src/gateway/budgets.ts).
      const k = await call(f, 'POST', '/api/keys', { team: tm.id }, 201);
      const p = await t.ctx.keys.authenticate(k.key, '127.0.0.1');
      assert.equal(p.walletId, `team:${tm.id}`);
      assert.deepEqual(p.team, { id: tm.id, role: 'admin' });
      assert.deepEqual(p.memberBudget, { ref: `member:${tm.id}:${user.id}`, amount: 2_000_000n, period: 'week' });
      const actions = (await listAudit(t.ctx.db, { target: `team:${tm.id}` })).map((x) => x.action).sort();
      assert.deepEqual(actions, ['team.create', 'team.member.activate', 'team.member.add']);
    });

    test("the billing doctor explains a team key refused for the team wallet, not the member's own balance", async () => {
      const t = w.t;
      const [owner, m] = [await person(t), await person(t, { balance: parseMoney('10') })];
      const tm = await team(owner, `empty ${dialect}`, [{ p: m }]);
      const k = await teamKey(m, tm.id);
      const err: any = await relaySdk(t, k.key)
        .chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'hi' }], max_tokens: 48 })
        .catch((e) => e);
      assert.equal(err?.status, 402);
      await t.ctx.relay.flush();
      const d = await call(m.f, 'GET', '/api/support/diagnose?problem=insufficient_balance');
      const c = d.cases.find((x: any) => x.class === 'insufficient_balance');
      assert.ok(c, JSON.stringify(d.cases.map((x: any) => x.class)));
      assert.ok(c.evidence.includes('limit: team_wallet'), c.evidence.join(' | '));
      assert.match(c.cause.en, new RegExp(`team ${tm.id}: it spends the team's wallet \\(available 0\\.000000\\)`));
      assert.match(c.next_step.en, /Top up the team's wallet/);
    });

    test("the team's statement: its owner and admins read what funded the wallet and what its keys spent; a member and an outsider cannot", async () => {
      const t = w.t;
      const [owner, adm, m, outsider] = [await person(t), await person(t), await person(t), await person(t)];
      const tm = await team(owner, `books ${dialect}`, [{ p: adm, role: 'admin' }, { p: m }]);
      await json(await admin(t, 'POST', `/api/admin/teams/${tm.id}/compensate`, { amount: '1.00', reason: 'pilot', ticket: 'TCK-S1' }));
      const k = await teamKey(m, tm.id);
      await relaySdk(t, k.key).chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'hi' }], max_tokens: 48 });
      await t.ctx.relay.flush();
      for (const reader of [owner, adm]) {
        const st = await call(reader.f, 'GET', `/api/teams/${tm.id}/ledger`);
        const kinds = st.data.map((l: any) => l.kind);
        assert.deepEqual(kinds, ['usage', 'compensation'], JSON.stringify(st.data));
        assert.equal(st.data[1].amount, '1.00');
        assert.equal(st.data[0].balance_after, formatMoney(1_000_000n - toBig(parseMoney(st.data[0].amount.replace('-', '')))));
        const csv = await reader.f(`/api/teams/${tm.id}/ledger.csv`);
        assert.equal(csv.status, 200);
        assert.match(csv.headers.get('content-disposition') ?? '', new RegExp(`tally-team-statement-${tm.id}-`));
        const lines = (await csv.text()).trim().split('\n');
        assert.equal(lines.length, 3);
        assert.match(lines[2], /compensation,1\.00/);
      }
      await call(m.f, 'GET', `/api/teams/${tm.id}/ledger`, undefined, 403);
      await call(outsider.f, 'GET', `/api/teams/${tm.id}/ledger`, undefined, 404);
      await call(outsider.f, 'GET', `/api/teams/${tm.id}/ledger.csv`, undefined, 404);
    });
  });
}
