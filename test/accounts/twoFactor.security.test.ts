import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { testDialects } from '../helpers/db.ts';
import { seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { CHALLENGE_MAX_ATTEMPTS } from '../../src/accounts/twoFactor/challenges.ts';
import { expectError, expectJson, send } from './http.ts';
import { startLoggedTally } from './accountMail.ts';
import { challengeFor, cookieOf, enableTwoFactor, fetcherWith, manualClock, STEP_MS, totpCode, verify } from './twoFactorHelpers.ts';

/** Every text value of every row of every table. */
async function everyTextInDatabase(t: TestTally): Promise<string[]> {
  const tables =
    t.testDb.dialect === 'postgres'
      ? (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(t.ctx.db)).rows
      : (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(t.ctx.db)).rows;
  assert.ok(tables.some((x) => x.name === 'two_factor'));
  const out: string[] = [];
  for (const { name } of tables) {
    const rows = (await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(t.ctx.db)).rows;
    for (const r of rows) for (const v of Object.values(r)) if (typeof v === 'string') out.push(v);
  }
  return out;
}

for (const dialect of testDialects()) {
  describe(`two-factor attacks on ${dialect}`, () => {
    let t: TestTally & { logs: string[] };
    let clock: ReturnType<typeof manualClock>;
    before(async () => {
      t = await startLoggedTally(dialect, {});
      clock = manualClock(t);
    });
    after(async () => {
      await t?.close();
    });

    test('a code that signed in once is refused the second time, and so is an older one; the next step is accepted', async () => {
      const u = await seedUser(t);
      const { secret } = await enableTwoFactor(await signIn(t, u.email, u.password), clock.now());
      clock.nextStep();
      const code = totpCode(secret, clock.now());
      await expectJson(await verify(t, { challenge: await challengeFor(t, u.email, u.password), code }));
      await expectError(await verify(t, { challenge: await challengeFor(t, u.email, u.password), code }), 400, 'invalid_two_factor_code');
      // The previous step's code is still inside the ±1 window, but older than the one used: refused too.
      const older = totpCode(secret, clock.now() - STEP_MS);
      await expectError(await verify(t, { challenge: await challengeFor(t, u.email, u.password), code: older }), 400, 'invalid_two_factor_code');
      // Two steps away is outside the window.
      clock.nextStep();
      const far = totpCode(secret, clock.now() + 2 * STEP_MS);
      await expectError(await verify(t, { challenge: await challengeFor(t, u.email, u.password), code: far }), 400, 'invalid_two_factor_code');
      // One step ahead (a phone clock running fast) is accepted.
      await expectJson(await verify(t, { challenge: await challengeFor(t, u.email, u.password), code: totpCode(secret, clock.now() + STEP_MS) }));
    });

    test('one code sent on 10 challenges at the same moment opens exactly one session', async () => {
      const u = await seedUser(t);
      const { secret } = await enableTwoFactor(await signIn(t, u.email, u.password), clock.now());
      clock.nextStep();
      const code = totpCode(secret, clock.now());
      const challenges = await Promise.all(Array.from({ length: 10 }, () => challengeFor(t, u.email, u.password)));
      const before = await t.ctx.db.selectFrom('sessions').select('id').where('user_id', '=', u.user.id).execute();
      const results = await Promise.all(challenges.map((challenge) => verify(t, { challenge, code })));
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, ...Array(9).fill(400)], `statuses: ${statuses}`);
      for (const r of results) await r.text();
      const after = await t.ctx.db.selectFrom('sessions').select('id').where('user_id', '=', u.user.id).execute();
      assert.equal(after.length - before.length, 1);
    });

    test('one recovery code raced on 8 challenges opens exactly one session', async () => {
      const u = await seedUser(t);
      const { recoveryCodes } = await enableTwoFactor(await signIn(t, u.email, u.password), clock.now());
      const challenges = await Promise.all(Array.from({ length: 8 }, () => challengeFor(t, u.email, u.password)));
      const results = await Promise.all(challenges.map((challenge) => verify(t, { challenge, recovery_code: recoveryCodes[0] })));
      assert.equal(results.filter((r) => r.status === 200).length, 1);
      for (const r of results) await r.text();
    });

    test('one challenge opens one session: sending it twice at once with two valid codes signs in once', async () => {
      const u = await seedUser(t);
      const { secret, recoveryCodes } = await enableTwoFactor(await signIn(t, u.email, u.password), clock.now());
      clock.nextStep();
      const challenge = await challengeFor(t, u.email, u.password);
      const results = await Promise.all([
        verify(t, { challenge, code: totpCode(secret, clock.now()) }),
        verify(t, { challenge, recovery_code: recoveryCodes[1] }),
      ]);
      assert.equal(results.filter((r) => r.status === 200).length, 1, `statuses ${results.map((r) => r.status)}`);
      for (const r of results) await r.text();
      await expectError(await verify(t, { challenge, recovery_code: recoveryCodes[2] }), 401, 'two_factor_challenge_invalid');
    });

    test(`a challenge takes ${CHALLENGE_MAX_ATTEMPTS} wrong codes, then not even the right one; an expired one takes none`, async () => {
      const u = await seedUser(t);
      const { secret } = await enableTwoFactor(await signIn(t, u.email, u.password), clock.now());
      clock.nextStep();
      const challenge = await challengeFor(t, u.email, u.password);
      for (let i = 0; i < CHALLENGE_MAX_ATTEMPTS; i++)
        await expectError(await verify(t, { challenge, code: String(100000 + i) }), 400, 'invalid_two_factor_code');
      await expectError(await verify(t, { challenge, code: totpCode(secret, clock.now()) }), 401, 'two_factor_challenge_invalid');
      const late = await challengeFor(t, u.email, u.password);
      clock.nextStep();
      for (let i = 0; i < 10; i++) clock.nextStep(); // 5.5 minutes later
      await expectError(await verify(t, { challenge: late, code: totpCode(secret, clock.now()) }), 401, 'two_factor_challenge_invalid');
      await expectError(await verify(t, { challenge: 'made-up', code: totpCode(secret, clock.now()) }), 401, 'two_factor_challenge_invalid');
    });

    test('a disabled account cannot finish signing in with a code', async () => {
      const u = await seedUser(t);
      const { secret } = await enableTwoFactor(await signIn(t, u.email, u.password), clock.now());
      clock.nextStep();
      const challenge = await challengeFor(t, u.email, u.password);
      await t.ctx.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', u.user.id).execute();
      await expectError(await verify(t, { challenge, code: totpCode(secret, clock.now()) }), 403, 'account_disabled');
    });

    test('no TOTP secret, code, recovery code or challenge is in the database in clear or in the logs', async () => {
      const u = await seedUser(t);
      const f = await signIn(t, u.email, u.password);
      const setup = await expectJson(await send(f, 'POST', '/api/auth/2fa/setup'));
      const enableCode = totpCode(setup.secret, clock.now());
      const on = await expectJson(await send(f, 'POST', '/api/auth/2fa/enable', { code: enableCode }));
      clock.nextStep();
      const challenge = await challengeFor(t, u.email, u.password);
      const code = totpCode(setup.secret, clock.now());
      const res = await verify(t, { challenge, code });
      const g = fetcherWith(t, cookieOf(await expectJson(res).then(() => res)));
      await expectJson(await g('/api/me'));
      await expectJson(await verify(t, { challenge: await challengeFor(t, u.email, u.password), recovery_code: on.recovery_codes[0] }));
      const texts = await everyTextInDatabase(t);
      const logs = t.logs.join('\n');
      assert.ok(logs.length > 0, 'the log sink received nothing');
      for (const s of [setup.secret, challenge, ...on.recovery_codes]) {
        assert.ok(!texts.some((x) => x.includes(s)), `${s.length}-character secret found in the database`);
        assert.ok(!logs.includes(s), `${s.length}-character secret found in the logs`);
      }
      // Six digits can occur by chance inside a timestamp or an id; a code as a value of its own cannot.
      for (const c of [enableCode, code]) {
        assert.ok(!texts.includes(c), 'a TOTP code stored in the database');
        assert.ok(!logs.includes(`"${c}"`), 'a TOTP code in the logs');
      }
      // The recovery codes without their dash are not there either.
      for (const r of on.recovery_codes) assert.ok(!texts.some((x) => x.includes(r.replace('-', ''))));
    });
  });
}
