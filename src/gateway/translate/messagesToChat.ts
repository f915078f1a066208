// Anthropic inbound → OpenAI-compatible upstream: the request, and the whole answer back.
//
// Dropped silently because they do not change the answer: `cache_control`
// anywhere (the upstream caches by itself or not at all), thinking
// `signature`s and `redacted_thinking` blocks, `citations`, `service_tier`,
// `context_management` (server-side clearing of old tool results: the
// upstream simply sees the whole context), `container`-less betas, and
// `metadata.user_id` longer than OpenAI's 64-character `user` (a shorter one
// becomes `user`). Unknown fields are dropped too.
// A 400 (untranslatable_field) for: `top_k`, `mcp_servers`, `container`,
// server tools (web search, bash, text editor, computer use…), Files API
// sources (`file_id`), `search_result` and other blocks with no chat twin.
// Thinking maps to `reasoning_effort` (budget_tokens: below 4096 low, below
// 16384 medium, else high; adaptive thinking takes `output_config.effort`,
// `max` → high); pass `reasoningEffort: false` for an upstream model that
// takes no reasoning_effort, and thinking is then left out.
// Images in a tool result go in a user message right after the tool messages
// (chat tool messages carry text only); `is_error` results are prefixed "Error: ".
import { TallyError } from '../../lib/errors.ts';
import {
  EFFORT_OF_ANTHROPIC,
  effortOfBudget,
  messageIdOf,
  OPENAI_COMPATIBLE,
  readOpenAIUsage,
  anthropicUsageOf,
  stopReasonOf,
  untranslatable,
} from './shared.ts';

const P = OPENAI_COMPATIBLE;

export function messagesToChatRequest(
  body: Record<string, any>,
  o: { upstreamModel: string; maxTokensCap?: number; maxTokensField?: 'max_tokens' | 'max_completion_tokens'; reasoningEffort?: boolean },
): Record<string, any> {
  if (body.top_k != null) throw untranslatable('top_k', P, 'they have no top_k; use temperature or top_p');
  if (body.mcp_servers != null) throw untranslatable('mcp_servers', P, 'remote MCP servers are run by Anthropic only; drop mcp_servers');
  if (body.container != null) throw untranslatable('container', P, 'code-execution containers are Anthropic only; drop container');

  const out: Record<string, any> = { model: o.upstreamModel };
  const messages: Array<Record<string, any>> = [];
  const system = systemText(body.system);
  if (system !== null) messages.push({ role: 'system', content: system });
  const input = body.messages;
  if (!Array.isArray(input)) throw new TallyError('invalid_request', 'messages must be an array of turns', { param: 'messages' });
  for (let i = 0; i < input.length; i++) {
    const m = input[i];
    if (m?.role === 'user') userTurn(m.content, i, messages);
    else if (m?.role === 'assistant') messages.push(assistantTurn(m.content, i));
    else throw new TallyError('invalid_message', `messages[${i}].role must be user or assistant`, { param: `messages[${i}].role` });
  }
  out.messages = messages;

  if (body.max_tokens != null) {
    let max = body.max_tokens;
    if (o.maxTokensCap != null && max > o.maxTokensCap) max = o.maxTokensCap;
    out[o.maxTokensField ?? 'max_tokens'] = max;
  }
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) out.stop = body.stop_sequences;
  if (body.temperature != null) out.temperature = body.temperature;
  if (body.top_p != null) out.top_p = body.top_p;
  const userId = body.metadata?.user_id;
  if (typeof userId === 'string' && userId.length > 0 && userId.length <= 64) out.user = userId;

  const tools = body.tools;
  if (Array.isArray(tools) && tools.length > 0) {
    out.tools = tools.map(convertTool);
    const tc = body.tool_choice;
    if (tc != null) {
      if (tc.type === 'auto') out.tool_choice = 'auto';
      else if (tc.type === 'any') out.tool_choice = 'required';
      else if (tc.type === 'none') out.tool_choice = 'none';
      else if (tc.type === 'tool') out.tool_choice = { type: 'function', function: { name: tc.name } };
      else throw untranslatable('tool_choice', P, 'use auto, any, none or {type:"tool",name}');
      if (tc.disable_parallel_tool_use === true) out.parallel_tool_calls = false;
    }
  }

  const effort = reasoningEffortOf(body);
  if (effort !== null && o.reasoningEffort !== false) out.reasoning_effort = effort;
  const format = body.output_config?.format ?? body.output_format;
  if (format != null) {
    if (format.type !== 'json_schema' || format.schema == null)
      throw untranslatable('output_config.format', P, 'only {type:"json_schema", schema} is translated');
    out.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema, strict: true } };
  }
  if (body.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  return out;
}

