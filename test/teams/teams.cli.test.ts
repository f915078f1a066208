// `tally team ...` and `tally key create --team` as an operator runs them (a
// child process on a SQLite file): create a team, add and invite members with
// a budget, a team key, show it, compensate the team, remove a member (their
// team key revoked), the books verified at the end.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTally, type Run } from '../helpers/cli.ts';
import { openDb, type DbHandle } from '../../src/db/index.ts';
import { verifyLedger } from '../../src/ledger/verify.ts';

function ok(r: Run): any {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const v = JSON.parse(r.stdout.trim());
  assert.notEqual(v.ok, false, r.stdout);
  return v;
}

describe('the tally team CLI', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let h: DbHandle;
  const tally = (...args: string[]) => runTally(env, ...args, '--json');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tally-team-cli-'));
    const url = `sqlite:${join(dir, 'tally.db')}`;
    env = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TALLY_') && !k.startsWith('NODE_TEST')) env[k] = v;
    env = { ...env, TALLY_DATABASE_URL: url, TALLY_SECRET: 'cli-test-secret-0123456789abcdef', TALLY_LOG_LEVEL: 'silent' };
    ok(await tally('migrate'));
    h = openDb(url);
  });
  after(async () => {
    try {
      const report = await verifyLedger(h.db);
      assert.ok(report.ok, JSON.stringify(report.checks.filter((c) => !c.ok)));
    } finally {
      await h?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('create, add, invite, key, show, compensate, remove', async () => {
    ok(await tally('admin', 'create-user', '--email', 'boss@cli.io'));
    ok(await tally('admin', 'create-user', '--email', 'dev@cli.io'));
    const created = ok(await tally('team', 'create', '--name', 'Platform', '--owner', 'boss@cli.io'));
    assert.match(created.id, /^team_/);
    const dev = ok(await tally('team', 'add-member', '--team', 'Platform', '--email', 'dev@cli.io', '--budget', '5.00', '--budget-period', 'day'));
    assert.deepEqual([dev.member.status, dev.member.role, dev.member.budget, dev.member.budget_period], ['active', 'member', '5.00', 'day']);
    const later = ok(await tally('team', 'add-member', '--team', created.id, '--email', 'later@cli.io', '--role', 'admin'));
    assert.equal(later.member.status, 'invited');
    const key = ok(await tally('key', 'create', '--user', 'dev@cli.io', '--team', 'Platform'));
    assert.equal(key.team_id, created.id);
    ok(await tally('team', 'compensate', '--team', 'Platform', '--amount', '3.00', '--reason', 'pilot credit', '--ticket', 'T-9'));
    const shown = ok(await tally('team', 'show', 'Platform'));
    assert.equal(shown.team.wallet.balance, '3.00');
    assert.deepEqual(
      shown.team.members.map((m: any) => [m.email, m.role, m.status]),
      [
        ['boss@cli.io', 'owner', 'active'],
        ['dev@cli.io', 'member', 'active'],
        ['later@cli.io', 'admin', 'invited'],
      ],
    );
    assert.equal(shown.team.keys.length, 1);
    const list = ok(await tally('team', 'list'));
    assert.equal(list.teams.length, 1);
    const removed = ok(await tally('team', 'remove-member', '--team', 'Platform', '--email', 'dev@cli.io'));
    assert.equal(removed.keys_revoked, 1);
    const row = await h.db.selectFrom('api_keys').select('status').where('id', '=', key.id).executeTakeFirstOrThrow();
    assert.equal(row.status, 'revoked');
    const r = await tally('team', 'remove-member', '--team', 'Platform', '--email', 'boss@cli.io');
    assert.notEqual(r.code, 0);
    assert.equal(JSON.parse(r.stdout.trim()).error.code, 'last_team_owner');
  });

  test("tally alerts: set and show a user's and a team's settings; a bad value changes nothing", async () => {
    ok(await tally('admin', 'create-user', '--email', 'watch@cli.io'));
    const set = ok(await tally('alerts', 'set', '--user', 'watch@cli.io', '--balance-below', '2.50', '--email', 'off', '--language', 'zh'));
    assert.deepEqual([set.balance_below, set.email, set.language, set.webhook_url], ['2.50', false, 'zh', null]);
    const shown = ok(await tally('alerts', 'show', '--user', 'watch@cli.io'));
    assert.deepEqual([shown.balance_below, shown.email, shown.language], ['2.50', false, 'zh']);
    const team = ok(await tally('alerts', 'set', '--team', 'Platform', '--balance-below', '1'));
    assert.match(team.owner, /^team:team_/);
    assert.equal(team.balance_below, '1.00');
    // No webhook secret on this server: refused with its reason; the threshold is unchanged.
    const refused = await tally('alerts', 'set', '--user', 'watch@cli.io', '--balance-below', '9', '--webhook', 'https://hooks.example.com/t');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout + refused.stderr, /TALLY_WEBHOOK_SECRET/);
    assert.equal(ok(await tally('alerts', 'show', '--user', 'watch@cli.io')).balance_below, '2.50');
    const both = await tally('alerts', 'show', '--user', 'watch@cli.io', '--team', 'Platform');
    assert.notEqual(both.code, 0);
    assert.match(both.stdout + both.stderr, /exactly one owner/);
    const off = ok(await tally('alerts', 'set', '--user', 'watch@cli.io', '--balance-below', 'none', '--email', 'on'));
    assert.deepEqual([off.balance_below, off.email], [null, true]);
  });
});
