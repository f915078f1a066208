// Budget alerts through noteBudgetSpend, the hook the settlement flusher calls
// with a budget's spend in its period after each commit: 80% and 100% alert
// once each per period, a new period starts over, a step straight past 100%
// sends the 100% alert only, and a raised budget can alert again.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { alertEnv, settle, startHookReceiver, startSmtp, waitFor } from './receivers.ts';
import { writeAlertSettings } from '../../src/alerts/index.ts';
import { noteBudgetLevel } from '../../src/alerts/crossing.ts';

for (const dialect of testDialects()) {
  describe(`budget alerts on ${dialect}`, () => {
    let t: TestTally;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    let hooks: Awaited<ReturnType<typeof startHookReceiver>>;

    before(async () => {
      smtp = await startSmtp();
      hooks = await startHookReceiver();
      t = await startTestTally(dialect, {}, alertEnv(smtp.url));
    });
    after(async () => {
      await t?.close();
      await smtp?.close();
      await hooks?.close();
    });

    const mailsTo = (email: string) => smtp.mails.filter((m) => m.to.includes(email));
    async function note(ref: string, period: string, spent: bigint, amount: bigint) {
      t.ctx.alerts.noteBudgetSpend(ref, period, spent, amount);
      await t.ctx.alerts.idle();
    }

    test("a key's budget alerts at 80% and at 100%, once each, and again in the next period", async () => {
      const u = await seedUser(t);
      await writeAlertSettings(
        t.ctx.db,
        { owner: `user:${u.user.id}`, balanceBelow: null, email: true, webhookUrl: `${hooks.url}/budget/${u.user.id}`, language: 'en' },
        Date.now(),
      );
      const ref = `key:${u.key.id}`;
      const amount = 10_000_000n;
      await note(ref, '2026-12', 5_000_000n, amount);
      await note(ref, '2026-12', 7_999_999n, amount);
      await settle(200);
      assert.equal(mailsTo(u.email).length, 0, 'below 80%: nothing');

      await note(ref, '2026-12', 8_000_000n, amount);
      await note(ref, '2026-12', 8_500_000n, amount);
      await note(ref, '2026-12', 9_000_000n, amount);
      await waitFor('the 80% e-mail', () => mailsTo(u.email).length === 1);
      assert.match(mailsTo(u.email)[0].subject, /the budget of key "test" is at 80% \(2026-12\)/);

      await note(ref, '2026-12', 10_000_000n, amount);
      await note(ref, '2026-12', 10_200_000n, amount);
      await waitFor('the 100% e-mail', () => mailsTo(u.email).length === 2);
      assert.match(mailsTo(u.email)[1].subject, /at 100%/);

      // A new period starts from nothing; a step straight past 100% sends only the 100% alert.
      await note(ref, '2027-01', 12_000_000n, amount);
      await waitFor('the next period', () => mailsTo(u.email).length === 3);
      await settle();
      assert.equal(mailsTo(u.email).length, 3);
      assert.match(mailsTo(u.email)[2].subject, /at 100% \(2027-01\)/);

      const calls = hooks.calls.filter((c) => c.path === `/budget/${u.user.id}`);
      assert.deepEqual(
        calls.map((c) => [c.json.type, c.json.data.period, c.json.data.spent, c.json.data.amount]),
        [
          ['budget.80', '2026-12', '8.00', '10.00'],
          ['budget.100', '2026-12', '10.00', '10.00'],
          ['budget.100', '2027-01', '12.00', '10.00'],
        ],
      );
      assert.ok(calls.every((c) => c.valid && c.json.data.budget === ref));
    });

    test('a budget raised after its alert alerts again at its new 80%', async () => {
      const u = await seedUser(t);
      const ref = `key:${u.key.id}`;
      await note(ref, 'total', 8_000_000n, 10_000_000n);
      await waitFor('the first alert', () => mailsTo(u.email).length === 1);
      await note(ref, 'total', 9_000_000n, 20_000_000n); // raised to 20: 45%
      await note(ref, 'total', 16_000_000n, 20_000_000n);
      await waitFor('the alert at the new 80%', () => mailsTo(u.email).length === 2);
      await settle();
      assert.equal(mailsTo(u.email).length, 2, 'no settings row: e-mail by default');
    });

    test('the same crossing noted by many batches at once is sent once', async () => {
      const u = await seedUser(t);
      const ref = `key:${u.key.id}`;
      for (let i = 0; i < 20; i++) t.ctx.alerts.noteBudgetSpend(ref, '2026-W49', 8_000_000n + BigInt(i), 10_000_000n);
      await t.ctx.alerts.idle();
      // As instances without each other's memory would: the state row lets one of them through.
      const base = { ref, periodKey: '2026-W49', level: 80 as const, amount: 10_000_000n, currency: 'USD', channels: t.ctx.alerts.channels, notify: true };
      const raced = await Promise.all(
        Array.from({ length: 8 }, (_, i) => noteBudgetLevel(t.ctx.db, { ...base, spent: 8_100_000n + BigInt(i), now: Date.now() })),
      );
      assert.deepEqual(raced, [0, 0, 0, 0, 0, 0, 0, 0], 'already crossed: nothing more enqueued');
      const fresh = await Promise.all(
        Array.from({ length: 8 }, (_, i) => noteBudgetLevel(t.ctx.db, { ...base, periodKey: '2026-W50', spent: 8_100_000n + BigInt(i), now: Date.now() })),
      );
      assert.equal(fresh.filter((n) => n > 0).length, 1, 'a fresh crossing raced by eight: one enqueues');
      await waitFor('the alerts', () => mailsTo(u.email).length === 2);
      await settle();
      assert.equal(mailsTo(u.email).length, 2);
    });

    test("a team member's budget alerts the member", async () => {
      const u = await seedUser(t);
      await note(`member:team_x:${u.user.id}`, '2026-12-01', 10_000_000n, 10_000_000n);
      await waitFor('the alert', () => mailsTo(u.email).length === 1);
      assert.match(mailsTo(u.email)[0].subject, /budget member:team_x:.* is at 100% \(2026-12-01\)/);
    });
  });
}
