import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { formatMoney } from '../../src/ledger/money.ts';
import { asAdminToken, expectError, expectJson, assertLedgerOk } from './http.ts';

/** What a refused credit must leave behind: nothing. */
async function snapshot(t: TestTally, userId: string) {
  const transfers = await t.ctx.db.selectFrom('ledger_transfers').select('id').execute();
  const audits = await t.ctx.db.selectFrom('audit_log').select('id').where('target', '=', userId).execute();
  const wallet = await t.ctx.db
    .selectFrom('ledger_accounts')
    .select(['balance', 'pending_debits'])
    .where('id', '=', `user:${userId}`)
    .executeTakeFirstOrThrow();
  return { transfers: transfers.length, audits: audits.length, balance: String(wallet.balance), pending: String(wallet.pending_debits) };
}

const BAD_CREDITS: Array<[string, Record<string, unknown>, string | RegExp, string, RegExp]> = [
  ['an amount finer than a micro-unit', { amount: '1.0000001', reason: 'x' }, 'invalid_amount', 'amount', /6 decimal places/],
  ['an amount that is not a number', { amount: 'ten dollars', reason: 'x' }, 'invalid_amount', 'amount', /not a decimal number/],
  ['an amount in exponent notation', { amount: '1e3', reason: 'x' }, 'invalid_amount', 'amount', /not a decimal number/],
  ['a zero amount', { amount: '0.00', reason: 'x' }, 'invalid_amount', 'amount', /zero/],
  ['an absurd amount', { amount: '99999999999999999999', reason: 'x' }, 'invalid_amount', 'amount', /too large/],
  ['an amount sent as a JSON number', { amount: 10, reason: 'x' }, /^invalid_(request|amount)$/, 'amount', /string/],
  ['no amount', { reason: 'x' }, /^invalid_(request|amount)$/, 'amount', /amount/],
  ['no reason', { amount: '1.00' }, 'invalid_request', 'reason', /reason/],
  ['an empty reason', { amount: '1.00', reason: '' }, 'invalid_request', 'reason', /reason/],
  ['a reason of only spaces', { amount: '1.00', reason: '   ' }, 'reason_required', 'reason', /reason/],
];

for (const dialect of testDialects()) {
  describe(`operator mistakes that change nothing on ${dialect}`, () => {
    let t: TestTally;
    let u: Awaited<ReturnType<typeof seedUser>>;
    before(async () => {
      t = await startTestTally(dialect);
      u = await seedUser(t, { balance: 2_000_000n });
    });
    after(async () => {
      if (!t) return;
      try {
        await assertLedgerOk(t.ctx.db);
      } finally {
        await t.close();
      } // close (and drop the schema) even when the check fails
    });

    for (const [what, body, code, param, message] of BAD_CREDITS) {
      test(`a credit with ${what} is a 400 naming ${param}; balance, ledger and audit log are unchanged`, async () => {
        const before = await snapshot(t, u.user.id);
        const e = await expectError(await asAdminToken(t, 'POST', `/api/admin/users/${u.user.id}/credit`, body), 400, code, param);
        assert.match(e.message, message);
        assert.deepEqual(await snapshot(t, u.user.id), before);
      });
    }

    test('a debit larger than the balance is refused with 402 insufficient_balance and changes nothing', async () => {
      const before = await snapshot(t, u.user.id);
      // One micro-unit more than the wallet holds, whatever the tests before this one did to it.
      const balance = BigInt(before.balance);
      const e = await expectError(
        await asAdminToken(t, 'POST', `/api/admin/users/${u.user.id}/credit`, { amount: `-${formatMoney(balance + 1n)}`, reason: 'too much' }),
        402,
        'insufficient_balance',
      );
      assert.match(e.message, new RegExp(`${formatMoney(balance).replace('.', '\\.')} available`));
      assert.deepEqual(await snapshot(t, u.user.id), before);
    });

    test('reusing an idempotency_key for a different amount is a 409, not a second credit', async () => {
      const key = `reuse-${Date.now()}`;
      await expectJson(await asAdminToken(t, 'POST', `/api/admin/users/${u.user.id}/credit`, { amount: '1.00', reason: 'first', idempotency_key: key }));
      const before = await snapshot(t, u.user.id);
      await expectError(
        await asAdminToken(t, 'POST', `/api/admin/users/${u.user.id}/credit`, { amount: '5.00', reason: 'first', idempotency_key: key }),
        409,
        'idempotency_key_reused',
      );
      assert.deepEqual(await snapshot(t, u.user.id), before);
    });

    test('crediting or looking up a user who does not exist is a 404 user_not_found, by id or by email', async () => {
      const transfers = (await t.ctx.db.selectFrom('ledger_transfers').select('id').execute()).length;
      await expectError(await asAdminToken(t, 'POST', '/api/admin/users/usr_doesnotexist/credit', { amount: '1.00', reason: 'x' }), 404, 'user_not_found');
      await expectError(await asAdminToken(t, 'POST', '/api/admin/users/ghost@test.io/credit', { amount: '1.00', reason: 'x' }), 404, 'user_not_found');
      await expectError(await asAdminToken(t, 'GET', '/api/admin/users/usr_doesnotexist'), 404, 'user_not_found');
      await expectError(await asAdminToken(t, 'GET', '/api/admin/users/ghost@test.io'), 404, 'user_not_found');
      assert.equal((await t.ctx.db.selectFrom('ledger_transfers').select('id').execute()).length, transfers);
    });

    test('an email already taken, in any letter case, is a 409 email_taken and creates no second user', async () => {
      const email = `Taken.${Date.now()}@Test.io`;
      await expectJson(await asAdminToken(t, 'POST', '/api/admin/users', { email }), 201);
      for (const again of [email, email.toLowerCase(), email.toUpperCase(), `  ${email}  `]) {
        await expectError(await asAdminToken(t, 'POST', '/api/admin/users', { email: again }), 409, 'email_taken');
      }
      const rows = await t.ctx.db.selectFrom('users').select('id').where('email_normalized', '=', email.toLowerCase()).execute();
      assert.equal(rows.length, 1);
      const wallets = await t.ctx.db.selectFrom('ledger_accounts').select('id').where('user_id', '=', rows[0].id).execute();
      assert.equal(wallets.length, 1, 'one wallet for the one user');
    });

    test('a bad new user (email, password, role) is a 400 naming the field and creates nothing', async () => {
      const count = async () => (await t.ctx.db.selectFrom('users').select('id').execute()).length;
      const before = await count();
      await expectError(await asAdminToken(t, 'POST', '/api/admin/users', { email: 'not-an-email' }), 400, 'invalid_email', 'email');
      await expectError(
        await asAdminToken(t, 'POST', '/api/admin/users', { email: `short-${Date.now()}@test.io`, password: 'short' }),
        400,
        'invalid_request',
        'password',
      );
      await expectError(
        await asAdminToken(t, 'POST', '/api/admin/users', { email: `root-${Date.now()}@test.io`, role: 'root' }),
        400,
        'invalid_request',
        'role',
      );
      await expectError(await asAdminToken(t, 'POST', '/api/admin/users', {}), 400, 'invalid_request', 'email');
      assert.equal(await count(), before);
    });

    test('a bad user search is a 400, not a 500', async () => {
      await expectError(await asAdminToken(t, 'GET', '/api/admin/users?limit=abc'), 400, 'invalid_request', 'limit');
      await expectError(await asAdminToken(t, 'GET', '/api/admin/users?limit=1000'), 400, 'invalid_request', 'limit');
    });
  });
}
