// `tally channel update` in a child process, as an operator runs it, on
// SQLite and PostgreSQL: fields change and the rest stays; --api-key replaces
// every key, --add-api-key / --remove-api-key (hint or index) edit the list;
// --no-responses-api turns passthrough off; a type change or a bad value
// fails with a stable code and changes nothing; no key is ever printed and the
// audit row (actor cli) carries masked hints only.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects, createTestDb, type TestDb } from '../helpers/db.ts';
import { runTally as tally, type Run } from '../helpers/cli.ts';

function cliEnv(databaseUrl: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TALLY_') && !k.startsWith('NODE_TEST')) env[k] = v;
  return { ...env, TALLY_DATABASE_URL: databaseUrl, TALLY_SECRET: 'cli-test-secret-0123456789abcdef', TALLY_LOG_LEVEL: 'silent' };
}

const json = (r: Run): any => {
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return JSON.parse(r.stdout);
};
const KEYS = ['sk-cli-key-one-00000000aaaa', 'sk-cli-key-two-00000000bbbb', 'sk-cli-key-new-00000000cccc', 'sk-cli-key-add-00000000dddd'];

for (const dialect of testDialects()) {
  describe(`tally channel update on ${dialect}`, () => {
    let db: TestDb;
    let env: NodeJS.ProcessEnv;
    before(async () => {
      db = await createTestDb(dialect);
      env = cliEnv(db.connectionUrl);
      json(
        await tally(
          env,
          'channel',
          'add',
          '--name',
          'main',
          '--type',
          'openai',
          '--base-url',
          'https://api.example.com/v1',
          '--api-key',
          KEYS[0],
          '--api-key',
          KEYS[1],
          '--responses-api',
          '--models',
          'gpt-4o-mini',
          '--json',
        ),
      );
    });
    after(() => db?.cleanup());

    test('fields change by name; options not given stay', async () => {
      const out = json(
        await tally(
          env,
          'channel',
          'update',
          'main',
          '--models',
          'gpt-4o-mini,gpt-4o',
          '--map',
          'gpt-4o=gpt-4o-2024-08-06',
          '--priority',
          '5',
          '--weight',
          '2',
          '--timeout-ms',
          '30000',
          '--base-url',
          'https://proxy.example.com/v1',
          '--no-responses-api',
          '--json',
        ),
      );
      assert.deepEqual(out.changed, ['baseUrl', 'responsesApi', 'models', 'modelMap', 'priority', 'weight', 'firstByteTimeoutMs']);
      const c = out.channel;
      assert.deepEqual(c.models, ['gpt-4o-mini', 'gpt-4o']);
      assert.deepEqual(c.model_map, { 'gpt-4o': 'gpt-4o-2024-08-06' });
      assert.equal(c.priority, 5);
      assert.equal(c.weight, 2);
      assert.equal(c.timeouts_ms.first_byte, 30_000);
      assert.equal(c.base_url, 'https://proxy.example.com/v1');
      assert.equal(c.responses_api, false);
      assert.equal(c.api_keys.count, 2, 'keys untouched');
      const human = await tally(env, 'channel', 'update', 'main', '--name', 'primary');
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /updated channel primary \(chn_[^)]+\): name/);
    });

    test('keys: --remove-api-key by hint and --add-api-key, then --api-key replaces all; never printed, audited as hints', async () => {
      let out = json(await tally(env, 'channel', 'update', 'primary', '--remove-api-key', '...aaaa', '--add-api-key', KEYS[3], '--json'));
      assert.deepEqual(
        out.channel.api_keys.keys.map((k: any) => k.key),
        ['...bbbb', '...dddd'],
      );
      out = json(await tally(env, 'channel', 'update', 'primary', '--remove-api-key', '1', '--json'));
      assert.equal(out.channel.api_keys, undefined, 'one key left');
      assert.equal(out.channel.has_api_key, true);
      const human = await tally(env, 'channel', 'update', 'primary', '--api-key', KEYS[2], '--api-key', KEYS[0]);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /keys: 2, added \.\.\.cccc \.\.\.aaaa, removed \.\.\.bbbb/);
      const listed = await tally(env, 'channel', 'list', '--json');
      const audit = await db.db.selectFrom('audit_log').selectAll().where('action', '=', 'channel.update').execute();
      assert.ok(audit.length >= 4);
      assert.ok(audit.every((a) => a.actor === 'cli'));
      const text = [listed.stdout, listed.stderr, human.stdout, human.stderr, ...audit.map((a) => a.data ?? '')].join('\n');
      for (const k of KEYS) assert.ok(!text.includes(k.slice(0, -4)), `key ...${k.slice(-4)} printed or audited`);
    });

    test('a type change or a bad value fails with a stable code and changes nothing', async () => {
      const before = await db.db.selectFrom('channels').selectAll().where('name', '=', 'primary').executeTakeFirstOrThrow();
      for (const [args, code] of [
        [['--type', 'anthropic'], 'invalid_channel_type'],
        [['--priority', 'high'], 'invalid_request'],
        [['--base-url', 'nope'], 'invalid_base_url'],
        [['--api-version', '2024-10-21'], 'invalid_request'],
        [['--remove-api-key', 'zzzz'], 'invalid_key_hint'],
        [['--api-key', 'sk-x', '--add-api-key', 'sk-y'], 'invalid_request'],
        [['--map', 'broken'], 'invalid_model_map'],
      ] as const) {
        const r = await tally(env, 'channel', 'update', 'primary', ...args, '--json');
        assert.notEqual(r.code, 0, args.join(' '));
        assert.match(r.stdout + r.stderr, new RegExp(code), args.join(' '));
      }
      const type = await tally(env, 'channel', 'update', 'primary', '--type', 'anthropic');
      assert.match(type.stdout + type.stderr, /cannot change/);
      const missing = await tally(env, 'channel', 'update', 'no-such', '--weight', '1', '--json');
      assert.match(missing.stdout + missing.stderr, /channel_not_found/);
      const after = await db.db.selectFrom('channels').selectAll().where('name', '=', 'primary').executeTakeFirstOrThrow();
      assert.deepEqual(after, before);
    });
  });
}
