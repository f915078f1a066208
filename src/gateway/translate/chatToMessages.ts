// OpenAI chat inbound → Anthropic upstream: the request, and the whole answer back.
//
// Dropped silently because they do not change the answer: `stream_options`
// (Anthropic always reports usage; the stream translator adds the usage chunk
// when asked), `store`, `metadata` (OpenAI's stored-completion tags),
// `service_tier`, `seed`, `prediction`, `prompt_cache_key`, `safety_identifier`,
// `user`-less message `name`s, an image's `detail`, a tool's `strict`,
// `logprobs: false`, `n: 1`, zero penalties, an empty `logit_bias`,
// `response_format: {type:'text'}`, `modalities: ['text']`, and earlier turns'
// `reasoning_content` (Anthropic needs a signature to take thinking back, and
// ignores earlier turns' thinking anyway; signed `thinking_blocks`, LiteLLM's
// field, are passed back). Unknown fields are dropped too.
// `response_format: json_schema` becomes `output_config.format` (Anthropic
// structured outputs; the schema object is passed as is, `name`/`strict` dropped).
// A 400 (untranslatable_field) for: n > 1, logprobs, top_logprobs, non-zero
// penalties, logit_bias, response_format json_object (no schema to give), audio
// output, web_search_options, legacy functions/function_call, temperature
// above 1, non-function tools, audio/other content parts, non-JSON tool
// arguments, and a reasoning_effort whose thinking budget cannot fit.
// System and developer messages are hoisted into `system` in order
// (Anthropic has no system turn mid-conversation).
import { TallyError } from '../../lib/errors.ts';
import {
  ANTHROPIC,
  chatIdOf,
  finishReasonOf,
  MIN_THINKING_BUDGET,
  openAIUsageOf,
  readAnthropicUsage,
  emptyCounts,
  THINKING_BUDGET,
  untranslatable,
} from './shared.ts';

const P = ANTHROPIC;

export function chatToMessagesRequest(
  body: Record<string, any>,
  o: { upstreamModel: string; defaultMaxTokens: number; maxTokensCap?: number },
): Record<string, any> {
  refuseUntranslatable(body);
  const out: Record<string, any> = { model: o.upstreamModel };
  const { system, messages } = convertMessages(body.messages);
  if (system.length > 0) out.system = system.length === 1 && system[0].cache_control === undefined ? system[0].text : system;
  out.messages = messages;

  let maxTokens = body.max_completion_tokens ?? body.max_tokens ?? o.defaultMaxTokens;
  if (o.maxTokensCap != null && maxTokens > o.maxTokensCap) maxTokens = o.maxTokensCap;
  out.max_tokens = maxTokens;

  if (body.stop != null) {
    const stops = typeof body.stop === 'string' ? [body.stop] : body.stop;
    if (stops.length > 0) out.stop_sequences = stops;
  }
  if (body.temperature != null) out.temperature = body.temperature;
  if (body.top_p != null) out.top_p = body.top_p;
  if (typeof body.user === 'string' && body.user.length > 0) out.metadata = { user_id: body.user };

  const tools = body.tools;
  if (Array.isArray(tools) && tools.length > 0) {
    out.tools = tools.map(convertTool);
    const choice = convertToolChoice(body.tool_choice, body.parallel_tool_calls === false);
    if (choice) out.tool_choice = choice;
  }

  const effort = body.reasoning_effort;
  if (effort != null && effort !== 'none') {
    const table = THINKING_BUDGET[effort];
    if (table === undefined) throw untranslatable('reasoning_effort', P, `use one of ${Object.keys(THINKING_BUDGET).join(', ')} or none`);
    const budget = Math.min(table, maxTokens - 1);
    if (budget < MIN_THINKING_BUDGET)
      throw untranslatable(
        'reasoning_effort',
        P,
        `thinking needs a budget of at least ${MIN_THINKING_BUDGET} tokens below max_tokens (${maxTokens}); raise max_tokens above ${MIN_THINKING_BUDGET} or drop reasoning_effort`,
      );
    if (body.temperature != null && body.temperature !== 1)
      throw untranslatable('temperature', P, 'thinking (reasoning_effort) works only with temperature 1; drop temperature or reasoning_effort');
    // Anthropic refuses thinking when the tool loop in progress has an assistant
    // tool_use turn without its signed thinking block (chat clients keep no
    // signature): that continuation is asked without thinking rather than failed.
    if (!toolLoopLacksThinking(messages)) out.thinking = { type: 'enabled', budget_tokens: budget };
  }
  const rf = body.response_format;
  if (rf?.type === 'json_schema') out.output_config = { format: { type: 'json_schema', schema: rf.json_schema.schema } };
  if (body.stream === true) out.stream = true;
  return out;
}

