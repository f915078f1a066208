// A team's own alert settings (GET and PUT /api/teams/:id/alerts): its owners
// and admins set the team wallet's balance threshold and webhook; a plain
// member and an outsider cannot read or change them; the change is audited
// without the webhook's path; and the team wallet's crossing reaches the
// team's webhook (signed) and its owner's mailbox.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, type TestTally } from '../helpers/tally.ts';
import { alertEnv, settle, startHookReceiver, startSmtp, waitFor } from './receivers.ts';
import { call, person, team } from '../teams/helpers.ts';

for (const dialect of testDialects()) {
  describe(`a team's alert settings on ${dialect}`, () => {
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
      await hooks?.close();
      await smtp?.close();
    });

    test('an admin of the team sets them; members and outsiders are refused and change nothing; the audit keeps only the webhook host', async () => {
      const owner = await person(t);
      const admin = await person(t);
      const member = await person(t);
      const outsider = await person(t);
      const tm = await team(owner, 'Alerts Co', [{ p: admin, role: 'admin' }, { p: member }]);
      const path = `/api/teams/${tm.id}/alerts`;

      const defaults = await call(owner.f, 'GET', path);
      assert.deepEqual([defaults.balance_below, defaults.email, defaults.webhook_url], [null, true, null]);

      const hook = `${hooks.url}/team-hook?token=s3cret`;
      const saved = await call(admin.f, 'PUT', path, { webhook_url: hook, language: 'zh' });
      assert.deepEqual([saved.webhook_url, saved.language], [hook, 'zh']);
      // The team's settings are not the admin's own.
      assert.equal((await call(admin.f, 'GET', '/api/alerts')).webhook_url, null);

      assert.equal((await call(member.f, 'GET', path, undefined, 403)).error.code, 'forbidden');
      assert.equal((await call(member.f, 'PUT', path, { webhook_url: null }, 403)).error.code, 'forbidden');
      assert.equal((await call(outsider.f, 'PUT', path, { webhook_url: null }, 404)).error.code, 'team_not_found');
      assert.equal((await call(owner.f, 'PUT', path, { balance_below: 5 }, 400)).error.code, 'invalid_request');
      assert.equal((await call(owner.f, 'GET', path)).webhook_url, hook, 'the refused calls changed nothing');

      const rows = await t.ctx.db.selectFrom('audit_log').selectAll().where('action', '=', 'team.alerts').where('target', '=', `team:${tm.id}`).execute();
      assert.equal(rows.length, 1);
      const after = JSON.parse(String(rows[0].after_state));
      assert.equal(after.webhook_host, new URL(hooks.url).host);
      assert.ok(
        !JSON.stringify(rows[0], (_k, v) => (typeof v === 'bigint' ? String(v) : v)).includes('s3cret'),
        'the webhook token stays out of the audit log',
      );
    });

    test("a threshold above the team wallet's balance alerts at once: the team's webhook (signed) and its owner's mailbox, once", async () => {
      const owner = await person(t);
      const tm = await team(owner, 'Threshold Co');
      await call(owner.f, 'PUT', `/api/teams/${tm.id}/alerts`, { webhook_url: `${hooks.url}/threshold`, balance_below: '1.00' });
      await waitFor('the team webhook', () => hooks.calls.some((h) => h.path === '/threshold'));
      await waitFor("the owner's mail", () => smtp.mails.some((m) => m.to.includes(owner.email)));
      await settle();
      const calls = hooks.calls.filter((h) => h.path === '/threshold');
      assert.equal(calls.length, 1);
      assert.ok(calls[0].valid, 'signed with TALLY_WEBHOOK_SECRET');
      assert.equal(calls[0].json.type, 'balance.below');
      assert.equal(calls[0].json.data.owner, `team:${tm.id}`);
    });
  });
}
