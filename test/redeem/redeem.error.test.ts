import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import type { TestTally } from '../helpers/tally.ts';
import { generateRedeemBatch } from '../../src/redeem/batches.ts';
import { generateNormalizedCode, formatCode } from '../../src/redeem/format.ts';
import { expectError, expectJson, assertLedgerOk } from '../accounts/http.ts';
import { startRedeemTally, person, redeem, admin, generate, balanceOf, type Person } from './helpers.ts';

/** A code one character away from a real one (the last group is left alone, it holds the check character). */
function withTypo(code: string): string {
  const i = 6; // the first character after TALLY-
  const c = code[i] === 'A' ? 'B' : 'A';
  return code.slice(0, i) + c + code.slice(i + 1);
}

for (const dialect of testDialects()) {
  describe(`"my code doesn't work": every failed redemption says why, on ${dialect}`, () => {
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

    async function lastOutcome(p: Person) {
      return (await expectJson(await p.f('/api/redeem/attempts'))).data[0];
    }

    test('something that is not a code at all is invalid_format', async () => {
      const p = await person(t);
      for (const bad of ['hello', 'TALLY-1234-5678', 'TALLY-AAAA-AAAA-AAAA-AAAA-AAAU']) {
        await expectError(await redeem(p, bad), 400, 'invalid_format', 'code');
      }
      const a = await lastOutcome(p);
      assert.deepEqual([a.outcome, a.code], ['invalid_format', 'TALLY-****-****-****-****-AAAU']);
    });

    test('a mistyped code is rejected as mistyped, and the database is never asked', async () => {
      const g = await generate(t);
      const p = await person(t);
      const e = await expectError(await redeem(p, withTypo(g.codes[0].code)), 400, 'mistyped', 'code');
      assert.match(e.message, /typo/);
      const a = await lastOutcome(p);
      assert.deepEqual([a.outcome, a.code_id], ['mistyped', undefined]);
      const row = await t.ctx.db.selectFrom('redeem_attempts').selectAll().where('id', '=', a.id).executeTakeFirstOrThrow();
      assert.equal(row.code_id, null);
      assert.equal(await balanceOf(p), '0.00');
    });

    test('a well-formed code that was never issued is not_found', async () => {
      const p = await person(t);
      await expectError(await redeem(p, formatCode(generateNormalizedCode())), 404, 'not_found', 'code');
      assert.equal((await lastOutcome(p)).outcome, 'not_found');
    });

    test('an expired code is expired, with the time it expired', async () => {
      const past = Date.now() - 3 * 86_400_000;
      const { codes } = await generateRedeemBatch(t.ctx.db, {
        count: 1,
        amount: 1_000_000n,
        expiresAt: past + 86_400_000,
        currency: 'USD',
        secret: t.config.secret,
        actor: { type: 'system' },
        now: past,
      });
      const p = await person(t);
      const e = await expectError(await redeem(p, codes[0].code), 409, 'expired');
      assert.equal((e as { details?: Record<string, string> }).details?.expired_at, new Date(past + 86_400_000).toISOString());
      assert.equal((await lastOutcome(p)).outcome, 'expired');
      assert.equal(await balanceOf(p), '0.00');
    });

    test('a disabled code, and every code of a disabled batch, is disabled (audited)', async () => {
      const g = await generate(t, { count: 3 });
      const p = await person(t);
      const d = await expectJson(await admin(t, 'POST', `/api/admin/redeem/codes/${g.codes[0].id}/disable`, { reason: 'leaked on a forum' }));
      assert.deepEqual([d.status, d.code, d.replayed], ['disabled', g.codes[0].display, false]);
      await expectError(await redeem(p, g.codes[0].code), 409, 'disabled');
      const b = await expectJson(await admin(t, 'POST', `/api/admin/redeem/batches/${g.batch.id}/disable`, { reason: 'campaign cancelled' }));
      assert.deepEqual([b.batch.status, b.codes_disabled, b.batch.disabled_reason], ['disabled', 2, 'campaign cancelled']);
      await expectError(await redeem(p, g.codes[1].code), 409, 'disabled');
      const again = await expectJson(await admin(t, 'POST', `/api/admin/redeem/batches/${g.batch.id}/disable`, {}));
      assert.equal(again.replayed, true);
      const codes = (await expectJson(await admin(t, 'GET', `/api/admin/redeem/batches/${g.batch.id}/codes`))).data;
      assert.deepEqual(
        codes.map((c: { status: string }) => c.status),
        ['disabled', 'disabled', 'disabled'],
      );
      const audit = await t.ctx.db
        .selectFrom('audit_log')
        .select(['action', 'reason'])
        .where('target', 'in', [g.batch.id, g.codes[0].id])
        .where('action', 'like', 'redeem.%.disable')
        .orderBy('id')
        .execute();
      assert.deepEqual(
        audit.map((a) => [a.action, a.reason]),
        [
          ['redeem.code.disable', 'leaked on a forum'],
          ['redeem.batch.disable', 'campaign cancelled'],
        ],
      );
      assert.equal(await balanceOf(p), '0.00');
    });

    test('a code used by another account says when, never who', async () => {
      const g = await generate(t);
      const owner = await person(t);
      const r = await expectJson(await redeem(owner, g.codes[0].code));
      const other = await person(t);
      const e = await expectError(await redeem(other, g.codes[0].code), 409, 'already_redeemed_by_another_account');
      assert.deepEqual((e as { details?: unknown }).details, { redeemed_at: r.redeemed_at });
      const text = JSON.stringify(e);
      for (const secret of [owner.userId, owner.email, owner.ip]) assert.equal(text.includes(secret), false, `the error leaks ${secret}`);
      assert.equal(await balanceOf(other), '0.00');
    });

    test('a user cannot see the admin views or generate codes', async () => {
      const p = await person(t);
      await expectError(await p.f('/api/admin/redeem/batches'), 403, 'forbidden');
      await expectError(await p.f('/api/admin/redeem/batches', { method: 'POST', body: JSON.stringify({ count: 1, amount: '1000.00' }) }), 403, 'forbidden');
    });

    test('redeeming needs a session', async () => {
      const res = await fetch(`${t.url}/api/redeem`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 'x' }) });
      await expectError(res, 401, 'not_signed_in');
    });

    test('generation refuses bad input with the field named', async () => {
      await expectError(await admin(t, 'POST', '/api/admin/redeem/batches', { count: 0, amount: '1.00' }), 400, 'invalid_request', 'count');
      await expectError(await admin(t, 'POST', '/api/admin/redeem/batches', { count: 1, amount: 1 }), 400, 'invalid_request', 'amount');
      await expectError(await admin(t, 'POST', '/api/admin/redeem/batches', { count: 1, amount: '-1.00' }), 400, 'invalid_amount');
      await expectError(
        await admin(t, 'POST', '/api/admin/redeem/batches', { count: 1, amount: '1.00', expires_at: '2001-01-01T00:00:00Z' }),
        400,
        'invalid_expiry',
        'expires_at',
      );
      await expectError(await admin(t, 'POST', '/api/admin/redeem/batches/rdb_nope/disable', {}), 404, 'batch_not_found');
      await expectError(await admin(t, 'POST', '/api/admin/redeem/codes/rdc_nope/disable', {}), 404, 'code_not_found');
      await expectError(await admin(t, 'POST', '/api/admin/redeem/redemptions/rda_nope/reverse', { reason: 'x' }), 404, 'redemption_not_found');
    });
  });
}
