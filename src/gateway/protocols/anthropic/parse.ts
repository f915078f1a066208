import type { IncomingHttpHeaders } from 'node:http';
import { TallyError } from '../../../lib/errors.ts';
import type { GatewayCall, Inbound } from '../../call.ts';
import { collectAnthropicPrompt } from './prompt.ts';
import { bad, isObject, kind } from '../check.ts';

// Reads an Anthropic Messages request (POST /v1/messages, or count_tokens)
// into the neutral call. As for OpenAI (protocols/openai/parse.ts), the fields
// that decide what a request costs must have exactly the JSON type Anthropic
// documents, or the request is refused with a 400 naming the field: Tally
// forwards the body as is, so a field Tally and the upstream read differently
// would be a way around the bill. Everything else (metadata, thinking,
// cache_control, betas Tally has never heard of) goes through untouched.

function checkMessages(messages: unknown): void {
  if (!Array.isArray(messages) || messages.length === 0) throw bad('messages', 'messages is required: a non-empty array of {role, content}');
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!isObject(m)) throw bad(`messages.${i}`, `messages.${i} must be an object {role, content}, not ${kind(m)}`);
    if (m.role !== 'user' && m.role !== 'assistant') throw bad(`messages.${i}.role`, `messages.${i}.role must be "user" or "assistant"`);
    if (typeof m.content !== 'string' && !Array.isArray(m.content)) {
      throw bad(`messages.${i}.content`, `messages.${i}.content must be a string or an array of content blocks, not ${kind(m.content)}`);
    }
  }
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** `anthropic-version` and `anthropic-beta` as the caller sent them (any value: unknown betas are the upstream's business), or null. */
export function anthropicForwardHeaders(h: IncomingHttpHeaders): Record<string, string> | null {
  const version = header(h, 'anthropic-version');
  const beta = header(h, 'anthropic-beta');
  if (version === undefined && beta === undefined) return null;
  const out: Record<string, string> = {};
  if (version !== undefined) out['anthropic-version'] = version;
  if (beta !== undefined) out['anthropic-beta'] = beta;
  return out;
}

export function parseAnthropicCall(inb: Inbound): GatewayCall {
  const body = inb.body;
  if (!isObject(body)) throw new TallyError('invalid_request', 'the request body must be a JSON object');
  const b = body;
  const counting = inb.endpoint === 'messages.count_tokens';
  if (typeof b.model !== 'string' || !b.model) throw bad('model', 'model is required (a string such as "claude-sonnet-4-5")');
  checkMessages(b.messages);
  if (b.system !== undefined && typeof b.system !== 'string' && !Array.isArray(b.system)) {
    throw bad('system', `system must be a string or an array of text blocks, not ${kind(b.system)}`);
  }
  if (b.tools !== undefined && !Array.isArray(b.tools)) throw bad('tools', `tools must be an array, not ${kind(b.tools)}`);
  let maxTokens: number | null = null;
  if (!counting || b.max_tokens !== undefined) {
    const v = b.max_tokens;
    if (v === undefined) throw bad('max_tokens', 'max_tokens is required (a positive integer: the most output tokens to generate)');
    if (!Number.isSafeInteger(v) || v < 1) throw bad('max_tokens', `max_tokens must be a positive integer, not ${kind(v)}`);
    maxTokens = v;
  }
  let stream = false;
  if (b.stream !== undefined && b.stream !== null) {
    if (typeof b.stream !== 'boolean') throw bad('stream', `stream must be true or false (a JSON boolean), not ${kind(b.stream)}`);
    stream = b.stream && !counting;
  }
  const t = b.thinking;
  if (t !== undefined && t !== null) {
    if (!isObject(t)) throw bad('thinking', `thinking must be an object such as {"type": "enabled", "budget_tokens": 2048}, not ${kind(t)}`);
    if (t.budget_tokens !== undefined && (!Number.isSafeInteger(t.budget_tokens) || t.budget_tokens < 0)) {
      throw bad('thinking.budget_tokens', `thinking.budget_tokens must be a non-negative integer, not ${kind(t.budget_tokens)}`);
    }
  }
  return {
    protocol: inb.protocol,
    endpoint: inb.endpoint,
    model: b.model,
    messages: b.messages,
    input: undefined, // no completions prompt or embeddings input: the system prompt is part of the conversation (body.system)
    tools: b.tools,
    stream,
    // Anthropic always reports usage (message_start, message_delta); a translated stream needs it too.
    clientWantsUsage: true,
    choices: counting ? 0 : 1,
    requestedMax: maxTokens,
    prompt: collectAnthropicPrompt(b),
    body: b,
    raw: inb.raw,
    forwardHeaders: anthropicForwardHeaders(inb.req.headers),
  };
}
