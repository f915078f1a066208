// OpenAI's video API (Sora) as an upstream, in its real wire format, for the
// video task tests: POST /v1/videos (multipart, as the SDK always sends it, or
// JSON), GET /v1/videos/{id}, GET /v1/videos/{id}/content?variant=...,
// DELETE /v1/videos/{id}, GET /v1/videos (cursor list), Bearer auth, and
// `{error:{message,type,param,code}}` bodies.
//
// A video's progress is a function of the wall clock since its submit (queued
// for `queuedMs`, then in_progress for `runMs` with progress rising linearly,
// then its outcome), never of how often it is polled: a gateway killed and
// restarted mid-task finds the video as far along as a real upstream would.
// The plan (timings, outcome, fail code, seconds produced) is fixed at submit
// from the global behaviour and any prompt-substring override, so one test can
// mix tasks ("FAIL", "NEVER", "SLOW" by default); the answers chosen per
// request (submitStatus, pollStatus, deletable) are read when the request comes.
//
// With `webhook`, a video reaching completed or failed (noticed on any request
// and by a 20 ms timer) is announced once by a POST signed per Standard
// Webhooks, as OpenAI signs its own. Not a test file itself.
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type VideoStatus = 'queued' | 'in_progress' | 'completed' | 'failed';
export type VideoVariant = 'video' | 'thumbnail' | 'spritesheet';
export type VideoOutcome = 'completed' | 'failed' | 'never';

/** The Video object of openai@6 (resources/videos.d.ts). */
export interface VideoObject {
  id: string;
  object: 'video';
  created_at: number;
  completed_at: number | null;
  expires_at: number | null;
  error: { code: string; message: string } | null;
  model: string;
  progress: number;
  prompt: string | null;
  remixed_from_video_id: string | null;
  seconds: string;
  size: string;
  status: VideoStatus;
}

export interface VideoBehavior {
  /** Time spent queued after submit (default 20 ms). */
  queuedMs?: number;
  /** Time spent in_progress, progress rising 0 → 100 (default 100 ms). */
  runMs?: number;
  /** How the run ends (default completed); `never` stays in_progress forever. */
  outcome?: VideoOutcome;
  /** The error code of a failed video (default moderation_blocked). */
  failCode?: string;
  /** On completion report these seconds instead of the ones asked (e.g. "4" when "8" was asked). */
  producedSeconds?: string;
  /** Refuse POST /v1/videos with this status and an OpenAI error body (429, 500, 400, ...). */
  submitStatus?: number;
  /** Answer GET /v1/videos/{id} with this status and an OpenAI error body. */
  pollStatus?: number;
  /** With pollStatus: only the first N polls of each video get it, later ones succeed. */
  pollStatusTimes?: number;
  /** False: DELETE of a queued or in_progress video is refused with a 400 (default true). */
  deletable?: boolean;
}

export interface VideoRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  contentType: string;
  /** A JSON body, parsed. */
  json: any;
  /** A multipart body's text fields. */
  fields: Record<string, string>;
  /** A multipart body's files, by size (the bytes are kept for the odd test that compares them). */
  files: Array<{ name: string; filename: string; type: string; size: number; bytes: Buffer }>;
  /** The status the mock answered. */
  status?: number;
}

export interface WebhookDelivery {
  /** The event id (`evt_...`), also sent as webhook-id. */
  id: string;
  type: 'video.completed' | 'video.failed';
  videoId: string;
  headers: Record<string, string>;
  body: string;
  /** The receiver's HTTP status, or the error message when the POST could not be made. */
  status: number | string;
}

