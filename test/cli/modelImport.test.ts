// `tally model import FILE` in a child process, as an operator runs it, with
// the two small catalogs in test/fixtures/prices: a dry run shows the diff and
// writes nothing; --apply writes it (audited); a second --apply finds nothing
// to change; prices convert exactly (2.5e-06 USD per token is 2.50 per 1M);
// malformed entries are refused one by one, by name; --only and --markup;
// `tally model set-price --upstream-input/--upstream-output` stores the cost
// the dashboard's margin needs.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDialects, createTestDb, type TestDb } from '../helpers/db.ts';
import { runTally as tally, type Run } from '../helpers/cli.ts';
import { listPrices, setModelPrice } from '../../src/gateway/pricing.ts';
import { listUpstreamCosts } from '../../src/gateway/upstreamCost.ts';
import { formatMoney } from '../../src/ledger/money.ts';
import { MAX_CATALOG_BYTES, parseMarkup, parsePriceCatalog, planPriceImport, scaleDecimal } from '../../src/ops/priceImport.ts';

const LITELLM = 'test/fixtures/prices/litellm.json';
const MODELS_DEV = 'test/fixtures/prices/models-dev.json';

function cliEnv(databaseUrl: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TALLY_') && !k.startsWith('NODE_TEST')) env[k] = v;
  return { ...env, TALLY_DATABASE_URL: databaseUrl, TALLY_SECRET: 'cli-test-secret-0123456789abcdef', TALLY_LOG_LEVEL: 'silent' };
}

function json(r: Run, code = 0): any {
  assert.equal(r.code, code, r.stderr + r.stdout);
  return JSON.parse(r.stdout);
}

test('decimal text converts to micro-units exactly, rounding up only below a micro-unit', () => {
  assert.deepEqual(scaleDecimal(String(2.5e-6), 12), { value: 2_500_000n, exact: true });
  assert.deepEqual(scaleDecimal(String(1.5e-7), 12), { value: 150_000n, exact: true });
  assert.deepEqual(scaleDecimal(String(7.5e-8), 12), { value: 75_000n, exact: true });
  assert.deepEqual(scaleDecimal('0.1', 6), { value: 100_000n, exact: true });
  assert.deepEqual(scaleDecimal(String(1.234567891e-7), 12), { value: 123_457n, exact: false });
  assert.equal(scaleDecimal('1e999', 12), null, 'an absurd exponent is refused, not computed');
  assert.equal(scaleDecimal('-1', 12), null);
});

