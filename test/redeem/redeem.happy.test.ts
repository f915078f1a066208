import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import type { TestTally } from '../helpers/tally.ts';
import { listAudit } from '../../src/audit/index.ts';
import { expectJson, assertLedgerOk } from '../accounts/http.ts';
import { startRedeemTally, person, redeem, admin, generate, balanceOf } from './helpers.ts';

for (const dialect of testDialects()) {
  describe(`redeeming a code on ${dialect}`, () => {
    let t: TestTally;
    before(async () => {
      t = await startRedeemTally(dialect);
    });
    after(async () => {
      if (!t) return;
      try {
        await assertLedgerOk(t.ctx.db);
      } finally {
        await t.close();
      }
    });

    test('an operator generates a batch: the plaintext codes and their CSV come back once', async () => {
      const g = await generate(t, { count: 3, amount: '5.00', name: 'launch promo', expires_at: '2099-01-01T00:00:00Z', max_uses: 1 });
      assert.match(g.batch.id, /^rdb_/);
      assert.deepEqual(
        [g.batch.amount, g.batch.code_count, g.batch.max_uses, g.batch.name, g.batch.expires_at],
        ['5.00', 3, 1, 'launch promo', '2099-01-01T00:00:00.000Z'],
      );
      assert.equal(g.codes.length, 3);
      for (const c of g.codes) {
        assert.match(c.code, /^TALLY(-[0-9A-HJKMNP-TV-Z]{4}){5}$/);
        assert.equal(c.display, `TALLY-****-****-****-****-${c.code.slice(-4)}`);
      }
      const lines = g.csv.trim().split('\n');
      assert.equal(lines[0], 'code,amount,currency,expires_at,max_uses,batch_id,batch_name,code_id');
      assert.deepEqual(
        lines.slice(1).map((l) => l.split(',')[0]),
        g.codes.map((c) => c.code),
      );
      const audit = await listAudit(t.ctx.db, { target: g.batch.id, action: 'redeem.batch.create' });
      assert.equal(audit.length, 1);
      assert.equal(audit[0].actor, 'admin_token');
    });

    test('a user redeems a code typed sloppily; the wallet is credited and the statement shows the masked code', async () => {
      const g = await generate(t, { amount: '12.50' });
      const p = await person(t);
      const sloppy = `  ${g.codes[0].code.toLowerCase().replace(/-/g, ' ').replace(/1/g, 'l').replace(/0/g, 'o')} `;
      const r = await expectJson(await redeem(p, sloppy));
      assert.equal(r.result, 'redeemed');
      assert.match(r.redemption_id, /^rda_/);
      assert.equal(r.amount, '12.50');
      assert.equal(r.balance, '12.50');
      assert.equal(r.code, g.codes[0].display);
      assert.equal(await balanceOf(p), '12.50');
      const line = (await expectJson(await p.f('/api/ledger'))).data[0];
      assert.deepEqual(
        [line.id, line.kind, line.amount, line.reference, line.reason],
        [r.transfer_id, 'redeem', '12.50', g.codes[0].display, `redeem code ${g.codes[0].display}`],
      );
      const attempts = (await expectJson(await p.f('/api/redeem/attempts'))).data;
      assert.equal(attempts.length, 1);
      assert.deepEqual([attempts[0].code, attempts[0].outcome, attempts[0].ip], [g.codes[0].display, 'redeemed', p.ip]);
    });

    test('the same user redeeming twice gets already_redeemed with the first result, and one credit', async () => {
      const g = await generate(t, { amount: '3.00' });
      const p = await person(t);
      const first = await expectJson(await redeem(p, g.codes[0].code));
      const again = await redeem(p, g.codes[0].code);
      assert.equal(again.status, 409);
      const err = ((await again.json()) as any).error;
      assert.equal(err.code, 'already_redeemed');
      assert.equal(err.details.redemption_id, first.redemption_id);
      assert.equal(err.details.transfer_id, first.transfer_id);
      assert.equal(err.details.redeemed_at, first.redeemed_at);
      assert.equal(err.details.amount, '3.00');
      assert.match(err.message, /you already redeemed this code at/);
      assert.equal(await balanceOf(p), '3.00');
    });

    test('a double-clicked redeem button (10 at once by one user) credits once', async () => {
      const g = await generate(t, { amount: '2.00', max_uses: 5 });
      const p = await person(t);
      const results = await Promise.all(Array.from({ length: 10 }, () => redeem(p, g.codes[0].code)));
      const statuses = results.map((r) => r.status).sort();
      assert.equal(statuses.filter((s) => s === 200).length, 1);
      // The per-user limit counts the rest (5 per minute), so some are told to slow down instead.
      for (const r of results) if (r.status !== 200) assert.ok([409, 429].includes(r.status));
      assert.equal(await balanceOf(p), '2.00');
    });

    test('a code with max_uses 3 raced by 10 accounts credits exactly 3 of them', async () => {
      const g = await generate(t, { amount: '1.00', max_uses: 3 });
      const people = await Promise.all(Array.from({ length: 10 }, () => person(t)));
      const results = await Promise.all(people.map((p) => redeem(p, g.codes[0].code)));
      assert.equal(results.filter((r) => r.status === 200).length, 3);
      const codes = await Promise.all(results.filter((r) => r.status !== 200).map(async (r) => ((await r.json()) as any).error.code));
      assert.deepEqual([...new Set(codes)], ['already_redeemed_by_another_account']);
      const row = await t.ctx.db.selectFrom('redeem_codes').select(['uses']).where('id', '=', g.codes[0].id).executeTakeFirstOrThrow();
      assert.equal(Number(row.uses), 3);
    });

    test('operators list batches and codes: masked, with status, who redeemed and when', async () => {
      const g = await generate(t, { count: 2, amount: '4.00', name: 'support view' });
      const p = await person(t);
      const r = await expectJson(await redeem(p, g.codes[1].code));
      const batches = (await expectJson(await admin(t, 'GET', '/api/admin/redeem/batches'))).data;
      const b = batches.find((x: { id: string }) => x.id === g.batch.id);
      assert.deepEqual([b.name, b.status, b.code_count, b.redemptions, b.redeemed_amount], ['support view', 'active', 2, 1, '4.00']);
      const codes = (await expectJson(await admin(t, 'GET', `/api/admin/redeem/batches/${g.batch.id}/codes`))).data;
      assert.equal(codes.length, 2);
      const used = codes.find((c: { id: string }) => c.id === g.codes[1].id);
      const unused = codes.find((c: { id: string }) => c.id === g.codes[0].id);
      assert.deepEqual([used.code, used.status, used.uses, used.max_uses], [g.codes[1].display, 'redeemed', 1, 1]);
      assert.deepEqual([used.redemptions[0].user_id, used.redemptions[0].email, used.redemptions[0].redeemed_at], [p.userId, p.email, r.redeemed_at]);
      assert.deepEqual([unused.status, unused.redemptions], ['active', []]);
      const attempts = (await expectJson(await admin(t, 'GET', `/api/admin/redeem/attempts?user_id=${p.userId}`))).data;
      assert.deepEqual(
        attempts.map((a: { outcome: string; code_id: string }) => [a.outcome, a.code_id]),
        [['redeemed', g.codes[1].id]],
      );
    });

    test('an admin reverses a redemption with a reason: money back to system:redeem, audited, shown on the statement', async () => {
      const g = await generate(t, { amount: '6.00' });
      const p = await person(t);
      const r = await expectJson(await redeem(p, g.codes[0].code));
      const rev = await expectJson(
        await admin(t, 'POST', `/api/admin/redeem/redemptions/${r.redemption_id}/reverse`, { reason: 'code was sold twice by the reseller (ticket 42)' }),
      );
      assert.deepEqual([rev.status, rev.amount, rev.replayed, rev.code], ['reversed', '6.00', false, g.codes[0].display]);
      assert.equal(await balanceOf(p), '0.00');
      const line = (await expectJson(await p.f('/api/ledger'))).data[0];
      assert.deepEqual(
        [line.id, line.kind, line.amount, line.reference, line.reason],
        [rev.reversal_transfer_id, 'reversal', '-6.00', r.transfer_id, 'code was sold twice by the reseller (ticket 42)'],
      );
      const audit = await listAudit(t.ctx.db, { target: p.userId, action: 'redeem.redemption.reverse' });
      assert.equal(audit.length, 1);
      assert.equal(audit[0].reason, 'code was sold twice by the reseller (ticket 42)');
      assert.equal(audit[0].data.redemptionId, r.redemption_id);
      const again = await expectJson(await admin(t, 'POST', `/api/admin/redeem/redemptions/${r.redemption_id}/reverse`, { reason: 'clicked twice' }));
      assert.equal(again.replayed, true);
      assert.equal(again.reversal_transfer_id, rev.reversal_transfer_id);
      assert.equal(await balanceOf(p), '0.00');
      const codes = (await expectJson(await admin(t, 'GET', `/api/admin/redeem/batches/${g.batch.id}/codes`))).data;
      assert.equal(codes[0].redemptions[0].status, 'reversed');
      // The code stays used: reversing is not a refund of the code.
      const retry = await redeem(p, g.codes[0].code);
      assert.equal(((await retry.json()) as any).error.code, 'already_redeemed');
    });

    test('a reversal needs a reason', async () => {
      const res = await admin(t, 'POST', '/api/admin/redeem/redemptions/rda_nope/reverse', {});
      assert.equal(res.status, 400);
    });
  });
}
