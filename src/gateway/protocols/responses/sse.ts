import type { Usage } from '../../pricing.ts';
import type { StreamTap } from '../../providers/index.ts';
import { parseEvent } from '../openai/usage.ts';
import { boundaryAcross, eventEnd, eventStart, lastBytes, lastEventEnd } from '../openai/sse.ts';
import { readResponsesSse, ResponsesStreamReader } from './usage.ts';

// Reads a Responses stream's usage (response.completed, .incomplete or
// .failed carry the whole Response with its usage), the response id
// (response.created) and whether the upstream failed it, while the bytes go
// to the client unchanged and at once: a Responses stream always reports
// usage, so nothing is ever cut out of it. Only the events that hold an
// unescaped `"response":` (the lifecycle events) or `"error"` (an error
// event, or a Response's error field) are decoded and parsed; inside
// generated text both would be escaped (`\"response\":`), so a delta event
// never matches and is forwarded after one native search. Linear in the
// stream: an event cut across chunks is kept in pieces and joined once, when
// its end arrives (joining at every chunk would copy a large
// response.completed quadratically). The chunks are kept by reference so the
// produced text can be counted if no usage ever arrives.

const RESPONSE_MARK = Buffer.from('"response":');
const ERROR_MARK = Buffer.from('"error"');
const LF2 = Buffer.from('\n\n');
const CRLF2 = Buffer.from('\r\n\r\n');

export class ResponsesSseTap implements StreamTap {
  private readonly reader = new ResponsesStreamReader();
  private readonly chunks: Buffer[] = [];
  /** The incomplete last event, in pieces (already forwarded; kept to read it once it is complete). */
  private tail: Buffer[] = [];
  /** The last bytes of the tail (to find a blank line cut across chunks). */
  private last: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer {
    this.chunks.push(chunk);
    const across = this.tail.length > 0 && boundaryAcross(this.last, chunk);
    if (!across && chunk.indexOf(LF2) < 0 && chunk.indexOf(CRLF2) < 0) {
      this.tail.push(chunk);
      this.last = lastBytes(this.last, chunk);
      return chunk;
    }
    const data = this.tail.length ? Buffer.concat([...this.tail, chunk]) : chunk;
    const end = lastEventEnd(data);
    const complete = end === data.length ? data : data.subarray(0, end);
    this.tail = end === data.length ? [] : [Buffer.from(data.subarray(end))]; // a copy: `data` may be a pooled chunk
    this.last = this.tail.length ? lastBytes(Buffer.alloc(0), this.tail[0]) : Buffer.alloc(0);
    this.scan(complete);
    return chunk;
  }

  /** Parses the events of `b` (whole events only) that carry a Response or an error. */
  private scan(b: Buffer): void {
    let from = 0;
    for (;;) {
      const r = b.indexOf(RESPONSE_MARK, from);
      const e = b.indexOf(ERROR_MARK, from);
      const at = r < 0 ? e : e < 0 ? r : Math.min(r, e);
      if (at < 0) return;
      const evEnd = eventEnd(b, at);
      this.reader.meta(parseEvent(b.toString('utf8', eventStart(b, at), evEnd)));
      from = evEnd;
    }
  }

  flushCarry(): Buffer {
    // An unterminated last event was already forwarded; read it in case it holds the usage.
    if (this.tail.length) this.scan(Buffer.concat([...this.tail, Buffer.from('\n\n')]));
    this.tail = [];
    return Buffer.alloc(0);
  }

  reportedUsage(): Usage | null {
    return this.reader.usage;
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  producedText(): string {
    return readResponsesSse(this.received()).output();
  }

  failedInStream(): boolean {
    return this.reader.failed;
  }

  /** The id of the response the upstream created (response.created), for previous_response_id (responsePins.ts). */
  responseId(): string | null {
    return this.reader.responseId;
  }
}