function reasoningEffortOf(body: Record<string, any>): string | null {
  const t = body.thinking;
  const effort = body.output_config?.effort;
  if (t?.type === 'enabled' && typeof t.budget_tokens === 'number') return effortOfBudget(t.budget_tokens);
  if (t?.type === 'disabled') return null;
  if (typeof effort === 'string') return EFFORT_OF_ANTHROPIC[effort] ?? 'medium';
  // Adaptive thinking without an effort is Anthropic's default (high effort); leave the upstream's default.
  return null;
}

function systemText(system: unknown): string | null {
  if (typeof system === 'string') return system.length > 0 ? system : null;
  if (!Array.isArray(system)) return null;
  let text = '';
  for (let i = 0; i < system.length; i++) {
    const b = system[i];
    if (b?.type !== 'text') throw untranslatable(`system[${i}]`, P, 'system blocks must be text');
    if (!b.text) continue;
    text = text.length === 0 ? b.text : `${text}\n\n${b.text}`;
  }
  return text.length > 0 ? text : null;
}

function userTurn(content: unknown, i: number, out: Array<Record<string, any>>): void {
  if (typeof content === 'string') {
    out.push({ role: 'user', content });
    return;
  }
  if (!Array.isArray(content)) return;
  let parts: Array<Record<string, any>> | null = null;
  let toolImages: Array<Record<string, any>> | null = null;
  for (let j = 0; j < content.length; j++) {
    const b = content[j];
    const field = `messages[${i}].content[${j}]`;
    switch (b?.type) {
      case 'tool_result': {
        const r = toolResult(b, field);
        out.push({ role: 'tool', tool_call_id: b.tool_use_id, content: r.text });
        if (r.images !== null) {
          toolImages ??= [];
          for (const img of r.images) toolImages.push(img);
        }
        break;
      }
      case 'text':
        parts ??= [];
        parts.push({ type: 'text', text: b.text });
        break;
      case 'image':
        parts ??= [];
        parts.push(imagePart(b, field));
        break;
      case 'document':
        parts ??= [];
        parts.push(documentPart(b, field));
        break;
      default:
        throw untranslatable(field, P, `content blocks of type ${JSON.stringify(b?.type)} are not translated; send text, image, document or tool_result`);
    }
  }
  // Tool messages must directly follow the assistant's tool calls; what the user added comes after them.
  if (toolImages !== null) parts = parts === null ? toolImages : toolImages.concat(parts);
  if (parts !== null) out.push({ role: 'user', content: parts.length === 1 && parts[0].type === 'text' ? parts[0].text : parts });
}

function toolResult(b: Record<string, any>, field: string): { text: string; images: Array<Record<string, any>> | null } {
  const c = b.content;
  let text = '';
  let images: Array<Record<string, any>> | null = null;
  if (typeof c === 'string') text = c;
  else if (Array.isArray(c)) {
    for (let k = 0; k < c.length; k++) {
      const x = c[k];
      if (x?.type === 'text') text = text.length === 0 ? x.text : `${text}\n${x.text}`;
      else if (x?.type === 'image') (images ??= []).push(imagePart(x, `${field}.content[${k}]`));
      else throw untranslatable(`${field}.content[${k}]`, P, 'a tool result may hold text and images only');
    }
  }
  if (b.is_error === true) text = `Error: ${text}`;
  return { text, images };
}

