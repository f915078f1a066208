// Reads usage out of an Anthropic SSE stream while the bytes go to the client
// unchanged and at once (an Anthropic stream always carries its usage, so
// nothing is ever cut out of it). Only the two events that carry a usage
// object are decoded and parsed: message_start (the prompt side: input and
// prompt-cache counts) and message_delta (the final, cumulative output count,
// with the input counts repeated). Every other chunk is forwarded as the same
// Buffer after one native search. The chunks are kept by reference so that a
// stream that ends before its message_delta can be counted.

import type { Usage } from '../../pricing.ts';
import type { StreamTap } from '../../providers/index.ts';
import { endsWithEvent, eventEnd, eventStart, lastEventEnd } from '../openai/sse.ts';
import { parseEvent } from '../openai/usage.ts';
import { anthropicUsage, eventText, eventUsage, mergeUsage, type AnthropicUsageWire } from './usage.ts';

// A JSON string escapes its quotes, so these marks never match inside generated text.
const USAGE_MARK = Buffer.from('"usage"');
const ERROR_MARK = Buffer.from('event: error');
const EMPTY = Buffer.alloc(0);

export class AnthropicSseTap implements StreamTap {
  private usage: AnthropicUsageWire | null = null;
  private final = false;
  private failed = false;
  private readonly chunks: Buffer[] = [];
  /** Bytes of an event not yet complete (already forwarded; kept to find the usage in it once it is). */
  private tail: Buffer = EMPTY;

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
    let at = complete.indexOf(USAGE_MARK);
    while (at >= 0) {
      const evEnd = eventEnd(complete, at);
      const u = eventUsage(parseEvent(complete.toString('utf8', eventStart(complete, at), evEnd)));
      if (u) {
        mergeUsage((this.usage ??= {}), u.usage);
        if (u.final) this.final = true;
      }
      at = complete.indexOf(USAGE_MARK, evEnd);
    }
    for (let e = this.failed ? -1 : complete.indexOf(ERROR_MARK); e >= 0; e = complete.indexOf(ERROR_MARK, e + 1)) {
      if (e === 0 || complete[e - 1] === 10) {
        this.failed = true;
        break;
      }
    }
    return chunk;
  }

  flushCarry(): Buffer {
    this.tail = EMPTY;
    return EMPTY; // everything was forwarded as it came
  }

  /** The usage, once the final message_delta reported it (null before: the output count is not known yet). */
  reportedUsage(): Usage | null {
    return this.final ? anthropicUsage(this.usage) : null;
  }

  /** The prompt side message_start reported (no output yet), for a stream that ended before its final usage. */
  promptUsage(): Usage | null {
    const u = anthropicUsage(this.usage);
    return u && { ...u, completionTokens: 0 };
  }

  /** The upstream ended the stream with an `event: error` (overloaded mid-stream, for one). */
  failedInStream(): boolean {
    return this.failed;
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  producedText(): string {
    let out = '';
    for (const ev of this.received()
      .toString('utf8')
      .split(/\r?\n\r?\n/))
      out += eventText(parseEvent(ev));
    return out;
  }
}
