import { randomBytes } from 'node:crypto';
import { parseForm } from '../protocols/openai/media/multipart.ts';

// The demo upstream's video API (OpenAI's wire format), so a fresh install
// can try a video task offline: a video is queued for a second, "renders"
// for four, then completes. Its content is an animated SVG of the prompt (a
// real, playable file, named for what it is). Kept in this process's memory:
// a restart forgets them, and Tally then fails the task with nothing charged.

export const DEMO_VIDEO_MODEL = 'demo-video';
const QUEUED_MS = 1000;
const RUN_MS = 4000;
/** At most this many demo videos are remembered (the oldest are forgotten). */
const KEEP = 500;

interface DemoVideo {
  id: string;
  model: string;
  prompt: string;
  seconds: string;
  size: string;
  createdAt: number;
  deleted: boolean;
}

const videos = new Map<string, DemoVideo>();

function fields(body: unknown, contentType: string): Record<string, string> {
  if (Buffer.isBuffer(body)) return Object.fromEntries(parseForm(body, contentType).fields);
  const j = (body ?? {}) as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(j)
      .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
      .map(([k, v]) => [k, String(v)]),
  );
}

function view(v: DemoVideo, now: number) {
  const age = now - v.createdAt;
  const status = age < QUEUED_MS ? 'queued' : age < QUEUED_MS + RUN_MS ? 'in_progress' : 'completed';
  const progress = status === 'queued' ? 0 : status === 'in_progress' ? Math.floor(((age - QUEUED_MS) / RUN_MS) * 100) : 100;
  const done = status === 'completed' ? Math.floor((v.createdAt + QUEUED_MS + RUN_MS) / 1000) : null;
  return {
    id: v.id,
    object: 'video',
    created_at: Math.floor(v.createdAt / 1000),
    completed_at: done,
    expires_at: done === null ? null : done + 86_400,
    error: null,
    model: v.model,
    progress,
    prompt: v.prompt,
    remixed_from_video_id: null,
    seconds: v.seconds,
    size: v.size,
    status,
  };
}

const notFound = (id: string) => ({
  status: 404,
  body: { error: { message: `Video ${id.slice(0, 60)} not found`, type: 'invalid_request_error', code: 'not_found' } },
});

export function demoCreateVideo(body: unknown, contentType: string, now = Date.now()) {
  const f = fields(body, contentType);
  if (!f.prompt) return { status: 400, body: { error: { message: 'prompt is required', type: 'invalid_request_error', param: 'prompt', code: null } } };
  const v: DemoVideo = {
    id: `video_demo${randomBytes(10).toString('hex')}`,
    model: f.model ?? DEMO_VIDEO_MODEL,
    prompt: f.prompt.slice(0, 500),
    seconds: f.seconds ?? '4',
    size: f.size ?? '1280x720',
    createdAt: now,
    deleted: false,
  };
  videos.set(v.id, v);
  if (videos.size > KEEP) videos.delete(videos.keys().next().value!);
  return { status: 200, body: view(v, now) };
}

export function demoGetVideo(id: string, now = Date.now()) {
  const v = videos.get(id);
  return v && !v.deleted ? { status: 200, body: view(v, now) } : notFound(id);
}

export function demoDeleteVideo(id: string) {
  const v = videos.get(id);
  if (!v || v.deleted) return notFound(id);
  v.deleted = true;
  return { status: 200, body: { id, object: 'video.deleted', deleted: true } };
}

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The finished "video": an SVG whose text slides across for the video's length. */
export function demoVideoContent(id: string, now = Date.now()): { status: number; contentType: string; body: string } {
  const v = videos.get(id);
  if (!v || v.deleted || view(v, now).status !== 'completed') return { status: 404, contentType: 'application/json', body: JSON.stringify(notFound(id).body) };
  const [w, h] = v.size.split('x').map(Number);
  const secs = Number(v.seconds) || 4;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><rect width="100%" height="100%" fill="#101828"/><text x="0" y="${h / 2}" fill="#f5f5f5" font-family="sans-serif" font-size="${Math.round(h / 12)}">${escapeXml(v.prompt)}<animate attributeName="x" from="${w}" to="${-w}" dur="${secs}s" repeatCount="indefinite"/></text><text x="16" y="${h - 16}" fill="#98a2b3" font-family="sans-serif" font-size="${Math.round(h / 30)}">Tally demo video (${secs} s): point a channel at a real provider for real videos</text></svg>`;
  return { status: 200, contentType: 'image/svg+xml', body: svg };
}
