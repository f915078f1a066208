import { StringDecoder } from 'node:string_decoder';

// Reads `usage` out of an OpenAI-style SSE stream while the bytes go to the
// client unchanged and at once. The tap only looks: it keeps the data
// payloads (strings) so that, if upstream never reports usage, the produced
// text can be counted at the end. When the client did not ask for usage but
// Tally did (to bill exactly), the usage-only event is cut out of what the
// client receives, at event boundaries; every other byte passes as it came.

export interface StreamUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
}

const USAGE_MARK = '"usage":{';

export class SseUsageTap {
  usage: StreamUsage | null = null;
  sawDone = false;
  events = 0;
  private readonly decoder = new StringDecoder('utf8');
  private line = '';
  private readonly payloads: string[] = [];
  /** Strip mode: the text of an event not yet complete (held until its blank line). */
  private carry = '';

  constructor(private readonly stripUsage: boolean) {}

  /** Feeds upstream bytes; returns what to send to the client now (may be the same Buffer, or empty). */
  push(chunk: Buffer): Buffer {
    const text = this.decoder.write(chunk);
    this.scan(text);
    if (!this.stripUsage) return chunk;
    if (this.carry === '' && text.endsWith('\n\n') && !text.includes(USAGE_MARK)) return chunk;
    this.carry += text;
    // Events end with a blank line: "\n\n", or "\r\n\r\n" from some upstreams.
    const lf = this.carry.lastIndexOf('\n\n');
    const crlf = this.carry.lastIndexOf('\r\n\r\n');
    const end = Math.max(lf < 0 ? -1 : lf + 2, crlf < 0 ? -1 : crlf + 4);
    if (end < 0) return EMPTY;
    const complete = this.carry.slice(0, end);
    this.carry = this.carry.slice(end);
    if (!complete.includes(USAGE_MARK)) return Buffer.from(complete, 'utf8');
    const sep = crlf >= 0 && complete.includes('\r\n\r\n') ? '\r\n\r\n' : '\n\n';
    const kept = complete.split(sep).filter((ev) => ev !== '' && !isUsageOnlyEvent(ev));
    return kept.length ? Buffer.from(kept.join(sep) + sep, 'utf8') : EMPTY;
  }

  /** Whatever the stream left unterminated (sent as-is at the end). */
  flushCarry(): Buffer {
    const rest = this.carry + this.decoder.end();
    this.carry = '';
    return rest ? Buffer.from(rest, 'utf8') : EMPTY;
  }

  private scan(text: string): void {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) {
        this.line += text.slice(start);
        return;
      }
      const line = (this.line + text.slice(start, nl)).replace(/\r$/, '');
      this.line = '';
      start = nl + 1;
      if (!line.startsWith('data:')) continue;
      const payload = line.slice(line.charCodeAt(5) === 32 ? 6 : 5);
      if (payload === '[DONE]') {
        this.sawDone = true;
        continue;
      }
      this.events++;
      this.payloads.push(payload);
      if (payload.includes(USAGE_MARK)) {
        try {
          const u = JSON.parse(payload).usage;
          if (u && typeof u === 'object') this.usage = u;
        } catch {
          /* a malformed event is forwarded as is and not billed from */
        }
      }
    }
  }

  /** The text the model produced so far (content, tool call arguments, refusals, reasoning), for counting. */
  producedText(): string {
    let out = '';
    for (const p of this.payloads) {
      let obj: any;
      try {
        obj = JSON.parse(p);
      } catch {
        continue;
      }
      for (const c of obj?.choices ?? []) {
        const d = c.delta ?? {};
        if (typeof c.text === 'string') out += c.text; // legacy completions
        if (typeof d.content === 'string') out += d.content;
        if (typeof d.reasoning_content === 'string') out += d.reasoning_content;
        if (typeof d.refusal === 'string') out += d.refusal;
        for (const t of d.tool_calls ?? []) {
          if (t.function?.name) out += t.function.name;
          if (t.function?.arguments) out += t.function.arguments;
        }
      }
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);

function isUsageOnlyEvent(ev: string): boolean {
  if (!ev.includes(USAGE_MARK)) return false;
  const data = ev.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(l.charCodeAt(5) === 32 ? 6 : 5)).join('\n');
  try {
    const obj = JSON.parse(data);
    return Array.isArray(obj.choices) && obj.choices.length === 0 && obj.usage && typeof obj.usage === 'object';
  } catch {
    return false;
  }
}
