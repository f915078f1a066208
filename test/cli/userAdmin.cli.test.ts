// `tally user disable|enable|set-group|set-role|sign-out --user EMAIL`, run in a
// child process as an operator does, change what a running server does: the
// user's cached key is refused at once (user_changed through Redis), sessions
// end, every change is audited as `cli`; bad input exits non-zero and changes
// nothing. On SQLite and PostgreSQL; skipped without TALLY_TEST_REDIS_URL.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { testDialects } from '../helpers/db.ts';
import { runTally, type Run } from '../helpers/cli.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { verifyThenClose } from '../helpers/relay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { upsertGroup } from '../../src/gateway/groups.ts';

const REDIS_URL = process.env.TALLY_TEST_REDIS_URL;
const CHAT = 'gpt-4o-mini';

const json = (r: Run): any => {
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return JSON.parse(r.stdout);
};

for (const dialect of testDialects()) {
  describe(`tally user disable/enable/set-group/set-role/sign-out reach a running server (${dialect})`, {
    skip: REDIS_URL ? false : 'needs TALLY_TEST_REDIS_URL',
  }, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let env: NodeJS.ProcessEnv;

    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_REDIS_URL: REDIS_URL! });
      mock = await startMockOpenAI();
      await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 1_000_000n, outputPer1M: 2_000_000n, maxOutputTokens: 64 });
      await createChannel(t.ctx.db, t.config.secret, { name: 'm', type: 'openai', baseUrl: mock.url, apiKey: 'sk-up-xxxxxxxx', models: [CHAT] });
      await upsertGroup(t.ctx.db, { name: 'vip', multiplierPpm: 800_000n, models: null });
      await t.ctx.catalog.reload();
      const clean: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TALLY_') && !k.startsWith('NODE_TEST')) clean[k] = v;
      env = { ...clean, TALLY_DATABASE_URL: t.testDb.connectionUrl, TALLY_REDIS_URL: REDIS_URL, TALLY_SECRET: t.config.secret, TALLY_LOG_LEVEL: 'silent' };
    });
    after(() => verifyThenClose(t, mock));

    async function ask(apiKey: string) {
      const res = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: CHAT, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
      });
      const body: any = await res.json();
      return { status: res.status, code: (body.error?.code as string) ?? null };
    }
    const auditActors = async (target: string) =>
      (
        await t.ctx.db
          .selectFrom('audit_log')
          .select(['action', 'actor', 'reason'])
          .where('target', '=', target)
          .where('action', 'like', 'user.%')
          .orderBy('id')
          .execute()
      ).filter((r) => r.action !== 'user.create');

    test('disable, enable, set-group, set-role, sign-out: the server follows at once; each is audited as cli', async () => {
      const u = await seedUser(t, { balance: 5_000_000n });
      const session = await signIn(t, u.email, u.password);
      assert.equal((await ask(u.apiKey)).status, 200); // cached by the server

      const off = json(await runTally(env, 'user', 'disable', '--user', u.email, '--reason', 'abuse report', '--json'));
      assert.deepEqual([off.ok, off.changed, off.sessions_ended, off.user.status], [true, true, 1, 'disabled']);
      // The CLI's event reaches the server through Redis: refused within a second (the key cache alone would take a minute).
      let last = await ask(u.apiKey);
      for (const end = Date.now() + 1000; last.status === 200 && Date.now() < end; ) {
        await new Promise((r) => setTimeout(r, 10));
        last = await ask(u.apiKey);
      }
      assert.deepEqual(last, { status: 403, code: 'account_disabled' });
      assert.equal((await session('/api/me')).status, 401);

      const on = json(await runTally(env, 'user', 'enable', '--user', u.email, '--json'));
      assert.deepEqual([on.changed, on.user.status], [true, 'active']);
      let back = await ask(u.apiKey);
      for (const end = Date.now() + 1000; back.status !== 200 && Date.now() < end; ) {
        await new Promise((r) => setTimeout(r, 10));
        back = await ask(u.apiKey);
      }
      assert.equal(back.status, 200);

      const g = json(await runTally(env, 'user', 'set-group', '--user', u.email, '--group', 'vip', '--reason', 'partner', '--json'));
      assert.deepEqual([g.changed, g.user.group], [true, 'vip']);
      const r = json(await runTally(env, 'user', 'set-role', '--user', u.user.id, '--role', 'support', '--reason', 'hired', '--json'));
      assert.deepEqual([r.changed, r.user.role], [true, 'support']);

      const again = await signIn(t, u.email, u.password);
      const out = json(await runTally(env, 'user', 'sign-out', '--user', u.email, '--json'));
      assert.equal(out.sessions_ended, 1);
      assert.equal((await again('/api/me')).status, 401);

      assert.deepEqual(await auditActors(u.user.id), [
        { action: 'user.disable', actor: 'cli', reason: 'abuse report' },
        { action: 'user.enable', actor: 'cli', reason: null },
        { action: 'user.set_group', actor: 'cli', reason: 'partner' },
        { action: 'user.set_role', actor: 'cli', reason: 'hired' },
        { action: 'user.sign_out', actor: 'cli', reason: null },
      ]);
    });

    test('bad input exits non-zero with the error code and changes nothing', async () => {
      const u = await seedUser(t);
      const noGroup = await runTally(env, 'user', 'set-group', '--user', u.email, '--group', 'nonesuch', '--json');
      assert.equal(noGroup.code, 2);
      assert.equal(JSON.parse(noGroup.stdout).error.code, 'group_not_found');
      const blank = await runTally(env, 'user', 'disable', '--user', u.email, '--reason', ' ', '--json');
      assert.equal(blank.code, 2);
      assert.equal(JSON.parse(blank.stdout).error.code, 'reason_required');
      const nobody = await runTally(env, 'user', 'disable', '--user', 'nobody@nowhere.io', '--reason', 'x', '--json');
      assert.equal(JSON.parse(nobody.stdout).error.code, 'user_not_found');
      const row = await t.ctx.db.selectFrom('users').select(['status', 'group_name']).where('id', '=', u.user.id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { status: 'active', group_name: 'default' });
      assert.deepEqual(await auditActors(u.user.id), []);
    });
  });
}
