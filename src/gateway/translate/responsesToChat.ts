// OpenAI Responses inbound → OpenAI-compatible (Chat Completions) upstream: the
// request, and the whole answer back. Stateless only: the whole conversation is
// in `input` each time (Codex CLI sends `store: false` and does exactly that).
//
// Mapped: `instructions` → a first system message; input items: messages
// (input_text, input_image, input_file; `developer` → system, as not every
// chat upstream takes the developer role), `function_call` → an assistant
// message's tool_calls (consecutive calls, and the assistant text before them,
// make one message), `function_call_output` → a tool message; function tools
// (flat shape) → chat function tools; `custom` (freeform) tools → a function
// taking one string `input` (the answer's call comes back as custom_tool_call);
// tool_choice; `reasoning.effort` → reasoning_effort; `max_output_tokens`;
// temperature, top_p, parallel_tool_calls, user; `text.format` json_schema /
// json_object → response_format.
// Dropped silently because a chat upstream has no twin and the answer stays
// right: `store` (nothing is stored: a later previous_response_id is a 400),
// `include` (no encrypted reasoning to give), `prompt_cache_key`,
// `client_metadata`, `metadata`, `safety_identifier`, `service_tier`,
// `truncation`, `max_tool_calls`, `text.verbosity`, `reasoning.summary`,
// `stream_options`, earlier `reasoning` items (encrypted for OpenAI only; a chat
// upstream cannot read them), an image's `detail` when it is `auto`, and
// hosted tools (`web_search`, `file_search`, `code_interpreter`,
// `image_generation`, `local_shell`, `mcp`, `namespace`…) offered next to
// function tools: Codex CLI offers web_search on every turn; the model simply
// does not search. Unknown fields are dropped too.
// A 400 (untranslatable_field) for: `previous_response_id` and `conversation`
// (the chat upstream holds no response), `background`, `prompt` (stored
// prompt templates), `top_logprobs`, a request whose only tools are hosted
// ones or whose tool_choice forces a hosted tool (the answer depends on that
// tool), `item_reference` and hosted-tool call items in `input`, Files API
// ids (`file_id`), and tool-call arguments that are not JSON.
import { TallyError } from '../../lib/errors.ts';
import { OPENAI_COMPATIBLE, untranslatable } from './shared.ts';
import { type ChatCounts, emptyChatCounts, readChatUsage } from './geminiShared.ts';
import { randomBytes } from 'node:crypto';

const P = OPENAI_COMPATIBLE;

export interface ResponsesToChatOptions {
  upstreamModel: string;
  maxTokensCap?: number;
  /** Which chat field carries max_output_tokens (default max_tokens; OpenAI's reasoning models want max_completion_tokens). */
  maxTokensField?: 'max_tokens' | 'max_completion_tokens';
  /** false: the upstream model takes no reasoning_effort (reasoning.effort is then left out). */
  reasoningEffort?: boolean;
}