function refuseUntranslatable(b: Record<string, any>): void {
  if (b.n != null && b.n !== 1) throw untranslatable('n', P, 'they return one choice per request; send n: 1 (or omit it) and repeat the request');
  if (b.logprobs === true) throw untranslatable('logprobs', P, 'they do not return log probabilities; drop logprobs');
  if (b.top_logprobs != null) throw untranslatable('top_logprobs', P, 'they do not return log probabilities; drop top_logprobs');
  for (const f of ['frequency_penalty', 'presence_penalty']) if (b[f] != null && b[f] !== 0) throw untranslatable(f, P, `they have no ${f}; drop it`);
  if (b.logit_bias != null && Object.keys(b.logit_bias).length > 0) throw untranslatable('logit_bias', P, 'they have no logit_bias; drop it');
  const rf = b.response_format;
  if (rf != null && rf.type !== 'text' && !(rf.type === 'json_schema' && rf.json_schema?.schema != null))
    throw untranslatable(
      'response_format',
      P,
      `${rf.type} output is not translated; send {type:"json_schema", json_schema:{schema}} (Anthropic structured outputs), or describe the JSON in the prompt`,
    );
  if (b.audio != null || (Array.isArray(b.modalities) && b.modalities.some((m: unknown) => m !== 'text')))
    throw untranslatable('modalities', P, 'they answer in text only; drop audio output');
  if (b.web_search_options != null) throw untranslatable('web_search_options', P, 'web search is not translated; drop web_search_options');
  if (b.functions != null || b.function_call != null)
    throw untranslatable(b.functions != null ? 'functions' : 'function_call', P, 'use tools and tool_choice instead of the legacy functions');
  if (b.temperature != null && b.temperature > 1) throw untranslatable('temperature', P, 'they take a temperature from 0 to 1');
}

interface SystemBlock {
  type: 'text';
  text: string;
  cache_control?: unknown;
}

function convertMessages(messages: unknown): { system: SystemBlock[]; messages: Array<Record<string, any>> } {
  if (!Array.isArray(messages)) throw new TallyError('invalid_request', 'messages must be an array of chat messages', { param: 'messages' });
  const system: SystemBlock[] = [];
  const out: Array<Record<string, any>> = [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const role = m?.role;
    if (role === 'system' || role === 'developer') {
      const c = m.content;
      if (typeof c === 'string') {
        if (c.length > 0) system.push({ type: 'text', text: c });
      } else if (Array.isArray(c)) {
        for (const p of c) if (p?.type === 'text' && p.text) system.push(textBlock(p));
      }
    } else if (role === 'user') {
      const content = typeof m.content === 'string' ? m.content : userParts(m.content, i);
      appendTurn(out, 'user', content);
    } else if (role === 'assistant') {
      appendTurn(out, 'assistant', assistantBlocks(m, i));
    } else if (role === 'tool') {
      const c = m.content;
      const block: Record<string, any> = { type: 'tool_result', tool_use_id: m.tool_call_id, content: typeof c === 'string' ? c : toolResultParts(c, i) };
      appendTurn(out, 'user', [block]);
    } else if (role === 'function') {
      throw untranslatable(`messages[${i}].role`, P, 'use role "tool" with tool_call_id instead of the legacy role "function"');
    } else {
      throw new TallyError('invalid_message', `messages[${i}].role must be system, developer, user, assistant or tool`, { param: `messages[${i}].role` });
    }
  }
  return { system, messages: out };
}

/**
 * Consecutive turns of one role become one (Anthropic wants tool results of
 * one assistant turn in one user turn, first). Empty content is skipped.
 */
