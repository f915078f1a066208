// Reads `usage` out of an OpenAI SSE stream (usage.ts parses it) while the
// bytes go to the client unchanged and at once. The tap works on bytes: a chunk that holds
// whole events and no usage object (nearly every chunk) is forwarded as the
// same Buffer after one native search, without being decoded. The chunks are
// kept by reference so that, if upstream never reports usage, the produced
// text can be counted at the end. When the client did not ask for usage but
// Tally did (to bill exactly), the usage-only event is cut out of what the
// client receives, at event boundaries; every other byte passes as it came.
// An upstream that fails mid-stream with a data line holding `error` (OpenAI,
// vLLM, most compatible servers) has that line forwarded like any other, and
// the stream is settled as one the upstream broke off (failedInStream).

import type { Usage } from '../../pricing.ts';
import type { StreamTap } from '../../providers/index.ts';
import { eventUsage, parseEvent, readSse, usageFrom, type StreamUsage } from './usage.ts';

const USAGE_MARK = Buffer.from('"usage":{');
/** An event whose JSON starts with an `error` key (inside generated text the quotes are escaped, so text never matches). */
const ERROR_MARK = Buffer.from('{"error"');
const LF2 = Buffer.from('\n\n');
const CRLF2 = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

/** Where the last complete event ends (just after its blank line), or -1. */
export function lastEventEnd(b: Buffer): number {
  const lf = b.lastIndexOf(LF2);
  const crlf = b.lastIndexOf(CRLF2);
  return Math.max(lf < 0 ? -1 : lf + 2, crlf < 0 ? -1 : crlf + 4);
}

/** Where the event holding byte `at` starts: just after the previous blank line, or 0. */
export function eventStart(b: Buffer, at: number): number {
  const lf = b.lastIndexOf(LF2, at);
  const crlf = b.lastIndexOf(CRLF2, at);
  return Math.max(0, lf < 0 ? 0 : lf + 2, crlf < 0 ? 0 : crlf + 4);
}

/** Where the event holding byte `at` ends: just after its blank line (`b` ends with one). */
export function eventEnd(b: Buffer, at: number): number {
  const lf = b.indexOf(LF2, at);
  const crlf = b.indexOf(CRLF2, at);
  if (lf < 0) return crlf < 0 ? b.length : crlf + 4;
  return crlf < 0 || lf + 2 <= crlf + 4 ? lf + 2 : crlf + 4;
}

/** Whether an event boundary straddles `last` (the up to 3 bytes received before) and the start of `next`. */
export function boundaryAcross(last: Buffer, next: Buffer): boolean {
  if (!last.length || !next.length) return false;
  const joint = Buffer.concat([last, next.subarray(0, 3)]);
  return joint.indexOf(LF2) >= 0 || joint.indexOf(CRLF2) >= 0;
}

/** The last up to 3 bytes of `prev` followed by `next` (a copy: chunks may be pooled). */
export function lastBytes(prev: Buffer, next: Buffer): Buffer {
  if (next.length >= 3) return Buffer.from(next.subarray(next.length - 3));
  const both = Buffer.concat([prev, next]);
  return both.subarray(Math.max(0, both.length - 3));
}

export function endsWithEvent(b: Buffer): boolean {
  const n = b.length;
  return n >= 2 && b[n - 1] === 10 && (b[n - 2] === 10 || (n >= 4 && b[n - 2] === 13 && b[n - 3] === 10 && b[n - 4] === 13));
}

/** Whether `b` (whole events) holds a `data:` line whose JSON starts with an `error` key. */
function errorEventIn(b: Buffer): boolean {
  for (let at = b.indexOf(ERROR_MARK); at >= 0; at = b.indexOf(ERROR_MARK, at + 1)) {
    let i = at - 1;
    if (i >= 0 && b[i] === 32) i--; // `data: {` or `data:{`
    // `data:` at the start of a line.
    if (i >= 4 && b[i] === 58 && b[i - 1] === 97 && b[i - 2] === 116 && b[i - 3] === 97 && b[i - 4] === 100 && (i === 4 || b[i - 5] === 10 || b[i - 5] === 13))
      return true;
  }
  return false;
}

export class SseUsageTap implements StreamTap {
  usage: StreamUsage | null = null;
  /** Every upstream chunk, by reference (for counting when upstream reports no usage). */
  private readonly chunks: Buffer[] = [];
  /** Bytes of an event not yet complete (held back from the client only in strip mode). */
  private tail: Buffer = EMPTY;
  private failed = false;

  constructor(private readonly stripUsage: boolean) {}

  /** The upstream sent an error event of its own inside the stream (already forwarded to the client). */
  failedInStream(): boolean {
    return this.failed;
  }

  /** Feeds upstream bytes; returns what to send to the client now (the same Buffer, a part of it, or empty). */
  push(chunk: Buffer): Buffer {
    this.chunks.push(chunk);
    const data = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    const end = endsWithEvent(data) ? data.length : lastEventEnd(data);
    if (end < 0) {
      this.tail = data;
      return this.stripUsage ? EMPTY : chunk;
    }
    const complete = end === data.length ? data : data.subarray(0, end);
    this.tail = end === data.length ? EMPTY : Buffer.from(data.subarray(end)); // a copy: `data` may be a pooled chunk
    if (!this.failed) this.failed = errorEventIn(complete);
    let at = complete.indexOf(USAGE_MARK);
    if (at < 0) return this.stripUsage ? complete : chunk;
    // Only the events holding a usage object are decoded and parsed.
    const kept: Buffer[] = [];
    let from = 0;
    while (at >= 0) {
      const evStart = eventStart(complete, at);
      const evEnd = eventEnd(complete, at);
      const obj = parseEvent(complete.toString('utf8', evStart, evEnd));
      const usage = eventUsage(obj);
      if (usage) {
        this.usage = usage;
        if (this.stripUsage && Array.isArray(obj.choices) && obj.choices.length === 0) {
          kept.push(complete.subarray(from, evStart));
          from = evEnd;
        }
      }
      at = complete.indexOf(USAGE_MARK, evEnd);
    }
    if (!this.stripUsage) return chunk;
    if (from === 0) return complete;
    kept.push(complete.subarray(from));
    return Buffer.concat(kept);
  }

  /** Whatever the stream left unterminated (sent as-is at the end, in strip mode; already sent otherwise). */
  flushCarry(): Buffer {
    const rest = this.tail;
    this.tail = EMPTY;
    return this.stripUsage ? rest : EMPTY;
  }

  /** The usage upstream reported, as Tally bills it (null until it does). */
  reportedUsage(): Usage | null {
    return usageFrom(this.usage);
  }

  /** Every byte received so far. */
  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** The text the model produced so far (content, tool call arguments, refusals, reasoning), for counting. */
  producedText(): string {
    return readSse(this.received().toString('utf8')).output;
  }
}
