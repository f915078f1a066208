import type { Usage } from './pricing.ts';
import { producedText, sseUsage, type StreamUsage } from './sse.ts';

// What an upstream answer says it cost, read from what actually arrived
// rather than from what Tally asked for: a non-stream request can come back
// as SSE (an upstream that coerced a loose `stream` value, or ignores the
// field), or as something that is not JSON at all. Such a body is counted
// as output, never billed as zero.

/** The usage an upstream reported, or null when absent or not numbers. */
export function usageFrom(u: StreamUsage | null | undefined): Usage | null {
  if (!u || typeof u !== 'object') return null;
  const prompt = Number(u.prompt_tokens ?? 0);
  const completion = Number(u.completion_tokens ?? 0);
  if (!Number.isFinite(prompt) || !Number.isFinite(completion)) return null;
  const cached = Number(u.prompt_tokens_details?.cached_tokens ?? 0);
  return {
    promptTokens: Math.max(0, Math.floor(prompt)),
    completionTokens: Math.max(0, Math.floor(completion)),
    cachedTokens: Number.isFinite(cached) ? Math.max(0, Math.floor(cached)) : 0,
  };
}

/** The output text of a chat or legacy completion object (content, tool calls, refusals, reasoning). */
export function textOfResponse(j: any): string {
  let out = '';
  for (const c of Array.isArray(j?.choices) ? j.choices : []) {
    if (!c || typeof c !== 'object') continue;
    if (typeof c.text === 'string') out += c.text;
    const m = c.message && typeof c.message === 'object' ? c.message : {};
    if (typeof m.content === 'string') out += m.content;
    if (typeof m.reasoning_content === 'string') out += m.reasoning_content;
    if (typeof m.refusal === 'string') out += m.refusal;
    for (const t of Array.isArray(m.tool_calls) ? m.tool_calls : []) {
      if (typeof t?.function?.name === 'string') out += t.function.name;
      if (typeof t?.function?.arguments === 'string') out += t.function.arguments;
    }
  }
  return out;
}

export interface ReadBody {
  /** The usage the body reports, when it reports one. */
  usage: Usage | null;
  /** Otherwise the output text to count. */
  output: string;
  /** How the body was read, for the log. */
  shape: 'json' | 'sse' | 'unrecognised';
}

const SSE_LINE = /(^|\n)(data|event):/;

/** Reads a whole upstream body (a non-stream answer, or a "stream" that was not SSE). */
export function readWholeBody(buf: Buffer): ReadBody {
  const text = buf.toString('utf8');
  let j: any;
  try {
    j = JSON.parse(text);
  } catch {
    j = undefined;
  }
  if (j && typeof j === 'object' && !Array.isArray(j)) {
    const usage = usageFrom(j.usage);
    if (usage) return { usage, output: '', shape: 'json' };
    if (Array.isArray(j.choices)) return { usage: null, output: textOfResponse(j), shape: 'json' };
    if (Array.isArray(j.data)) return { usage: null, output: '', shape: 'json' }; // embeddings: no output tokens
  }
  if (j === undefined && SSE_LINE.test(text)) {
    const usage = usageFrom(sseUsage(text));
    if (usage) return { usage, output: '', shape: 'sse' };
    const out = producedText(text);
    if (out) return { usage: null, output: out, shape: 'sse' };
  }
  // Not an answer Tally can read: what was received is what was produced.
  return { usage: null, output: text, shape: 'unrecognised' };
}
