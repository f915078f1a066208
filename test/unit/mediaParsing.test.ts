// The pure parts of the media relay: the multipart/form-data reader (byte
// ranges, text fields, malformed bodies refused with a 400, linear time on
// hostile input), the WAV length reader, and media prices (exact micro-units,
// rounded up once, the per-size price).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { formBoundary, parseForm } from '../../src/gateway/protocols/openai/media/multipart.ts';
import { wavDurationMs } from '../../src/gateway/media/audioLength.ts';
import { parseOpenAIMediaCall } from '../../src/gateway/protocols/openai/media/parse.ts';
import type { Endpoint, Inbound } from '../../src/gateway/call.ts';
import { computeMediaCost, imagePrice, maxImagePrice, modelPrice } from '../../src/gateway/pricing.ts';
import { isTallyError } from '../../src/lib/errors.ts';
import { wavFile } from '../helpers/mockMedia.ts';

async function encode(fd: FormData): Promise<{ bytes: Buffer; contentType: string }> {
  const r = new Request('http://x', { method: 'POST', body: fd });
  return { bytes: Buffer.from(await r.arrayBuffer()), contentType: r.headers.get('content-type')! };
}

function refused(f: () => unknown, message: RegExp) {
  assert.throws(f, (e) => isTallyError(e) && e.status === 400 && message.test(e.message));
}

function inbound(endpoint: Endpoint, over: Partial<Inbound>): Inbound {
  return { protocol: 'openai' as any, endpoint, body: null, raw: '', ip: '127.0.0.1', requestId: 'r', req: null as any, res: null as any, ...over };
}