for (const dialect of testDialects()) {
  describe(`tally model import on ${dialect}`, () => {
    let db: TestDb;
    let env: NodeJS.ProcessEnv;
    let dir: string;
    before(async () => {
      db = await createTestDb(dialect);
      env = cliEnv(db.connectionUrl);
      dir = mkdtempSync(join(tmpdir(), 'tally-import-'));
      // An existing price with a long-context tier the catalog knows nothing of: it must survive the import.
      await setModelPrice(db.db, {
        model: 'gpt-4o',
        inputPer1M: 5_000_000n,
        outputPer1M: 15_000_000n,
        tierAbove: 100_000,
        tierInputPer1M: 6_000_000n,
        tierOutputPer1M: 20_000_000n,
      });
    });
    after(async () => {
      rmSync(dir, { recursive: true, force: true });
      await db?.cleanup();
    });

    test('a dry run shows what would be added and changed, refuses malformed entries by name, and writes nothing', async () => {
      const before = await listPrices(db.db);
      const out = json(await tally(env, 'model', 'import', LITELLM, '--json'));
      assert.equal(out.applied, false);
      assert.equal(out.format, 'litellm');
      assert.deepEqual(
        out.added.map((a: any) => a.model),
        ['gpt-4o-mini', 'claude-sonnet-4-5', 'text-embedding-3-small', 'tiny-fraction-model'],
      );
      assert.deepEqual(out.added[0], {
        model: 'gpt-4o-mini',
        kind: 'chat',
        input_per_1m: '0.15',
        output_per_1m: '0.60',
        cached_input_per_1m: '0.075',
        max_output_tokens: 16384,
      });
      assert.equal(out.added[2].kind, 'embedding');
      assert.deepEqual(out.changed, [
        {
          model: 'gpt-4o',
          changes: {
            input_per_1m: { from: '5.00', to: '2.50' },
            output_per_1m: { from: '15.00', to: '10.00' },
            cached_input_per_1m: { from: null, to: '1.25' },
            max_output_tokens: { from: 4096, to: 16384 },
          },
        },
      ]);
      assert.deepEqual(
        out.refused.map((r: any) => r.model),
        ['broken-price-model', 'negative-price-model'],
      );
      assert.match(out.refused[0].reason, /broken-price-model: input_cost_per_token must be a non-negative number, got "free"/);
      assert.deepEqual(out.skipped, [
        { model: 'dall-e-3', reason: 'mode "image_generation" is not imported (token-priced chat, completion, responses and embedding models only)' },
      ]);
      assert.deepEqual(out.rounded, [{ model: 'tiny-fraction-model', fields: ['input_cost_per_token'] }]);
      assert.deepEqual(await listPrices(db.db), before, 'a dry run changes nothing');
      const human = await tally(env, 'model', 'import', LITELLM);
      assert.match(human.stdout, /~ gpt-4o: input_per_1m 5\.00 → 2\.50/);
      assert.match(human.stdout, /dry run: nothing written/);
    });

    test('--apply writes the diff (audited), keeps what the catalog does not speak of, and a second apply changes nothing', async () => {
      const out = json(await tally(env, 'model', 'import', LITELLM, '--apply', '--json'));
      assert.equal(out.written, 5);
      const prices = new Map((await listPrices(db.db)).map((p) => [p.model, p]));
      const gpt4o = prices.get('gpt-4o')!;
      assert.equal(formatMoney(gpt4o.inputPer1M), '2.50');
      assert.equal(formatMoney(gpt4o.cachedInputPer1M!), '1.25');
      assert.equal(gpt4o.tierAbove, 100_000, 'the long-context tier survives');
      assert.equal(formatMoney(prices.get('tiny-fraction-model')!.inputPer1M, 6), '0.123457');
      assert.equal(prices.has('broken-price-model'), false);
      const audits = await db.db.selectFrom('audit_log').select(['target', 'actor']).where('action', '=', 'model.import_price').execute();
      assert.equal(audits.length, 5);
      assert.ok(audits.every((a) => a.actor === 'cli'));
      const again = json(await tally(env, 'model', 'import', LITELLM, '--apply', '--json'));
      assert.equal(again.added.length + again.changed.length, 0);
      assert.equal(again.unchanged, 5);
      assert.equal(again.written, 0);
    });

    test('models.dev shape, --only and --markup', async () => {
      const out = json(await tally(env, 'model', 'import', MODELS_DEV, '--only', 'gpt-4.1-nano,deepseek-chat', '--markup', '1.5', '--apply', '--json'));
      assert.equal(out.format, 'models.dev');
      assert.deepEqual(
        out.added.map((a: any) => [a.model, a.input_per_1m, a.output_per_1m, a.cached_input_per_1m, a.max_output_tokens]),
        [
          ['gpt-4.1-nano', '0.15', '0.60', '0.0375', 32768],
          ['deepseek-chat', '0.405', '1.65', '0.105', 8192],
        ],
      );
      const prices = new Map((await listPrices(db.db)).map((p) => [p.model, p]));
      assert.equal(prices.has('gpt-4.1'), false, '--only leaves the rest alone');
      const catalog = parsePriceCatalog(JSON.parse(readFileSync(MODELS_DEV, 'utf8')));
      await assert.rejects(
        planPriceImport(db.db, catalog, { only: ['no-such-model'] }),
        (e: any) => e.code === 'model_not_found' && /no-such-model/.test(e.message),
      );
      assert.throws(
        () => parseMarkup('-1'),
        (e: any) => e.code === 'invalid_request',
      );
      assert.throws(
        () => parseMarkup('0'),
        (e: any) => e.code === 'invalid_request',
      );
    });

    test('a file that is not JSON, not a catalog, or too large is refused before anything is written', async () => {
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, '{"gpt-x": ');
      assert.equal(json(await tally(env, 'model', 'import', bad, '--json'), 2).error.code, 'invalid_price_catalog');
      assert.throws(
        () => parsePriceCatalog([1, 2, 3]),
        (e: any) => e.code === 'invalid_price_catalog',
      );
      const big = join(dir, 'big.json');
      writeFileSync(big, Buffer.alloc(MAX_CATALOG_BYTES + 1, 0x20));
      assert.equal(json(await tally(env, 'model', 'import', big, '--json'), 2).error.code, 'price_catalog_too_large');
    });

    test('set-price --upstream-input/--upstream-output stores the upstream cost; one without the other is refused', async () => {
      const out = json(
        await tally(
          env,
          'model',
          'set-price',
          '--model',
          'gpt-4o-mini',
          '--input',
          '0.60',
          '--output',
          '2.40',
          '--upstream-input',
          '0.15',
          '--upstream-output',
          '0.60',
          '--json',
        ),
      );
      assert.equal(out.price.upstream_input_per_1m, '0.15');
      const costs = await listUpstreamCosts(db.db);
      assert.deepEqual(costs.get('gpt-4o-mini'), { inputPer1M: 150_000n, outputPer1M: 600_000n, cachedInputPer1M: null });
      const half = await tally(env, 'model', 'set-price', '--model', 'gpt-4o-mini', '--input', '1', '--output', '2', '--upstream-input', '0.15', '--json');
      assert.equal(json(half, 2).error.code, 'invalid_price');
    });
  });
}
