import { SseEventParser } from '../../translate/sse.ts';
import type { StreamFraming } from '../index.ts';
import { STREAM_BROKEN_EVENT } from './errors.ts';

// `:streamGenerateContent` without `?alt=sse` is Google's REST default: the
// stream is one JSON array, written element by element ("[" elem ",\r\n"
// elem … "]"). Tally always asks upstreams for SSE (or a translator writes
// SSE); this turns each event's data into an array element as it passes
// (the usage was read from the SSE by the provider's tap before this). A
// stream the upstream broke off ends with an error element and "]".

/** The broken-stream error as a JSON value (the SSE event's data). */
const BROKEN_ELEMENT = STREAM_BROKEN_EVENT.slice('data: '.length).trimEnd();

export class GeminiArrayFraming implements StreamFraming {
  readonly contentType = 'application/json; charset=UTF-8';
  private readonly parser = new SseEventParser();
  private started = false;

  push(sse: Buffer | string): string {
    let out = '';
    for (const ev of this.parser.push(sse)) {
      if (ev.data === '[DONE]') continue;
      out += (this.started ? ',\r\n' : '[') + ev.data;
      this.started = true;
    }
    return out;
  }

  close(broken: boolean): string {
    const last = this.push('\n\n'); // an event the stream ended without its blank line
    const open = this.started ? '' : '[';
    if (broken) return `${last}${open}${this.started ? ',\r\n' : ''}${BROKEN_ELEMENT}]`;
    return `${last}${open}]`;
  }
}
