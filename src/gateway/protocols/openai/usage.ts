import type { Usage } from '../../pricing.ts';

// The one reader of usage (and, when usage is missing, of the produced text)
// in OpenAI's answers: a whole chat or legacy completion, an embeddings list,
// and an SSE stream, whole or (sse.ts) as it passes. It reads what actually
// arrived rather than what Tally asked for: a non-stream request can come
// back as SSE (an upstream that coerced a loose `stream` value, or ignores
// the field), or as something that is not JSON at all. Such a body is
// counted as output, never billed as zero.

/** The usage object in OpenAI's wire format. */
export interface StreamUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
}

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

/** The text the model produced in one choice: `message` in a whole answer, `delta` in a stream event (content, tool calls, refusals, reasoning). */
function choiceText(c: any, part: 'message' | 'delta'): string {
  if (!c || typeof c !== 'object') return '';
  let out = typeof c.text === 'string' ? c.text : ''; // legacy completions
  const m = c[part];
  if (!m || typeof m !== 'object') return out;
  if (typeof m.content === 'string') out += m.content;
  if (typeof m.reasoning_content === 'string') out += m.reasoning_content;
  else if (typeof m.reasoning === 'string') out += m.reasoning; // the name OpenRouter and newer vLLM use
  if (typeof m.refusal === 'string') out += m.refusal;
  for (const t of Array.isArray(m.tool_calls) ? m.tool_calls : []) {
    if (typeof t?.function?.name === 'string') out += t.function.name;
    if (typeof t?.function?.arguments === 'string') out += t.function.arguments;
  }
  return out;
}

function choicesText(j: any, part: 'message' | 'delta'): string {
  let out = '';
  for (const c of Array.isArray(j?.choices) ? j.choices : []) out += choiceText(c, part);
  return out;
}

/** The JSON of one SSE event's data lines, or null ([DONE], comments, malformed events: forwarded as is, never billed from). */
export function parseEvent(ev: string): any {
  let data = '';
  for (const line of ev.split(/\r?\n/)) {
    if (!line.startsWith('data:')) continue;
    data += (data ? '\n' : '') + line.slice(line.charCodeAt(5) === 32 ? 6 : 5);
  }
  if (!data || data === '[DONE]') return null;
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

/** The usage one parsed event (or whole answer) reports, if it carries a usage object. */
export function eventUsage(obj: any): StreamUsage | null {
  return obj?.usage && typeof obj.usage === 'object' ? obj.usage : null;
}

/** An SSE body read whole: the last usage it reports, and the text it produced. */
export function readSse(text: string): { usage: StreamUsage | null; output: string } {
  let usage: StreamUsage | null = null;
  let output = '';
  for (const ev of text.split(/\r?\n\r?\n/)) {
    const obj = parseEvent(ev);
    if (!obj) continue;
    usage = eventUsage(obj) ?? usage;
    output += choicesText(obj, 'delta');
  }
  return { usage, output };
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
    if (Array.isArray(j.choices)) return { usage: null, output: choicesText(j, 'message'), shape: 'json' };
    if (Array.isArray(j.data)) return { usage: null, output: '', shape: 'json' }; // embeddings: no output tokens
  }
  if (j === undefined && SSE_LINE.test(text)) {
    const sse = readSse(text);
    const usage = usageFrom(sse.usage);
    if (usage) return { usage, output: '', shape: 'sse' };
    if (sse.output) return { usage: null, output: sse.output, shape: 'sse' };
  }
  // Not an answer Tally can read: what was received is what was produced.
  return { usage: null, output: text, shape: 'unrecognised' };
}