export interface MockVideo {
  /** The origin, http://127.0.0.1:<port> (the SDK's baseURL is `url + '/v1'`). */
  url: string;
  /** `url + '/v1'`, the way an OpenAI channel's base URL is written. */
  baseUrl: string;
  requests: VideoRequest[];
  /** Webhook POSTs made, in order. */
  webhooks: WebhookDelivery[];
  /** Replaces the global behaviour (unset fields take their defaults). */
  setBehavior(b: VideoBehavior): void;
  /** Videos whose prompt contains `substring` take `b` over the global behaviour; null removes the override. */
  setPromptBehavior(substring: string, b: VideoBehavior | null): void;
  /** The video as GET would answer it now, or undefined (unknown or deleted). */
  video(id: string): VideoObject | undefined;
  /** Every video submitted and not deleted, oldest first. */
  videoIds(): string[];
  /** Completes the video now (a no-op once it ended). */
  complete(id: string): void;
  /** Fails the video now with `code` (a no-op once it ended). */
  fail(id: string, code?: string, message?: string): void;
  /** GET /v1/videos/{id} requests seen for this id (answered or refused, before or after a delete). */
  polls(id: string): number;
  /** POST /v1/videos requests seen (answered or refused). */
  readonly submits: number;
  /** DELETE /v1/videos/{id} requests seen. */
  readonly deletes: number;
  /** GET /v1/videos/{id}/content requests seen. */
  readonly downloads: number;
  close(): Promise<void>;
}

export const VIDEO_SECONDS = ['4', '8', '12'] as const;
export const VIDEO_SIZES = ['720x1280', '1280x720', '1024x1792', '1792x1024'] as const;
/** The prompt-substring overrides a new mock starts with. */
export const DEFAULT_PROMPT_BEHAVIORS: Record<string, VideoBehavior> = {
  FAIL: { outcome: 'failed' },
  NEVER: { outcome: 'never' },
  SLOW: { queuedMs: 500, runMs: 5000 },
};
const DEFAULTS = { queuedMs: 20, runMs: 100, outcome: 'completed' as VideoOutcome, failCode: 'moderation_blocked', deletable: true };
const FAIL_MESSAGES: Record<string, string> = {
  moderation_blocked: 'Your request was blocked by our moderation system.',
};
const VARIANTS: Record<VideoVariant, { type: string; size: number }> = {
  video: { type: 'video/mp4', size: 64 * 1024 },
  thumbnail: { type: 'image/webp', size: 4 * 1024 },
  spritesheet: { type: 'image/jpeg', size: 16 * 1024 },
};

/**
 * The bytes GET /v1/videos/{id}/content answers: a real file header for the
 * variant's type (an MP4 `ftyp` box, a RIFF/WEBP header, a JPEG SOI/APP0),
 * then the id repeated to the variant's size (64 KiB for the video, 4 KiB
 * thumbnail, 16 KiB spritesheet). Deterministic per id and variant.
 */
export function videoBytes(id: string, variant: VideoVariant = 'video'): Buffer {
  const { size } = VARIANTS[variant];
  const b = Buffer.alloc(size);
  let header: Buffer;
  if (variant === 'video') {
    header = Buffer.alloc(24);
    header.writeUInt32BE(24, 0);
    header.write('ftypisom', 4, 'latin1');
    header.writeUInt32BE(0x200, 12);
    header.write('isommp42', 16, 'latin1');
  } else if (variant === 'thumbnail') {
    header = Buffer.alloc(12);
    header.write('RIFF', 0, 'latin1');
    header.writeUInt32LE(size - 8, 4);
    header.write('WEBP', 8, 'latin1');
  } else {
    header = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]);
  }
  header.copy(b, 0);
  const fill = Buffer.from(`${id}:${variant};`, 'latin1');
  for (let off = header.length; off < size; off += fill.length) fill.copy(b, off);
  if (variant === 'spritesheet') b.writeUInt16BE(0xffd9, size - 2);
  return b;
}

/**
 * The Standard Webhooks signature OpenAI sends: `v1,<base64 HMAC-SHA256 over
 * "${id}.${timestamp}.${body}">`, the key being the base64 after `whsec_`.
 */
export function signWebhook(secret: string, id: string, timestamp: number | string, body: string): string {
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

interface Plan {
  queuedMs: number;
  runMs: number;
  outcome: VideoOutcome;
  failCode: string;
  producedSeconds?: string;
}

interface VideoState {
  id: string;
  createdMs: number;
  model: string;
  prompt: string;
  seconds: string;
  size: string;
  plan: Plan;
  /** complete()/fail() forced the end at this time. */
  forced?: { outcome: 'completed' | 'failed'; atMs: number; code: string; message?: string };
  pollErrors: number;
  announced: boolean;
}

const sec = (ms: number) => Math.floor(ms / 1000);

function openaiError(res: ServerResponse, status: number, message: string, type: string, param: string | null = null, code: string | null = null) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type, param, code } }));
}