describe('multipart/form-data reader', () => {
  test('reads the text fields and the byte range of every part as the platform encoded them', async () => {
    const fd = new FormData();
    fd.set('model', 'gpt-image-1');
    fd.set('prompt', 'café ☕');
    const file = Buffer.from('\r\n--not-the-boundary\r\n\r\nbinary\x00\xff');
    fd.append('image[]', new Blob([file], { type: 'image/png' }), 'a.png');
    fd.append('image[]', new Blob([Buffer.alloc(0)]), 'empty.png');
    const { bytes, contentType } = await encode(fd);
    const form = parseForm(bytes, contentType);
    assert.equal(form.fields.get('model'), 'gpt-image-1');
    assert.equal(form.fields.get('prompt'), 'café ☕');
    const files = form.parts.filter((p) => p.filename !== null);
    assert.deepEqual(
      files.map((p) => [p.name, p.filename, p.contentType]),
      [
        ['image[]', 'a.png', 'image/png'],
        ['image[]', 'empty.png', 'application/octet-stream'],
      ],
    );
    assert.ok(bytes.subarray(files[0].start, files[0].end).equals(file));
    assert.equal(files[1].end - files[1].start, 0);
    const m = form.ranges.get('model')!;
    assert.equal(bytes.toString('utf8', m.start, m.end), 'gpt-image-1');
  });

  test('a field sent twice (Tally would bill the first, an upstream may use the last) or a billed field sent as a file is refused', async () => {
    for (const build of [
      (fd: FormData) => {
        fd.append('model', 'cheap');
        fd.append('model', 'dear');
      },
      (fd: FormData) => {
        fd.append('n', '1');
        fd.append('n', '10');
      },
      (fd: FormData) => fd.append('model', new Blob(['dear']), 'model.txt'),
    ]) {
      const fd = new FormData();
      build(fd);
      const { bytes, contentType } = await encode(fd);
      refused(() => parseForm(bytes, contentType), /appears more than once/);
    }
    const arrays = new FormData();
    arrays.append('timestamp_granularities[]', 'word');
    arrays.append('timestamp_granularities[]', 'segment');
    const { bytes, contentType } = await encode(arrays);
    assert.equal(parseForm(bytes, contentType).parts.length, 2, 'array fields repeat');
  });

  test('a repeated boundary parameter, Content-Disposition header or name parameter is refused (parsers disagree on which wins)', () => {
    const part = (headers: string, value: string) => `--B\r\n${headers}\r\n\r\n${value}\r\n`;
    const body = (...parts: string[]) => Buffer.from(`${parts.join('')}--B--\r\n`);
    const ok = body(part('Content-Disposition: form-data; name="model"', 'dear'));
    assert.equal(parseForm(ok, 'multipart/form-data; boundary=B').fields.get('model'), 'dear');
    // (a) two boundaries: Tally split on the first, Werkzeug on the last.
    for (const ct of [
      'multipart/form-data; boundary=A; boundary=B',
      'multipart/form-data; boundary=B; charset=utf-8; BOUNDARY="A"',
      'multipart/form-data; boundary=B; boundary*=A',
    ])
      refused(() => parseForm(ok, ct), /boundary more than once/);
    // (b) two Content-Disposition headers in one part.
    refused(
      () =>
        parseForm(
          body(
            part('Content-Disposition: form-data; name="model"\r\nContent-Disposition: form-data; name="junk"', 'dear'),
            part('Content-Disposition: form-data; name="model"', 'cheap'),
          ),
          'multipart/form-data; boundary=B',
        ),
      /more than one Content-Disposition/,
    );
    // (c) name twice in one Content-Disposition.
    for (const cd of ['form-data; name="x"; name="model"', 'form-data; name=x; NAME="model"', 'form-data; name="x"; name*=utf-8\'\'model'])
      refused(() => parseForm(body(part(`Content-Disposition: ${cd}`, 'dear')), 'multipart/form-data; boundary=B'), /names its field more than once/);
    // A quoted filename mentioning name= is not a second name.
    const file = parseForm(body(part('Content-Disposition: form-data; name="file"; filename="a; name=b.wav"', 'x')), 'multipart/form-data; boundary=B');
    assert.deepEqual([file.parts[0].name, file.parts[0].filename], ['file', 'a; name=b.wav']);
  });

  test("the content-type sent upstream is rebuilt from the boundary parsed, nothing else of the caller's", async () => {
    const fd = new FormData();
    fd.set('model', 'm');
    fd.append('file', new Blob([wavFile(100)], { type: 'audio/wav' }), 'a.wav');
    const { bytes, contentType } = await encode(fd);
    const boundary = formBoundary(contentType)!;
    const c = parseOpenAIMediaCall(inbound('audio.transcriptions', { form: { bytes, contentType: `${contentType}; charset=utf-8; x="boundary=zz"` } }));
    assert.equal(c.media!.form!.contentType, `multipart/form-data; boundary=${boundary}`);
    const quoted = Buffer.from(bytes.toString('latin1').replaceAll(boundary, 'a b:c'), 'latin1');
    const q = parseOpenAIMediaCall(inbound('audio.transcriptions', { form: { bytes: quoted, contentType: 'multipart/form-data; boundary="a b:c"' } }));
    assert.equal(q.media!.form!.contentType, 'multipart/form-data; boundary="a b:c"');
  });

  test('the boundary, quoted or not', () => {
    assert.equal(formBoundary('multipart/form-data; boundary=abc'), 'abc');
    assert.equal(formBoundary('multipart/form-data; charset=utf-8; boundary="a b"'), 'a b');
    assert.equal(formBoundary('multipart/form-data'), null);
  });

  test('a malformed body is a 400 saying what is wrong, never a crash', () => {
    const ct = 'multipart/form-data; boundary=XX';
    refused(() => parseForm(Buffer.from('nothing here'), ct), /no part starts/);
    refused(() => parseForm(Buffer.from('--XX\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue'), ct), /closing boundary/);
    refused(() => parseForm(Buffer.from('--XX\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XX--'), ct), /no name/);
    refused(() => parseForm(Buffer.from('--XXgarbage'), ct), /line break/);
    refused(() => parseForm(Buffer.from('--XX\r\nno header end'), ct), /end to its headers/);
    refused(() => parseForm(Buffer.from('x'), 'multipart/form-data'), /no boundary/);
  });

  test('linear on hostile input: 8 MB of near-boundaries and a body of many empty parts are read (or refused) in well under a second', () => {
    const ct = 'multipart/form-data; boundary=XXXXXXXXXXXXXXXX';
    const near = Buffer.concat([
      Buffer.from('--XXXXXXXXXXXXXXXX\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\n'),
      Buffer.alloc(8 << 20, '\r\n--XXXXXXXXXXXXXXX'),
    ]);
    let t0 = performance.now();
    refused(() => parseForm(near, ct), /closing boundary/);
    assert.ok(performance.now() - t0 < 1000, `${performance.now() - t0} ms`);
    const many = Buffer.from(`${'--XXXXXXXXXXXXXXXX\r\nContent-Disposition: form-data; name="a[]"\r\n\r\n\r\n'.repeat(300)}--XXXXXXXXXXXXXXXX--`);
    t0 = performance.now();
    refused(() => parseForm(many, ct), /more than 256 parts/);
    assert.ok(performance.now() - t0 < 200);
  });
});

