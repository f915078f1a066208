import type { ServerResponse } from 'node:http';
import type { RuntimeChannel } from '../catalog.ts';
import type { Provider, StreamTap } from '../providers/index.ts';
import { UpstreamCall, type UpstreamHead, type UpstreamSink } from '../upstreamCall.ts';
import { isTallyError, TallyError } from '../../lib/errors.ts';
import { classifyNetworkError, classifyStatus, type AttemptFailure } from '../upstreamErrors.ts';
import type { RequestCharge } from './requestCharge.ts';
import type { Settler } from './settle.ts';
import type { StreamTranslator, Translation } from './translation.ts';
import type { StreamFraming } from '../protocols/index.ts';
import { MediaTap } from '../media/tap.ts';

// Step 4: one try on one channel. Nothing is written to the client before
// the upstream answered 2xx, so a failed attempt can still fail over; a
// stream is committed to its channel from its first byte and goes to the
// client as it arrives, with back-pressure. (Classes rather than closures:
// this runs for every request.)

/** How much of an upstream error body is kept to explain the error. */
const MAX_ERROR_BODY = 64 * 1024;
const CLIENT_GONE = Object.assign(new Error('the client closed the connection'), { code: 'CLIENT_GONE' });
const TOTAL_TIMEOUT = Object.assign(new Error('total timeout'), { name: 'TimeoutError' });

export type AttemptResult = { ok: true } | { ok: false; failure: AttemptFailure | null; stop: boolean; needsAttention?: number };

const OK: AttemptResult = { ok: true };

/** The client's side of one relayed request: notices a disconnect and aborts the upstream attempt in flight. */
export class ClientWatch {
  gone = false;
  current: UpstreamCall | null = null;
  private readonly closed: () => void;

  constructor(private readonly res: ServerResponse) {
    this.closed = this.onClose.bind(this);
    res.on('close', this.closed);
  }

  private onClose(): void {
    if (!this.res.writableFinished) {
      this.gone = true;
      this.current?.abort(CLIENT_GONE);
    }
  }

  stop(): void {
    this.res.off('close', this.closed);
  }
}

function abortOnTimeout(u: UpstreamCall): void {
  u.abort(TOTAL_TIMEOUT);
}

/**
 * Resolves ok when the answer went to the client (and was settled: settle.ts);
 * otherwise with why, and whether to stop failing over.
 */
export class Attempt implements UpstreamSink {
  private mode: 'wait' | 'error' | 'whole' | 'stream' = 'wait';
  private status = 0;
  private contentType: string | null = null;
  private retryAfter: string | null = null;
  private parts: Buffer[] = [];
  private size = 0;
  private tap: StreamTap | null = null;
  /** Rewrites the stream into the caller's protocol when the provider speaks another (null: bytes pass through). */
  private sx: StreamTranslator | null = null;
  /** Reframes what the client gets (Gemini's JSON-array stream: Protocol.streamFraming), or null: SSE as it is. */
  private rf: StreamFraming | null = null;
  private upstream: UpstreamCall | null = null;
  private timer: NodeJS.Timeout | null = null;
  private resolve: ((r: AttemptResult) => void) | null = null;
  private pending: Buffer[] = [];
  private waitingDrain = false;
  private readonly provider: Provider;
  private readonly res: ServerResponse;
  private readonly drained: () => void;
  private readonly forward: () => void;

  constructor(
    private readonly settler: Settler,
    private readonly c: RequestCharge,
    private readonly ch: RuntimeChannel,
    private readonly client: ClientWatch,
    /** The call translated for this channel's provider, or null when it speaks the caller's protocol (translation.ts). */
    private readonly tr: Translation | null = null,
  ) {
    this.provider = ch.provider!; // the catalog routes only channels that have one
    this.res = c.inbound.res;
    this.drained = this.onDrain.bind(this);
    this.forward = this.forwardPending.bind(this);
  }

  run(upstreamModel: string): Promise<AttemptResult> {
    const ch = this.ch;
    const promise = new Promise<AttemptResult>((r) => {
      this.resolve = r;
    });
    const upstream = UpstreamCall.start(ch.pool, this.provider.request(ch, this.tr ? this.tr.call : this.c.call, upstreamModel, this.c.maxTokensCap), this);
    if (this.resolve) {
      this.upstream = upstream;
      this.client.current = upstream;
      this.timer = setTimeout(abortOnTimeout, ch.totalTimeoutMs, upstream);
    }
    return promise;
  }