function refusal(res: ServerResponse, status: number) {
  if (status === 429)
    return openaiError(res, 429, 'Rate limit reached for sora-2 on requests per minute. Please try again later.', 'requests', null, 'rate_limit_exceeded');
  if (status >= 500) return openaiError(res, status, 'The server had an error while processing your request. Sorry about that!', 'server_error');
  return openaiError(res, status, `mock refusal ${status}`, 'invalid_request_error');
}

async function readForm(body: Buffer, contentType: string) {
  const fd = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  const fields: Record<string, string> = {};
  const files: VideoRequest['files'] = [];
  for (const [name, v] of fd.entries()) {
    if (typeof v === 'string') fields[name] ??= v;
    else {
      const bytes = Buffer.from(await v.arrayBuffer());
      files.push({ name, filename: v.name, type: v.type, size: bytes.length, bytes });
    }
  }
  return { fields, files };
}

export async function startMockVideo(opts: { apiKey: string; webhook?: { url: string; secret: string } }): Promise<MockVideo> {
  const requests: VideoRequest[] = [];
  const webhooks: WebhookDelivery[] = [];
  const videos = new Map<string, VideoState>();
  const pollCounts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const byPrompt = new Map<string, VideoBehavior>(Object.entries(DEFAULT_PROMPT_BEHAVIORS));
  let behavior: VideoBehavior = {};
  let submits = 0;
  let deletes = 0;
  let downloads = 0;
  let closing = false;

  function behaviorFor(prompt: string): VideoBehavior {
    let b: VideoBehavior = { ...DEFAULTS, ...behavior };
    for (const [sub, over] of byPrompt) if (prompt.includes(sub)) b = { ...b, ...over };
    return b;
  }

  function end(v: VideoState): { outcome: 'completed' | 'failed'; atMs: number; code: string; message?: string } | null {
    if (v.forced) return v.forced;
    if (v.plan.outcome === 'never') return null;
    const atMs = v.createdMs + v.plan.queuedMs + v.plan.runMs;
    return Date.now() >= atMs ? { outcome: v.plan.outcome, atMs, code: v.plan.failCode } : null;
  }

  function view(v: VideoState): VideoObject {
    const now = Date.now();
    const base: VideoObject = {
      id: v.id,
      object: 'video',
      created_at: sec(v.createdMs),
      completed_at: null,
      expires_at: null,
      error: null,
      model: v.model,
      progress: 0,
      prompt: v.prompt,
      remixed_from_video_id: null,
      seconds: v.seconds,
      size: v.size,
      status: 'queued',
    };
    const e = end(v);
    const ranMs = (e?.atMs ?? now) - v.createdMs - v.plan.queuedMs;
    const progress = Math.max(0, Math.min(99, Math.floor((ranMs / Math.max(1, v.plan.runMs)) * 100)));
    if (e?.outcome === 'completed') {
      const completedAt = sec(e.atMs);
      return {
        ...base,
        status: 'completed',
        progress: 100,
        completed_at: completedAt,
        expires_at: completedAt + 3600,
        seconds: v.plan.producedSeconds ?? v.seconds,
      };
    }
    if (e?.outcome === 'failed')
      return {
        ...base,
        status: 'failed',
        progress,
        error: { code: e.code, message: e.message ?? FAIL_MESSAGES[e.code] ?? `Video generation failed (${e.code}).` },
      };
    if (ranMs < 0) return base;
    return { ...base, status: 'in_progress', progress };
  }

  // Webhook events go out once per video, in the order the videos ended.
  function announce() {
    if (!opts.webhook || closing) return;
    const ended = [...videos.values()]
      .filter((v) => !v.announced)
      .map((v) => ({ v, e: end(v) }))
      .filter((x) => x.e !== null)
      .sort((a, b) => (a.e?.atMs ?? 0) - (b.e?.atMs ?? 0));
    for (const { v, e } of ended) {
      v.announced = true;
      void deliver(v.id, e?.outcome === 'completed' ? 'video.completed' : 'video.failed');
    }
  }

  async function deliver(videoId: string, type: WebhookDelivery['type']) {
    const hook = opts.webhook;
    if (!hook) return;
    const id = `evt_${randomBytes(16).toString('hex')}`;
    const timestamp = sec(Date.now());
    const body = JSON.stringify({ id, object: 'event', created_at: timestamp, type, data: { id: videoId } });
    const headers = {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook(hook.secret, id, timestamp, body),
    };
    const d: WebhookDelivery = { id, type, videoId, headers, body, status: 'pending' };
    webhooks.push(d);
    try {
      const r = await fetch(hook.url, { method: 'POST', headers, body });
      await r.arrayBuffer();
      d.status = r.status;
    } catch (err) {
      d.status = (err as Error).message;
    }
  }

  function submit(res: ServerResponse, r: VideoRequest) {
    const p = r.json ?? r.fields;
    const prompt = typeof p?.prompt === 'string' ? p.prompt : '';
    const b = behaviorFor(prompt);
    if (b.submitStatus) return refusal(res, b.submitStatus);
    if (!prompt) return openaiError(res, 400, "Missing required parameter: 'prompt'.", 'invalid_request_error', 'prompt', 'missing_required_parameter');
    const seconds = p.seconds === undefined ? '4' : String(p.seconds);
    if (!(VIDEO_SECONDS as readonly string[]).includes(seconds))
      return openaiError(
        res,
        400,
        `Invalid value: '${seconds}'. Supported values are: ${VIDEO_SECONDS.map((s) => `'${s}'`).join(', ')}.`,
        'invalid_request_error',
        'seconds',
        'invalid_value',
      );
    const size = p.size === undefined ? '720x1280' : String(p.size);
    if (!(VIDEO_SIZES as readonly string[]).includes(size))
      return openaiError(
        res,
        400,
        `Invalid value: '${size}'. Supported values are: ${VIDEO_SIZES.map((s) => `'${s}'`).join(', ')}.`,
        'invalid_request_error',
        'size',
        'invalid_value',
      );
    const v: VideoState = {
      id: `video_${randomBytes(12).toString('hex')}`,
      createdMs: Date.now(),
      model: typeof p.model === 'string' && p.model ? p.model : 'sora-2',
      prompt,
      seconds,
      size,
      plan: {
        queuedMs: b.queuedMs ?? DEFAULTS.queuedMs,
        runMs: b.runMs ?? DEFAULTS.runMs,
        outcome: b.outcome ?? 'completed',
        failCode: b.failCode ?? DEFAULTS.failCode,
        producedSeconds: b.producedSeconds,
      },
      pollErrors: 0,
      announced: false,
    };
    videos.set(v.id, v);
    json(res, 200, view(v));
  }

  function json(res: ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  function notFound(res: ServerResponse, id: string) {
    return openaiError(res, 404, `Video with id '${id}' not found.`, 'invalid_request_error', null, 'video_not_found');
  }

  function list(res: ServerResponse, q: Record<string, string>) {
    const limit = Math.max(1, Math.min(100, Number(q.limit ?? 20) || 20));
    let all = [...videos.values()];
    if (q.order !== 'asc') all = all.reverse();
    let start = 0;
    if (q.after) {
      const i = all.findIndex((v) => v.id === q.after);
      start = i < 0 ? all.length : i + 1;
    }
    const page = all.slice(start, start + limit).map(view);
    json(res, 200, { object: 'list', data: page, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null, has_more: start + limit < all.length });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer, r: VideoRequest) {
    announce();
    const m = /^\/v1\/videos(?:\/([^/]+)(\/content)?)?$/.exec(r.path);
    if (!m) return openaiError(res, 404, `Invalid URL (${r.method} ${r.path})`, 'invalid_request_error');
    let badJson = false;
    if (r.contentType.startsWith('multipart/form-data')) Object.assign(r, await readForm(body, r.contentType));
    else if (body.length > 0) {
      try {
        r.json = JSON.parse(body.toString('utf8'));
      } catch {
        badJson = true;
      }
    }
    const [, id, content] = m;
    if (id && !content && r.method === 'GET') pollCounts.set(id, (pollCounts.get(id) ?? 0) + 1);
    if (!id && r.method === 'POST') submits++;
    if (id && !content && r.method === 'DELETE') deletes++;
    if (id && content && r.method === 'GET') downloads++;
    if (req.headers.authorization !== `Bearer ${opts.apiKey}`)
      return openaiError(res, 401, 'Incorrect API key provided', 'invalid_request_error', null, 'invalid_api_key');
    if (badJson) return openaiError(res, 400, 'We could not parse the JSON body of your request.', 'invalid_request_error');

    if (!id) {
      if (r.method === 'POST') return submit(res, r);
      if (r.method === 'GET') return list(res, r.query);
      return openaiError(res, 405, `Method ${r.method} not allowed`, 'invalid_request_error');
    }
    const v = videos.get(id);
    if (!v) return notFound(res, id);
    const now = view(v);
    if (content) {
      if (r.method !== 'GET') return openaiError(res, 405, `Method ${r.method} not allowed`, 'invalid_request_error');
      const variant = (r.query.variant ?? 'video') as VideoVariant;
      if (!(variant in VARIANTS))
        return openaiError(
          res,
          400,
          `Invalid value: '${variant}'. Supported values are: 'video', 'thumbnail' and 'spritesheet'.`,
          'invalid_request_error',
          'variant',
          'invalid_value',
        );
      if (now.status !== 'completed')
        return openaiError(
          res,
          404,
          'Video is not ready yet, use GET /v1/videos/{video_id} to check status.',
          'invalid_request_error',
          null,
          'video_not_ready',
        );
      const bytes = videoBytes(id, variant);
      res.writeHead(200, { 'content-type': VARIANTS[variant].type, 'content-length': bytes.length });
      res.end(bytes);
      return;
    }
    if (r.method === 'GET') {
      const b = behaviorFor(v.prompt);
      if (b.pollStatus && (b.pollStatusTimes === undefined || v.pollErrors < b.pollStatusTimes)) {
        v.pollErrors++;
        return refusal(res, b.pollStatus);
      }
      return json(res, 200, now);
    }
    if (r.method === 'DELETE') {
      const b = behaviorFor(v.prompt);
      if (b.deletable === false && (now.status === 'queued' || now.status === 'in_progress'))
        return openaiError(
          res,
          400,
          `Video '${id}' is ${now.status} and cannot be deleted until it has completed or failed.`,
          'invalid_request_error',
          null,
          'invalid_video_state',
        );
      videos.delete(id);
      return json(res, 200, { id, object: 'video.deleted', deleted: true });
    }
    return openaiError(res, 405, `Method ${r.method} not allowed`, 'invalid_request_error');
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://mock');
      const r: VideoRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        contentType: req.headers['content-type'] ?? '',
        json: null,
        fields: {},
        files: [],
      };
      requests.push(r);
      res.on('finish', () => {
        r.status = res.statusCode;
      });
      handle(req, res, Buffer.concat(chunks), r).catch((e) => {
        if (!res.headersSent) openaiError(res, 500, `mock failure: ${(e as Error).message}`, 'server_error');
        else res.destroy();
      });
    });
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const timer = opts.webhook ? setInterval(announce, 20) : null;
  timer?.unref();

  function force(id: string, outcome: 'completed' | 'failed', code: string, message?: string) {
    const v = videos.get(id);
    if (!v) throw new Error(`mockVideo: no video ${id}`);
    if (end(v)) return;
    v.forced = { outcome, atMs: Date.now(), code, message };
    announce();
  }

  return {
    url: `http://127.0.0.1:${port}`,
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    webhooks,
    setBehavior(b) {
      behavior = b;
    },
    setPromptBehavior(substring, b) {
      if (b) byPrompt.set(substring, b);
      else byPrompt.delete(substring);
    },
    video: (id) => {
      const v = videos.get(id);
      return v ? view(v) : undefined;
    },
    videoIds: () => [...videos.keys()],
    complete: (id) => force(id, 'completed', ''),
    fail: (id, code = DEFAULTS.failCode, message) => force(id, 'failed', code, message),
    polls: (id) => pollCounts.get(id) ?? 0,
    get submits() {
      return submits;
    },
    get deletes() {
      return deletes;
    },
    get downloads() {
      return downloads;
    },
    close: () =>
      new Promise<void>((ok) => {
        closing = true;
        if (timer) clearInterval(timer);
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}
