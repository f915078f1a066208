// `tally model set-price` with the prompt-cache prices, in a child process as
// an operator runs it: --cached-input, --cache-write (5-minute) and
// --cache-write-1h are stored in micro-units, listed, audited, and left unset
// (the input price applies) when not given.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects, createTestDb, type TestDb } from '../helpers/db.ts';
import { runTally as tally, type Run } from '../helpers/cli.ts';
import { listPrices } from '../../src/gateway/pricing.ts';

function cliEnv(databaseUrl: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TALLY_') && !k.startsWith('NODE_TEST')) env[k] = v;
  return { ...env, TALLY_DATABASE_URL: databaseUrl, TALLY_SECRET: 'cli-test-secret-0123456789abcdef', TALLY_LOG_LEVEL: 'silent' };
}

function json(r: Run): any {
  assert.equal(r.stdout.trim().includes('\n'), false, `one JSON object on stdout: ${r.stdout}`);
  return JSON.parse(r.stdout);
}

for (const dialect of testDialects()) {
  describe(`tally model set-price with prompt-cache prices on ${dialect}`, () => {
    let db: TestDb;
    let env: NodeJS.ProcessEnv;
    before(async () => {
      db = await createTestDb(dialect);
      env = cliEnv(db.connectionUrl);
    });
    after(() => db?.cleanup());

    test('--cache-write and --cache-write-1h are stored beside --cached-input, shown, listed and audited', async () => {
      const args = ['--model', 'claude-sonnet', '--input', '3', '--output', '15', '--cached-input', '0.30', '--cache-write', '3.75', '--cache-write-1h', '6'];
      const r = await tally(env, 'model', 'set-price', ...args, '--json');
      assert.equal(r.code, 0, r.stderr);
      const out = json(r);
      assert.deepEqual(out.price, {
        model: 'claude-sonnet',
        kind: 'chat',
        input_per_1m: '3.00',
        output_per_1m: '15.00',
        cached_input_per_1m: '0.30',
        cache_write_per_1m: '3.75',
        cache_write_1h_per_1m: '6.00',
        max_output_tokens: 4096,
      });
      const [p] = await listPrices(db.db);
      assert.equal(p.cachedInputPer1M, 300_000n);
      assert.equal(p.cacheWritePer1M, 3_750_000n);
      assert.equal(p.cacheWrite1hPer1M, 6_000_000n);
      assert.equal(p.promptBoundPer1M, 6_000_000n);
      const audit = await db.db.selectFrom('audit_log').selectAll().where('target', '=', 'claude-sonnet').where('action', '=', 'model.set_price').execute();
      assert.equal(audit.length, 1);
      assert.equal(JSON.parse(audit[0].data!).cache_write_1h_per_1m, '6.00');

      const human = await tally(env, 'model', 'set-price', ...args);
      assert.match(human.stdout, /claude-sonnet: input 3\.00\/1M, output 15\.00\/1M, cached 0\.30\/1M, cache write 5m 3\.75\/1M, cache write 1h 6\.00\/1M/);
      const list = await tally(env, 'model', 'list');
      assert.match(list.stdout, /claude-sonnet .* cache write 5m 3\.75\/1M {2}cache write 1h 6\.00\/1M/);
      const listed = json(await tally(env, 'model', 'list', '--json'));
      assert.equal(listed.models[0].cache_write_per_1m, '3.75');
    });

    test('setting the price again without the cache flags unsets them: the input price applies again', async () => {
      const r = await tally(env, 'model', 'set-price', '--model', 'claude-sonnet', '--input', '3', '--output', '15', '--json');
      assert.equal(r.code, 0, r.stderr);
      const out = json(r);
      assert.equal(out.price.cache_write_per_1m, null);
      assert.equal(out.price.cache_write_1h_per_1m, null);
      const [p] = await listPrices(db.db);
      assert.equal(p.cacheWritePer1M, null);
      assert.equal(p.promptBoundPer1M, 3_000_000n);
    });

    test('a negative or malformed cache-write price is refused, naming the flag', async () => {
      const bad = await tally(env, 'model', 'set-price', '--model', 'claude-sonnet', '--input', '3', '--output', '15', '--cache-write-1h', '-1', '--json');
      assert.notEqual(bad.code, 0);
      const e = json(bad).error;
      assert.equal(e.code, 'invalid_amount');
      assert.match(e.message, /cache-write-1h/);
      const typo = await tally(env, 'model', 'set-price', '--model', 'claude-sonnet', '--input', '3', '--output', '15', '--cache-write', '3,75', '--json');
      assert.notEqual(typo.code, 0);
      assert.match(json(typo).error.message, /cache-write/);
    });
  });
}
