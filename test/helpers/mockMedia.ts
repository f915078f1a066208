// OpenAI's images and audio endpoints, in their real wire formats, for the
// media relay tests: POST /v1/images/generations and /v1/images/edits
// (b64_json or url images; gpt-image-* models also report `usage` with
// input_tokens_details and `size`), /v1/audio/speech (audio bytes, sent in
// chunks as they are "made"), /v1/audio/transcriptions and
// /v1/audio/translations (json with usage, verbose_json with duration, text,
// srt, vtt). Azure's deployment paths (/openai/deployments/{d}/...) with the
// api-key header are served the same. Multipart bodies are read with the
// platform's own FormData parser (not Tally's), so the tests see exactly
// what reached the upstream. Failures on demand: an error status, a cut
// connection before the answer, speech audio cut mid-way.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface MediaRequest {
  path: string;
  endpoint: string;
  deployment: string | null;
  headers: IncomingMessage['headers'];
  contentType: string;
  body: Buffer;
  json: any;
  /** A multipart body's fields (text) and files (bytes), as the platform's FormData reads it. */
  fields: Record<string, string>;
  files: Array<{ name: string; filename: string; type: string; bytes: Buffer }>;
}

export interface MediaBehavior {
  /** Answer with this status and OpenAI's error body. */
  status?: number;
  /** Destroy the connection before answering. */
  cut?: boolean;
  /** Speech: send this many audio bytes, then destroy the connection. */
  cutSpeechAfter?: number;
  /** Images: return this many images instead of n. */
  imagesReturned?: number;
  /** Transcriptions: the audio duration reported, in seconds. */
  duration?: number;
  /** Transcriptions (json): report no usage at all. */
  noUsage?: boolean;
  /** Wait before answering (ms). */
  delayMs?: number;
}

export interface MockMedia {
  url: string;
  requests: MediaRequest[];
  setBehavior(b: MediaBehavior): void;
  close(): Promise<void>;
}

/** The tokens the mock reports for a gpt-image-* request. */
export const IMAGE_OUTPUT_TOKENS = 1056;
export const IMAGE_INPUT_IMAGE_TOKENS = 323;
export const countWords = (s: string) => s.split(/\s+/).filter(Boolean).length;
export const DEFAULT_DURATION = 12.345;

/** The audio bytes the mock makes for a speech input (deterministic, several chunks long). */
export function speechAudio(input: string): Buffer {
  const b = Buffer.alloc(4096 + input.length * 64);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + input.length) & 0xff;
  b.write('ID3', 0, 'latin1');
  return b;
}

/** A WAV file of `ms` milliseconds of silence (16 kHz mono 16-bit: 32,000 bytes a second). */
export function wavFile(ms: number): Buffer {
  const data = Math.round((ms * 32_000) / 1000);
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVE', 8, 'latin1');
  b.write('fmt ', 12, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(16_000, 24);
  b.writeUInt32LE(32_000, 28); // byte rate
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(data, 40);
  return b;
}

const PATH = /^(?:\/v1|\/openai\/deployments\/([^/]+))\/(images\/generations|images\/edits|audio\/speech|audio\/transcriptions|audio\/translations)$/;

function openaiError(res: ServerResponse, status: number, message: string, type = 'invalid_request_error', code: string | null = null) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type, param: null, code } }));
}

async function readForm(body: Buffer, contentType: string) {
  const fd = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  const fields: Record<string, string> = {};
  const files: MediaRequest['files'] = [];
  for (const [name, v] of fd.entries()) {
    if (typeof v === 'string') fields[name] ??= v;
    else files.push({ name, filename: v.name, type: v.type, bytes: Buffer.from(await v.arrayBuffer()) });
  }
  return { fields, files };
}