describe('media request: stream and partial_images', () => {
  test('every media endpoint but speech refuses any stream or partial_images other than absent, false or "false" (JSON and form fields)', async () => {
    const json = (endpoint: Endpoint, extra: Record<string, unknown>) => {
      const body = { model: 'm', prompt: 'x', ...extra };
      return () => parseOpenAIMediaCall(inbound(endpoint, { body, raw: JSON.stringify(body) }));
    };
    const form = async (endpoint: Endpoint, extra: Record<string, string>) => {
      const fd = new FormData();
      fd.set('model', 'm');
      fd.set('prompt', 'x');
      if (endpoint === 'images.edits') fd.append('image', new Blob([Buffer.from('png')], { type: 'image/png' }), 'a.png');
      else fd.append('file', new Blob([wavFile(100)], { type: 'audio/wav' }), 'a.wav');
      for (const [k, v] of Object.entries(extra)) fd.set(k, v);
      const { bytes, contentType } = await encode(fd);
      return () => parseOpenAIMediaCall(inbound(endpoint, { form: { bytes, contentType } }));
    };
    const refusedParam = (f: () => unknown, param: string) =>
      assert.throws(f, (e) => isTallyError(e) && e.status === 400 && e.code === 'invalid_request' && e.param === param, param);
    for (const param of ['stream', 'partial_images']) {
      for (const v of [true, 'true', 1, '1', 'on', 'True', 'yes', 0, '', {}, [true]]) {
        refusedParam(json('images.generations', { [param]: v }), param);
        refusedParam(json('images.edits', { images: [{ image_url: 'x' }], [param]: v }), param);
      }
      for (const v of ['true', '1', 'on', 'True', 'TRUE', 'yes', '', ' false']) {
        for (const e of ['images.edits', 'audio.transcriptions', 'audio.translations'] as const) refusedParam(await form(e, { [param]: v }), param);
      }
      for (const v of [false, 'false', null]) json('images.generations', { [param]: v })();
      for (const e of ['images.edits', 'audio.transcriptions', 'audio.translations'] as const) {
        (await form(e, { [param]: 'false' }))();
        (await form(e, {}))();
      }
    }
    // Speech keeps its own stream handling (audio bytes relayed as they arrive).
    const speech = { model: 'tts', input: 'hi', voice: 'alloy', stream: true };
    parseOpenAIMediaCall(inbound('audio.speech', { body: speech, raw: JSON.stringify(speech) }));
  });
});

describe('WAV length', () => {
  test('read from the header, rounded up to the millisecond; a streamed WAV with no data size has no length Tally trusts', () => {
    const w = wavFile(3500);
    assert.equal(wavDurationMs(w, 0, w.length), 3500);
    for (const size of [0xffffffff, 0]) {
      const streamed = Buffer.from(w);
      streamed.writeUInt32LE(size, 40);
      assert.equal(wavDurationMs(streamed, 0, streamed.length), null);
    }
    const inside = Buffer.concat([Buffer.from('prefix'), w, Buffer.from('suffix')]);
    assert.equal(wavDurationMs(inside, 6, 6 + w.length), 3500);
  });

  test('timed by sampleRate x blockAlign; a byteRate (or blockAlign) that disagrees is a 400, never a near-zero length', () => {
    const w = wavFile(600_000); // 10 minutes of 16 kHz 16-bit mono
    for (const byteRate of [0xffffffff, 0, 1, 64_000]) {
      const forged = Buffer.from(w);
      forged.writeUInt32LE(byteRate, 28);
      refused(() => wavDurationMs(forged, 0, forged.length), /byteRate/);
    }
    const align = Buffer.from(w);
    align.writeUInt16LE(2000, 32); // blockAlign 2000 with byteRate 16,000 x 2000: consistent byteRate, but not 1 channel x 2 bytes
    align.writeUInt32LE(32_000_000, 28);
    refused(() => wavDurationMs(align, 0, align.length), /blockAlign/);
    const stereo = wavFile(1000);
    stereo.writeUInt16LE(2, 22);
    stereo.writeUInt16LE(4, 32);
    stereo.writeUInt32LE(64_000, 28);
    assert.equal(wavDurationMs(stereo, 0, stereo.length), 500, 'same bytes, twice the bytes per second');
    const adpcm = Buffer.from(w);
    adpcm.writeUInt16LE(0x11, 20);
    assert.equal(wavDurationMs(adpcm, 0, adpcm.length), null, 'a compressed WAV: unknown length');
  });

  test('a data size that is not the bytes present, or a second data chunk, is not trusted (null: the path of a non-WAV file)', () => {
    const w = wavFile(600_000);
    const small = Buffer.from(w);
    small.writeUInt32LE(2, 40); // 2 bytes said, 19 MB present
    assert.equal(wavDurationMs(small, 0, small.length), null);
    const big = Buffer.from(w);
    big.writeUInt32LE(w.length, 40);
    assert.equal(wavDurationMs(big, 0, big.length), null);
    // A first data chunk of 2 bytes, then a second one holding the real audio (decoders play both).
    const head = Buffer.from(w.subarray(0, 44));
    head.writeUInt32LE(2, 40);
    const second = Buffer.alloc(8);
    second.write('data', 0, 'latin1');
    second.writeUInt32LE(w.length - 44, 4);
    const two = Buffer.concat([head, Buffer.alloc(2), second, w.subarray(44)]);
    assert.equal(wavDurationMs(two, 0, two.length), null);
    // A chunk after the audio (LIST metadata) is fine.
    const list = Buffer.alloc(12);
    list.write('LIST', 0, 'latin1');
    list.writeUInt32LE(4, 4);
    list.write('INFO', 8, 'latin1');
    const tail = Buffer.concat([wavFile(1000), list]);
    assert.equal(wavDurationMs(tail, 0, tail.length), 1000);
    const stray = Buffer.concat([wavFile(1000), Buffer.from('xyz')]);
    assert.equal(wavDurationMs(stray, 0, stray.length), null);
  });

  test('anything else is null (billed from what the upstream reports)', () => {
    assert.equal(wavDurationMs(Buffer.from('ID3 not a wav at all, long enough to have a header'), 0, 50), null);
    const noFmt = wavFile(1000);
    noFmt.write('junk', 12, 'latin1');
    assert.equal(wavDurationMs(noFmt, 0, noFmt.length), null);
    assert.equal(wavDurationMs(Buffer.alloc(10), 0, 10), null);
  });
});