function appendTurn(out: Array<Record<string, any>>, role: string, content: string | Array<Record<string, any>>): void {
  if (content.length === 0) return;
  const last = out[out.length - 1];
  if (last === undefined || last.role !== role) {
    out.push({ role, content });
    return;
  }
  const prev = typeof last.content === 'string' ? [{ type: 'text', text: last.content }] : last.content;
  if (typeof content === 'string') prev.push({ type: 'text', text: content });
  else for (const b of content) prev.push(b);
  last.content = prev;
}

function userParts(parts: unknown, i: number): Array<Record<string, any>> {
  if (!Array.isArray(parts)) return [];
  const out: Array<Record<string, any>> = [];
  for (let j = 0; j < parts.length; j++) {
    const p = parts[j];
    if (p?.type === 'text') {
      if (p.text) out.push(textBlock(p));
    } else if (p?.type === 'image_url') {
      out.push(imageBlock(p.image_url, `messages[${i}].content[${j}].image_url`));
    } else if (p?.type === 'file') {
      out.push(fileBlock(p.file, `messages[${i}].content[${j}].file`));
    } else {
      throw untranslatable(
        `messages[${i}].content[${j}]`,
        P,
        `content parts of type ${JSON.stringify(p?.type)} are not translated; send text, image_url or a PDF file`,
      );
    }
  }
  return out;
}

/** A text part as a text block; a `cache_control` some OpenAI clients put on parts (for Claude) is kept. */
function textBlock(p: Record<string, any>): SystemBlock {
  return p.cache_control == null ? { type: 'text', text: p.text } : { type: 'text', text: p.text, cache_control: p.cache_control };
}

const DATA_URL = /^data:([^;,]+);base64,/;

function imageBlock(img: any, field: string): Record<string, any> {
  const url: unknown = typeof img === 'string' ? img : img?.url;
  if (typeof url === 'string') {
    const m = DATA_URL.exec(url);
    if (m) return { type: 'image', source: { type: 'base64', media_type: m[1], data: url.slice(m[0].length) } };
    if (url.startsWith('https://') || url.startsWith('http://')) return { type: 'image', source: { type: 'url', url } };
  }
  throw untranslatable(field, P, 'send the image as an http(s) URL or a base64 data: URL');
}

function fileBlock(file: any, field: string): Record<string, any> {
  const m = typeof file?.file_data === 'string' ? DATA_URL.exec(file.file_data) : null;
  if (m && m[1] === 'application/pdf')
    return { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: file.file_data.slice(m[0].length) } };
  throw untranslatable(field, P, 'only a PDF sent inline as file_data (data:application/pdf;base64,...) is translated; file_id is not');
}

function toolResultParts(parts: unknown, i: number): Array<Record<string, any>> {
  if (!Array.isArray(parts)) return [];
  const out: Array<Record<string, any>> = [];
  for (let j = 0; j < parts.length; j++) {
    const p = parts[j];
    if (p?.type === 'text') out.push({ type: 'text', text: p.text });
    else if (p?.type === 'image_url') out.push(imageBlock(p.image_url, `messages[${i}].content[${j}].image_url`));
    else throw untranslatable(`messages[${i}].content[${j}]`, P, 'a tool result may hold text and images only');
  }
  return out;
}

function toolLoopLacksThinking(messages: Array<Record<string, any>>): boolean {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.role !== 'assistant') continue;
    const c = m.content as Array<Record<string, any>>;
    const first = c[0]?.type;
    return first !== 'thinking' && first !== 'redacted_thinking' && c.some((b) => b.type === 'tool_use');
  }
  return false;
}

