import { TallyError } from '../../../../lib/errors.ts';
import type { Endpoint, GatewayCall, Inbound } from '../../../call.ts';
import { MEDIA_KIND, type MediaCall } from '../../../media/call.ts';
import { wavDurationMs } from '../../../media/audioLength.ts';
import { type FormData, formContentType, parseForm } from './multipart.ts';

// Reads an OpenAI images or audio request (JSON, or multipart/form-data for
// edits, transcriptions and translations) into the neutral call with its
// media part (media/call.ts): the fields that decide what it costs (model, n,
// size, the speech input, the audio file) are checked here, a 400 naming the
// field otherwise; the rest is the upstream's to judge.

/** OpenAI's limit on images per request. */
const MAX_IMAGES = 10;

function bad(param: string, message: string): TallyError {
  return new TallyError('invalid_request', message, { param });
}

const isObject = (v: unknown): v is Record<string, any> => !!v && typeof v === 'object' && !Array.isArray(v);
const absent = (v: unknown) => v === undefined || v === null;

function requiredString(v: unknown, param: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw bad(param, `${param} is required (a non-empty string)`);
  return v;
}

function optionalString(v: unknown, param: string): string | null {
  if (absent(v)) return null;
  if (typeof v !== 'string') throw bad(param, `${param} must be a string`);
  return v;
}

function imageCount(v: unknown): number {
  if (absent(v)) return 1;
  const n = typeof v === 'string' && /^\d{1,3}$/.test(v) ? Number(v) : v; // a form field is text
  if (!Number.isSafeInteger(n) || (n as number) < 1 || (n as number) > MAX_IMAGES) throw bad('n', `n must be a whole number from 1 to ${MAX_IMAGES}`);
  return n as number;
}

/**
 * Streamed media answers (SSE partial images, transcript deltas) are not read
 * by the billing: only an absent, false or "false" stream (and partial_images)
 * is taken. Anything else (true, 1, "1", "on", "True"...) is refused, as a lax
 * upstream parser may read it as true and stream an answer billed as nothing.
 */
function noStream(get: (name: string) => unknown): void {
  for (const param of ['stream', 'partial_images']) {
    const v = get(param);
    if (v === undefined || v === null || v === false || v === 'false') continue;
    throw bad(param, `streamed media answers (${param}: ${JSON.stringify(v)}) are not supported by this gateway yet; leave ${param} unset or false`);
  }
}

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

/** Code points, without building an array of them. */
function characters(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff || i + 1 === s.length) n++;
    else {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
      n++;
    }
  }
  return n;
}

function media(kind: MediaCall['kind'], over: Partial<MediaCall>): MediaCall {
  return { kind, form: null, n: 1, size: null, quality: null, inputImages: 0, characters: 0, promptBytes: 0, audioMs: null, responseFormat: null, ...over };
}

function call(inb: Inbound, model: string, body: Record<string, any>, m: MediaCall): GatewayCall {
  return {
    protocol: inb.protocol,
    endpoint: inb.endpoint,
    model,
    messages: null,
    input: null,
    tools: null,
    // Speech is relayed as its bytes arrive (the attempt's stream mode); everything else is one answer.
    stream: inb.endpoint === 'audio.speech',
    clientWantsUsage: false,
    choices: 0,
    requestedMax: null,
    prompt: { pieces: [], bytes: 0, fixed: 0 },
    body,
    raw: inb.raw,
    forwardHeaders: null,
    media: m,
  };
}

function parseJson(inb: Inbound): GatewayCall {
  const b = inb.body;
  if (!isObject(b)) throw bad('body', 'the request body must be a JSON object');
  const model = requiredString(b.model, 'model');
  const kind = MEDIA_KIND[inb.endpoint]!;
  switch (inb.endpoint as Endpoint) {
    case 'images.generations':
    case 'images.edits': {
      noStream((k) => b[k]);
      const prompt = requiredString(b.prompt, 'prompt');
      const images = b.images ?? b.image;
      const inputImages = Array.isArray(images) ? images.length : absent(images) ? 0 : 1;
      if (inb.endpoint === 'images.edits' && inputImages === 0) throw bad('image', 'an edit needs at least one input image (images)');
      return call(
        inb,
        model,
        b,
        media(kind, {
          n: imageCount(b.n),
          size: optionalString(b.size, 'size'),
          quality: optionalString(b.quality, 'quality'),
          promptBytes: utf8(prompt),
          inputImages,
        }),
      );
    }
    case 'audio.speech': {
      const input = requiredString(b.input, 'input');
      if (!(typeof b.voice === 'string' && b.voice !== '') && !isObject(b.voice)) throw bad('voice', 'voice is required (a voice name such as "alloy")');
      return call(
        inb,
        model,
        b,
        media(kind, { characters: characters(input), promptBytes: utf8(input), responseFormat: optionalString(b.response_format, 'response_format') }),
      );
    }
    default:
      throw new TallyError('unsupported_media_type', `${inb.endpoint.replace('.', '/')} takes a multipart/form-data body (the file and its fields), not JSON`);
  }
}

function fileParts(form: FormData, ...names: string[]) {
  return form.parts.filter((p) => p.filename !== null && names.includes(p.name));
}

function parseMultipart(inb: Inbound): GatewayCall {
  const { bytes, contentType } = inb.form!;
  const form = parseForm(bytes, contentType);
  const f = form.fields;
  const model = requiredString(f.get('model'), 'model');
  const modelRange = form.ranges.get('model')!;
  const body = Object.fromEntries(f);
  const kind = MEDIA_KIND[inb.endpoint]!;
  // Sent upstream with a content-type rebuilt from the boundary read here, not the caller's (which might carry more).
  const base = { form: { bytes, contentType: formContentType(form.boundary), model: modelRange }, responseFormat: f.get('response_format') ?? null };
  switch (inb.endpoint as Endpoint) {
    case 'images.edits': {
      noStream((k) => f.get(k));
      const prompt = requiredString(f.get('prompt'), 'prompt');
      const images = fileParts(form, 'image', 'image[]');
      if (images.length === 0) throw bad('image', 'an edit needs at least one image file (the image field)');
      return call(
        inb,
        model,
        body,
        media(kind, {
          ...base,
          n: imageCount(f.get('n')),
          size: f.get('size') ?? null,
          quality: f.get('quality') ?? null,
          promptBytes: utf8(prompt),
          inputImages: images.length,
        }),
      );
    }
    case 'audio.transcriptions':
    case 'audio.translations': {
      noStream((k) => f.get(k));
      const files = fileParts(form, 'file');
      if (files.length !== 1) throw bad('file', 'the audio file is required (one file field)');
      const file = files[0];
      if (file.end === file.start) throw bad('file', 'the audio file is empty');
      const prompt = f.get('prompt') ?? '';
      return call(inb, model, body, media(kind, { ...base, promptBytes: utf8(prompt), audioMs: wavDurationMs(bytes, file.start, file.end) }));
    }
    default:
      throw new TallyError('unsupported_media_type', `${inb.endpoint.replace('.', '/')} takes a JSON body, not multipart/form-data`);
  }
}

export function parseOpenAIMediaCall(inb: Inbound): GatewayCall {
  return inb.form ? parseMultipart(inb) : parseJson(inb);
}
