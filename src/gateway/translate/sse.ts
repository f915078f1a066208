// Incremental SSE parsing (the WHATWG event-stream rules): bytes may be cut
// anywhere, inside a UTF-8 character or between \r and \n; lines end in \n,
// \r\n or \r; `:` lines are comments; several `data:` lines join with \n; an
// event is dispatched at a blank line when it has data. `id` and `retry` are
// not needed by the relay and are ignored. Linear in the input: each byte is
// scanned once (a partial line is rescanned only from where the last scan
// stopped).
import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  event: string | null;
  data: string;
}

export class SseEventParser {
  private readonly decoder = new StringDecoder('utf8');
  private buf = '';
  /** How far into `buf` the search for a line end has already looked. */
  private scanned = 0;
  private event: string | null = null;
  private data: string[] = [];

  push(chunk: Buffer | string): SseEvent[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    this.buf = this.buf.length === 0 ? text : this.buf + text;
    const out: SseEvent[] = [];
    const buf = this.buf;
    let start = 0;
    let i = this.scanned;
    const n = buf.length;
    while (i < n) {
      const c = buf.charCodeAt(i);
      if (c !== 10 && c !== 13) {
        i++;
        continue;
      }
      // A \r at the very end may be the first half of \r\n: wait for the next chunk.
      if (c === 13 && i + 1 === n) break;
      this.line(buf, start, i, out);
      i += c === 13 && buf.charCodeAt(i + 1) === 10 ? 2 : 1;
      start = i;
    }
    this.buf = start === 0 ? buf : buf.slice(start);
    this.scanned = i - start;
    return out;
  }

  private line(buf: string, start: number, end: number, out: SseEvent[]): void {
    if (start === end) {
      if (this.data.length > 0) out.push({ event: this.event, data: this.data.length === 1 ? this.data[0] : this.data.join('\n') });
      this.event = null;
      this.data = [];
      return;
    }
    if (buf.charCodeAt(start) === 58) return; // ':' comment
    const line = buf.slice(start, end);
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    const valueStart = colon === -1 ? line.length : line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1;
    if (name === 'data') this.data.push(line.slice(valueStart));
    else if (name === 'event') this.event = line.slice(valueStart);
  }
}