  private finish(r: AttemptResult): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.mode === 'stream') this.res.off('drain', this.drained);
    const resolve = this.resolve;
    this.resolve = null;
    resolve?.(r);
  }

  private onDrain(): void {
    this.waitingDrain = false;
    this.upstream?.resume();
  }

  /** Sends what arrived since the last call through the usage tap to the client. */
  private forwardPending(): void {
    const n = this.pending.length;
    if (!n) return;
    const data = n === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    const fwd = this.tap!.push(data);
    const out = this.res;
    if (this.sx) this.writeTranslated(this.sx.push(fwd));
    else if (this.rf) this.writeTranslated(fwd);
    else if (fwd.length && !out.destroyed) out.write(fwd);
  }

  private writeTranslated(s: string | Buffer): void {
    const out = this.rf ? this.rf.push(s) : s;
    if (out.length && !this.res.destroyed) this.res.write(out);
  }

  head(h: UpstreamHead): void {
    this.status = h.status;
    if (h.status >= 400) {
      this.mode = 'error';
      this.retryAfter = h.retryAfter;
      return;
    }
    this.ch.breaker.success();
    this.contentType = h.contentType;
    this.c.log.ttfb_ms = Date.now() - this.c.started;
    if (!this.c.call.stream) {
      this.mode = 'whole';
      return;
    }
    // A stream is committed to this channel from its first byte: headers go out now.
    this.mode = 'stream';
    const tr = this.tr;
    // Speech audio passes through unchanged (media/tap.ts); text streams through the provider's usage tap.
    this.tap = this.c.call.media ? new MediaTap() : this.provider.streamTap(tr ? tr.call : this.c.call);
    if (tr) this.sx = tr.stream();
    this.rf = this.c.inbound.protocol.streamFraming?.(this.c.call) ?? null;
    const headers: Record<string, string> = {
      'content-type': this.rf ? this.rf.contentType : tr ? 'text/event-stream; charset=utf-8' : (h.contentType ?? 'text/event-stream'),
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': this.c.inbound.requestId,
    };
    const idHeader = this.c.inbound.protocol.requestIdHeader;
    if (idHeader) headers[idHeader] = this.c.inbound.requestId;
    this.res.writeHead(h.status, headers);
  }

  data(chunk: Buffer): boolean {
    if (this.mode === 'stream') {
      // The chunks undici parses out of one socket read (an upstream often
      // sends each event as its own HTTP chunk) are forwarded together at the
      // end of that read: same bytes, same moment, one write instead of many.
      this.pending.push(chunk);
      if (this.pending.length === 1) queueMicrotask(this.forward);
      const out = this.res;
      if (out.writableNeedDrain && !out.destroyed) {
        if (!this.waitingDrain) {
          this.waitingDrain = true;
          out.once('drain', this.drained);
        }
        return false;
      }
      return true;
    }
    if (this.mode === 'error' && this.size > MAX_ERROR_BODY) return true; // enough to explain the error
    this.parts.push(chunk);
    this.size += chunk.length;
    return true;
  }

  end(): void {
    if (this.mode === 'stream') {
      this.endStream(false);
    } else if (this.mode === 'whole') {
      // Non-stream: the whole upstream body goes to the client unchanged (or translated into the caller's protocol).
      const body = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size);
      let out = body;
      if (this.tr) {
        try {
          out = this.tr.whole(body);
        } catch (e) {
          // Not an answer Tally can translate (or one that says the prompt was refused, e.g. Gemini's blockReason):
          // a failure of this attempt, before anything reached the client.
          const error =
            isTallyError(e) && e.code !== 'upstream_error'
              ? e
              : new TallyError('upstream_error', `upstream channel "${this.ch.name}" answered ${this.status} with a body Tally could not read`);
          this.finish({ ok: false, failure: { failover: false, needsAttention: false, breaker: false, error }, stop: true });
          return;
        }
      }
      const res = this.res;
      const requestId = this.c.inbound.requestId;
      const idHeader = this.c.inbound.protocol.requestIdHeader;
      // A media answer keeps the upstream's content-type (a transcription asked for as text, srt or vtt is not JSON).
      const type = this.c.call.media ? (this.contentType ?? 'application/json') : 'application/json';
      res.writeHead(
        this.status,
        idHeader
          ? { 'content-type': type, 'content-length': out.length, 'x-request-id': requestId, [idHeader]: requestId }
          : { 'content-type': type, 'content-length': out.length, 'x-request-id': requestId },
      );
      res.end(out);
      this.settler.whole(this.c, this.provider, this.tr ? this.tr.call : this.c.call, body, this.status);
      this.finish(OK);
    } else {
      const ch = this.ch;
      const failure = classifyStatus(this.status, Buffer.concat(this.parts, this.size).toString('utf8'), ch.apiKey, ch.name, this.retryAfter);
      if (failure.breaker) ch.breaker.failure(Date.now(), failure.error.message);
      this.finish({ ok: false, failure, stop: !failure.failover, needsAttention: failure.needsAttention ? this.status : undefined });
    }
  }

  error(err: Error): void {
    if (this.mode === 'stream') {
      this.endStream(true);
      return;
    }
    if (this.client.gone) {
      this.finish({ ok: false, failure: null, stop: true });
      return;
    }
    const failure = classifyNetworkError(err, this.ch.name);
    this.ch.breaker.failure(Date.now(), this.mode === 'whole' ? 'upstream closed the connection before the body was complete' : failure.error.message);
    this.finish({ ok: false, failure, stop: false });
  }

  /** A stream ended (normally, or `broken` by an error or abort): close the client's side and settle what was produced. */
  private endStream(broken: boolean): void {
    this.forwardPending();
    const out = this.res;
    const clientGone = this.client.gone;
    const tap = this.tap!;
    const rest = tap.flushCarry();
    // An error event of the upstream's own (already forwarded, or translated) ends the stream as a break does.
    const sx = this.sx;
    const failedInStream = tap.failedInStream?.() === true || sx?.failed === true;
    if (sx) {
      if (rest.length) this.writeTranslated(sx.push(rest));
      if (!broken && !failedInStream) this.writeTranslated(sx.end());
    } else if (rest.length) this.writeTranslated(rest);
    if (this.rf) {
      // A reframed stream (Gemini's JSON array) is closed by its framing, with an error element when broken.
      const tail = this.rf.close(broken && !clientGone);
      if (tail.length && !out.destroyed) out.write(tail);
    } else if (broken && !clientGone && !out.destroyed) out.write(this.c.call.protocol.streamBrokenEvent);
    if (!out.destroyed) out.end();
    const upstreamBroke = !clientGone && (broken || failedInStream);
    this.settler.stream(this.c, this.provider, this.tr ? this.tr.call : this.c.call, tap, this.status, this.contentType, upstreamBroke, clientGone);
    this.finish(OK);
  }
}
