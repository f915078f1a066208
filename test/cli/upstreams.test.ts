// The CLI side of issue 14's upstream and price options, in a child process as
// an operator runs it: `model set-price --tier-above/--tier-input/--tier-output`,
// `channel add` with several keys (--api-key repeated, --api-keys) and an
// azure channel with --api-version. Keys are stored encrypted and never printed.
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

const json = (r: Run): any => {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

for (const dialect of testDialects()) {
  describe(`tally upstream options on ${dialect}`, () => {
    let db: TestDb;
    let env: NodeJS.ProcessEnv;
    before(async () => {
      db = await createTestDb(dialect);
      env = cliEnv(db.connectionUrl);
    });
    after(() => db?.cleanup());

    test('model set-price --tier-above --tier-input --tier-output: stored, shown; a half-set tier is refused', async () => {
      const args = ['--model', 'gemini-2.5-pro', '--input', '1.25', '--output', '10', '--tier-above', '200000', '--tier-input', '2.50', '--tier-output', '15'];
      const out = json(await tally(env, 'model', 'set-price', ...args, '--json'));
      assert.equal(out.price.tier_above, 200_000);
      assert.equal(out.price.tier_input_per_1m, '2.50');
      assert.equal(out.price.tier_output_per_1m, '15.00');
      const [p] = await listPrices(db.db);
      assert.equal(p.tierAbove, 200_000);
      assert.equal(p.tierInputPer1M, 2_500_000n);
      assert.equal(p.tierOutputPer1M, 15_000_000n);
      const human = await tally(env, 'model', 'set-price', ...args);
      assert.match(human.stdout, /above 200000 prompt tokens: input 2\.50\/1M, output 15\.00\/1M/);
      const half = await tally(env, 'model', 'set-price', '--model', 'x', '--input', '1', '--output', '1', '--tier-above', '10', '--json');
      assert.notEqual(half.code, 0);
      assert.match(half.stdout + half.stderr, /invalid_price/);
    });

    test('channel add with several keys (--api-key twice and --api-keys) and an azure channel with --api-version; no key printed', async () => {
      const out = json(
        await tally(
          env,
          'channel',
          'add',
          '--name',
          'pooled',
          '--type',
          'openai',
          '--base-url',
          'https://api.example.com/v1',
          '--api-key',
          'sk-aaaa-1111',
          '--api-key',
          'sk-bbbb-2222',
          '--api-keys',
          'sk-cccc-3333,sk-dddd-4444',
          '--models',
          'gpt-4o-mini',
          '--json',
        ),
      );
      assert.equal(out.channel.api_keys.count, 4);
      assert.deepEqual(
        out.channel.api_keys.keys.map((k: any) => k.key),
        ['...1111', '...2222', '...3333', '...4444'],
      );
      assert.ok(!/sk-(aaaa|bbbb|cccc|dddd)/.test(JSON.stringify(out)));
      const row = await db.db.selectFrom('channels').selectAll().where('name', '=', 'pooled').executeTakeFirstOrThrow();
      assert.ok(row.api_keys_enc && !row.api_keys_enc.includes('sk-'), 'stored encrypted');

      const az = json(
        await tally(
          env,
          'channel',
          'add',
          '--name',
          'az',
          '--type',
          'azure',
          '--base-url',
          'https://myres.openai.azure.com',
          '--api-key',
          'azkey',
          '--api-version',
          '2025-04-01-preview',
          '--models',
          'gpt-4o',
          '--map',
          'gpt-4o=dep1',
          '--json',
        ),
      );
      assert.equal(az.channel.type, 'azure');
      assert.equal(az.channel.api_version, '2025-04-01-preview');
    });
  });
}
