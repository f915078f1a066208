// The mock video upstream speaks OpenAI's video API the way the official SDK
// expects it: the `openai` package (v6) is pointed straight at the mock, with no
// Tally in between, and its webhook verifier accepts the mock's signatures.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import OpenAI, { toFile } from 'openai';
import { type MockVideo, signWebhook, startMockVideo, videoBytes } from '../helpers/mockVideo.ts';

const KEY = 'sk-upstream-video-0123456789abcd';
const SECRET = `whsec_${Buffer.from('mock video webhook secret 32 bytes!').toString('base64')}`;
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

async function until<T>(f: () => Promise<T | undefined> | T | undefined, ms = 3000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(10);
  }
}

function apiError(status: number, code?: string) {
  return (e: unknown) => e instanceof OpenAI.APIError && e.status === status && (code === undefined || e.code === code);
}

describe('mock video upstream, driven by the official openai SDK', () => {
  let mock: MockVideo;
  let client: OpenAI;
  let hookServer: Server;
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];

  before(async () => {
    hookServer = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.end('ok');
      });
    });
    await new Promise<void>((ok) => hookServer.listen(0, '127.0.0.1', () => ok()));
    const addr = hookServer.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    mock = await startMockVideo({ apiKey: KEY, webhook: { url: `http://127.0.0.1:${port}/hook`, secret: SECRET } });
    client = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  after(async () => {
    await mock.close();
    await new Promise<void>((ok) => hookServer.close(() => ok()));
  });

  test('a video submitted as multipart is queued, runs with rising progress and completes with downloadable bytes', async () => {
    mock.setBehavior({ queuedMs: 40, runMs: 200 });
    const ref = await toFile(Buffer.alloc(1234, 7), 'ref.png', { type: 'image/png' });
    const v = await client.videos.create({ prompt: 'a cat on a skateboard', model: 'sora-2-pro', seconds: '8', size: '1280x720', input_reference: ref });
    assert.match(v.id, /^video_[0-9a-f]{24}$/);
    assert.deepEqual(
      { ...v, id: 'x', created_at: 0 },
      {
        id: 'x',
        object: 'video',
        created_at: 0,
        completed_at: null,
        expires_at: null,
        error: null,
        model: 'sora-2-pro',
        progress: 0,
        prompt: 'a cat on a skateboard',
        remixed_from_video_id: null,
        seconds: '8',
        size: '1280x720',
        status: 'queued',
      },
    );
    assert.ok(Math.abs(v.created_at - Date.now() / 1000) < 5);
    const post = mock.requests.at(-1)!;
    assert.match(post.contentType, /^multipart\/form-data/);
    assert.deepEqual(post.fields, { prompt: 'a cat on a skateboard', model: 'sora-2-pro', seconds: '8', size: '1280x720' });
    assert.deepEqual(
      post.files.map((f) => [f.name, f.filename, f.type, f.size]),
      [['input_reference', 'ref.png', 'image/png', 1234]],
    );

    await assert.rejects(client.videos.downloadContent(v.id), apiError(404));
    const running = await until(async () => {
      const r = await client.videos.retrieve(v.id);
      return r.status === 'in_progress' && r.progress > 0 ? r : undefined;
    });
    assert.ok(running.progress < 100);
    const done = await until(async () => {
      const r = await client.videos.retrieve(v.id);
      return r.status === 'completed' ? r : undefined;
    });
    assert.equal(done.progress, 100);
    assert.equal(done.expires_at, (done.completed_at ?? 0) + 3600);
    assert.ok(mock.polls(v.id) >= 2);

    const downloadsBefore = mock.downloads;
    const video = Buffer.from(await (await client.videos.downloadContent(v.id)).arrayBuffer());
    assert.deepEqual(video, videoBytes(v.id));
    assert.equal(video.subarray(4, 8).toString('latin1'), 'ftyp');
    assert.equal(video.length, 64 * 1024);
    const thumb = await client.videos.downloadContent(v.id, { variant: 'thumbnail' });
    assert.equal(thumb.headers.get('content-type'), 'image/webp');
    assert.deepEqual(Buffer.from(await thumb.arrayBuffer()), videoBytes(v.id, 'thumbnail'));
    const sprite = await client.videos.downloadContent(v.id, { variant: 'spritesheet' });
    assert.equal(sprite.headers.get('content-type'), 'image/jpeg');
    assert.deepEqual(Buffer.from(await sprite.arrayBuffer()), videoBytes(v.id, 'spritesheet'));
    assert.equal(mock.downloads, downloadsBefore + 3);
  });

  test('defaults apply to a JSON submit; invalid seconds or size are refused with the OpenAI error shape', async () => {
    mock.setBehavior({});
    const r = await fetch(`${mock.url}/v1/videos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'waves' }),
    });
    assert.equal(r.status, 200);
    const v = (await r.json()) as any;
    assert.deepEqual([v.model, v.seconds, v.size, v.status], ['sora-2', '4', '720x1280', 'queued']);
    assert.deepEqual(mock.requests.at(-1)!.json, { prompt: 'waves' });

    const submits = mock.submits;
    await assert.rejects(
      client.videos.create({ prompt: 'x', seconds: '5' as any }),
      (e) => apiError(400, 'invalid_value')(e) && (e as any).param === 'seconds',
    );
    await assert.rejects(
      client.videos.create({ prompt: 'x', size: '640x480' as any }),
      (e) => apiError(400, 'invalid_value')(e) && (e as any).param === 'size',
    );
    assert.equal(mock.submits, submits + 2);
    const body = (await (
      await fetch(`${mock.url}/v1/videos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: '{"prompt":"x","seconds":"3"}',
      })
    ).json()) as any;
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(body.error.type, 'invalid_request_error');
  });

  test('a wrong key is refused with 401 invalid_api_key', async () => {
    const bad = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    await assert.rejects(bad.videos.create({ prompt: 'x' }), apiError(401, 'invalid_api_key'));
    await assert.rejects(bad.videos.list(), apiError(401, 'invalid_api_key'));
  });

  test('prompt overrides mix outcomes in one test: FAIL fails with moderation_blocked, NEVER stays in progress, producedSeconds reports fewer seconds', async () => {
    mock.setBehavior({ queuedMs: 0, runMs: 30 });
    mock.setPromptBehavior('SHORT', { producedSeconds: '4' });
    const failing = await client.videos.create({ prompt: 'please FAIL this' });
    const never = await client.videos.create({ prompt: 'NEVER ends' });
    const short = await client.videos.create({ prompt: 'SHORT one', seconds: '8' });
    await sleep(80);
    const f = await client.videos.retrieve(failing.id);
    assert.equal(f.status, 'failed');
    assert.equal(f.error?.code, 'moderation_blocked');
    assert.ok(f.error?.message);
    await assert.rejects(client.videos.downloadContent(failing.id), apiError(404));
    const n = await client.videos.retrieve(never.id);
    assert.equal(n.status, 'in_progress');
    assert.equal(n.progress, 99);
    const s = await client.videos.retrieve(short.id);
    assert.deepEqual([s.status, s.seconds], ['completed', '4']);
    mock.setPromptBehavior('SHORT', null);
  });

  test('complete() and fail() force an outcome now', async () => {
    mock.setBehavior({ outcome: 'never' });
    const a = await client.videos.create({ prompt: 'forced to complete' });
    const b = await client.videos.create({ prompt: 'forced to fail' });
    mock.complete(a.id);
    mock.fail(b.id, 'internal_error', 'the renderer crashed');
    assert.equal((await client.videos.retrieve(a.id)).status, 'completed');
    const fb = await client.videos.retrieve(b.id);
    assert.deepEqual([fb.status, fb.error], ['failed', { code: 'internal_error', message: 'the renderer crashed' }]);
    mock.fail(a.id); // an ended video stays as it ended
    assert.equal((await client.videos.retrieve(a.id)).status, 'completed');
  });

  test('submitStatus refuses the POST and pollStatus answers GET with an error for the first N polls', async () => {
    mock.setBehavior({ submitStatus: 429 });
    await assert.rejects(client.videos.create({ prompt: 'busy' }), apiError(429, 'rate_limit_exceeded'));
    mock.setBehavior({ submitStatus: 500 });
    await assert.rejects(client.videos.create({ prompt: 'broken' }), apiError(500));
    mock.setBehavior({ pollStatus: 500, pollStatusTimes: 2 });
    const v = await client.videos.create({ prompt: 'flaky polls' });
    await assert.rejects(client.videos.retrieve(v.id), apiError(500));
    await assert.rejects(client.videos.retrieve(v.id), apiError(500));
    assert.equal((await client.videos.retrieve(v.id)).id, v.id);
    assert.equal(mock.polls(v.id), 3);
  });

  test('delete: deletable:false refuses an in-progress video with 400; by default it is deleted and then unknown', async () => {
    mock.setBehavior({ outcome: 'never', deletable: false });
    const v = await client.videos.create({ prompt: 'cannot cancel' });
    const deletes = mock.deletes;
    await assert.rejects(client.videos.delete(v.id), apiError(400));
    mock.setBehavior({ outcome: 'never' });
    assert.deepEqual(await client.videos.delete(v.id), { id: v.id, object: 'video.deleted', deleted: true });
    assert.equal(mock.deletes, deletes + 2);
    await assert.rejects(client.videos.retrieve(v.id), apiError(404));
    await assert.rejects(client.videos.delete(v.id), apiError(404));
    await assert.rejects(client.videos.retrieve('video_000000000000000000000000'), apiError(404));
  });

  test('list pages with limit/after/order and the SDK iterates every page', async () => {
    mock.setBehavior({ outcome: 'never' });
    for (const id of mock.videoIds()) await client.videos.delete(id);
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await client.videos.create({ prompt: `list ${i}` })).id);
    const first = await client.videos.list({ limit: 2 });
    assert.deepEqual(
      first.data.map((v) => v.id),
      [made[4], made[3]],
    );
    assert.equal(first.has_more, true);
    const all: string[] = [];
    for await (const v of client.videos.list({ limit: 2, order: 'asc' })) all.push(v.id);
    assert.deepEqual(all, made);
    const raw = (await (await fetch(`${mock.url}/v1/videos?limit=10&after=${made[3]}`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as any;
    assert.deepEqual(raw, { object: 'list', data: raw.data, first_id: made[2], last_id: made[0], has_more: false });
    assert.equal(raw.data.length, 3);
  });

  test('webhooks: completed and failed videos are announced once each, signed so the SDK unwrap verifies them', async () => {
    mock.setBehavior({ queuedMs: 0, runMs: 20 });
    const ok = await client.videos.create({ prompt: 'hooked' });
    const bad = await client.videos.create({ prompt: 'hooked FAIL' });
    const events = await until(() => {
      const mine = received.filter((r) => r.body.includes(ok.id) || r.body.includes(bad.id));
      return mine.length >= 2 ? mine : undefined;
    });
    await sleep(60);
    assert.equal(received.filter((r) => r.body.includes(ok.id) || r.body.includes(bad.id)).length, 2, 'each video announced once');
    const verifier = new OpenAI({ apiKey: 'unused', baseURL: `${mock.url}/v1` });
    const byVideo: Record<string, string> = {};
    for (const e of events) {
      const ev = (await verifier.webhooks.unwrap(e.body, e.headers as Record<string, string>, SECRET)) as any;
      assert.match(ev.id, /^evt_[0-9a-f]+$/);
      assert.equal(ev.object, 'event');
      assert.equal(e.headers['webhook-id'], ev.id);
      assert.equal(e.headers['webhook-signature'], signWebhook(SECRET, ev.id, String(e.headers['webhook-timestamp']), e.body));
      byVideo[ev.data.id] = ev.type;
    }
    assert.deepEqual(byVideo, { [ok.id]: 'video.completed', [bad.id]: 'video.failed' });
    await assert.rejects(verifier.webhooks.unwrap(events[0].body.replace('event', 'evenT'), events[0].headers as Record<string, string>, SECRET));
    assert.ok(mock.webhooks.some((d) => d.videoId === ok.id && d.status === 200));
  });
});