function assistantBlocks(m: Record<string, any>, i: number): Array<Record<string, any>> {
  const out: Array<Record<string, any>> = [];
  // Signed thinking echoed back the way LiteLLM's clients do (`thinking_blocks`) goes first, as Anthropic wants.
  if (Array.isArray(m.thinking_blocks))
    for (const b of m.thinking_blocks) if ((b?.type === 'thinking' && b.signature) || (b?.type === 'redacted_thinking' && b.data)) out.push(b);
  const c = m.content;
  if (typeof c === 'string') {
    if (c.length > 0) out.push({ type: 'text', text: c });
  } else if (Array.isArray(c)) {
    for (const p of c) {
      if (p?.type === 'text' && p.text) out.push({ type: 'text', text: p.text });
      else if (p?.type === 'refusal' && p.refusal) out.push({ type: 'text', text: p.refusal });
    }
  }
  const calls = m.tool_calls;
  if (Array.isArray(calls)) {
    for (let j = 0; j < calls.length; j++) {
      const call = calls[j];
      if (call?.type !== undefined && call.type !== 'function')
        throw untranslatable(`messages[${i}].tool_calls[${j}]`, P, 'only function tool calls are translated');
      out.push({
        type: 'tool_use',
        id: call.id,
        name: call.function?.name,
        input: parseArguments(call.function?.arguments, `messages[${i}].tool_calls[${j}].function.arguments`),
      });
    }
  }
  if (m.function_call != null) throw untranslatable(`messages[${i}].function_call`, P, 'use tool_calls instead of the legacy function_call');
  return out;
}

function parseArguments(args: unknown, field: string): Record<string, any> {
  if (args == null || args === '') return {};
  if (typeof args !== 'string') throw untranslatable(field, P, 'arguments must be a JSON object encoded as a string');
  let v: unknown;
  try {
    v = JSON.parse(args);
  } catch {
    throw untranslatable(field, P, 'arguments must be valid JSON (Anthropic takes tool input as an object)');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw untranslatable(field, P, 'arguments must encode a JSON object');
  return v as Record<string, any>;
}

function convertTool(t: any, i: number): Record<string, any> {
  if (t?.type !== 'function' || t.function == null)
    throw untranslatable(`tools[${i}]`, P, `tools of type ${JSON.stringify(t?.type)} are not translated; send function tools`);
  const f = t.function;
  const out: Record<string, any> = { name: f.name };
  if (f.description) out.description = f.description;
  out.input_schema = f.parameters ?? { type: 'object', properties: {} };
  return out;
}

function convertToolChoice(choice: unknown, noParallel: boolean): Record<string, any> | null {
  let out: Record<string, any> | null;
  if (choice == null || choice === 'auto') out = noParallel ? { type: 'auto' } : null;
  else if (choice === 'none') return { type: 'none' };
  else if (choice === 'required') out = { type: 'any' };
  else if (typeof choice === 'object' && (choice as any).type === 'function' && (choice as any).function?.name)
    out = { type: 'tool', name: (choice as any).function.name };
  else throw untranslatable('tool_choice', P, 'use auto, none, required or {type:"function",function:{name}}');
  if (out && noParallel) out.disable_parallel_tool_use = true;
  return out;
}

/** A whole Anthropic Message as an OpenAI chat.completion, under the caller's model name. */
export function messagesToChatResponse(msg: Record<string, any>, o: { model: string; created?: number }): Record<string, any> {
  let text: string | null = null;
  let reasoning: string | null = null;
  let toolCalls: Array<Record<string, any>> | null = null;
  const content = Array.isArray(msg.content) ? msg.content : [];
  for (const b of content) {
    if (b.type === 'text') text = text === null ? b.text : text + b.text;
    else if (b.type === 'thinking') reasoning = reasoning === null ? b.thinking : reasoning + b.thinking;
    else if (b.type === 'tool_use') {
      toolCalls ??= [];
      toolCalls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } });
    }
    // redacted_thinking and server-tool blocks have no OpenAI twin; Tally never asks for server tools.
  }
  const message: Record<string, any> = { role: 'assistant', content: text, refusal: null };
  if (reasoning !== null) message.reasoning_content = reasoning;
  if (toolCalls !== null) message.tool_calls = toolCalls;
  const counts = emptyCounts();
  readAnthropicUsage(msg.usage, counts);
  return {
    id: chatIdOf(msg.id),
    object: 'chat.completion',
    created: o.created ?? Math.floor(Date.now() / 1000),
    model: o.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReasonOf(msg.stop_reason) ?? 'stop' }],
    usage: openAIUsageOf(counts),
  };
}
