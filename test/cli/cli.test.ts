import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { testDialects, withSchema, dropTestSchema, POSTGRES_URL } from '../helpers/db.ts';
import { runTally as tally, type Run } from '../helpers/cli.ts';
import { openDb, type Dialect, type DbHandle } from '../../src/db/index.ts';
import { KeyCache } from '../../src/accounts/keyCache.ts';
import { login } from '../../src/accounts/sessions.ts';
import { verifyLedger } from '../../src/ledger/verify.ts';

// The real `tally` command in a child process, as an operator runs it after
// `npm ci`. Each spawn costs about a second (tsx loads the sources), so the
// steps of one install share a database and run in order.
/** An empty database nobody has migrated yet: a SQLite path in a fresh dir, or a new PostgreSQL schema. */
async function emptyDatabase(dialect: Dialect): Promise<{ url: string; cleanup(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tally-cli-'));
    return { url: `sqlite:${join(dir, 'data', 'tally.db')}`, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const schema = `tally_cli_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  return {
    url: withSchema(POSTGRES_URL!, schema),
    cleanup: () => dropTestSchema(schema),
  };
}

function cliEnv(databaseUrl: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Only this test's settings: no TALLY_* (or test-runner state) leaks in from the shell.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TALLY_') && !k.startsWith('NODE_TEST')) env[k] = v;
  return { ...env, TALLY_DATABASE_URL: databaseUrl, TALLY_SECRET: 'cli-test-secret-0123456789abcdef', TALLY_LOG_LEVEL: 'silent' };
}

/** --json promises exactly one JSON object on stdout and nothing else. */
function oneJson(r: Run): any {
  const out = r.stdout.trim();
  assert.ok(out.length > 0, `no output; stderr: ${r.stderr}`);
  assert.equal(out.includes('\n'), false, `more than one line on stdout:\n${r.stdout}`);
  const v = JSON.parse(out);
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `not one JSON object: ${out}`);
  return v;
}

function ok(r: Run): any {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const v = oneJson(r);
  assert.notEqual(v.ok, false, r.stdout);
  return v;
}

/** A refused command: non-zero exit and, with --json, one object naming the error code. */
function refused(r: Run, code: string): { code: string; message: string } {
  assert.notEqual(r.code, 0, `expected a failure, got exit 0: ${r.stdout}`);
  const v = oneJson(r);
  assert.equal(v.ok, false);
  assert.equal(v.error.code, code, r.stdout);
  assert.ok(v.error.message.length > 5);
  return v.error;
}

for (const dialect of testDialects()) {
  describe(`the tally CLI on ${dialect}`, () => {
    let db: { url: string; cleanup(): Promise<void> };
    let env: NodeJS.ProcessEnv;
    let h: DbHandle;
    const email = `Operator.Made.${Date.now()}@Test.io`;
    let userId = '';

    async function walletOf(id: string) {
      const w = await h.db.selectFrom('ledger_accounts').select(['balance']).where('id', '=', `user:${id}`).executeTakeFirstOrThrow();
      const n = await h.db.selectFrom('ledger_transfers').select('id').execute();
      return { balance: String(w.balance), transfers: n.length };
    }

    before(async () => {
      db = await emptyDatabase(dialect);
      env = cliEnv(db.url);
    });
    after(async () => {
      await h?.close();
      await db?.cleanup();
    });

    test('migrate sets up an empty database once and is a no-op the second time', async () => {
      const first = ok(await tally(env, 'migrate', '--json'));
      assert.equal(first.dialect, dialect);
      assert.ok(first.applied.includes('0001_foundation'), JSON.stringify(first));
      const second = await tally(env, 'migrate');
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /database is up to date/);
      h = openDb(db.url);
    });

    test('admin create-user --json prints one object with the user and a generated password that signs in', async () => {
      const r = ok(await tally(env, 'admin', 'create-user', '--email', email, '--json'));
      assert.match(r.user.id, /^usr_/);
      assert.equal(r.user.email, email);
      assert.equal(r.user.role, 'user');
      assert.equal(typeof r.password, 'string');
      assert.ok(r.password.length >= 12);
      userId = r.user.id;
      const s = await login(h.db, { email: email.toLowerCase(), password: r.password });
      assert.equal(s.user.id, userId);
      const audit = await h.db.selectFrom('audit_log').selectAll().where('target', '=', userId).where('action', '=', 'user.create').execute();
      assert.deepEqual(
        audit.map((a) => a.actor),
        ['cli'],
      );
    });

    test('creating the same email again, in another letter case, fails with email_taken', async () => {
      const r = await tally(env, 'admin', 'create-user', '--email', email.toUpperCase(), '--json');
      refused(r, 'email_taken');
      const users = await h.db.selectFrom('users').select('id').execute();
      assert.equal(users.length, 1);
    });

    test('admin credit adds 10.00 with its reason on the statement and in the audit log', async () => {
      const r = ok(await tally(env, 'admin', 'credit', '--user', email, '--amount', '10.00', '--reason', 'bank transfer 2026-11-01', '--json'));
      assert.equal(r.user_id, userId);
      assert.equal(r.amount, '10.00');
      assert.equal(r.balance, '10.00');
      assert.equal(r.replayed, false);
      const t = await h.db.selectFrom('ledger_transfers').selectAll().where('id', '=', r.transfer_id).executeTakeFirstOrThrow();
      assert.equal(t.kind, 'manual_credit');
      assert.equal(JSON.parse(t.metadata!).reason, 'bank transfer 2026-11-01');
      const audit = await h.db.selectFrom('audit_log').selectAll().where('target', '=', userId).where('action', '=', 'balance.credit').execute();
      assert.deepEqual(
        audit.map((a) => [a.actor, a.reason]),
        [['cli', 'bank transfer 2026-11-01']],
      );
    });

    test('running a credit twice with the same --idempotency-key credits once', async () => {
      const args = ['admin', 'credit', '--user', userId, '--amount', '2.50', '--reason', 'ticket 9 goodwill', '--idempotency-key', 'ticket-9', '--json'];
      const first = ok(await tally(env, ...args));
      const second = ok(await tally(env, ...args));
      assert.equal(first.replayed, false);
      assert.equal(second.replayed, true);
      assert.equal(second.transfer_id, first.transfer_id);
      assert.equal(first.balance, '12.50');
      assert.equal(second.balance, '12.50');
      assert.deepEqual(await walletOf(userId), { balance: '12500000', transfers: 2 });
    });

    test('a credit of "1.0000001" exits non-zero with a clear message and changes nothing', async () => {
      const before = await walletOf(userId);
      const [human, json] = await Promise.all([
        tally(env, 'admin', 'credit', '--user', email, '--amount', '1.0000001', '--reason', 'typo'),
        tally(env, 'admin', 'credit', '--user', email, '--amount', '1.0000001', '--reason', 'typo', '--json'),
      ]);
      assert.notEqual(human.code, 0);
      assert.equal(human.stdout, '');
      assert.match(human.stderr, /more than 6 decimal places/);
      assert.match(human.stderr, /invalid_amount/);
      assert.match(refused(json, 'invalid_amount').message, /0\.000001/);
      assert.deepEqual(await walletOf(userId), before);
    });

    test('an unknown user is a non-zero exit with user_not_found for every command that takes --user', async () => {
      const before = await h.db.selectFrom('ledger_transfers').select('id').execute();
      const runs = await Promise.all([
        tally(env, 'admin', 'credit', '--user', 'ghost@test.io', '--amount', '1.00', '--reason', 'x', '--json'),
        tally(env, 'admin', 'balance', '--user', 'usr_doesnotexist', '--json'),
        tally(env, 'key', 'create', '--user', 'ghost@test.io', '--json'),
      ]);
      for (const r of runs) refused(r, 'user_not_found');
      assert.equal((await h.db.selectFrom('ledger_transfers').select('id').execute()).length, before.length);
      assert.equal((await h.db.selectFrom('api_keys').select('id').execute()).length, 0);
    });

    test('admin balance --json shows balance, pending and available as decimal strings', async () => {
      const r = ok(await tally(env, 'admin', 'balance', '--user', email.toLowerCase(), '--json'));
      assert.deepEqual(
        { user_id: r.user_id, currency: r.currency, balance: r.balance, pending: r.pending, available: r.available },
        { user_id: userId, currency: 'USD', balance: '12.50', pending: '0.00', available: '12.50' },
      );
    });

    test('key create --json prints the full key once, and that key authenticates', async () => {
      const r = ok(await tally(env, 'key', 'create', '--user', email, '--name', 'from-cli', '--limit', '5.00', '--json'));
      assert.match(r.key, /^sk-[0-9A-Za-z]{22,}$/);
      assert.equal(r.display, `sk-…${r.key.slice(-4)}`);
      assert.equal(r.name, 'from-cli');
      assert.equal(r.limit, '5.00');
      assert.equal(r.user_id, userId);
      const p = await new KeyCache(h.db).authenticate(r.key, '127.0.0.1');
      assert.equal(p.user.id, userId);
      assert.equal(p.key.id, r.id);
      const row = await h.db.selectFrom('api_keys').selectAll().where('id', '=', r.id).executeTakeFirstOrThrow();
      assert.notEqual(row.key_hash, r.key);
    });

    test('ledger verify prints each check, says the ledger is OK and exits 0; --json gives the same as one object', async () => {
      const [human, json] = await Promise.all([tally(env, 'ledger', 'verify'), tally(env, 'ledger', 'verify', '--json')]);
      assert.equal(human.code, 0, human.stderr);
      const report = ok(json);
      assert.equal(report.ok, true);
      assert.ok(report.checks.length >= 5);
      for (const c of report.checks) {
        assert.equal(c.ok, true, c.name);
        assert.ok(human.stdout.includes(`ok   ${c.name}: ${c.detail}`), `missing line for "${c.name}" in:\n${human.stdout}`);
      }
      assert.match(human.stdout, /ledger OK/);
      assert.equal(report.transfers, 2);
      assert.ok((await verifyLedger(h.db)).ok);
    });
  });
}
