// Images through the relay: POST /v1/images/generations (JSON) and
// /v1/images/edits (multipart/form-data, sent upstream byte for byte), driven
// by the official openai SDK (images.generate, images.edit with toFile)
// against a running Tally whose channels are the mock media upstream. Held
// at submit, charged exactly for the images returned (per image, per size)
// or the tokens reported (gpt-image-1), nothing on failure, failover before
// the first byte, 413 for a too-large upload, 400 naming the field, and many
// parallel requests against a small balance: never overdrawn, each charged
// once. On SQLite and PostgreSQL, the ledger verified after each suite.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockMedia, countWords, IMAGE_INPUT_IMAGE_TOKENS, IMAGE_OUTPUT_TOKENS, type MockMedia } from '../helpers/mockMedia.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice, type ModelPrice } from '../../src/gateway/pricing.ts';
import { upsertGroup } from '../../src/gateway/groups.ts';
import { toBig } from '../../src/ledger/index.ts';
import { divCeil } from '../../src/ledger/money.ts';
import { relaySdk, settledWallet, verifyThenClose } from '../helpers/relay.ts';
import { assertChargedRow, assertNotChargedRow } from '../helpers/anthropicRelay.ts';

const KEY = 'sk-media-upstream-0123456789';
const DALLE = 'dall-e-3';
const GPT_IMAGE = 'gpt-image-1';
const HOUSE_IMAGE = 'house-image'; // mapped to gpt-image-1 on the channel
const FAILOVER = 'dall-e-failover';
const CHAT = 'gpt-4o-mini';
const LIMIT = 256 * 1024;

/** Token cost written out by hand: input and output tokens at their prices, rounded up once. */
const tokenCost = (p: ModelPrice, input: number, output: number, mult = 1_000_000n) =>
  divCeil((BigInt(input) * p.inputPer1M + BigInt(output) * p.outputPer1M) * mult, 1_000_000n * 1_000_000n);

async function rid(p: Promise<unknown> & { withResponse(): Promise<{ response: Response }> }): Promise<string> {
  const { response } = await p.withResponse();
  return response.headers.get('x-request-id')!;
}

async function errorOf(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, String(e));
    return e;
  }
  assert.fail('expected an error');
}

