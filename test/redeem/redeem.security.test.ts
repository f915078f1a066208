import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import pino from 'pino';
import { sql } from 'kysely';
import { testDialects, createTestDb, whileNoSchemaIsDropped, type TestDb } from '../helpers/db.ts';
import { ADMIN_TOKEN, type TestTally } from '../helpers/tally.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createContext, LOG_REDACT } from '../../src/context.ts';
import { startTally } from '../../src/app/start.ts';
import { createUser } from '../../src/accounts/users.ts';
import { MemoryRateLimiter } from '../../src/lib/rateLimit.ts';
import { generateRedeemBatch } from '../../src/redeem/batches.ts';
import { redeemCode } from '../../src/redeem/redeem.ts';
import { generateNormalizedCode, formatCode, normalizeRedeemCode } from '../../src/redeem/format.ts';
import { SYSTEM_ACCOUNTS } from '../../src/ledger/accounts.ts';
import { getAccount } from '../../src/ledger/accounts.ts';
import { expectError, expectJson, assertLedgerOk } from '../accounts/http.ts';
import { person, redeem, admin, generate, balanceOf, randomIp } from './helpers.ts';
import type { Dialect } from '../../src/db/index.ts';

/** A Tally like startTestTally's, but whose pino output (at trace level, with the production redaction) is kept for inspection. */
async function startLoggedTally(dialect: Dialect): Promise<TestTally & { logs: string[] }> {
  const testDb: TestDb = await createTestDb(dialect);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const log = pino({ level: 'trace', redact: { paths: LOG_REDACT, censor: '[redacted]' } }, sink);
  const config = loadConfig({
    TALLY_DATABASE_URL: testDb.connectionUrl,
    TALLY_PORT: '0',
    TALLY_HOST: '127.0.0.1',
    TALLY_SECRET: 'test-secret-0123456789abcdef',
    TALLY_ADMIN_TOKEN: ADMIN_TOKEN,
    TALLY_DEMO: 'off',
    TALLY_TRUST_PROXY: 'loopback',
  });
  const start = async () => startTally(config, { ctx: await createContext(config, { log }), bootstrap: false });
  const t = dialect === 'postgres' ? await whileNoSchemaIsDropped(start) : await start();
  return {
    ...t,
    testDb,
    config,
    logs,
    close: async () => {
      await t.stop();
      await testDb.cleanup();
    },
  };
}

/** Every text value of every row of every table. */
async function everyTextInDatabase(t: TestTally): Promise<string[]> {
  const tables =
    t.testDb.dialect === 'postgres'
      ? (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(t.ctx.db)).rows
      : (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(t.ctx.db)).rows;
  assert.ok(tables.some((x) => x.name === 'redeem_codes'));
  const out: string[] = [];
  for (const { name } of tables) {
    const rows = (await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(t.ctx.db)).rows;
    for (const r of rows) for (const v of Object.values(r)) if (typeof v === 'string') out.push(v);
  }
  return out;
}

/** The ways a code could leak: as printed, normalised, lower-cased, and its first 16 characters (everything but the displayed last 4). */
function leakForms(code: string): string[] {
  const n = (normalizeRedeemCode(code) as { normalized: string }).normalized;
  return [code, n, n.toLowerCase(), n.slice(0, 16), code.slice(0, 20)];
}

