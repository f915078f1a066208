// Media through an `azure` channel (Azure OpenAI): the deployment path
// (/openai/deployments/{d}/images/generations?api-version=...), the api-key
// header, the mapped model name as the deployment (and rewritten inside a
// multipart body); and GET /api/usage/:id showing a media charge's
// arithmetic (units x unit price x multiplier). SQLite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { toFile } from 'openai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { startMockMedia, speechAudio, wavFile, type MockMedia } from '../helpers/mockMedia.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { relaySdk, verifyThenClose } from '../helpers/relay.ts';
import { assertChargedRow } from '../helpers/anthropicRelay.ts';

const KEY = 'azure-media-key-0123456789';

for (const dialect of testDialects()) {
  describe(`media: azure channels and the charge arithmetic on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockMedia;

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockMedia({ apiKey: KEY });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'azure-media',
        type: 'azure',
        baseUrl: mock.url.replace(/\/v1$/, ''),
        apiKey: KEY,
        apiVersion: '2025-04-01-preview',
        models: ['dall-e-3', 'whisper', 'tts'],
        modelMap: { 'dall-e-3': 'my-dalle', whisper: 'my-whisper', tts: 'my-tts' },
      });
      await setModelPrice(t.ctx.db, { model: 'dall-e-3', perImage: 40_000n, perImageSizes: { '1024x1792': 80_000n } });
      await setModelPrice(t.ctx.db, { model: 'whisper', perSecond: 100n });
      await setModelPrice(t.ctx.db, { model: 'tts', kind: 'speech', inputPer1M: 15_000_000n, outputPer1M: 0n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock));

    test('images, speech and a transcription reach the deployments with api-key and api-version; charged as on openai', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      const { response: r1 } = await sdk.images.generate({ model: 'dall-e-3', prompt: 'azure', n: 2, size: '1024x1792' }).withResponse();
      let seen = mock.requests.at(-1)!;
      assert.equal(seen.path, '/openai/deployments/my-dalle/images/generations');
      assert.equal(seen.headers['api-key'], KEY);
      assert.equal(seen.headers.authorization, undefined);
      assert.equal(seen.json.model, 'my-dalle');
      const id1 = r1.headers.get('x-request-id');
      await assertChargedRow(t, id1, 160_000n, { upstream_model: 'my-dalle' });

      const speech = await sdk.audio.speech.create({ model: 'tts', voice: 'alloy', input: 'hello azure' });
      assert.ok(Buffer.from(await speech.arrayBuffer()).equals(speechAudio('hello azure')));
      assert.equal(mock.requests.at(-1)!.path, '/openai/deployments/my-tts/audio/speech');
      await assertChargedRow(t, speech.headers.get('x-request-id'), 165n);

      const wav = wavFile(1500);
      const { response: r3 } = await sdk.audio.transcriptions
        .create({ model: 'whisper', file: await toFile(wav, 'a.wav'), response_format: 'text' })
        .withResponse();
      seen = mock.requests.at(-1)!;
      assert.equal(seen.path, '/openai/deployments/my-whisper/audio/transcriptions');
      assert.equal(seen.fields.model, 'my-whisper', 'the deployment name, rewritten inside the multipart body');
      assert.ok(seen.files[0].bytes.equals(wav));
      await assertChargedRow(t, r3.headers.get('x-request-id'), 150n);

      const api = await signIn(t, u.email, u.password);
      const usage = (await (await api(`/api/usage/${id1}`)).json()) as any;
      assert.equal(usage.media_unit, 'image');
      assert.equal(usage.media_units, 2);
      assert.equal(usage.pricing.basis, 'image');
      assert.deepEqual(usage.pricing.per_image_sizes, { '1024x1792': '0.08' });
      assert.match(usage.explanation, /^2 images x 0\.08 x 1\.0+ = 0\.160000 /);
      const speechUsage = (await (await api(`/api/usage/${speech.headers.get('x-request-id')}`)).json()) as any;
      assert.match(speechUsage.explanation, /^11 characters x 15\.00\/1M x 1\.0+ = 0\.000165 /);
    });
  });
}