describe('media prices', () => {
  const base = {
    model: 'm',
    kind: 'image' as const,
    inputPer1M: 15_000_000n,
    outputPer1M: 0n,
    cachedInputPer1M: null,
    cacheWritePer1M: null,
    cacheWrite1hPer1M: null,
    maxOutputTokens: 4096,
    updatedAt: 0,
  };
  test('images at their size price, seconds by the millisecond, characters per 1M, requests; x multiplier, rounded up once', () => {
    const p = modelPrice({ ...base, perImage: 40_000n, perImageSizes: { '1024x1792': 80_000n } });
    assert.equal(imagePrice(p, '1024x1792'), 80_000n);
    assert.equal(imagePrice(p, '1024x1024'), 40_000n);
    assert.equal(imagePrice(p, null), 40_000n);
    assert.equal(maxImagePrice(p), 80_000n);
    const q = modelPrice({ ...base, perImage: 40_000n, perImageSizes: { '1024x1792': 80_000n, '1024x1024/hd': 80_000n, '1024x1792/hd': 120_000n } });
    assert.equal(imagePrice(q, '1024x1024', 'hd'), 80_000n);
    assert.equal(imagePrice(q, '1024x1024', 'standard'), 40_000n, 'no such quality: the size price, else the per-image price');
    assert.equal(imagePrice(q, '1024x1792', 'standard'), 80_000n);
    assert.equal(imagePrice(q, null, 'hd'), 40_000n, 'a quality alone names no table entry');
    assert.equal(maxImagePrice(q, '1024x1024'), 80_000n, 'the dearest quality of that size');
    assert.equal(maxImagePrice(q, '512x512'), 40_000n);
    assert.equal(maxImagePrice(q), 120_000n);
    assert.equal(computeMediaCost('image', 3, 40_000n, 1_000_000n), 120_000n);
    assert.equal(computeMediaCost('image', 1, 40_001n, 1_500_000n), 60_002n, '60,001.5 rounds up');
    assert.equal(computeMediaCost('audio_ms', 12_345, 100n, 1_000_000n), 1235n, '1,234.5 rounds up');
    assert.equal(computeMediaCost('audio_ms', 1, 100n, 1_000_000n), 1n);
    assert.equal(computeMediaCost('character', 46, 15_000_000n, 1_000_000n), 690n);
    assert.equal(computeMediaCost('character', 1, 1n, 1_000_000n), 1n, 'a fraction of a micro-unit is charged as one');
    assert.equal(computeMediaCost('request', 1, 10_000n, 500_000n), 5_000n);
    assert.equal(computeMediaCost('image', 0, 40_000n, 1_000_000n), 0n);
    assert.equal(computeMediaCost('image', -1, 40_000n, 1_000_000n), 0n);
  });

  test('a size or quality named like an Object.prototype key is an unpriced size (the per-image price), never a crash', () => {
    const p = modelPrice({ ...base, perImage: 40_000n, perImageSizes: { '1024x1792': 80_000n } });
    for (const size of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      assert.equal(imagePrice(p, size, 'x'), 40_000n, size);
      assert.equal(imagePrice(p, size), 40_000n, size);
      assert.equal(imagePrice(p, '1024x1792', size), 80_000n, size);
      assert.equal(computeMediaCost('image', 1, imagePrice(p, size, 'x')!, 1_000_000n), 40_000n);
    }
  });
});
