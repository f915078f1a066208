// Audio through the relay, driven by the official openai SDK:
// audio.speech.create (audio bytes streamed back as they arrive, the
// upstream's content-type), audio.transcriptions.create and
// audio.translations.create (multipart with the audio file, sent upstream
// byte for byte). Charged per 1M input characters or per request (speech),
// per second of audio (the answer's duration or usage, else the WAV header's;
// never more than held) or by the tokens reported (gpt-4o-transcribe);
// nothing on failure. On SQLite and PostgreSQL, the ledger verified after.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockMedia, speechAudio, wavFile, DEFAULT_DURATION, type MockMedia } from '../helpers/mockMedia.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { costBound, setModelPrice, type ModelPrice } from '../../src/gateway/pricing.ts';
import { toBig } from '../../src/ledger/index.ts';
import { relaySdk, settledWallet, verifyThenClose } from '../helpers/relay.ts';
import { assertChargedRow, assertNotChargedRow } from '../helpers/anthropicRelay.ts';

const KEY = 'sk-media-upstream-0123456789';
const TTS = 'tts-1';
const TTS_FLAT = 'tts-flat';
const WHISPER = 'whisper-1';
const GPT4O_T = 'gpt-4o-transcribe';
/** Not a WAV: its length cannot be read from a header. */
const MP3 = Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00'), Buffer.alloc(20_000, 0x55)]);

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
  describe(`media: audio on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockMedia;
    let gpt4oT: ModelPrice;

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockMedia({ apiKey: KEY });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'audio',
        type: 'openai',
        baseUrl: mock.url,
        apiKey: KEY,
        models: [TTS, TTS_FLAT, WHISPER, GPT4O_T],
      });
      // tts-1: $15 per 1M input characters; a flat $0.01 a request; whisper-1: $0.0001 a second (OpenAI's $0.006 a minute), held for at most 600 s.
      await setModelPrice(t.ctx.db, { model: TTS, kind: 'speech', inputPer1M: 15_000_000n, outputPer1M: 0n });
      await setModelPrice(t.ctx.db, { model: TTS_FLAT, kind: 'speech', perRequest: 10_000n });
      await setModelPrice(t.ctx.db, { model: WHISPER, perSecond: 100n, maxSeconds: 600 });
      gpt4oT = await setModelPrice(t.ctx.db, {
        model: GPT4O_T,
        kind: 'transcription',
        inputPer1M: 2_500_000n,
        outputPer1M: 10_000_000n,
        maxOutputTokens: 2000,
      });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock));

    test('audio.speech.create: the audio bytes come back unchanged with the upstream content-type; charged per 1M input characters (code points)', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const input = 'Héllo 👋, how much did I spend on tokens today?';
      const chars = [...input].length;
      assert.equal(chars, 46);
      const res = await relaySdk(t, u.apiKey).audio.speech.create({ model: TTS, voice: 'alloy', input });
      assert.equal(res.headers.get('content-type'), 'audio/mpeg');
      const audio = Buffer.from(await res.arrayBuffer());
      assert.ok(audio.equals(speechAudio(input)), 'every audio byte, in order');
      assert.deepEqual(mock.requests.at(-1)!.json, { model: TTS, voice: 'alloy', input });
      const row = await assertChargedRow(t, res.headers.get('x-request-id'), 690n, {
        endpoint: 'audio.speech',
        stream: 1,
        media_unit: 'character',
        media_units: chars,
      });
      assert.equal(toBig(row.held), 690n, '46 characters x $15/1M = 690 micro-units, held exactly');
    });

    test('speech priced per request: one request, one charge', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await relaySdk(t, u.apiKey).audio.speech.create({ model: TTS_FLAT, voice: 'alloy', input: 'flat', response_format: 'wav' });
      await res.arrayBuffer();
      await assertChargedRow(t, res.headers.get('x-request-id'), 10_000n, { media_unit: 'request', media_units: 1 });
    });

    test('speech: the upstream breaking off the audio, or failing before it, charges nothing', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      mock.setBehavior({ cutSpeechAfter: 2048 });
      const res = await sdk.audio.speech.create({ model: TTS, voice: 'alloy', input: 'this audio will be cut off' });
      const id = res.headers.get('x-request-id');
      const got = await res.arrayBuffer().then(
        (b) => b.byteLength,
        () => -1,
      );
      assert.ok(got < speechAudio('this audio will be cut off').length, 'the client did not get the whole audio');
      const row = await assertNotChargedRow(t, id);
      assert.match(row.charge_reason, /broke off the audio/);
      mock.setBehavior({ status: 500 });
      const e = await errorOf(sdk.audio.speech.create({ model: TTS, voice: 'alloy', input: 'x' }));
      assert.equal(e.status, 502);
      await assertNotChargedRow(t, e.headers?.get('x-request-id') ?? null);
      mock.setBehavior({});
      const w = await settledWallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n);
      assert.equal(w.available, 1_000_000n);
    });

    test('speech: a client that leaves after the audio began is charged (the upstream made it all); one that leaves before is not', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      mock.setBehavior({});
      const input = 'a long answer the client stops listening to';
      const res = await fetch(`${t.url}/v1/audio/speech`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: TTS, voice: 'alloy', input }),
      });
      const reader = res.body!.getReader();
      assert.ok((await reader.read()).value!.length > 0, 'audio began');
      await reader.cancel();
      const row = await assertChargedRow(t, res.headers.get('x-request-id'), BigInt([...input].length * 15));
      assert.match(row.charge_reason, /before the client disconnected/);

      mock.setBehavior({ delayMs: 400 });
      const ac = new AbortController();
      const gone = fetch(`${t.url}/v1/audio/speech`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: TTS, voice: 'alloy', input: 'never heard' }),
        signal: ac.signal,
      }).catch(() => null);
      setTimeout(() => ac.abort(), 100);
      await gone;
      await new Promise((ok) => setTimeout(ok, 600));
      mock.setBehavior({});
      const rows = await t.ctx.db.selectFrom('request_logs').selectAll().where('user_id', '=', u.user.id).where('charged', '=', 0).execute();
      assert.equal(rows.length, 1);
      assert.match(rows[0].charge_reason, /client disconnected before any output/);
      const w = await settledWallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n - BigInt([...input].length * 15));
      assert.equal(w.available, w.balance);
    });

    test('speech: bad input is a 400 naming the field', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      for (const [body, param] of [
        [{ model: TTS, input: 'x' }, 'voice'],
        [{ model: TTS, voice: 'alloy', input: '' }, 'input'],
        [{ model: WHISPER, voice: 'alloy', input: 'x' }, 'model'],
      ] as const) {
        const e = await errorOf(sdk.audio.speech.create(body as any));
        assert.equal(e.status, 400, e.message);
        assert.equal((e.error as any)?.param, param, e.message);
      }
    });

    test('transcriptions (verbose_json, an mp3): held for max_seconds, charged for the duration the answer reports, to the millisecond', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const req = relaySdk(t, u.apiKey).audio.transcriptions.create({
        model: WHISPER,
        file: await toFile(MP3, 'talk.mp3', { type: 'audio/mpeg' }),
        response_format: 'verbose_json',
      });
      const { data: tr, response } = await req.withResponse();
      assert.equal(tr.duration, DEFAULT_DURATION);
      const seen = mock.requests.at(-1)!;
      assert.equal(seen.path, '/v1/audio/transcriptions');
      assert.ok(seen.files[0].bytes.equals(MP3), 'the audio file, byte for byte');
      assert.equal(seen.fields.response_format, 'verbose_json');
      // 12.345 s = 12,345 ms x $0.0001/s = 1,234.5 -> 1,235 micro-units.
      const row = await assertChargedRow(t, response.headers.get('x-request-id'), 1235n, {
        endpoint: 'audio.transcriptions',
        media_unit: 'audio_ms',
        media_units: 12_345,
      });
      assert.equal(toBig(row.held), 60_000n, '600 s x $0.0001');
    });

    test('transcriptions (json): charged from usage {type: "duration", seconds}', async () => {
      mock.setBehavior({ duration: 7.2 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { response } = await relaySdk(t, u.apiKey)
        .audio.transcriptions.create({ model: WHISPER, file: await toFile(MP3, 'talk.mp3', { type: 'audio/mpeg' }) })
        .withResponse();
      await assertChargedRow(t, response.headers.get('x-request-id'), 800n, { media_units: 8000 });
    });

    test('transcriptions (text) of a WAV: the length comes from its header, held and charged exactly; the text answer passes with its content-type', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data: text, response } = await relaySdk(t, u.apiKey)
        .audio.transcriptions.create({ model: WHISPER, file: await toFile(wavFile(3500), 'a.wav', { type: 'audio/wav' }), response_format: 'text' })
        .withResponse();
      assert.match(String(text), /^Bonjour/);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
      const row = await assertChargedRow(t, response.headers.get('x-request-id'), 350n, { media_units: 3500 });
      assert.equal(toBig(row.held), 350n);
    });

    test('a reported duration above the WAV header is charged only up to what was held', async () => {
      mock.setBehavior({ duration: 5 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { response } = await relaySdk(t, u.apiKey)
        .audio.transcriptions.create({ model: WHISPER, file: await toFile(wavFile(2000), 'a.wav'), response_format: 'verbose_json' })
        .withResponse();
      await assertChargedRow(t, response.headers.get('x-request-id'), 200n, { media_units: 2000 });
    });

    test('per-second model, a text answer and no readable length: 400 naming response_format; an answer with no duration charges nothing', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      mock.setBehavior({});
      const e = await errorOf(sdk.audio.transcriptions.create({ model: WHISPER, file: await toFile(MP3, 'talk.mp3'), response_format: 'srt' }));
      assert.equal(e.status, 400);
      assert.equal((e.error as any)?.param, 'response_format');
      mock.setBehavior({ noUsage: true });
      const { response } = await sdk.audio.transcriptions.create({ model: WHISPER, file: await toFile(MP3, 'talk.mp3') }).withResponse();
      const row = await assertNotChargedRow(t, response.headers.get('x-request-id'));
      assert.match(row.charge_reason, /did not say how much/);
      mock.setBehavior({});
    });

    test('gpt-4o-transcribe: charged by the tokens its usage reports', async () => {
      mock.setBehavior({});
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data: tr, response } = await relaySdk(t, u.apiKey)
        .audio.transcriptions.create({ model: GPT4O_T, file: await toFile(MP3, 'talk.mp3'), prompt: 'budget meeting' })
        .withResponse();
      assert.equal(tr.usage?.type, 'tokens');
      // 120 x 2.5 + 14 x 10 = 440 micro-units.
      const row = await assertChargedRow(t, response.headers.get('x-request-id'), 440n, { prompt_tokens: 120, completion_tokens: 14 });
      assert.equal(toBig(row.held), costBound(gpt4oT, Buffer.byteLength('budget meeting') + 2000, 2000, 1_000_000n));
    });

    test('audio.translations.create: charged per second like a transcription', async () => {
      mock.setBehavior({ duration: 3.0001 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data: tr, response } = await relaySdk(t, u.apiKey)
        .audio.translations.create({ model: WHISPER, file: await toFile(MP3, 'fr.mp3'), response_format: 'verbose_json' })
        .withResponse();
      assert.match(tr.text, /^Hello/);
      assert.equal(mock.requests.at(-1)!.path, '/v1/audio/translations');
      // 3.0001 s -> 3,001 ms (rounded up) x $0.0001 = 300.1 -> 301.
      await assertChargedRow(t, response.headers.get('x-request-id'), 301n, { endpoint: 'audio.translations', media_units: 3001 });
    });

    test('transcriptions: stream (any value but false) or a forged WAV byteRate is a 400, nothing sent upstream; the upstream gets a content-type rebuilt from the parsed boundary', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const before = mock.requests.length;
      const encode = async (fd: FormData) => {
        const r = new Request('http://x', { method: 'POST', body: fd });
        return { body: Buffer.from(await r.arrayBuffer()), contentType: r.headers.get('content-type')! };
      };
      const post = async (fd: FormData, contentType?: (ct: string) => string) => {
        const e = await encode(fd);
        return fetch(`${t.url}/v1/audio/transcriptions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${u.apiKey}`, 'content-type': contentType ? contentType(e.contentType) : e.contentType },
          body: e.body,
        });
      };
      for (const stream of ['true', '1', 'on', 'True']) {
        const fd = new FormData();
        fd.set('model', WHISPER);
        fd.set('stream', stream);
        fd.append('file', new Blob([wavFile(1000)], { type: 'audio/wav' }), 'a.wav');
        const res = await post(fd);
        assert.equal(res.status, 400, stream);
        assert.equal(((await res.json()) as any).error.param, 'stream');
      }
      const forged = wavFile(60_000);
      forged.writeUInt32LE(0xffffffff, 28);
      const fd = new FormData();
      fd.set('model', WHISPER);
      fd.set('response_format', 'text');
      fd.append('file', new Blob([forged], { type: 'audio/wav' }), 'a.wav');
      const res = await post(fd);
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as any).error.param, 'file');
      assert.equal(mock.requests.length, before, 'nothing sent upstream');
      const good = new FormData();
      good.set('model', WHISPER);
      good.set('response_format', 'text');
      good.append('file', new Blob([wavFile(1000)], { type: 'audio/wav' }), 'a.wav');
      let boundary = '';
      const ok = await post(good, (ct) => {
        boundary = /boundary=(\S+)/.exec(ct)![1];
        return `${ct}; charset=utf-8; x="boundary=zz"`;
      });
      assert.equal(ok.status, 200, await ok.clone().text());
      await ok.text();
      assert.equal(mock.requests.at(-1)!.contentType, `multipart/form-data; boundary=${boundary}`);
    });

    test('transcriptions: no file, a JSON body, an upstream 429: refused or failed, charged nothing', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const fd = new FormData();
      fd.set('model', WHISPER);
      const noFile = await fetch(`${t.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${u.apiKey}` }, body: fd });
      assert.equal(noFile.status, 400);
      assert.equal(((await noFile.json()) as any).error.param, 'file');
      const json = await fetch(`${t.url}/v1/audio/transcriptions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: WHISPER }),
      });
      assert.equal(json.status, 415);
      mock.setBehavior({ status: 429 });
      const e = await errorOf(relaySdk(t, u.apiKey).audio.transcriptions.create({ model: WHISPER, file: await toFile(MP3, 'talk.mp3') }));
      assert.equal(e.status, 429);
      await assertNotChargedRow(t, e.headers?.get('x-request-id') ?? null);
      mock.setBehavior({});
      const w = await settledWallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n);
      assert.equal(w.available, 1_000_000n);
    });
  });
}
