// `tally user set-limits` and `tally group set --rpm` run in a child process,
// as an operator does, change what a running server enforces: their events
// (user_changed, catalog_changed) reach it through Redis; `none` clears a limit.
// On SQLite and PostgreSQL; skipped without TALLY_TEST_REDIS_URL (the events
// travel through Redis).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { testDialects } from '../helpers/db.ts';
import { runTally, type Run } from '../helpers/cli.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { relaySdk, verifyThenClose } from '../helpers/relay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { upsertGroup } from '../../src/gateway/groups.ts';

const REDIS_URL = process.env.TALLY_TEST_REDIS_URL;
const CHAT = 'gpt-4o-mini';
const messages = [{ role: 'user' as const, content: 'hello there' }];

const json = (r: Run): any => {
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return JSON.parse(r.stdout);
};

for (const dialect of testDialects()) {
  describe(`limits set from the CLI reach a running server (${dialect})`, { skip: REDIS_URL ? false : 'needs TALLY_TEST_REDIS_URL' }, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let env: NodeJS.ProcessEnv;

    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_REDIS_URL: REDIS_URL! });
      mock = await startMockOpenAI();
      await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 1_000_000n, outputPer1M: 2_000_000n, maxOutputTokens: 64 });
      await createChannel(t.ctx.db, t.config.secret, { name: 'm', type: 'openai', baseUrl: mock.url, apiKey: 'sk-up-xxxxxxxx', models: [CHAT] });
      await t.ctx.catalog.reload();
      const clean: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TALLY_') && !k.startsWith('NODE_TEST')) clean[k] = v;
      env = { ...clean, TALLY_DATABASE_URL: t.testDb.connectionUrl, TALLY_REDIS_URL: REDIS_URL, TALLY_SECRET: t.config.secret, TALLY_LOG_LEVEL: 'silent' };
    });
    after(() => verifyThenClose(t, mock));

    /** Sends requests (one at a time) until one is refused with 429; returns the refusal, or null after `ms`. */
    async function until429(apiKey: string, ms = 5000): Promise<any> {
      const sdk = relaySdk(t, apiKey);
      const end = Date.now() + ms;
      while (Date.now() < end) {
        try {
          await sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 4 });
        } catch (e: any) {
          if (e.status === 429) return e;
          throw e;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      return null;
    }

    /** Sends requests until `n` in a row pass (within `ms`); true if they did. */
    async function passes(apiKey: string, n: number, ms = 5000): Promise<boolean> {
      const sdk = relaySdk(t, apiKey);
      const end = Date.now() + ms;
      let inRow = 0;
      while (Date.now() < end) {
        try {
          await sdk.chat.completions.create({ model: CHAT, messages, max_tokens: 4 });
          if (++inRow >= n) return true;
        } catch (e: any) {
          if (e.status !== 429) throw e;
          inRow = 0;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      return false;
    }

    test('tally user set-limits: the server enforces it at once; none clears it; bad values change nothing', async () => {
      const u = await seedUser(t, { balance: 5_000_000n });
      assert.ok(await passes(u.apiKey, 3), 'no limit yet'); // and the key is now cached by the server

      const out = json(await runTally(env, 'user', 'set-limits', '--user', u.email, '--rpm', '2', '--concurrency', '5', '--json'));
      assert.deepEqual(out, { ok: true, user_id: u.user.id, rpm: 2, tpm: null, concurrency: 5 });
      const refused = await until429(u.apiKey);
      assert.ok(refused, 'the cached key picked up the user limit (user_changed)');
      assert.match(refused.message, /this account is limited to 2 requests per minute/);
      assert.equal(refused.headers.get('x-ratelimit-limit-requests'), '2');

      const bad = await runTally(env, 'user', 'set-limits', '--user', u.email, '--rpm', '0', '--tpm', '10', '--json');
      assert.notEqual(bad.code, 0);
      assert.match(bad.stdout + bad.stderr, /invalid_limit/);
      const row = await t.ctx.db.selectFrom('users').select(['rpm', 'tpm', 'concurrency']).where('id', '=', u.user.id).executeTakeFirstOrThrow();
      assert.deepEqual({ rpm: Number(row.rpm), tpm: row.tpm, concurrency: Number(row.concurrency) }, { rpm: 2, tpm: null, concurrency: 5 });

      const cleared = json(await runTally(env, 'user', 'set-limits', '--user', u.email, '--rpm', 'none', '--json'));
      assert.equal(cleared.rpm, null);
      assert.equal(cleared.concurrency, 5, 'a limit not named keeps its value');
      assert.ok(await passes(u.apiKey, 5), 'rpm none: no more 429s');
      const audit = await t.ctx.db.selectFrom('audit_log').selectAll().where('action', '=', 'user.set_limits').where('target', '=', u.user.id).execute();
      assert.equal(audit.length, 2, 'each change is audited (the refused ones are not)');
    });

    test('tally group set --rpm: every user of the group limited on their own; none clears it', async () => {
      await upsertGroup(t.ctx.db, { name: 'clislow', multiplierPpm: 1_000_000n, models: null });
      await t.ctx.catalog.reload();
      const x = await seedUser(t, { balance: 5_000_000n, group: 'clislow' });
      const y = await seedUser(t, { balance: 5_000_000n, group: 'clislow' });
      assert.ok(await passes(x.apiKey, 3));

      const out = json(await runTally(env, 'group', 'set', '--name', 'clislow', '--multiplier', '1.0', '--rpm', '1', '--json'));
      assert.equal(out.group.rpm, 1);
      const rx = await until429(x.apiKey);
      assert.ok(rx, 'the group limit reached the server (catalog_changed)');
      assert.match(rx.message, /group is limited to 1 requests per minute/);
      // y is counted apart from x: its first passes, its second does not.
      const sdkY = relaySdk(t, y.apiKey);
      await sdkY.chat.completions.create({ model: CHAT, messages, max_tokens: 4 });
      await assert.rejects(sdkY.chat.completions.create({ model: CHAT, messages, max_tokens: 4 }), (e: any) => e.status === 429);

      // Upserting the group without --rpm keeps its limit.
      const kept = json(await runTally(env, 'group', 'set', '--name', 'clislow', '--multiplier', '1.0', '--json'));
      assert.equal(kept.group.rpm, 1);
      json(await runTally(env, 'group', 'set', '--name', 'clislow', '--multiplier', '1.0', '--rpm', 'none', '--json'));
      assert.ok(await passes(x.apiKey, 5), 'rpm none: the group limit is gone');
      assert.ok(await passes(y.apiKey, 3));
    });
  });
}