for (const dialect of testDialects()) {
  describe(`media: images on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockMedia;
    let broken: MockMedia;
    let gptImage: ModelPrice;
    let house: ModelPrice;

    before(async () => {
      t = await startTestTally(dialect, { maxBodyBytes: LIMIT });
      mock = await startMockMedia({ apiKey: KEY });
      broken = await startMockMedia({ apiKey: KEY });
      broken.setBehavior({ status: 500 });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'images',
        type: 'openai',
        baseUrl: mock.url,
        apiKey: KEY,
        models: [DALLE, GPT_IMAGE, HOUSE_IMAGE, FAILOVER, CHAT],
        modelMap: { [HOUSE_IMAGE]: GPT_IMAGE },
      });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'images-broken',
        type: 'openai',
        baseUrl: broken.url,
        apiKey: KEY,
        models: [FAILOVER],
        priority: 10,
      });
      // DALL-E 3's prices: $0.04 an image, $0.08 for a 1024x1792 one; in hd quality $0.08 and $0.12.
      await setModelPrice(t.ctx.db, {
        model: DALLE,
        perImage: 40_000n,
        perImageSizes: { '1024x1792': 80_000n, '1024x1024/hd': 80_000n, '1024x1792/hd': 120_000n },
      });
      await setModelPrice(t.ctx.db, { model: FAILOVER, perImage: 40_000n });
      // gpt-image-1: $5 / $40 per 1M tokens; at most 6,240 tokens an image.
      gptImage = await setModelPrice(t.ctx.db, { model: GPT_IMAGE, kind: 'image', inputPer1M: 5_000_000n, outputPer1M: 40_000_000n, maxOutputTokens: 6240 });
      house = await setModelPrice(t.ctx.db, { model: HOUSE_IMAGE, kind: 'image', inputPer1M: 3_000_000n, outputPer1M: 30_000_000n, maxOutputTokens: 6240 });
      await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 150_000n, outputPer1M: 600_000n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock, broken));

    test('images.generate, priced per size: held and charged n x the size price, the upstream gets the body and the channel key', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      const req = sdk.images.generate({ model: DALLE, prompt: 'a ledger that balances', n: 2, size: '1024x1792' });
      const { data: img, response } = await req.withResponse();
      assert.equal(img.data?.length, 2);
      const seen = mock.requests.at(-1)!;
      assert.equal(seen.path, '/v1/images/generations');
      assert.equal(seen.headers.authorization, `Bearer ${KEY}`);
      assert.deepEqual(seen.json, { model: DALLE, prompt: 'a ledger that balances', n: 2, size: '1024x1792' });
      const row = await assertChargedRow(t, response.headers.get('x-request-id'), 160_000n, {
        endpoint: 'images.generations',
        media_unit: 'image',
        media_units: 2,
        status: 200,
        attempts: 1,
      });
      assert.equal(toBig(row.held), 240_000n, 'held 2 x $0.12 at submit (no quality asked: the dearest for the size)');
      assert.equal(JSON.parse(row.pricing).basis, 'image');
      const w = await settledWallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n - 160_000n);
      assert.equal(w.available, w.balance, 'nothing stays reserved');
    });

    test('GET /v1/models lists the priced, routed media models', async () => {
      const u = await seedUser(t, { balance: 1n });
      const ids = (await relaySdk(t, u.apiKey).models.list()).data.map((m) => m.id);
      for (const m of [DALLE, GPT_IMAGE, HOUSE_IMAGE, CHAT]) assert.ok(ids.includes(m), m);
    });

    test('fewer images returned than asked: held for n at the highest size price, charged for data.length at the per-image price', async () => {
      mock.setBehavior({ imagesReturned: 1 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const id = await rid(relaySdk(t, u.apiKey).images.generate({ model: DALLE, prompt: 'three receipts', n: 3 }));
      const row = await assertChargedRow(t, id, 40_000n, { media_units: 1 });
      assert.equal(toBig(row.held), 360_000n, '3 x $0.12 (no size or quality asked: the highest)');
    });

    test('per size and quality: an hd image asked by size and quality is held and charged exactly at its price', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const id = await rid(relaySdk(t, u.apiKey).images.generate({ model: DALLE, prompt: 'hd', size: '1024x1024', quality: 'hd' }));
      const row = await assertChargedRow(t, id, 80_000n, { media_units: 1 });
      assert.equal(toBig(row.held), 80_000n);
      const std = await rid(relaySdk(t, u.apiKey).images.generate({ model: DALLE, prompt: 'std', size: '1024x1024', quality: 'standard' }));
      assert.equal(toBig((await assertChargedRow(t, std, 40_000n)).held), 40_000n, 'no standard entry: the size price, else --per-image');
    });

    test('a group multiplier applies to media prices, rounded up once', async () => {
      mock.setBehavior({});
      await upsertGroup(t.ctx.db, { name: 'media-x1.5', multiplierPpm: 1_500_000n, models: null });
      await t.ctx.catalog.reload();
      const u = await seedUser(t, { balance: 1_000_000n, group: 'media-x1.5' });
      const id = await rid(relaySdk(t, u.apiKey).images.generate({ model: DALLE, prompt: 'one', size: '1024x1024' }));
      await assertChargedRow(t, id, 60_000n, { media_units: 1 });
    });

    test('gpt-image-1: charged by the usage the answer reports (text + image input tokens, output tokens), held at the token bound', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 5_000_000n });
      const prompt = 'a watercolor of a balanced double-entry ledger';
      const req = relaySdk(t, u.apiKey).images.generate({ model: GPT_IMAGE, prompt, n: 2, size: '1024x1024' });
      const { data: img, response } = await req.withResponse();
      assert.equal(img.usage?.output_tokens, 2 * IMAGE_OUTPUT_TOKENS);
      const input = countWords(prompt);
      const expected = tokenCost(gptImage, input, 2 * IMAGE_OUTPUT_TOKENS);
      assert.equal(expected, 84_515n, '7 x 5 + 2112 x 40 = 84,515 micro-units');
      const row = await assertChargedRow(t, response.headers.get('x-request-id'), expected, {
        prompt_tokens: input,
        completion_tokens: 2 * IMAGE_OUTPUT_TOKENS,
        media_unit: 'image',
        media_units: 2,
        usage_source: 'upstream',
      });
      assert.equal(toBig(row.held), tokenCost(gptImage, Buffer.byteLength(prompt), 2 * 6240), 'held: prompt bytes + 2 x max tokens an image');
    });

    test('images.edit (multipart, two image files via toFile): the body reaches the upstream byte for byte with the mapped model; input image tokens are billed', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 5_000_000n });
      const a = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff));
      const b = Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n'), Buffer.from('--not-a-boundary\r\n\r\n'), a]);
      const prompt = 'add a receipt to the table';
      const req = relaySdk(t, u.apiKey).images.edit({
        model: HOUSE_IMAGE,
        prompt,
        image: [await toFile(a, 'a.png', { type: 'image/png' }), await toFile(b, 'b.png', { type: 'image/png' })],
        n: 1,
      });
      const { data: img, response } = await req.withResponse();
      assert.equal(img.data?.length, 1);
      const seen = mock.requests.at(-1)!;
      assert.equal(seen.path, '/v1/images/edits');
      assert.match(seen.contentType, /^multipart\/form-data; boundary=/);
      assert.equal(seen.fields.model, GPT_IMAGE, 'the mapped model name, rewritten in place');
      assert.equal(seen.fields.prompt, prompt);
      assert.deepEqual(
        seen.files.map((f) => [f.name, f.filename, f.type]),
        [
          ['image[]', 'a.png', 'image/png'],
          ['image[]', 'b.png', 'image/png'],
        ],
      );
      assert.ok(seen.files[0].bytes.equals(a) && seen.files[1].bytes.equals(b), 'the files are the bytes the client sent');
      const input = countWords(prompt) + 2 * IMAGE_INPUT_IMAGE_TOKENS;
      const expected = tokenCost(house, input, IMAGE_OUTPUT_TOKENS);
      const row = await assertChargedRow(t, response.headers.get('x-request-id'), expected, {
        endpoint: 'images.edits',
        prompt_tokens: input,
        completion_tokens: IMAGE_OUTPUT_TOKENS,
        upstream_model: GPT_IMAGE,
      });
      assert.equal(
        toBig(row.held),
        tokenCost(house, Buffer.byteLength(prompt) + 2 * 6240, 6240),
        'held: prompt bytes + max tokens per input image, max tokens per image',
      );
    });

    test('an upstream 500 or a cut connection charges nothing and releases the hold', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      for (const behavior of [{ status: 500 }, { cut: true }, { status: 429 }]) {
        mock.setBehavior(behavior);
        const e = await errorOf(sdk.images.generate({ model: DALLE, prompt: 'x' }));
        assert.ok(e.status === 502 || e.status === 429 || e.status === 503, `status ${e.status}`);
        const row = await assertNotChargedRow(t, e.headers?.get('x-request-id') ?? null);
        assert.match(row.charge_reason, /not charged/);
      }
      mock.setBehavior({});
      const w = await settledWallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n);
      assert.equal(w.available, 1_000_000n, 'no hold left behind');
    });

    test('fails over before the first byte: the failing channel is skipped, the request is charged once', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const before = broken.requests.length;
      const id = await rid(relaySdk(t, u.apiKey).images.generate({ model: FAILOVER, prompt: 'failover' }));
      assert.equal(broken.requests.length, before + 1, 'the higher-priority channel was tried first');
      await assertChargedRow(t, id, 40_000n, { attempts: 2 });
      assert.equal((await settledWallet(t, u.user.id)).balance, 960_000n);
    });

    test('a multipart upload above the body limit: 413 body_too_large, nothing charged, nothing sent upstream', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const before = mock.requests.length;
      const big = Buffer.alloc(LIMIT + 1024, 1);
      const e = await errorOf(
        relaySdk(t, u.apiKey).images.edit({ model: GPT_IMAGE, prompt: 'too big', image: await toFile(big, 'big.png', { type: 'image/png' }) }),
      );
      assert.equal(e.status, 413);
      assert.equal((e.error as any)?.code, 'body_too_large');
      assert.equal(mock.requests.length, before);
      const w = await settledWallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n);
    });

    test('bad input is a 400 naming the field, charged nothing', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      const cases: Array<[() => Promise<unknown>, string]> = [
        [() => sdk.images.generate({ model: DALLE } as any), 'prompt'],
        [() => sdk.images.generate({ model: DALLE, prompt: 'x', n: 11 }), 'n'],
        [() => sdk.images.generate({ prompt: 'x' } as any), 'model'],
        [() => sdk.images.generate({ model: CHAT, prompt: 'x' }), 'model'],
        [() => sdk.images.generate({ model: DALLE, prompt: 'x', stream: true } as any), 'stream'],
        [() => sdk.images.edit({ model: GPT_IMAGE, prompt: 'x', image: [] as any }), 'image'],
        [() => sdk.chat.completions.create({ model: DALLE, messages: [{ role: 'user', content: 'hi' }] }), 'model'],
      ];
      for (const [p, param] of cases) {
        const e = await errorOf(p());
        assert.equal(e.status, 400, `${param}: ${e.message}`);
        assert.equal((e.error as any)?.param, param, e.message);
      }
      const w = await settledWallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n);
    });

    test('a multipart edit naming the model twice is refused (400 naming model), nothing sent upstream', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const before = mock.requests.length;
      const fd = new FormData();
      fd.append('model', HOUSE_IMAGE);
      fd.append('prompt', 'x');
      fd.append('image', new Blob([Buffer.from('png')], { type: 'image/png' }), 'a.png');
      fd.append('model', 'gpt-image-1-expensive');
      const res = await fetch(`${t.url}/v1/images/edits`, { method: 'POST', headers: { authorization: `Bearer ${u.apiKey}` }, body: fd });
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as any).error.param, 'model');
      assert.equal(mock.requests.length, before);
    });

    test('a wallet that cannot pay the hold: 402 before anything is sent', async () => {
      const u = await seedUser(t, { balance: 100_000n });
      const before = mock.requests.length;
      const e = await errorOf(relaySdk(t, u.apiKey).images.generate({ model: DALLE, prompt: 'x', n: 3 }));
      assert.equal(e.status, 402);
      assert.equal(mock.requests.length, before);
    });

    test('many parallel image requests against a small balance: never overdrawn, every success charged once', async () => {
      mock.setBehavior({ delayMs: 20 });
      const u = await seedUser(t, { balance: 5n * 40_000n + 10_000n });
      const sdk = relaySdk(t, u.apiKey);
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () => sdk.images.generate({ model: DALLE, prompt: 'parallel', size: '1024x1024', quality: 'standard' })),
      );
      mock.setBehavior({});
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      const refused = results.filter((r) => r.status === 'rejected' && (r.reason as InstanceType<typeof OpenAI.APIError>).status === 402).length;
      assert.equal(ok, 5, 'exactly what the balance could hold');
      assert.equal(ok + refused, 20);
      const w = await settledWallet(t, u.user.id);
      assert.equal(w.balance, 10_000n, 'five images charged, once each');
      assert.equal(w.available, 10_000n);
      const rows = await t.ctx.db.selectFrom('request_logs').selectAll().where('user_id', '=', u.user.id).where('charged', '=', 1).execute();
      assert.equal(rows.length, 5);
      assert.equal(
        rows.reduce((s, r) => s + toBig(r.cost), 0n),
        200_000n,
      );
    });
  });
}
