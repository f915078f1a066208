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
// own failure (failedInStream). A caller that asked for Google's JSON-array stream gets the same SSE
// reframed by its protocol (protocols/gemini/framing.ts).

import type { Usage } from '../../pricing.ts';
import type { StreamTap } from '../index.ts';
import { endsWithEvent, eventEnd, eventStart, lastEventEnd } from '../../protocols/openai/sse.ts';
import { parseEvent } from '../../protocols/openai/usage.ts';
import { emptyGeminiCounts, readGeminiUsage } from '../../translate/geminiShared.ts';
import { billingUsageOfGemini, geminiChunkText, isErrorChunk, isFinalChunk } from './usage.ts';

const USAGE_MARK = Buffer.from('"usageMetadata"');
const ERROR_MARK = Buffer.from('{"error"');
const EMPTY = Buffer.alloc(0);

/** Does the event holding `at` start with `data:` and then `{"error"` (Google's error chunk, not a key inside function args)? */
function errorEventAt(b: Buffer, at: number): boolean {
  const start = eventStart(b, at);
  return b.toString('latin1', start, at).trim() === 'data:';
}

export class GeminiSseTap implements StreamTap {
  private readonly counts = emptyGeminiCounts();
  private seen = false;
  private final = false;
  private failed = false;
  private readonly chunks: Buffer[] = [];
  /** Bytes of an event not yet complete (already forwarded; kept to find the usage in it once it is). */
  private tail: Buffer = EMPTY;

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
    const data = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    const end = endsWithEvent(data) ? data.length : lastEventEnd(data);
    if (end < 0) {
      this.tail = data === chunk ? Buffer.from(chunk) : data;
      return chunk;
    }
    const complete = end === data.length ? data : data.subarray(0, end);
    this.tail = end === data.length ? EMPTY : Buffer.from(data.subarray(end)); // a copy: `data` may be a pooled chunk
    this.scan(complete, USAGE_MARK);
    for (let e = this.failed ? -1 : complete.indexOf(ERROR_MARK); e >= 0; e = complete.indexOf(ERROR_MARK, e + 1)) {
      if (errorEventAt(complete, e)) {
        this.read(parseEvent(complete.toString('utf8', eventStart(complete, e), eventEnd(complete, e))));
        if (this.failed) break;
      }
    }
    return chunk;
  }

  /** Parses each event that holds `mark`, once. */
  private scan(complete: Buffer, mark: Buffer): void {
    let at = complete.indexOf(mark);
    while (at >= 0) {
      const evEnd = eventEnd(complete, at);
      this.read(parseEvent(complete.toString('utf8', eventStart(complete, at), evEnd)));
      at = complete.indexOf(mark, evEnd);
    }
  }

  flushCarry(): Buffer {
    if (this.tail.length) this.scan(this.tail, USAGE_MARK); // a last event without its blank line
    this.tail = EMPTY;
    return EMPTY; // everything was forwarded as it came
  }
}
