// Reads usageMetadata out of a gemini channel's stream (`?alt=sse`: each
// event one whole GenerateContentResponse) while the bytes go to the client:
// every byte is forwarded as it came, at once. Only events that carry a usage
// report are decoded and parsed (found by one native search per chunk, plus
// one for an error event: a Buffer search costs about as much as the rest of
// the tap; a JSON string escapes its quotes, so the marks never match inside
// generated text). Google sends a running usageMetadata on every chunk and
// the complete one with the finishReason (or the blocked prompt's
// promptFeedback): the last one wins, and is final once it came with those.
// Before that, the prompt side of the latest report is kept (promptUsage) so
// a stream that breaks off is billed its prompt as Google counted it and its
// output as Tally counts it. A `data: {"error": …}` event is the upstream's
// own failure (failedInStream; only the few bytes before a `{"error"` are
// looked at). Linear in the stream: an event cut across chunks is kept in
// pieces and joined once, when its end arrives. A caller that asked for Google's JSON-array stream gets the same SSE
// reframed by its protocol (protocols/gemini/framing.ts).

import type { Usage } from '../../pricing.ts';
import type { StreamTap } from '../index.ts';
import { boundaryAcross, endsWithEvent, eventEnd, lastBytes, lastEventEnd } from '../../protocols/openai/sse.ts';
import { parseEvent } from '../../protocols/openai/usage.ts';
import { emptyGeminiCounts, readGeminiUsage } from '../../translate/geminiShared.ts';
import { billingUsageOfGemini, geminiChunkText, isErrorChunk, isFinalChunk } from './usage.ts';

const USAGE_MARK = Buffer.from('"usageMetadata"');
const ERROR_MARK = Buffer.from('{"error"');
const LF2 = Buffer.from('\n\n');
const CRLF2 = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

/**
 * Where the event holding byte `at` starts, looking back no further than `from` (an event boundary): just
 * after the last blank line in between, else `from`. Bounded so that many events in one buffer stay linear.
 */
function eventStartFrom(b: Buffer, from: number, at: number): number {
  const between = b.subarray(from, at);
  const lf = between.lastIndexOf(LF2);
  const crlf = between.lastIndexOf(CRLF2);
  return from + Math.max(0, lf < 0 ? 0 : lf + 2, crlf < 0 ? 0 : crlf + 4);
}

/**
 * Where the `data:` line whose JSON starts at `at` begins, or -1 when the mark is not right after
 * `data:`/`data: ` at a line start (Google's error chunk, not a key inside function args). Looks at the
 * few bytes before the mark only.
 */
function errorLineAt(b: Buffer, at: number): number {
  let i = at - 1;
  if (i >= 0 && b[i] === 32) i--; // `data: {` or `data:{`
  if (i >= 4 && b[i] === 58 && b[i - 1] === 97 && b[i - 2] === 116 && b[i - 3] === 97 && b[i - 4] === 100 && (i === 4 || b[i - 5] === 10 || b[i - 5] === 13))
    return i - 4;
  return -1;
}

export class GeminiSseTap implements StreamTap {
  private readonly counts = emptyGeminiCounts();
  private seen = false;
  private final = false;
  private failed = false;
  private readonly chunks: Buffer[] = [];
  /** Bytes of an event not yet complete (already forwarded; kept to find the usage in it once it is). */
  private tail: Buffer[] = [];
  /** The last bytes of the tail (to find a blank line cut across chunks). */
  private last: Buffer = EMPTY;

  /** One parsed event. */
  private read(obj: any): void {
    if (!obj || typeof obj !== 'object') return;
    if (isErrorChunk(obj)) {
      this.failed = true;
      return;
    }
    if (obj.usageMetadata && typeof obj.usageMetadata === 'object') {
      readGeminiUsage(obj.usageMetadata, this.counts);
      this.seen = true;
    }
    if (isFinalChunk(obj)) this.final = true;
  }

  /** The usage, once the final chunk came (null before: the output count is not known yet). */
  reportedUsage(): Usage | null {
    return this.final && this.seen ? billingUsageOfGemini(this.counts) : null;
  }

  /** The prompt side reported so far, for a stream that ended before its final usage. */
  promptUsage(): Usage | null {
    if (!this.seen) return null;
    const u = billingUsageOfGemini(this.counts);
    return {
      promptTokens: u.promptTokens,
      cachedTokens: u.cachedTokens,
      completionTokens: 0,
      ...(u.toolUsePromptTokens ? { toolUsePromptTokens: u.toolUsePromptTokens } : {}),
    };
  }

  /** The upstream ended the stream with a `data: {"error": …}` chunk. */
  failedInStream(): boolean {
    return this.failed;
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Text, thought and function-call text of every chunk, for counting when no usage was reported. */
  producedText(): string {
    let out = '';
    for (const ev of this.received()
      .toString('utf8')
      .split(/\r?\n\r?\n/))
      out += geminiChunkText(parseEvent(ev));
    return out;
  }

  push(chunk: Buffer): Buffer {
    this.chunks.push(chunk);
    if (!this.tail.length && endsWithEvent(chunk)) {
      this.scan(chunk); // the usual chunk: whole events
      return chunk;
    }
    // The unfinished event is kept in pieces: its end can only be across the joint or in the new chunk, and it
    // is joined once, when complete (joining at every chunk would copy a large event quadratically).
    const across = this.tail.length > 0 && boundaryAcross(this.last, chunk);
    if (!across && chunk.indexOf(LF2) < 0 && chunk.indexOf(CRLF2) < 0) {
      this.tail.push(chunk);
      this.last = lastBytes(this.last, chunk);
      return chunk;
    }
    const data = this.tail.length ? Buffer.concat([...this.tail, chunk]) : chunk;
    const end = lastEventEnd(data);
    this.tail = end === data.length ? [] : [Buffer.from(data.subarray(end))]; // a copy: `data` may be a pooled chunk
    this.last = this.tail.length ? lastBytes(EMPTY, this.tail[0]!) : EMPTY;
    this.scan(end === data.length ? data : data.subarray(0, end));
    return chunk;
  }

  /** Parses each event of `complete` (whole events) that holds a usage report, and a `data: {"error"…}` event. */
  private scan(complete: Buffer): void {
    let from = 0;
    for (let at = complete.indexOf(USAGE_MARK); at >= 0; at = complete.indexOf(USAGE_MARK, from)) {
      const evEnd = eventEnd(complete, at);
      this.read(parseEvent(complete.toString('utf8', eventStartFrom(complete, from, at), evEnd)));
      from = evEnd;
    }
    for (let e = this.failed ? -1 : complete.indexOf(ERROR_MARK); e >= 0; e = complete.indexOf(ERROR_MARK, e + 1)) {
      const line = errorLineAt(complete, e);
      if (line >= 0) {
        this.read(parseEvent(complete.toString('utf8', line, eventEnd(complete, e))));
        if (this.failed) break;
      }
    }
  }

  flushCarry(): Buffer {
    if (this.tail.length) this.scan(Buffer.concat([...this.tail, Buffer.from('\n\n')])); // a last event without its blank line
    this.tail = [];
    this.last = EMPTY;
    return EMPTY; // everything was forwarded as it came
  }
}