for (const dialect of testDialects()) {
  describe(`redeem codes under attack on ${dialect}`, () => {
    let t: TestTally & { logs: string[] };
    const responses: string[] = [];
    const issued: string[] = []; // every plaintext code this suite was ever given
    before(async () => {
      t = await startLoggedTally(dialect);
    });
    after(async () => {
      if (!t) return;
      try {
        await assertLedgerOk(t.ctx.db);
      } finally {
        await t.close();
      }
    });

    test('50 accounts redeeming one code at the same moment: exactly one is credited', async () => {
      const g = await generate(t, { amount: '25.00' });
      issued.push(...g.codes.map((c) => c.code));
      const people = await Promise.all(Array.from({ length: 50 }, () => person(t)));
      const redeemBefore = (await getAccount(t.ctx.db, SYSTEM_ACCOUNTS.redeem)).balance;
      const results = await Promise.all(people.map((p) => redeem(p, g.codes[0].code)));
      const bodies = await Promise.all(results.map(async (r) => ({ status: r.status, body: (await r.json()) as any })));
      const winners = bodies.filter((b) => b.status === 200);
      assert.equal(winners.length, 1, JSON.stringify(bodies.filter((b) => b.status !== 409 && b.status !== 200)));
      for (const b of bodies) if (b.status !== 200) assert.equal(b.body.error.code, 'already_redeemed_by_another_account');
      const balances = await Promise.all(people.map(balanceOf));
      assert.deepEqual(
        balances.filter((b) => b !== '0.00'),
        ['25.00'],
      );
      assert.equal((await getAccount(t.ctx.db, SYSTEM_ACCOUNTS.redeem)).balance, redeemBefore - 25_000_000n);
      const transfers = await t.ctx.db
        .selectFrom('ledger_transfers')
        .select('id')
        .where('kind', '=', 'redeem')
        .where('reference', '=', g.codes[0].display)
        .execute();
      assert.equal(transfers.length, 1);
      const attempts = await t.ctx.db.selectFrom('redeem_attempts').select(['outcome']).where('code_id', '=', g.codes[0].id).execute();
      assert.equal(attempts.length, 50, 'every attempt is recorded');
      assert.equal(attempts.filter((a) => a.outcome === 'redeemed').length, 1);
    });

    test('a guesser is locked out after a few failures; another user on the same address is not', async () => {
      const ip = randomIp();
      const guesser = await person(t, ip);
      const neighbour = await person(t, ip);
      const g = await generate(t, { count: 2, amount: '1.00' });
      issued.push(...g.codes.map((c) => c.code));
      for (let i = 0; i < 5; i++) await expectError(await redeem(guesser, formatCode(generateNormalizedCode())), 404, 'not_found');
      // Locked now, even for a real code.
      const res = await redeem(guesser, g.codes[0].code);
      const e = await expectError(res, 429, 'rate_limited');
      assert.ok(Number(res.headers.get('retry-after')) >= 1);
      assert.match(e.message, /try again in \d+ s/);
      assert.equal(await balanceOf(guesser), '0.00');
      const r = await expectJson(await redeem(neighbour, g.codes[1].code));
      assert.equal(r.amount, '1.00');
      const outcomes = (await expectJson(await guesser.f('/api/redeem/attempts'))).data.map((a: { outcome: string }) => a.outcome);
      assert.deepEqual(outcomes, ['rate_limited', 'not_found', 'not_found', 'not_found', 'not_found', 'not_found']);
    });

    test('many accounts guessing from one address hit the per-IP limit; other addresses are unaffected', async () => {
      const ip = randomIp();
      const accounts = await Promise.all(Array.from({ length: 8 }, () => person(t, ip)));
      let limited = 0;
      for (const a of accounts) {
        for (let i = 0; i < 4; i++) {
          const res = await redeem(a, formatCode(generateNormalizedCode()));
          if (res.status === 429) limited++;
          else assert.equal(res.status, 404);
        }
      }
      assert.equal(limited, 2, '30 attempts a minute per address: the 31st and 32nd are refused');
      const elsewhere = await person(t);
      await expectError(await redeem(elsewhere, formatCode(generateNormalizedCode())), 404, 'not_found');
    });

    test('an office: 40 people redeem real codes from one address within a minute and all succeed; guessing from it is still limited', async () => {
      const ip = randomIp();
      const g = await generate(t, { count: 40, amount: '1.00' });
      issued.push(...g.codes.map((c) => c.code));
      const people = await Promise.all(Array.from({ length: 40 }, () => person(t, ip)));
      for (let i = 0; i < 40; i++) assert.equal((await expectJson(await redeem(people[i], g.codes[i].code))).amount, '1.00');
      let limited = 0;
      for (let i = 0; i < 32; i++) {
        const res = await redeem(people[i % 40], formatCode(generateNormalizedCode()));
        if (res.status === 429) limited++;
      }
      assert.equal(limited, 2, 'the successes did not use up the address; 30 guesses a minute still do');
    });

    test("the lockout outlasts the minute; a success clears a user's count (limiter with a test clock)", async () => {
      let clock = Date.now();
      const limiter = new MemoryRateLimiter(() => clock);
      const { user } = await createUser(t.ctx.db, { email: `clock-${Date.now()}@test.io`, password: 'correct horse battery' });
      const attempt = (code: string) =>
        redeemCode(t.ctx.db, { userId: user.id, code, ip: null, secret: t.config.secret, limiter, now: clock }).then(
          () => 'redeemed',
          (e) => e.code as string,
        );
      const guess = () => attempt(formatCode(generateNormalizedCode()));
      for (let i = 0; i < 4; i++) assert.equal(await guess(), 'not_found');
      const { codes } = await generateRedeemBatch(t.ctx.db, {
        count: 1,
        amount: 1_000_000n,
        currency: 'USD',
        secret: t.config.secret,
        actor: { type: 'system' },
      });
      issued.push(codes[0].code);
      assert.equal(await attempt(codes[0].code), 'redeemed');
      for (let i = 0; i < 5; i++) assert.equal(await guess(), 'not_found', 'the success cleared the earlier failures');
      assert.equal(await guess(), 'rate_limited');
      clock += 61_000;
      for (let i = 0; i < 4; i++) assert.equal(await guess(), 'not_found', 'a new minute');
      assert.equal(await guess(), 'rate_limited', 'the 11th attempt in 15 minutes: locked out');
      clock += 61_000;
      assert.equal(await guess(), 'rate_limited', 'still locked a minute later');
      clock += 15 * 60_000;
      assert.equal(await guess(), 'not_found', 'the lockout ends');
    });

    // A refusal costs a guesser nothing, so it must not cost a row each: the
    // original wrote one redeem_attempts row per refused attempt.
    test('500 rate-limited attempts write one row that counts them; the views say rate_limited ×N', async () => {
      const p = await person(t);
      for (let i = 0; i < 5; i++) await expectError(await redeem(p, formatCode(generateNormalizedCode())), 404, 'not_found');
      const statuses: number[] = [];
      for (let batch = 0; batch < 10; batch++) {
        const rs = await Promise.all(Array.from({ length: 50 }, () => redeem(p, formatCode(generateNormalizedCode()))));
        for (const r of rs) {
          statuses.push(r.status);
          await r.body?.cancel();
        }
      }
      assert.deepEqual([...new Set(statuses)], [429]);
      const rows = await t.ctx.db.selectFrom('redeem_attempts').select(['outcome', 'times']).where('user_id', '=', p.userId).execute();
      const limited = rows.filter((r) => r.outcome === 'rate_limited');
      assert.ok(rows.length <= 7, `${rows.length} rows for 505 attempts`);
      assert.ok(limited.length <= 2, `${limited.length} rate_limited rows (one per 15-minute window; a run across a boundary makes two)`);
      assert.equal(
        limited.reduce((n, r) => n + Number(r.times), 0),
        500,
        'every refusal is counted',
      );

      const mine = (await expectJson(await p.f('/api/redeem/attempts'))).data;
      assert.equal(mine[0].outcome, 'rate_limited');
      assert.ok(mine[0].times > 1 && typeof mine[0].last_at === 'string');
      assert.equal(mine.at(-1).times, 1, 'ordinary attempts count as one');
      const staff = (await expectJson(await admin(t, 'GET', `/api/admin/redeem/attempts?user_id=${p.userId}`))).data;
      assert.equal(
        staff.filter((a: { outcome: string }) => a.outcome === 'rate_limited').reduce((n: number, a: { times: number }) => n + a.times, 0),
        500,
      );
      const d = await expectJson(await p.f('/api/support/diagnose?problem=redeem_not_credited'));
      const evidence = d.cases.flatMap((c: { evidence: string[] }) => c.evidence).join('\n');
      assert.match(evidence, /rate_limited ×\d+ until /);
    });

    test('no plaintext code remains in the database, the logs or any later response', async () => {
      const res = await admin(t, 'POST', '/api/admin/redeem/batches', { count: 5, amount: '2.00', name: 'leak check' });
      const g = await expectJson(res, 201);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const p = await person(t);
      const seen = async (r: Promise<Response>) => {
        const x = await r;
        responses.push(await x.clone().text());
        return x;
      };
      await expectJson(await seen(redeem(p, g.codes[0].code)));
      await seen(redeem(p, g.codes[0].code));
      await seen(redeem(p, g.codes[1].code.toLowerCase().slice(0, -1) + 'x'));
      await seen(p.f('/api/redeem/attempts'));
      await seen(p.f('/api/ledger'));
      await seen(p.f('/api/me'));
      await seen(admin(t, 'GET', '/api/admin/redeem/batches'));
      await seen(admin(t, 'GET', `/api/admin/redeem/batches/${g.batch.id}/codes`));
      await seen(admin(t, 'GET', `/api/admin/redeem/attempts?user_id=${p.userId}`));
      await seen(admin(t, 'POST', `/api/admin/redeem/codes/${g.codes[2].id}/disable`, { reason: 'test' }));
      await seen(admin(t, 'GET', '/api/admin/ledger/verify'));
      const r = JSON.parse(responses[0]);
      await seen(admin(t, 'POST', `/api/admin/redeem/redemptions/${r.redemption_id}/reverse`, { reason: 'leak test' }));

      // Every code generated in this suite, including the 50-account race and the lockout tests'.
      const all: string[] = [...issued, ...g.codes.map((c: { code: string }) => c.code)];
      assert.ok(all.length >= 9);
      const texts = await everyTextInDatabase(t);
      assert.ok(texts.length > 100);
      const logText = t.logs.join('');
      assert.ok(logText.includes('redeem code credited'), 'the redemption was logged (masked)');
      for (const code of all) {
        for (const form of leakForms(code)) {
          assert.equal(
            texts.some((x) => x.includes(form)),
            false,
            `the database holds ${form}`,
          );
          assert.equal(logText.includes(form), false, `the log holds ${form}`);
          assert.equal(
            responses.some((x) => x.includes(form)),
            false,
            `a later response holds ${form}`,
          );
        }
      }
      const stored = await t.ctx.db.selectFrom('redeem_codes').select(['code_hash', 'display']).where('batch_id', '=', g.batch.id).execute();
      assert.equal(stored.length, 5);
      for (const s of stored) {
        assert.match(s.code_hash, /^[0-9a-f]{64}$/);
        assert.match(s.display, /^TALLY-\*{4}-\*{4}-\*{4}-\*{4}-[0-9A-Z]{4}$/);
      }
    });

    test('tally redeem generate prints codes once; they redeem over HTTP and are not stored', async () => {
      const env: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TALLY_') && !k.startsWith('NODE_TEST')) env[k] = v;
      Object.assign(env, { TALLY_DATABASE_URL: t.testDb.connectionUrl, TALLY_SECRET: t.config.secret, TALLY_LOG_LEVEL: 'silent' });
      const run = () =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            [
              join(process.cwd(), 'bin', 'tally.mjs'),
              'redeem',
              'generate',
              '--count',
              '2',
              '--amount',
              '7.25',
              '--batch',
              'cli batch',
              '--expires',
              '2099-06-01T00:00:00Z',
              '--max-uses',
              '1',
              '--json',
            ],
            { env, stdio: ['ignore', 'pipe', 'pipe'] },
          );
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d) => (stdout += d));
          child.stderr.on('data', (d) => (stderr += d));
          child.on('error', reject);
          child.on('close', (code) => resolve({ code, stdout, stderr }));
        });
      const out = dialect === 'postgres' ? await whileNoSchemaIsDropped(run) : await run();
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout.trim().includes('\n'), false, 'one JSON object');
      const j = JSON.parse(out.stdout);
      assert.equal(j.ok, true);
      assert.deepEqual([j.batch.name, j.batch.amount, j.batch.code_count, j.batch.expires_at], ['cli batch', '7.25', 2, '2099-06-01T00:00:00.000Z']);
      assert.equal(j.codes.length, 2);
      const p = await person(t);
      const r = await expectJson(await redeem(p, j.codes[1].code));
      assert.equal(r.amount, '7.25');
      const texts = await everyTextInDatabase(t);
      for (const c of j.codes)
        for (const form of leakForms(c.code))
          assert.equal(
            texts.some((x) => x.includes(form)),
            false,
          );
      const audit = await t.ctx.db.selectFrom('audit_log').select(['actor']).where('target', '=', j.batch.id).executeTakeFirstOrThrow();
      assert.equal(audit.actor, 'cli');
    });
  });
}
