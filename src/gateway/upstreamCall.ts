import type { Dispatcher } from 'undici';

// One request to an upstream through undici's dispatch API. The relay is the
// hot path: `pool.request()` would wrap every response in a Readable stream,
// an AbortSignal and a few promises per request; here the bytes arrive in
// callbacks and go straight to the client (back-pressure included), and an
// attempt is aborted through the function undici hands over.

export interface UpstreamHead {
  status: number;
  contentType: string | null;
  retryAfter: string | null;
}

export interface UpstreamSink {
  /** Status and the headers the relay uses. Called once, before any body byte. */
  head(h: UpstreamHead): void;
  /** A body chunk; return false to pause the upstream until `resume()`. */
  data(chunk: Buffer): boolean;
  /** The body ended normally. */
  end(): void;
  /** The exchange failed: network error, timeout, or `abort(reason)` (then `reason` is the error). */
  error(err: Error): void;
}

export class UpstreamCall implements Dispatcher.DispatchHandler {
  private abortFn: ((reason: Error) => void) | null = null;
  private resumeFn: (() => void) | null = null;
  private pendingAbort: Error | null = null;
  private done = false;

  constructor(private readonly sink: UpstreamSink) {}

  /** Starts the request on `pool`. */
  static start(pool: Dispatcher, opts: Dispatcher.DispatchOptions, sink: UpstreamSink): UpstreamCall {
    const call = new UpstreamCall(sink);
    pool.dispatch(opts, call);
    return call;
  }

  /** Ends the exchange with `reason` (reported through `error` unless it already ended). */
  abort(reason: Error): void {
    if (this.done) return;
    if (this.abortFn) this.abortFn(reason);
    else this.pendingAbort = reason; // not on a socket yet: undici aborts it when it is
  }

  resume(): void {
    this.resumeFn?.();
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.pendingAbort) abort(this.pendingAbort);
    else this.abortFn = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: wait for the real answer
    this.resumeFn = resume;
    let contentType: string | null = null;
    let retryAfter: string | null = null;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i];
      // Only two headers matter here; compare lengths before decoding.
      if (name.length === 12 && name.toString('latin1').toLowerCase() === 'content-type') contentType = rawHeaders[i + 1].toString('latin1');
      else if (name.length === 11 && name.toString('latin1').toLowerCase() === 'retry-after') retryAfter = rawHeaders[i + 1].toString('latin1');
    }
    this.sink.head({ status: statusCode, contentType, retryAfter });
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.sink.data(chunk);
  }

  onComplete(): void {
    this.done = true;
    this.sink.end();
  }

  onError(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.sink.error(err);
  }
}