function imagePart(b: Record<string, any>, field: string): Record<string, any> {
  const s = b.source;
  if (s?.type === 'base64') return { type: 'image_url', image_url: { url: `data:${s.media_type};base64,${s.data}` } };
  if (s?.type === 'url') return { type: 'image_url', image_url: { url: s.url } };
  throw untranslatable(`${field}.source`, P, 'send the image as base64 or a URL (Files API ids are Anthropic only)');
}

function documentPart(b: Record<string, any>, field: string): Record<string, any> {
  const s = b.source;
  if (s?.type === 'base64' && s.media_type === 'application/pdf')
    return { type: 'file', file: { filename: b.title ?? 'document.pdf', file_data: `data:application/pdf;base64,${s.data}` } };
  if (s?.type === 'text') return { type: 'text', text: s.data };
  throw untranslatable(`${field}.source`, P, 'only base64 PDFs and plain-text documents are translated');
}

function assistantTurn(content: unknown, i: number): Record<string, any> {
  if (typeof content === 'string') return { role: 'assistant', content };
  let text: string | null = null;
  let reasoning: string | null = null;
  let calls: Array<Record<string, any>> | null = null;
  if (Array.isArray(content)) {
    for (let j = 0; j < content.length; j++) {
      const b = content[j];
      switch (b?.type) {
        case 'text':
          text = text === null ? b.text : text + b.text;
          break;
        case 'thinking':
          reasoning = reasoning === null ? b.thinking : reasoning + b.thinking;
          break;
        case 'redacted_thinking':
          break;
        case 'tool_use':
          (calls ??= []).push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } });
          break;
        default:
          throw untranslatable(`messages[${i}].content[${j}]`, P, `assistant blocks of type ${JSON.stringify(b?.type)} are not translated`);
      }
    }
  }
  const m: Record<string, any> = { role: 'assistant', content: text };
  // DeepSeek's thinking mode wants the reasoning of a tool-calling turn sent back; others ignore it.
  if (reasoning !== null) m.reasoning_content = reasoning;
  if (calls !== null) m.tool_calls = calls;
  return m;
}

function convertTool(t: any, i: number): Record<string, any> {
  if (t?.input_schema == null || (t.type !== undefined && t.type !== 'custom'))
    throw untranslatable(`tools[${i}]`, P, `Anthropic server tools (${t?.type ?? t?.name}) run only on Anthropic; send client tools with an input_schema`);
  const f: Record<string, any> = { name: t.name };
  if (t.description) f.description = t.description;
  f.parameters = t.input_schema;
  return { type: 'function', function: f };
}

/** A whole OpenAI chat.completion as an Anthropic Message, under the caller's model name. */
export function chatToMessagesResponse(c: Record<string, any>, o: { model: string }): Record<string, any> {
  const choice = Array.isArray(c.choices) ? c.choices[0] : undefined;
  const m = choice?.message ?? {};
  const content: Array<Record<string, any>> = [];
  const reasoning = m.reasoning_content ?? m.reasoning;
  if (typeof reasoning === 'string' && reasoning.length > 0) content.push({ type: 'thinking', thinking: reasoning, signature: '' });
  if (typeof m.content === 'string' && m.content.length > 0) content.push({ type: 'text', text: m.content });
  else if (typeof m.refusal === 'string' && m.refusal.length > 0) content.push({ type: 'text', text: m.refusal });
  if (Array.isArray(m.tool_calls)) {
    for (const call of m.tool_calls) content.push({ type: 'tool_use', id: call.id, name: call.function?.name, input: toolInput(call.function?.arguments) });
  }
  const counts = { prompt: 0, cached: 0, completion: 0 };
  readOpenAIUsage(c.usage, counts);
  return {
    id: messageIdOf(c.id),
    type: 'message',
    role: 'assistant',
    model: o.model,
    content,
    stop_reason: stopReasonOf(choice?.finish_reason),
    stop_sequence: null,
    usage: anthropicUsageOf(counts),
  };
}

function toolInput(args: unknown): Record<string, any> {
  if (args == null || args === '') return {};
  try {
    const v = JSON.parse(args as string);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v;
  } catch {}
  // The model wrote arguments that are not a JSON object: Anthropic's shape needs one.
  throw new TallyError('upstream_error', 'the upstream model returned tool-call arguments that are not a JSON object');
}
