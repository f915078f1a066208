// Media prices through the admin API: POST /api/admin/models takes per_image
// (with per_image_sizes by size or size/quality), per_second (with
// max_seconds) and per_request as decimal strings, without input/output; GET
// lists them; the relay's catalog prices with them at once; a price that does
// not fit the kind is refused naming the field. SQLite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, type TestTally } from '../helpers/tally.ts';
import { asAdminToken, expectError, expectJson } from '../accounts/http.ts';

for (const dialect of testDialects()) {
  describe(`media prices through the admin API on ${dialect}`, () => {
    let t: TestTally;
    before(async () => {
      t = await startTestTally(dialect);
    });
    after(() => t?.close());

    test('per_image with per_image_sizes, per_second with max_seconds, per_request: stored, answered, listed, in the catalog', async () => {
      const img = await expectJson(
        await asAdminToken(t, 'POST', '/api/admin/models', {
          model: 'dall-e-3',
          per_image: '0.04',
          per_image_sizes: { '1024x1792': '0.08', '1024x1024/hd': '0.08' },
        }),
      );
      assert.equal(img.kind, 'image');
      assert.equal(img.per_image, '0.04');
      assert.deepEqual(img.per_image_sizes, { '1024x1792': '0.08', '1024x1024/hd': '0.08' });
      const stt = await expectJson(await asAdminToken(t, 'POST', '/api/admin/models', { model: 'whisper-1', per_second: '0.0001', max_seconds: 1200 }));
      assert.equal(stt.kind, 'transcription');
      assert.equal(stt.max_seconds, 1200);
      const tts = await expectJson(await asAdminToken(t, 'POST', '/api/admin/models', { model: 'tts-flat', kind: 'speech', per_request: '0.01' }));
      assert.equal(tts.per_request, '0.01');
      const list = await expectJson(await asAdminToken(t, 'GET', '/api/admin/models'));
      assert.equal(list.data.find((m: any) => m.model === 'whisper-1').per_second, '0.0001');
      await t.ctx.catalog.reload();
      const p = t.ctx.catalog.prices.get('dall-e-3')!;
      assert.equal(p.perImage, 40_000n);
      assert.equal(p.perImageSizes?.['1024x1024/hd'], 80_000n);
      assert.equal(t.ctx.catalog.prices.get('whisper-1')!.perSecond, 100n);
    });

    test('refused naming the field: no price at all, a per-second price on an image model, a bad size key', async () => {
      await expectError(await asAdminToken(t, 'POST', '/api/admin/models', { model: 'm' }), 400, 'invalid_price', 'input');
      await expectError(
        await asAdminToken(t, 'POST', '/api/admin/models', { model: 'm', kind: 'image', per_second: '0.01' }),
        400,
        'invalid_price',
        'per-second',
      );
      await expectError(
        await asAdminToken(t, 'POST', '/api/admin/models', { model: 'm', per_image: '0.04', per_image_sizes: { huge: '0.08' } }),
        400,
        'invalid_price',
        'per-image-size',
      );
      await expectError(await asAdminToken(t, 'POST', '/api/admin/models', { model: 'm', per_image: '-1' }), 400, 'invalid_amount', 'per_image');
    });
  });
}
