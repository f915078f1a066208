import type { Usage } from '../../pricing.ts';
import type { AnswerRead } from '../../providers/index.ts';
import { parseEvent } from '../openai/usage.ts';

// The one reader of usage (and, when usage is missing, of the produced text)
// in Anthropic's answers: a whole Message, and an SSE stream, whole or
// (sse.ts) as it passes. Anthropic reports input_tokens WITHOUT the prompt
// cache's reads and writes; Tally's Usage (pricing.ts) counts every prompt
// token in promptTokens, so the reader adds them up:
//   promptTokens       = input_tokens + cache_read_input_tokens + cache_creation_input_tokens
//   cachedTokens       = cache_read_input_tokens
//   cacheWriteTokens   = cache_creation.ephemeral_5m_input_tokens (the whole cache_creation_input_tokens when not split)
//   cacheWrite1hTokens = cache_creation.ephemeral_1h_input_tokens
//   completionTokens   = output_tokens (in a stream: the final message_delta's cumulative count)

/** Anthropic's usage object as the API writes it. */
export interface AnthropicUsageWire {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation?: { ephemeral_5m_input_tokens?: number | null; ephemeral_1h_input_tokens?: number | null } | null;
}

function count(v: unknown): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/** Usage as Tally bills it, or null when `u` is not a usage object. */
export function anthropicUsage(u: AnthropicUsageWire | null | undefined): Usage | null {
  if (!u || typeof u !== 'object') return null;
  const input = count(u.input_tokens);
  const read = count(u.cache_read_input_tokens);
  const write = count(u.cache_creation_input_tokens);
  const split = u.cache_creation && typeof u.cache_creation === 'object' ? u.cache_creation : null;
  const w1h = split ? count(split.ephemeral_1h_input_tokens) : 0;
  // A split that does not account for every written token (or none at all) leaves the rest to the 5-minute price.
  const w5m = split ? Math.max(count(split.ephemeral_5m_input_tokens), write - w1h) : write;
  return {
    promptTokens: input + read + Math.max(write, w5m + w1h),
    completionTokens: count(u.output_tokens),
    cachedTokens: read,
    cacheWriteTokens: w5m,
    cacheWrite1hTokens: w1h,
  };
}

/** Copies into `into` every count `from` reports (a later event's counts replace an earlier one's). */
export function mergeUsage(into: AnthropicUsageWire, from: AnthropicUsageWire): void {
  if (from.input_tokens != null) into.input_tokens = from.input_tokens;
  if (from.output_tokens != null) into.output_tokens = from.output_tokens;
  if (from.cache_creation_input_tokens != null) into.cache_creation_input_tokens = from.cache_creation_input_tokens;
  if (from.cache_read_input_tokens != null) into.cache_read_input_tokens = from.cache_read_input_tokens;
  if (from.cache_creation != null) into.cache_creation = from.cache_creation;
}

/** The usage one stream event carries: message_start's (the prompt side), or message_delta's (final). */
export function eventUsage(obj: any): { usage: AnthropicUsageWire; final: boolean } | null {
  if (obj?.type === 'message_start' && obj.message?.usage && typeof obj.message.usage === 'object') return { usage: obj.message.usage, final: false };
  if (obj?.type === 'message_delta' && obj.usage && typeof obj.usage === 'object') return { usage: obj.usage, final: true };
  return null;
}

/** The text one stream event produced (text, thinking, tool input JSON, a tool's name), for counting. */
export function eventText(obj: any): string {
  if (obj?.type === 'content_block_delta') {
    const d = obj.delta;
    if (typeof d?.text === 'string') return d.text;
    if (typeof d?.thinking === 'string') return d.thinking;
    if (typeof d?.partial_json === 'string') return d.partial_json;
    return '';
  }
  if (obj?.type === 'content_block_start') {
    const b = obj.content_block;
    if (b?.type === 'tool_use' && typeof b.name === 'string') return b.name;
    if (typeof b?.text === 'string') return b.text;
  }
  return '';
}

/** The text of a whole Message's content blocks. */
function contentText(content: unknown): string {
  let out = '';
  for (const b of Array.isArray(content) ? content : []) {
    if (!b || typeof b !== 'object') continue;
    if (typeof b.text === 'string') out += b.text;
    else if (typeof b.thinking === 'string') out += b.thinking;
    else if (b.type === 'tool_use') out += (typeof b.name === 'string' ? b.name : '') + JSON.stringify(b.input ?? {});
  }
  return out;
}

export interface AnthropicSseRead {
  /** The usage reported so far (merged), or null. */
  usage: AnthropicUsageWire | null;
  /** A message_delta reported the final counts. */
  final: boolean;
  output: string;
}

/** An Anthropic SSE body read whole. */
export function readAnthropicSse(text: string): AnthropicSseRead {
  let usage: AnthropicUsageWire | null = null;
  let final = false;
  let output = '';
  for (const ev of text.split(/\r?\n\r?\n/)) {
    const obj = parseEvent(ev);
    if (!obj) continue;
    const u = eventUsage(obj);
    if (u) {
      mergeUsage((usage ??= {}), u.usage);
      final ||= u.final;
    }
    output += eventText(obj);
  }
  return { usage, final, output };
}

const SSE_LINE = /(^|\n)(data|event):/;

/** Reads a whole upstream body: a Message, or a "stream" that came back whole, or something Tally cannot read (counted as output). */
export function readAnthropicAnswer(buf: Buffer): AnswerRead {
  const text = buf.toString('utf8');
  let j: any;
  try {
    j = JSON.parse(text);
  } catch {
    j = undefined;
  }
  if (j && typeof j === 'object' && !Array.isArray(j)) {
    const usage = anthropicUsage(j.usage);
    if (usage) return { usage, output: '', shape: 'json' };
    if (Array.isArray(j.content)) return { usage: null, output: contentText(j.content), shape: 'json' };
  }
  if (j === undefined && SSE_LINE.test(text)) {
    const sse = readAnthropicSse(text);
    if (sse.final) return { usage: anthropicUsage(sse.usage), output: '', shape: 'sse' };
    if (sse.output) return { usage: null, output: sse.output, shape: 'sse' };
  }
  return { usage: null, output: text, shape: 'unrecognised' };
}
