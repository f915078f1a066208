// The admin API for model prices with the prompt-cache prices:
// POST /api/admin/models takes cache_write (5-minute) and cache_write_1h as
// decimal strings beside cached_input, GET lists them, the relay's catalog
// uses them at once, and a bad one is refused naming the field.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, type TestTally } from '../helpers/tally.ts';
import { listAudit } from '../../src/audit/index.ts';
import { asAdminToken, expectError, expectJson } from './http.ts';

for (const dialect of testDialects()) {
  describe(`model prices with prompt-cache prices through the admin API on ${dialect}`, () => {
    let t: TestTally;
    before(async () => {
      t = await startTestTally(dialect);
    });
    after(() => t?.close());

    test('cache_write and cache_write_1h are stored, answered, listed and audited; the catalog prices with them', async () => {
      const body = { model: 'claude-haiku', input: '1.00', output: '5.00', cached_input: '0.10', cache_write: '1.25', cache_write_1h: '2.00' };
      const p = await expectJson(await asAdminToken(t, 'POST', '/api/admin/models', body));
      assert.deepEqual(p, {
        model: 'claude-haiku',
        kind: 'chat',
        input_per_1m: '1.00',
        output_per_1m: '5.00',
        cached_input_per_1m: '0.10',
        cache_write_per_1m: '1.25',
        cache_write_1h_per_1m: '2.00',
        max_output_tokens: 4096,
      });
      const list = await expectJson(await asAdminToken(t, 'GET', '/api/admin/models'));
      assert.deepEqual(
        list.data.find((m: any) => m.model === 'claude-haiku'),
        p,
      );
      const audit = await listAudit(t.ctx.db, { target: 'claude-haiku', action: 'model.set_price' });
      assert.equal(audit.length, 1);
      await t.ctx.catalog.reload();
      const price = t.ctx.catalog.prices.get('claude-haiku')!;
      assert.equal(price.cacheWritePer1M, 1_250_000n);
      assert.equal(price.cacheWrite1hPer1M, 2_000_000n);
      assert.equal(price.promptBoundPer1M, 2_000_000n, 'the hold prices a prompt at the 1-hour write price');
    });

    test('left out, they are unset (null): the input price applies, and the bound is the input price', async () => {
      const p = await expectJson(await asAdminToken(t, 'POST', '/api/admin/models', { model: 'gpt-plain', input: '2.50', output: '10.00' }));
      assert.equal(p.cached_input_per_1m, null);
      assert.equal(p.cache_write_per_1m, null);
      assert.equal(p.cache_write_1h_per_1m, null);
      await t.ctx.catalog.reload();
      assert.equal(t.ctx.catalog.prices.get('gpt-plain')!.promptBoundPer1M, 2_500_000n);
    });

    test('a negative, malformed or numeric cache-write price is refused with the field named', async () => {
      const base = { model: 'claude-haiku', input: '1.00', output: '5.00' };
      await expectError(await asAdminToken(t, 'POST', '/api/admin/models', { ...base, cache_write: '-1.00' }), 400, 'invalid_amount', 'cache_write');
      await expectError(await asAdminToken(t, 'POST', '/api/admin/models', { ...base, cache_write_1h: '2.0000001' }), 400, 'invalid_amount', 'cache_write_1h');
      const numeric = await asAdminToken(t, 'POST', '/api/admin/models', { ...base, cache_write_1h: 2 });
      assert.equal(numeric.status, 400, await numeric.text());
      // Nothing changed.
      const list = await expectJson(await asAdminToken(t, 'GET', '/api/admin/models'));
      assert.equal(list.data.find((m: any) => m.model === 'claude-haiku').cache_write_1h_per_1m, '2.00');
    });
  });
}
