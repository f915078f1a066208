import { TallyError } from '../../../lib/errors.ts';
import type { Endpoint, GatewayCall, Inbound } from '../../call.ts';
import { collectPrompt } from './prompt.ts';
import { absent, bad, describe, isObject } from '../check.ts';

// Reads an OpenAI chat.completions, completions or embeddings request into
// the neutral call (call.ts). The fields that decide what a request costs
// are checked before anything is forwarded. Tally forwards the client's JSON as is, so a field
// Tally reads one way and the upstream another is a way around the bill:
// `"stream": "true"` is not `true` to Tally (no stream, no usage tap) but is
// to an upstream that coerces like pydantic's lax mode (vLLM-style servers),
// which then streams an answer Tally cannot parse, and it was billed as zero
// output. So each such field must have exactly the JSON type OpenAI
// documents, or the request is refused with a 400 naming the field (as OpenAI
// itself answers). Refusing rather than normalising: a loose value means the
// client and Tally may already disagree about the request, and a rewritten
// body could no longer be forwarded byte for byte.

/** OpenAI's limits: at most 128 choices, best_of at most 20. */
const MAX_N = 128;
const MAX_BEST_OF = 20;

function optionalBoolean(b: Record<string, any>, f: string, param = f): boolean {
  const v = b[f];
  if (absent(v)) return false;
  if (typeof v !== 'boolean') throw bad(param, `${param} must be true or false (a JSON boolean), not ${describe(v)}`);
  return v;
}

function optionalCount(b: Record<string, any>, f: string, max = Number.MAX_SAFE_INTEGER): number | null {
  const v = b[f];
  if (absent(v)) return null;
  if (!Number.isSafeInteger(v) || v < 1 || v > max) {
    throw bad(f, `${f} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` of at most ${max}` : ''}, not ${describe(v)}`);
  }
  return v;
}

const isTokenId = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;

/** A completions prompt or embeddings input: a string, an array of strings, an array of token ids, or an array of token id arrays. */
function checkTextOrTokens(param: string, v: unknown, allowEmptyString: boolean): void {
  const what = `${param} must be a string, an array of strings, an array of token ids (integers), or an array of such arrays`;
  if (typeof v === 'string') {
    if (!allowEmptyString && v === '') throw bad(param, `${param} is required`);
    return;
  }
  if (!Array.isArray(v) || v.length === 0) throw bad(param, `${what}, not ${Array.isArray(v) ? 'an empty array' : describe(v)}`);
  if (typeof v[0] === 'string') {
    if (!v.every((x) => typeof x === 'string')) throw bad(param, `${what}; this array mixes strings with other values`);
    return;
  }
  if (typeof v[0] === 'number') {
    if (!v.every(isTokenId)) throw bad(param, `${what}; a token id is a non-negative integer`);
    return;
  }
  if (!v.every((x) => Array.isArray(x) && x.length > 0 && x.every(isTokenId))) throw bad(param, what);
}

function checkMessages(messages: unknown): void {
  if (!Array.isArray(messages) || messages.length === 0) throw bad('messages', 'messages is required: a non-empty array of {role, content}');
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!isObject(m)) throw bad(`messages[${i}]`, `messages[${i}] must be an object {role, content}, not ${describe(m)}`);
    const c = m.content;
    if (!absent(c) && typeof c !== 'string' && !Array.isArray(c)) {
      throw bad(`messages[${i}].content`, `messages[${i}].content must be a string, an array of content parts, or null; not ${describe(c)}`);
    }
  }
}

/**
 * Checks the body's billing fields (400 naming the field) and returns the call
 * as Tally bills it. The body is the parsed JSON of `inb.raw`.
 */
export function parseOpenAICall(inb: Inbound): GatewayCall {
  const body = inb.body;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new TallyError('invalid_request', 'the request body must be a JSON object');
  const b = body as Record<string, any>;
  const ep: Endpoint = inb.endpoint;
  if (typeof b.model !== 'string' || !b.model) throw bad('model', 'model is required (a string such as "gpt-4o-mini")');
  if (ep === 'chat.completions') checkMessages(b.messages);
  if (ep === 'completions') {
    if (b.prompt === undefined) throw bad('prompt', 'prompt is required');
    checkTextOrTokens('prompt', b.prompt, true);
  }
  if (ep === 'embeddings') {
    if (absent(b.input) || b.input === '') throw bad('input', 'input is required');
    checkTextOrTokens('input', b.input, false);
  }
  const stream = optionalBoolean(b, 'stream');
  if (stream && ep === 'embeddings') throw bad('stream', 'embeddings cannot be streamed');
  let clientWantsUsage = false;
  if (!absent(b.stream_options)) {
    if (!isObject(b.stream_options))
      throw bad('stream_options', `stream_options must be an object such as {"include_usage": true}, not ${describe(b.stream_options)}`);
    clientWantsUsage = optionalBoolean(b.stream_options, 'include_usage', 'stream_options.include_usage') && stream;
  }
  optionalBoolean(b, 'echo');
  const maxTokens = optionalCount(b, 'max_tokens');
  const maxCompletionTokens = optionalCount(b, 'max_completion_tokens');
  const n = optionalCount(b, 'n', MAX_N) ?? 1;
  const bestOf = ep === 'completions' ? optionalCount(b, 'best_of', MAX_BEST_OF) : null;
  if (bestOf !== null && bestOf < n) throw bad('best_of', `best_of (${bestOf}) must be at least n (${n})`);
  return {
    protocol: inb.protocol,
    endpoint: ep,
    model: b.model,
    messages: b.messages,
    input: ep === 'completions' ? b.prompt : b.input,
    tools: b.tools,
    stream,
    clientWantsUsage,
    choices: ep === 'embeddings' ? 0 : Math.max(n, bestOf ?? 1),
    requestedMax: ep === 'embeddings' ? null : (maxCompletionTokens ?? maxTokens),
    prompt: collectPrompt(b),
    body: b,
    raw: inb.raw,
    forwardHeaders: null,
  };
}