export function responsesToChatRequest(body: Record<string, any>, o: ResponsesToChatOptions): Record<string, any> {
  refuseUntranslatable(body);
  const out: Record<string, any> = { model: o.upstreamModel };
  const messages: Array<Record<string, any>> = [];
  if (typeof body.instructions === 'string' && body.instructions.length > 0) messages.push({ role: 'system', content: body.instructions });
  const input = body.input;
  if (typeof input === 'string') messages.push({ role: 'user', content: input });
  else if (Array.isArray(input)) convertItems(input, messages);
  else throw new TallyError('invalid_request', 'input must be a string or an array of input items', { param: 'input' });
  out.messages = messages;

  if (body.max_output_tokens != null) {
    let max = body.max_output_tokens;
    if (o.maxTokensCap != null && max > o.maxTokensCap) max = o.maxTokensCap;
    out[o.maxTokensField ?? 'max_tokens'] = max;
  }
  if (body.temperature != null) out.temperature = body.temperature;
  if (body.top_p != null) out.top_p = body.top_p;
  if (typeof body.user === 'string' && body.user.length > 0) out.user = body.user;

  const tools = convertTools(body.tools, body.tool_choice);
  if (tools.length > 0) {
    out.tools = tools;
    const choice = convertToolChoice(body.tool_choice);
    if (choice !== undefined) out.tool_choice = choice;
    if (typeof body.parallel_tool_calls === 'boolean') out.parallel_tool_calls = body.parallel_tool_calls;
  }
  const effort = body.reasoning?.effort;
  if (typeof effort === 'string' && effort !== 'none' && o.reasoningEffort !== false) out.reasoning_effort = effort;
  const format = body.text?.format;
  if (format?.type === 'json_schema') {
    const js: Record<string, any> = { name: format.name ?? 'output', schema: format.schema };
    if (format.description) js.description = format.description;
    if (typeof format.strict === 'boolean') js.strict = format.strict;
    out.response_format = { type: 'json_schema', json_schema: js };
  } else if (format?.type === 'json_object') out.response_format = { type: 'json_object' };
  if (body.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  return out;
}

function refuseUntranslatable(b: Record<string, any>): void {
  if (b.previous_response_id != null)
    throw untranslatable(
      'previous_response_id',
      P,
      'this model is served through Chat Completions, which keeps no earlier response; send the whole conversation in input (store: false) instead of previous_response_id',
    );
  if (b.conversation != null) throw untranslatable('conversation', P, 'conversations are stored by OpenAI only; send the whole conversation in input');
  if (b.background === true) throw untranslatable('background', P, 'background responses are not translated; drop background');
  if (b.prompt != null) throw untranslatable('prompt', P, 'stored prompt templates are OpenAI only; send instructions and input instead');
  if (b.top_logprobs != null && b.top_logprobs !== 0) throw untranslatable('top_logprobs', P, 'log probabilities are not translated; drop top_logprobs');
  const f = b.text?.format?.type;
  if (f != null && f !== 'text' && f !== 'json_schema' && f !== 'json_object')
    throw untranslatable('text.format', P, 'use {type:"json_schema", name, schema}, {type:"json_object"} or text');
}

function convertItems(items: unknown[], out: Array<Record<string, any>>): void {
  for (let i = 0; i < items.length; i++) {
    const it = items[i] as Record<string, any> | null;
    const type = it?.type ?? (it?.role !== undefined ? 'message' : undefined);
    switch (type) {
      case 'message':
        messageItem(it as Record<string, any>, i, out);
        break;
      case 'function_call':
      case 'custom_tool_call': {
        const fn = it as Record<string, any>;
        const args = type === 'function_call' ? checkedArguments(fn.arguments, `input[${i}].arguments`) : JSON.stringify({ input: fn.input ?? '' });
        const call = { id: fn.call_id, type: 'function', function: { name: fn.name, arguments: args } };
        const last = out[out.length - 1];
        // The assistant's text and its calls (and parallel calls) form one chat message.
        if (last?.role === 'assistant') (last.tool_calls ??= []).push(call);
        else out.push({ role: 'assistant', content: null, tool_calls: [call] });
        break;
      }
      case 'function_call_output':
      case 'custom_tool_call_output':
        toolOutput(it as Record<string, any>, i, out);
        break;
      case 'reasoning':
        break;
      default:
        throw untranslatable(
          `input[${i}]`,
          P,
          type === 'item_reference'
            ? 'item references need the stored response; send the item itself'
            : `input items of type ${JSON.stringify(type)} are not translated; send messages, function calls and their outputs`,
        );
    }
  }
}

function messageItem(m: Record<string, any>, i: number, out: Array<Record<string, any>>): void {
  const role = m.role;
  const c = m.content;
  if (role === 'assistant') {
    let text: string | null = null;
    if (typeof c === 'string') text = c;
    else if (Array.isArray(c))
      for (const p of c) {
        const t = p?.type === 'output_text' || p?.type === 'input_text' ? p.text : p?.type === 'refusal' ? p.refusal : null;
        if (typeof t === 'string') text = text === null ? t : text + t;
      }
    out.push({ role: 'assistant', content: text });
    return;
  }
  if (role !== 'user' && role !== 'system' && role !== 'developer')
    throw new TallyError('invalid_message', `input[${i}].role must be user, assistant, system or developer`, { param: `input[${i}].role` });
  const chatRole = role === 'user' ? 'user' : 'system';
  if (typeof c === 'string') {
    out.push({ role: chatRole, content: c });
    return;
  }
  if (!Array.isArray(c)) return;
  const parts: Array<Record<string, any>> = [];
  for (let j = 0; j < c.length; j++) {
    const p = c[j];
    const field = `input[${i}].content[${j}]`;
    if (p?.type === 'input_text' || p?.type === 'output_text') parts.push({ type: 'text', text: p.text });
    else if (chatRole === 'system') throw untranslatable(field, P, 'system and developer messages may hold text only');
    else if (p?.type === 'input_image') parts.push(imagePart(p, field));
    else if (p?.type === 'input_file') parts.push(filePart(p, field));
    else throw untranslatable(field, P, `content parts of type ${JSON.stringify(p?.type)} are not translated; send input_text, input_image or input_file`);
  }
  if (chatRole === 'system') {
    out.push({ role: 'system', content: parts.map((p) => p.text).join('\n\n') });
    return;
  }
  out.push({ role: 'user', content: parts.length === 1 && parts[0].type === 'text' ? parts[0].text : parts });
}

function imagePart(p: Record<string, any>, field: string): Record<string, any> {
  if (typeof p.image_url !== 'string' || p.image_url.length === 0)
    throw untranslatable(`${field}.file_id`, P, 'Files API ids are OpenAI only; send the image as image_url (an http(s) or base64 data: URL)');
  const img: Record<string, any> = { url: p.image_url };
  if (p.detail === 'low' || p.detail === 'high') img.detail = p.detail;
  return { type: 'image_url', image_url: img };
}

function filePart(p: Record<string, any>, field: string): Record<string, any> {
  if (typeof p.file_data !== 'string') throw untranslatable(field, P, 'only files sent inline as file_data are translated (file_id and file_url are not)');
  return { type: 'file', file: { filename: p.filename ?? 'file', file_data: p.file_data } };
}

function toolOutput(it: Record<string, any>, i: number, out: Array<Record<string, any>>): void {
  const o = it.output;
  let text = '';
  let images: Array<Record<string, any>> | null = null;
  if (typeof o === 'string') text = o;
  else if (Array.isArray(o)) {
    for (let j = 0; j < o.length; j++) {
      const p = o[j];
      if (p?.type === 'input_text' || p?.type === 'output_text') text = text.length === 0 ? p.text : `${text}\n${p.text}`;
      else if (p?.type === 'input_image') (images ??= []).push(imagePart(p, `input[${i}].output[${j}]`));
      else throw untranslatable(`input[${i}].output[${j}]`, P, 'a function call output may hold text and images only');
    }
  } else if (o != null) text = JSON.stringify(o);
  out.push({ role: 'tool', tool_call_id: it.call_id, content: text });
  // Chat tool messages carry text only: the images go in a user message right after.
  if (images !== null) out.push({ role: 'user', content: images });
}

function checkedArguments(args: unknown, field: string): string {
  if (args == null || args === '') return '{}';
  if (typeof args !== 'string') throw untranslatable(field, P, 'arguments must be a JSON object encoded as a string');
  try {
    JSON.parse(args);
  } catch {
    throw untranslatable(field, P, 'arguments must be valid JSON');
  }
  return args;
}

const CUSTOM_TOOL_PARAMETERS = {
  type: 'object',
  properties: { input: { type: 'string', description: 'The raw input of the tool' } },
  required: ['input'],
  additionalProperties: false,
};

function convertTools(tools: unknown, choice: unknown): Array<Record<string, any>> {
  if (!Array.isArray(tools) || tools.length === 0) return [];
  const out: Array<Record<string, any>> = [];
  let hosted: string | null = null;
  for (let i = 0; i < tools.length; i++) {
    const t = tools[i];
    if (t?.type === 'function') {
      const f: Record<string, any> = { name: t.name };
      if (t.description) f.description = t.description;
      f.parameters = t.parameters ?? { type: 'object', properties: {} };
      if (typeof t.strict === 'boolean') f.strict = t.strict;
      out.push({ type: 'function', function: f });
    } else if (t?.type === 'custom') {
      const f: Record<string, any> = { name: t.name };
      const grammar = t.format?.type === 'grammar' ? ` Input format (${t.format.syntax ?? 'grammar'}): ${t.format.definition ?? ''}` : '';
      f.description = `${t.description ?? ''}${grammar}`.trim();
      f.parameters = CUSTOM_TOOL_PARAMETERS;
      out.push({ type: 'function', function: f });
    } else hosted ??= String(t?.type);
  }
  const forced = choice && typeof choice === 'object' ? (choice as any).type : null;
  if (forced != null && forced !== 'function' && forced !== 'custom' && forced !== 'allowed_tools')
    throw untranslatable('tool_choice', P, `the ${forced} tool is run by OpenAI only; let the model choose (auto) or force a function tool`);
  if (out.length === 0 && hosted !== null)
    throw untranslatable('tools', P, `the ${hosted} tool is run by OpenAI only and this request offers no function tool; drop it or use an OpenAI model`);
  return out;
}

function convertToolChoice(choice: unknown): unknown {
  if (choice == null) return undefined;
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  const c = choice as Record<string, any>;
  if ((c.type === 'function' || c.type === 'custom') && typeof c.name === 'string') return { type: 'function', function: { name: c.name } };
  if (c.type === 'allowed_tools') return c.mode === 'required' ? 'required' : 'auto';
  throw untranslatable('tool_choice', P, 'use auto, none, required or {type:"function",name}');
}

// ---------------------------------------------------------------------------
// The answer.

function hex(n: number): string {
  return randomBytes(n).toString('hex');
}

/** `resp_...` for an answer whose upstream id was `chatcmpl-...` (kept traceable), or a fresh one. */
export function responseIdOf(chatId: unknown): string {
  if (typeof chatId === 'string' && chatId.length > 0) return `resp_${chatId.startsWith('chatcmpl-') ? chatId.slice(9) : chatId}`;
  return `resp_${hex(24)}`;
}

/** Names of the request's custom (freeform) tools: their chat calls come back as custom_tool_call items. */
export function customToolNames(request: Record<string, any> | undefined): Set<string> {
  const s = new Set<string>();
  if (Array.isArray(request?.tools)) for (const t of request.tools) if (t?.type === 'custom' && typeof t.name === 'string') s.add(t.name);
  return s;
}

/**
 * The Response object's fields around `output`: the request's settings echoed
 * as OpenAI echoes them. `status` and `usage` are filled by the caller.
 */
export function responseEnvelope(request: Record<string, any>, o: { id: string; model: string; createdAt: number }): Record<string, any> {
  return {
    id: o.id,
    object: 'response',
    created_at: o.createdAt,
    status: 'in_progress',
    background: false,
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    max_tool_calls: request.max_tool_calls ?? null,
    model: o.model,
    output: [],
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: null,
    prompt_cache_key: request.prompt_cache_key ?? null,
    reasoning: { effort: request.reasoning?.effort ?? null, summary: request.reasoning?.summary ?? null },
    safety_identifier: request.safety_identifier ?? null,
    service_tier: 'default',
    store: false,
    temperature: request.temperature ?? 1,
    text: { format: request.text?.format ?? { type: 'text' }, verbosity: request.text?.verbosity ?? 'medium' },
    tool_choice: request.tool_choice ?? 'auto',
    tools: Array.isArray(request.tools) ? request.tools : [],
    top_logprobs: 0,
    top_p: request.top_p ?? 1,
    truncation: request.truncation ?? 'disabled',
    usage: null,
    user: request.user ?? null,
    metadata: request.metadata ?? {},
  };
}

/** Chat counts as a Responses `usage` (input includes cached, output includes reasoning). */
export function responsesUsageOf(c: ChatCounts): Record<string, any> {
  return {
    input_tokens: c.prompt,
    input_tokens_details: { cached_tokens: Math.min(c.cached, c.prompt) },
    output_tokens: c.completion,
    output_tokens_details: { reasoning_tokens: Math.min(c.reasoning, c.completion) },
    total_tokens: c.prompt + c.completion,
  };
}

/** A chat finish_reason as a Response status and incomplete_details. */
export function statusOfFinish(finish: unknown): { status: string; incomplete: Record<string, string> | null } {
  if (finish === 'length') return { status: 'incomplete', incomplete: { reason: 'max_output_tokens' } };
  if (finish === 'content_filter') return { status: 'incomplete', incomplete: { reason: 'content_filter' } };
  return { status: 'completed', incomplete: null };
}

/** A function_call (or custom_tool_call) output item for a chat tool call. */
export function callItemOf(id: string, name: string, args: string, custom: boolean): Record<string, any> {
  if (custom) {
    let input = args;
    try {
      const v = JSON.parse(args);
      if (typeof v?.input === 'string') input = v.input;
    } catch {}
    return { id: `ctc_${id}`, type: 'custom_tool_call', status: 'completed', call_id: id, name, input };
  }
  return { id: `fc_${id}`, type: 'function_call', status: 'completed', arguments: args, call_id: id, name };
}

/** A whole chat.completion as a Response object, under the caller's model name. */
export function chatToResponsesResponse(
  c: Record<string, any>,
  o: { model: string; request: Record<string, any>; id?: string; createdAt?: number },
): Record<string, any> {
  const id = o.id ?? responseIdOf(c.id);
  const r = responseEnvelope(o.request, {
    id,
    model: o.model,
    createdAt: o.createdAt ?? (typeof c.created === 'number' ? c.created : Math.floor(Date.now() / 1000)),
  });
  const choice = Array.isArray(c.choices) ? c.choices[0] : undefined;
  const m = choice?.message ?? {};
  const output: Array<Record<string, any>> = [];
  const base = id.slice(5);
  const reasoning = m.reasoning_content ?? m.reasoning;
  if (typeof reasoning === 'string' && reasoning.length > 0)
    output.push({ id: `rs_${base}`, type: 'reasoning', summary: [], content: [{ type: 'reasoning_text', text: reasoning }] });
  const text = typeof m.content === 'string' && m.content.length > 0 ? m.content : null;
  const refusal = typeof m.refusal === 'string' && m.refusal.length > 0 ? m.refusal : null;
  if (text !== null || refusal !== null || !Array.isArray(m.tool_calls) || m.tool_calls.length === 0) {
    const part = refusal !== null && text === null ? { type: 'refusal', refusal } : { type: 'output_text', annotations: [], logprobs: [], text: text ?? '' };
    output.push({ id: `msg_${base}`, type: 'message', status: 'completed', content: [part], role: 'assistant' });
  }
  if (Array.isArray(m.tool_calls)) {
    const custom = customToolNames(o.request);
    for (const call of m.tool_calls) {
      const name = call.function?.name ?? '';
      output.push(callItemOf(call.id, name, call.function?.arguments ?? '', custom.has(name)));
    }
  }
  const counts = emptyChatCounts();
  readChatUsage(c.usage, counts);
  const s = statusOfFinish(choice?.finish_reason);
  r.status = s.status;
  r.incomplete_details = s.incomplete;
  r.output = output;
  r.usage = responsesUsageOf(counts);
  return r;
}
