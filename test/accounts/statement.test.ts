import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { adjustBalanceManually } from '../../src/accounts/manualCredit.ts';
import { asAdminToken, expectError, expectJson, assertLedgerOk, type Fetcher } from './http.ts';

interface Line {
  id: string;
  kind: string;
  amount: string;
  balance_after: string;
  reference: string | null;
  reason: string | null;
  created_at: string;
}

async function credit(t: TestTally, userId: string, amount: string, reason: string) {
  return expectJson(await asAdminToken(t, 'POST', `/api/admin/users/${userId}/credit`, { amount, reason }));
}

const micros = (s: string) => {
  const [w, f = ''] = s.replace('-', '').split('.');
  const v = BigInt(w) * 1_000_000n + BigInt(f.padEnd(6, '0'));
  return s.startsWith('-') ? -v : v;
};

for (const dialect of testDialects()) {
  describe(`"where is my balance?": /api/me and /api/ledger on ${dialect}`, () => {
    let t: TestTally;
    before(async () => {
      t = await startTestTally(dialect);
    });
    after(async () => {
      if (!t) return;
      try {
        await assertLedgerOk(t.ctx.db);
      } finally {
        await t.close();
      } // close (and drop the schema) even when the check fails
    });

    test('GET /api/me shows the balance as a decimal string such as "12.50"', async () => {
      const u = await seedUser(t, { balance: 12_500_000n });
      const f = await signIn(t, u.email, u.password);
      const me = await expectJson(await f('/api/me'));
      assert.equal(me.id, u.user.id);
      assert.equal(me.email, u.email);
      assert.equal(me.role, 'user');
      assert.equal(me.currency, 'USD');
      assert.equal(me.balance, '12.50');
      assert.equal(me.pending, '0.00');
      assert.equal(me.available, '12.50');
      assert.equal(typeof me.balance, 'string', 'money never leaves as a JSON number');
      assert.equal('password_hash' in me, false);
    });

    test('a new user sees "0.00", and a fraction of a cent is shown exactly, never rounded away', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      assert.equal((await expectJson(await f('/api/me'))).balance, '0.00');
      await credit(t, u.user.id, '0.0015', 'rounding check');
      assert.equal((await expectJson(await f('/api/me'))).balance, '0.0015');
    });

    test('every balance change is on the statement with its kind, signed amount, balance after and reason', async () => {
      const u = await seedUser(t, { balance: 12_500_000n });
      await credit(t, u.user.id, '10.00', 'compensation for the outage on ticket 42');
      await credit(t, u.user.id, '-2.50', 'duplicate credit corrected');
      const f = await signIn(t, u.email, u.password);
      const { data, next_before } = await expectJson<{ data: Line[]; next_before: string | null }>(await f('/api/ledger'));
      assert.equal(next_before, null);
      assert.deepEqual(
        data.map((l) => [l.kind, l.amount, l.balance_after, l.reason]),
        [
          ['manual_debit', '-2.50', '20.00', 'duplicate credit corrected'],
          ['manual_credit', '10.00', '22.50', 'compensation for the outage on ticket 42'],
          ['manual_credit', '12.50', '12.50', 'test funding'],
        ],
      );
      for (const l of data) {
        assert.match(l.id, /^trf_/);
        assert.ok(!Number.isNaN(Date.parse(l.created_at)));
      }
      // The statement explains the balance: each line is the previous balance plus its amount.
      for (let i = 0; i < data.length - 1; i++) assert.equal(micros(data[i].balance_after), micros(data[i + 1].balance_after) + micros(data[i].amount));
      assert.equal((await expectJson(await f('/api/me'))).balance, data[0].balance_after);
    });

    test('a long statement pages with next_before without skipping or repeating a line', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      for (let i = 1; i <= 4; i++) await credit(t, u.user.id, `0.0${i}`, `credit ${i}`);
      const f = await signIn(t, u.email, u.password);
      const seen: Line[] = [];
      let before: string | null = null;
      let pages = 0;
      do {
        const page: { data: Line[]; next_before: string | null } = await expectJson(await f(`/api/ledger?limit=2${before ? `&before=${before}` : ''}`));
        seen.push(...page.data);
        before = page.next_before;
        pages++;
      } while (before && pages < 10);
      assert.equal(seen.length, 5);
      assert.equal(new Set(seen.map((l) => l.id)).size, 5);
      assert.deepEqual(
        seen.map((l) => l.reason),
        ['credit 4', 'credit 3', 'credit 2', 'credit 1', 'test funding'],
      );
    });

    // A busy key settles many requests per millisecond; the statement must
    // still read top to bottom as newest to oldest with balances that chain.
    test('balance changes booked in a burst are listed newest first and their balances chain', async () => {
      const u = await seedUser(t);
      for (let i = 1; i <= 40; i++) {
        await adjustBalanceManually(t.ctx.db, { userId: u.user.id, amount: BigInt(i), reason: `burst ${i}`, actor: { type: 'system' } });
      }
      const f = await signIn(t, u.email, u.password);
      const { data } = await expectJson<{ data: Line[] }>(await f('/api/ledger?limit=100'));
      assert.equal(data.length, 40);
      assert.deepEqual(
        data.map((l) => l.reason),
        Array.from({ length: 40 }, (_, i) => `burst ${40 - i}`),
      );
      for (let i = 0; i < data.length - 1; i++) assert.equal(micros(data[i].balance_after), micros(data[i + 1].balance_after) + micros(data[i].amount));
    });

    test('the statement can be filtered by kind', async () => {
      const u = await seedUser(t, { balance: 5_000_000n });
      await credit(t, u.user.id, '-1.00', 'correction');
      const f = await signIn(t, u.email, u.password);
      const { data } = await expectJson<{ data: Line[] }>(await f('/api/ledger?kind=manual_debit'));
      assert.deepEqual(
        data.map((l) => [l.kind, l.amount]),
        [['manual_debit', '-1.00']],
      );
    });

    test("a user never sees another user's statement lines or balance, even by passing their transfer id", async () => {
      const alice = await seedUser(t, { balance: 7_000_000n });
      const bob = await seedUser(t, { balance: 3_000_000n });
      const a = await signIn(t, alice.email, alice.password);
      const b = await signIn(t, bob.email, bob.password);
      const aliceLines = (await expectJson<{ data: Line[] }>(await a('/api/ledger'))).data;
      const bobLines = (await expectJson<{ data: Line[] }>(await b('/api/ledger'))).data;
      assert.deepEqual(
        bobLines.map((l) => l.amount),
        ['3.00'],
      );
      assert.equal(
        aliceLines.some((l) => bobLines.some((x) => x.id === l.id)),
        false,
      );
      const probe = await expectJson<{ data: Line[] }>(await b(`/api/ledger?before=${encodeURIComponent('trf_zzzzzzzzzzzzzzzzzzzzzzzzzz')}`));
      assert.deepEqual(
        probe.data.map((l) => l.id),
        bobLines.map((l) => l.id),
      );
      assert.equal((await expectJson(await b('/api/me'))).balance, '3.00');
    });

    test('a bad statement query is a 400 that names the parameter', async () => {
      const u = await seedUser(t);
      const f: Fetcher = await signIn(t, u.email, u.password);
      await expectError(await f('/api/ledger?limit=abc'), 400, 'invalid_request', 'limit');
      await expectError(await f('/api/ledger?limit=0'), 400, 'invalid_request', 'limit');
      await expectError(await f('/api/ledger?limit=100000'), 400, 'invalid_request', 'limit');
      await expectError(await f('/api/ledger?limit=1.5'), 400, 'invalid_request', 'limit');
    });
  });
}