export async function startMockMedia(opts: { apiKey: string }): Promise<MockMedia> {
  const requests: MediaRequest[] = [];
  const sockets = new Set<Socket>();
  let behavior: MediaBehavior = {};

  async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer) {
    const url = new URL(req.url ?? '/', 'http://mock');
    const m = PATH.exec(url.pathname);
    if (!m || req.method !== 'POST') return openaiError(res, 404, `Invalid URL (${req.method} ${url.pathname})`);
    const auth = req.headers.authorization === `Bearer ${opts.apiKey}` || req.headers['api-key'] === opts.apiKey;
    const contentType = req.headers['content-type'] ?? '';
    const r: MediaRequest = {
      path: url.pathname,
      endpoint: m[2],
      deployment: m[1] ?? null,
      headers: req.headers,
      contentType,
      body,
      json: null,
      fields: {},
      files: [],
    };
    if (contentType.startsWith('multipart/form-data')) Object.assign(r, await readForm(body, contentType));
    else r.json = JSON.parse(body.toString('utf8'));
    requests.push(r);
    const b = behavior;
    if (!auth) return openaiError(res, 401, 'Incorrect API key provided', 'invalid_request_error', 'invalid_api_key');
    if (b.delayMs) await new Promise((ok) => setTimeout(ok, b.delayMs));
    if (b.cut) return res.socket?.destroy();
    if (b.status) return openaiError(res, b.status, `mock failure ${b.status}`, b.status === 429 ? 'requests' : 'server_error');
    const p = r.json ?? r.fields;
    const model = String(p.model);
    switch (m[2]) {
      case 'images/generations':
      case 'images/edits':
        return images(res, p, model, r.files.filter((f) => f.name.startsWith('image')).length || (Array.isArray(p.images) ? p.images.length : 0), b);
      case 'audio/speech':
        return speech(res, String(p.input), b);
      default:
        return transcription(res, p, model, m[2] === 'audio/translations', b);
    }
  }

  function images(res: ServerResponse, p: any, model: string, inputImages: number, b: MediaBehavior) {
    const n = b.imagesReturned ?? Number(p.n ?? 1);
    const url = p.response_format === 'url';
    const data = Array.from({ length: n }, (_, i) =>
      url ? { url: `https://images.example/${i}.png` } : { b64_json: Buffer.from(`image ${i} of ${p.prompt}`).toString('base64') },
    );
    const answer: Record<string, any> = { created: Math.floor(Date.now() / 1000), data };
    if (model.startsWith('gpt-image')) {
      const text = countWords(String(p.prompt));
      const image = inputImages * IMAGE_INPUT_IMAGE_TOKENS;
      answer.size = p.size && p.size !== 'auto' ? p.size : '1024x1536';
      answer.quality = 'medium';
      answer.output_format = 'png';
      answer.usage = {
        input_tokens: text + image,
        input_tokens_details: { text_tokens: text, image_tokens: image },
        output_tokens: n * IMAGE_OUTPUT_TOKENS,
        total_tokens: text + image + n * IMAGE_OUTPUT_TOKENS,
      };
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer));
  }

  async function speech(res: ServerResponse, input: string, b: MediaBehavior) {
    const audio = speechAudio(input);
    res.writeHead(200, { 'content-type': 'audio/mpeg', 'transfer-encoding': 'chunked' });
    for (let off = 0; off < audio.length; off += 1024) {
      if (b.cutSpeechAfter !== undefined && off >= b.cutSpeechAfter) return res.socket?.destroy();
      res.write(audio.subarray(off, off + 1024));
      await new Promise((ok) => setImmediate(ok));
    }
    res.end();
  }

  function transcription(res: ServerResponse, p: any, model: string, translate: boolean, b: MediaBehavior) {
    const duration = b.duration ?? DEFAULT_DURATION;
    const text = translate ? 'Hello, how much did I spend today?' : 'Bonjour, combien ai-je dépensé aujourd’hui ?';
    const format = p.response_format ?? 'json';
    const usage = model.includes('gpt-4o')
      ? { type: 'tokens', input_tokens: 120, input_token_details: { text_tokens: 20, audio_tokens: 100 }, output_tokens: 14, total_tokens: 134 }
      : { type: 'duration', seconds: Math.ceil(duration) };
    if (format === 'text' || format === 'srt' || format === 'vtt') {
      const body =
        format === 'text'
          ? `${text}\n`
          : format === 'srt'
            ? `1\n00:00:00,000 --> 00:00:03,000\n${text}\n`
            : `WEBVTT\n\n00:00:00.000 --> 00:00:03.000\n${text}\n`;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(body);
      return;
    }
    const answer: Record<string, any> =
      format === 'verbose_json'
        ? {
            task: translate ? 'translate' : 'transcribe',
            language: 'english',
            duration,
            text,
            segments: [],
            usage: { type: 'duration', seconds: Math.ceil(duration) },
          }
        : { text, ...(b.noUsage ? {} : { usage }) };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer));
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch((e) => {
        if (!res.headersSent) openaiError(res, 500, `mock failure: ${(e as Error).message}`, 'server_error');
        else res.destroy();
      });
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    setBehavior(b) {
      behavior = b;
    },
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}
