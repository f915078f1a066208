import { TallyError } from '../../lib/errors.ts';
import { formContentType, parseForm } from '../protocols/openai/media/multipart.ts';
import type { Task } from './store.ts';

// OpenAI's video API as callers speak it (the official SDK's videos.create
// sends multipart/form-data: prompt, model, seconds, size and an optional
// input_reference image; JSON is accepted too), and the video object Tally
// answers with: the task's own id, never the upstream's.

export const DEFAULT_VIDEO_MODEL = 'sora-2';
export const DEFAULT_VIDEO_SECONDS = 4;
/** The longest video a model may be asked for when its price sets no max_seconds. */
export const DEFAULT_MAX_VIDEO_SECONDS = 60;
const MAX_PROMPT_CHARS = 32_000;
const SIZE = /^\d{2,5}x\d{2,5}$/;

export interface VideoRequest {
  model: string;
  /** Whether the caller named the model (else the default is sent upstream explicitly). */
  prompt: string;
  seconds: number;
  size: string | null;
  /** The body as received: JSON fields, or the multipart bytes. */
  json: Record<string, unknown> | null;
  form: {
    bytes: Buffer;
    boundary: string;
    ranges: Map<string, { start: number; end: number }>;
    fields: Map<string, string>;
    /** Where the last part ends (its closing boundary follows): the form as the parser read it, nothing after. */
    end: number;
  } | null;
}

const bad = (message: string, param?: string) => new TallyError('invalid_request', message, param ? { param } : {});

function readSeconds(v: unknown): number {
  if (v === undefined || v === null || v === '') return DEFAULT_VIDEO_SECONDS;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,5}$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isInteger(n) || n < 1) throw bad('seconds must be a whole number of seconds, such as "4", "8" or "12"', 'seconds');
  return n;
}

function readCommon(model: unknown, prompt: unknown, seconds: unknown, size: unknown) {
  if (model !== undefined && (typeof model !== 'string' || !model || model.length > 200)) throw bad('model must be a model name', 'model');
  if (typeof prompt !== 'string' || !prompt.trim()) throw bad('prompt is required: describe the video to make', 'prompt');
  if (prompt.length > MAX_PROMPT_CHARS) throw bad(`prompt is longer than ${MAX_PROMPT_CHARS} characters`, 'prompt');
  if (size !== undefined && size !== null && size !== '' && (typeof size !== 'string' || !SIZE.test(size)))
    throw bad('size must be WIDTHxHEIGHT, such as "720x1280" or "1280x720"', 'size');
  return {
    model: (model as string | undefined) ?? DEFAULT_VIDEO_MODEL,
    prompt,
    seconds: readSeconds(seconds),
    size: typeof size === 'string' && size ? size : null,
  };
}

/** Reads POST /v1/videos: a JSON object or a multipart form (its fields read once; its bytes go upstream as received). */
export function parseVideoRequest(body: unknown, contentType: string): VideoRequest {
  if (Buffer.isBuffer(body)) {
    const f = parseForm(body, contentType);
    for (const p of f.parts) {
      if (p.filename !== null && p.name !== 'input_reference')
        throw bad(`the form has a file in "${p.name}"; the only file a video takes is input_reference`, p.name);
    }
    const c = readCommon(f.fields.get('model'), f.fields.get('prompt'), f.fields.get('seconds'), f.fields.get('size'));
    const last = f.parts.at(-1);
    if (!last) throw bad('the form has no fields; send at least a prompt', 'prompt');
    return { ...c, json: null, form: { bytes: body, boundary: f.boundary, ranges: f.ranges, fields: f.fields, end: last.end } };
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw bad('the body must be a JSON object or multipart/form-data');
  const j = body as Record<string, unknown>;
  if (j.input_reference !== undefined && (typeof j.input_reference !== 'object' || j.input_reference === null || Array.isArray(j.input_reference)))
    throw bad('input_reference must be an object ({"image_url": ...} or {"file_id": ...}) or, in a multipart form, an image file', 'input_reference');
  const c = readCommon(j.model, j.prompt, j.seconds, j.size);
  return { ...c, json: j, form: null };
}

/**
 * The upstream body: the caller's, with the upstream model and the seconds
 * Tally held for stated explicitly (an upstream's default might differ).
 * A multipart body keeps every byte of its parts; model and seconds are
 * rewritten in place or added as fields before the closing boundary.
 */
export function videoUpstreamBody(r: VideoRequest, upstreamModel: string): { bytes: Buffer | string; contentType: string } {
  if (r.json) return { bytes: JSON.stringify({ ...r.json, model: upstreamModel, seconds: String(r.seconds) }), contentType: 'application/json' };
  const f = r.form!;
  const set = new Map<string, string>([
    ['model', upstreamModel],
    ['seconds', String(r.seconds)],
  ]);
  const edits = [...set]
    .filter(([k]) => f.ranges.has(k))
    .map(([k, v]) => ({ ...f.ranges.get(k)!, value: v }))
    .sort((a, b) => a.start - b.start);
  const pieces: Buffer[] = [];
  let pos = 0;
  for (const e of edits) {
    pieces.push(f.bytes.subarray(pos, e.start), Buffer.from(e.value, 'utf8'));
    pos = e.end;
  }
  // Up to where the parser stopped: bytes after the real closing boundary (a second "closing" one) are not sent.
  const tail = f.bytes.subarray(pos, f.end);
  pieces.push(tail);
  for (const [k, v] of set) {
    if (!f.ranges.has(k)) pieces.push(Buffer.from(`\r\n--${f.boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}`, 'utf8'));
  }
  pieces.push(Buffer.from(`\r\n--${f.boundary}--\r\n`));
  return { bytes: Buffer.concat(pieces), contentType: formContentType(f.boundary) };
}

/** Reads POST /v1/videos/:id/remix: {prompt}. */
export function parseRemixRequest(body: unknown): string {
  const j = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  if (!j) throw bad('the body must be a JSON object with a prompt');
  const p = j.prompt;
  if (typeof p !== 'string' || !p.trim()) throw bad('prompt is required: describe how to change the video', 'prompt');
  if (p.length > MAX_PROMPT_CHARS) throw bad(`prompt is longer than ${MAX_PROMPT_CHARS} characters`, 'prompt');
  return p;
}

const secs = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

/** The video API's status of a task: a cancelled or expired task is failed (with its reason in error). */
export function videoStatus(t: Task): 'queued' | 'in_progress' | 'completed' | 'failed' {
  switch (t.status) {
    case 'submitting':
    case 'queued':
      return 'queued';
    case 'in_progress':
      return 'in_progress';
    case 'completed':
      return 'completed';
    default:
      return 'failed';
  }
}

/** The video object (OpenAI's shape) for a task. */
export function videoObject(t: Task) {
  const status = videoStatus(t);
  return {
    id: t.id,
    object: 'video' as const,
    created_at: secs(t.createdAt),
    completed_at: t.status === 'completed' ? secs(t.finishedAt) : null,
    expires_at: null,
    error: status === 'failed' ? { code: t.errorCode ?? 'failed', message: t.errorMessage ?? 'the task failed' } : null,
    model: t.model,
    progress: t.progress,
    prompt: t.prompt,
    remixed_from_video_id: t.remixOf,
    seconds: String(t.seconds),
    size: t.size,
    status,
  };
}
