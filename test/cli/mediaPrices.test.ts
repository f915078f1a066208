// `tally model set-price` for media models, in a child process as an
// operator runs it: --per-image (with --per-image-size), --per-second
// (with --max-seconds) and --per-request each price a model alone, the kind
// follows from the price unless given, and a price that does not fit the
// kind is refused naming the flag. The admin API takes the same fields.
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

const json = (r: Run): any => JSON.parse(r.stdout);

for (const dialect of testDialects()) {
  describe(`tally model set-price for media models on ${dialect}`, () => {
    let db: TestDb;
    let env: NodeJS.ProcessEnv;
    before(async () => {
      db = await createTestDb(dialect);
      env = cliEnv(db.connectionUrl);
    });
    after(() => db?.cleanup());

    test('--per-image with --per-image-size prices an image model alone; shown, listed and stored in micro-units', async () => {
      const r = await tally(
        env,
        'model',
        'set-price',
        '--model',
        'dall-e-3',
        '--per-image',
        '0.04',
        '--per-image-size',
        '1024x1792=0.08',
        '--per-image-size',
        '1792x1024=0.08',
        '--json',
      );
      assert.equal(r.code, 0, r.stderr);
      const out = json(r);
      assert.equal(out.price.kind, 'image');
      assert.equal(out.price.per_image, '0.04');
      assert.deepEqual(out.price.per_image_sizes, { '1024x1792': '0.08', '1792x1024': '0.08' });
      assert.equal(out.price.input_per_1m, '0.00');
      const human = await tally(env, 'model', 'set-price', '--model', 'dall-e-3', '--per-image', '0.04', '--per-image-size', '1024x1792=0.08');
      assert.match(human.stdout, /dall-e-3 \(image\): .*0\.04 per image, 0\.08 per 1024x1792 image/);
      const list = await tally(env, 'model', 'list');
      assert.match(list.stdout, /dall-e-3 .* kind image {2}per image 0\.04 {2}1024x1792 0\.08/);
      const p = (await listPrices(db.db)).find((x) => x.model === 'dall-e-3')!;
      assert.equal(p.perImage, 40_000n);
      assert.deepEqual(p.perImageSizes, { '1024x1792': 80_000n });
    });

    test('--per-second (with --max-seconds) makes a transcription model; --per-request prices a speech model', async () => {
      const w = json(await tally(env, 'model', 'set-price', '--model', 'whisper-1', '--per-second', '0.0001', '--max-seconds', '900', '--json'));
      assert.equal(w.price.kind, 'transcription');
      assert.equal(w.price.per_second, '0.0001');
      assert.equal(w.price.max_seconds, 900);
      const s = json(await tally(env, 'model', 'set-price', '--model', 'tts-flat', '--kind', 'speech', '--per-request', '0.01', '--json'));
      assert.equal(s.price.kind, 'speech');
      assert.equal(s.price.per_request, '0.01');
      const tts = json(await tally(env, 'model', 'set-price', '--model', 'tts-1', '--kind', 'speech', '--input', '15', '--output', '0', '--json'));
      assert.equal(tts.price.input_per_1m, '15.00', 'a speech model input price: per 1M characters');
    });

    test('refused, naming the flag: no price at all, a per-image price on a speech model, a size without --per-image, a malformed size', async () => {
      for (const [args, param] of [
        [['--model', 'm'], 'input'],
        [['--model', 'm', '--kind', 'speech', '--per-image', '0.04'], 'per-image'],
        [['--model', 'm', '--per-image-size', '1024x1024=0.04'], 'per-image-size'],
        [['--model', 'm', '--per-image', '0.04', '--per-image-size', 'big=0.04'], 'per-image-size'],
        [['--model', 'm', '--per-request', '0.01'], 'per-request'],
        [['--model', 'm', '--per-second', '0.01', '--max-seconds', '0'], 'max-seconds'],
      ] as const) {
        const r = await tally(env, 'model', 'set-price', ...args, '--json');
        assert.notEqual(r.code, 0, args.join(' '));
        assert.equal(json(r).error.code, 'invalid_price', r.stdout);
        assert.match(json(r).error.message, new RegExp(param), r.stdout);
      }
    });
  });
}
