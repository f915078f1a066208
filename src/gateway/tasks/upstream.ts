import type { Dispatcher } from 'undici';
import type { RuntimeChannel, Catalog } from '../catalog.ts';
import { classifyNetworkError, classifyStatus, stripSecrets, upstreamMessage, type AttemptFailure } from '../upstreamErrors.ts';
import type { TaskStatus } from '../../db/schema.ts';

// OpenAI's video API on an `openai` channel: POST <base>/videos (the caller's
// JSON or multipart body, the model renamed when the channel maps it),
// GET <base>/videos/{id}, GET <base>/videos/{id}/content, DELETE
// <base>/videos/{id}, with the channel key that submitted the task. The
// upstream's answers are read here into what the task store needs; its ids
// stay here and in the tasks table, never in an answer to the caller.

/** What a poll or a submit learned of the upstream's video. */
export interface UpstreamVideo {
  id: string;
  status: 'queued' | 'in_progress' | 'completed' | 'failed';
  progress: number;
  /** Seconds the upstream says the video has (its `seconds`), or null. */
  seconds: number | null;
  /** The size it makes ("720x1280"), or null. */
  size: string | null;
  error: { code: string; message: string } | null;
}

const STATUSES = new Set(['queued', 'in_progress', 'completed', 'failed']);

/** Reads a video object; null when the body is not one (an upstream that does not speak the video API). */
export function readVideo(body: string): UpstreamVideo | null {
  let j: any;
  try {
    j = JSON.parse(body);
  } catch {
    return null;
  }
  if (!j || typeof j !== 'object' || typeof j.id !== 'string' || !j.id || j.id.length > 200 || !STATUSES.has(j.status)) return null;
  const secs = typeof j.seconds === 'string' || typeof j.seconds === 'number' ? Number(j.seconds) : NaN;
  const err = j.error && typeof j.error === 'object' ? j.error : null;
  return {
    id: j.id,
    status: j.status,
    progress: typeof j.progress === 'number' && Number.isFinite(j.progress) ? Math.max(0, Math.min(100, Math.round(j.progress))) : 0,
    seconds: Number.isFinite(secs) && secs >= 0 ? secs : null,
    size: typeof j.size === 'string' && /^\d{2,5}x\d{2,5}$/.test(j.size) ? j.size : null,
    error: err
      ? {
          code: typeof err.code === 'string' ? err.code.slice(0, 100) : 'upstream_failed',
          message: typeof err.message === 'string' ? stripSecrets(err.message) : '',
        }
      : null,
  };
}

const auth = (ch: RuntimeChannel): Record<string, string> => (ch.apiKey ? { authorization: `Bearer ${ch.apiKey}` } : {});

export interface UpstreamReply {
  status: number;
  body: string;
  retryAfter: string | null;
}

/** A poll or a delete is a small read: it gets this long at most, whatever the channel allows a generation (a lease outlasts it). */
export const CONTROL_TIMEOUT_MS = 30_000;

async function send(ch: RuntimeChannel, opts: Dispatcher.RequestOptions, timeoutMs = ch.firstByteTimeoutMs): Promise<UpstreamReply> {
  const res = await ch.pool.request({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs, ...opts });
  const body = await res.body.text();
  const ra = res.headers['retry-after'];
  return { status: res.statusCode, body, retryAfter: typeof ra === 'string' ? ra : null };
}

/** Submits the body; a 2xx with a video object, or the failure classified like any relay attempt (failover, needs attention). */
export async function submitVideo(
  ch: RuntimeChannel,
  path: string,
  body: { bytes: Buffer | string; contentType: string },
): Promise<{ ok: true; video: UpstreamVideo } | { ok: false; failure: AttemptFailure }> {
  let r: UpstreamReply;
  try {
    r = await send(ch, { path: `${ch.pathPrefix}${path}`, method: 'POST', headers: { 'content-type': body.contentType, ...auth(ch) }, body: body.bytes });
  } catch (e) {
    const failure = classifyNetworkError(e, ch.name);
    // Another channel only when this one provably never took the job (no connection); after a timeout or a reset it may have.
    return { ok: false, failure: { ...failure, failover: NOT_CONNECTED.has((e as { code?: string })?.code ?? '') } };
  }
  if (r.status >= 200 && r.status < 300) {
    const video = readVideo(r.body);
    if (video) return { ok: true, video };
    return {
      ok: false,
      failure: { ...classifyStatus(502, `the upstream answered ${r.status} without a video object`, ch.apiKey, ch.name, null), failover: false },
    };
  }
  const failure = classifyStatus(r.status, r.body, ch.apiKey, ch.name, r.retryAfter);
  // A 429, a refused key or an overloaded upstream made nothing; a 500/502/504 may have: no second job elsewhere.
  return {
    ok: false,
    failure: { ...failure, failover: failure.failover && (r.status === 429 || r.status === 401 || r.status === 403 || r.status === 503 || r.status === 529) },
  };
}

