// Incremental SSE parsing (the WHATWG event-stream rules): bytes may be cut
// anywhere, inside a UTF-8 character or between \r and \n; lines end in \n,
// \r\n or \r; `:` lines are comments; several `data:` lines join with \n; an
// event is dispatched at a blank line when it has data. `id` and `retry` are
// not needed by the relay and are ignored. Linear in the input: each byte is
// scanned once, and a line cut across chunks is kept in pieces and joined
// once at its end (appending to one string would make V8 flatten a rope on
// every scan: quadratic for a large event arriving in small chunks).
import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  event: string | null;
  data: string;
}

export class SseEventParser {
  private readonly decoder = new StringDecoder('utf8');
  /** The start of a line whose end has not arrived yet, in pieces (joined once, at the line end). */
  private partial: string[] = [];
  /** The last chunk ended in \r: a \n opening the next one belongs to it. */
  private skipLF = false;
  private event: string | null = null;
  private data: string[] = [];

  push(chunk: Buffer | string): SseEvent[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const out: SseEvent[] = [];
    const n = text.length;
    let start = 0;
    let i = 0;
    if (this.skipLF && n > 0) {
      if (text.charCodeAt(0) === 10) start = i = 1;
      this.skipLF = false;
    }
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) {
        i++;
        continue;
      }
      let line = text.slice(start, i);
      if (this.partial.length > 0) {
        this.partial.push(line);
        line = this.partial.join('');
        this.partial = [];
      }
      this.line(line, out);
      if (c === 13) {
        if (i + 1 === n) this.skipLF = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = ++i;
    }
    if (start < n) this.partial.push(start === 0 ? text : text.slice(start));
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      if (this.data.length > 0) out.push({ event: this.event, data: this.data.length === 1 ? this.data[0] : this.data.join('\n') });
      this.event = null;
      this.data = [];
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' comment
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    const valueStart = colon === -1 ? line.length : line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1;
    if (name === 'data') this.data.push(line.slice(valueStart));
    else if (name === 'event') this.event = line.slice(valueStart);
  }
}
