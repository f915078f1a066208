import type { Usage } from '../../pricing.ts';
import type { AnswerRead } from '../../providers/index.ts';
import { SseEventParser } from '../../translate/sse.ts';
import { readWholeBody } from '../openai/usage.ts';

// The one reader of usage (and, when usage is missing, of the produced text)
// in OpenAI Responses answers: a whole Response object, and a stream, read
// whole here or (sse.ts) as it passes. A Responses usage object counts every
// input token in input_tokens (input_tokens_details.cached_tokens is a part of
// it) and every output token in output_tokens (output_tokens_details.
// reasoning_tokens is a part of it, as in chat's completion_tokens): so the
// reasoning tokens are billed as output once, inside completionTokens, and
// Usage.reasoningTokens (for tokens reported OUTSIDE the output count) is
// never set here.

/** A Responses usage object on the wire. */
export interface ResponsesUsageWire {
  input_tokens?: number;
  output_tokens?: number;
  total_tokens?: number;
  input_tokens_details?: { cached_tokens?: number } | null;
  output_tokens_details?: { reasoning_tokens?: number } | null;
}

const tokens = (v: unknown): number | null => {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? Math.max(0, Math.floor(n)) : null;
};

/** The usage a Responses answer reported, as Tally bills it, or null when absent or not numbers. */
export function responsesUsage(u: ResponsesUsageWire | null | undefined): Usage | null {
  if (!u || typeof u !== 'object') return null;
  if (typeof u.input_tokens !== 'number' && typeof u.output_tokens !== 'number') return null;
  const input = tokens(u.input_tokens);
  const output = tokens(u.output_tokens);
  if (input === null || output === null) return null;
  const cached = tokens(u.input_tokens_details?.cached_tokens) ?? 0;
  return { promptTokens: input, completionTokens: output, cachedTokens: Math.min(cached, input) };
}

/** The text one output item (of a whole Response, or an output_item event) produced: message text, refusals, reasoning, tool-call names and arguments. */
export function outputItemText(it: any): string {
  if (!it || typeof it !== 'object') return '';
  let out = '';
  if (typeof it.name === 'string') out += it.name;
  if (typeof it.arguments === 'string') out += it.arguments;
  if (typeof it.input === 'string') out += it.input; // custom_tool_call
  for (const list of [it.content, it.summary]) {
    for (const p of Array.isArray(list) ? list : []) {
      if (typeof p?.text === 'string') out += p.text;
      if (typeof p?.refusal === 'string') out += p.refusal;
    }
  }
  return out;
}

/** The stream events whose `delta` is produced text (message text, refusals, reasoning, tool-call arguments). */
const DELTA_EVENTS = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.reasoning_text.delta',
  'response.reasoning_summary_text.delta',
  'response.function_call_arguments.delta',
  'response.custom_tool_call_input.delta',
]);

/** What a Responses stream said, read event by event. */
export class ResponsesStreamReader {
  usage: Usage | null = null;
  responseId: string | null = null;
  /** The upstream ended the stream with response.failed or an error event. */
  failed = false;
  private readonly produced: string[] = [];

  /** One parsed event (the JSON of its data). */
  event(e: any): void {
    if (!e || typeof e !== 'object') return;
    const type = e.type;
    if (typeof type === 'string' && DELTA_EVENTS.has(type)) {
      if (typeof e.delta === 'string') this.produced.push(e.delta);
      return;
    }
    if (type === 'response.output_item.added' && typeof e.item?.name === 'string') this.produced.push(e.item.name);
    this.meta(e);
  }

  /** An event that carries the whole Response (created, in_progress, completed, incomplete, failed) or an error. */
  meta(e: any): void {
    if (!e || typeof e !== 'object') return;
    const r = e.response;
    if (r && typeof r === 'object') {
      if (typeof r.id === 'string' && r.id) this.responseId ??= r.id;
      const u = responsesUsage(r.usage);
      if (u) this.usage = u;
    }
    if (e.type === 'response.failed' || e.type === 'error' || (e.type === undefined && e.error)) this.failed = true;
  }

  output(): string {
    return this.produced.join('');
  }
}

/** A Responses SSE body read whole. */
export function readResponsesSse(text: string | Buffer): ResponsesStreamReader {
  const r = new ResponsesStreamReader();
  for (const ev of new SseEventParser().push(text)) {
    let j: unknown;
    try {
      j = JSON.parse(ev.data);
    } catch {
      continue;
    }
    r.event(j);
  }
  return r;
}

/** A read answer, with the id of the response the upstream created (for previous_response_id: responsePins.ts). */
export interface ResponsesAnswerRead extends AnswerRead {
  responseId?: string | null;
}

const SSE_LINE = /(^|\n)(data|event):/;

/**
 * Reads a whole upstream answer to a Responses request. A body that is a
 * chat completion (the call went out translated to Chat Completions) is read
 * by the chat reader; a body that is a stream (an upstream that streamed
 * anyway) as one; anything else is what was produced, counted, never billed as zero.
 */
export function readResponsesAnswer(buf: Buffer): ResponsesAnswerRead {
  const text = buf.toString('utf8');
  let j: any;
  try {
    j = JSON.parse(text);
  } catch {
    j = undefined;
  }
  if (j && typeof j === 'object' && !Array.isArray(j)) {
    if (j.object === 'response' || Array.isArray(j.output)) {
      const responseId = typeof j.id === 'string' && j.id ? j.id : null;
      const usage = responsesUsage(j.usage);
      if (usage) return { usage, output: '', shape: 'json', responseId };
      let output = '';
      for (const it of Array.isArray(j.output) ? j.output : []) output += outputItemText(it);
      return { usage: null, output, shape: 'json', responseId };
    }
    if (Array.isArray(j.choices)) return readWholeBody(buf);
  }
  if (j === undefined && SSE_LINE.test(text)) {
    const r = readResponsesSse(text);
    if (r.usage) return { usage: r.usage, output: '', shape: 'sse', responseId: r.responseId };
    const output = r.output();
    if (output) return { usage: null, output, shape: 'sse', responseId: r.responseId };
  }
  return { usage: null, output: text, shape: 'unrecognised' };
}