/** Network errors that mean the request never reached the upstream. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

export type PollResult =
  | { kind: 'video'; video: UpstreamVideo }
  /** The upstream no longer knows the id (404): the task cannot end well. */
  | { kind: 'gone'; message: string }
  /** Could not read it this time (network, 5xx, 429, an answer that is not a video): poll again later. */
  | { kind: 'retry'; message: string }
  /** The upstream refuses the channel's key (401/403). */
  | { kind: 'refused'; message: string };

export async function pollVideo(ch: RuntimeChannel, upstreamId: string): Promise<PollResult> {
  let r: UpstreamReply;
  try {
    r = await send(
      ch,
      { path: `${ch.pathPrefix}/videos/${encodeURIComponent(upstreamId)}`, method: 'GET', headers: auth(ch) },
      Math.min(ch.firstByteTimeoutMs, CONTROL_TIMEOUT_MS),
    );
  } catch (e) {
    return { kind: 'retry', message: classifyNetworkError(e, ch.name).error.message };
  }
  const msg = () => stripSecrets(upstreamMessage(r.body), [ch.apiKey]);
  if (r.status === 200) {
    const video = readVideo(r.body);
    return video ? { kind: 'video', video } : { kind: 'retry', message: 'the upstream answered 200 without a video object' };
  }
  // The upstream's text names its own id: kept out of what the user sees.
  if (r.status === 404) return { kind: 'gone', message: 'the upstream no longer knows this task (404)' };
  if (r.status === 401 || r.status === 403) return { kind: 'refused', message: `the upstream refused the channel key (${r.status}): ${msg()}` };
  return { kind: 'retry', message: `upstream ${r.status}: ${msg()}` };
}

/** Cancels (or deletes) the upstream's video: ok, gone (404: nothing left to cancel), or refused with the upstream's reason. */
export async function deleteVideo(
  ch: RuntimeChannel,
  upstreamId: string,
): Promise<{ kind: 'ok' | 'gone' } | { kind: 'refused'; status: number; message: string }> {
  let r: UpstreamReply;
  try {
    r = await send(
      ch,
      { path: `${ch.pathPrefix}/videos/${encodeURIComponent(upstreamId)}`, method: 'DELETE', headers: auth(ch) },
      Math.min(ch.firstByteTimeoutMs, CONTROL_TIMEOUT_MS),
    );
  } catch (e) {
    return { kind: 'refused', status: 502, message: classifyNetworkError(e, ch.name).error.message };
  }
  if (r.status >= 200 && r.status < 300) return { kind: 'ok' };
  if (r.status === 404) return { kind: 'gone' };
  return { kind: 'refused', status: r.status, message: stripSecrets(upstreamMessage(r.body), [ch.apiKey]) };
}

/** Streams the finished video (or a variant) from the upstream; the caller pipes `body`. */
export async function videoContent(ch: RuntimeChannel, upstreamId: string, variant: string | null): Promise<Dispatcher.ResponseData> {
  const q = variant ? `?variant=${encodeURIComponent(variant)}` : '';
  return ch.pool.request({
    path: `${ch.pathPrefix}/videos/${encodeURIComponent(upstreamId)}/content${q}`,
    method: 'GET',
    headers: auth(ch),
    headersTimeout: ch.firstByteTimeoutMs,
    bodyTimeout: ch.firstByteTimeoutMs,
  });
}

/**
 * The channel view (key) that submitted a task; if that key was rotated out,
 * another key of the same channel (an OpenAI video belongs to the project,
 * which a channel's keys share), so a key rotation strands no task. Null when
 * the channel itself is gone.
 */
export function taskChannel(catalog: Catalog, channelId: string, keyRef: string): RuntimeChannel | null {
  const ch = catalog.channels.find((c) => c.id === channelId);
  if (!ch) return null;
  return ch.keys.find((k) => k.keyRef === keyRef) ?? ch.keys.find((k) => k.apiKey) ?? ch.keys[0] ?? null;
}

/** A task status from an upstream status (its live ones). */
export const liveStatus = (s: UpstreamVideo['status']): TaskStatus => (s === 'in_progress' ? 'in_progress' : 'queued');
