// OpenAI chat inbound → Gemini upstream (generateContent): the request body, and
// the whole answer back. The model and stream-or-not live in the URL
// (`/v1beta/models/{m}:generateContent` or `:streamGenerateContent?alt=sse`):
// the caller builds it; the body carries neither.
//
// Mapped: system/developer messages → `systemInstruction` (hoisted in order,
// Gemini has no system turn); user/assistant → roles user/model (consecutive
// turns of one role merged, as Gemini wants parallel function responses in one
// turn); text; image_url as a base64 data: URL → inlineData; a PDF file_data →
// inlineData; input_audio → inlineData audio/<format>; assistant tool_calls →
// functionCall parts (args an object) carrying the thoughtSignature the answer
// gave (kept in tool_calls[].extra_content.google.thought_signature, Google's
// own OpenAI-compatible field), or Google's documented placeholder when the
// client kept none (Gemini 3 refuses an unsigned call in the current turn);
// tool messages → functionResponse {name (found from the call's id), response:
// {output: text}}; function tools → one `functionDeclarations` tool
// (`parametersJsonSchema`: the JSON Schema as given, which `parameters` would
// refuse for additionalProperties and the like); tool_choice →
// toolConfig.functionCallingConfig (auto AUTO, none NONE, required ANY, a named
// function ANY + allowedFunctionNames); max_completion_tokens ?? max_tokens →
// maxOutputTokens; temperature, top_p → topP, stop → stopSequences, seed,
// presence/frequency penalties; response_format json_schema →
// responseMimeType application/json + responseJsonSchema, json_object →
// responseMimeType application/json; reasoning_effort → thinkingConfig
// (budget, or thinkingLevel with `thinking: 'level'`; includeThoughts so the
// reasoning comes back as reasoning_content).
// Dropped silently: earlier turns' reasoning_content (Gemini takes thoughts
// back only as signatures), `store`, `metadata`, `user`, `service_tier`,
// `stream_options` (Gemini always reports usage), `prompt_cache_key`,
// `safety_identifier`, `parallel_tool_calls`, an image's `detail`, a tool's
// `strict`, `logprobs: false`, `n: 1`, `modalities: ['text']`, unknown fields.
// A 400 (untranslatable_field) for: n > 1, logprobs, top_logprobs, logit_bias,
// audio output, web_search_options, legacy functions/function_call, non-function
// tools, images by http(s) URL (Gemini fetches only its own Files API and
// Cloud Storage URIs: send a data: URL), file_id, other content parts, tool
// arguments that are not a JSON object, and an unknown reasoning_effort.
// The answer: a prompt Gemini blocked (promptFeedback.blockReason) is a
// `prompt_blocked` 400; thought parts → reasoning_content; functionCall parts →
// tool_calls (finish_reason tool_calls); usage per geminiShared (tool-use prompt
// tokens are input, thoughts are output and also completion_tokens_details.reasoning_tokens).
import { TallyError } from '../../lib/errors.ts';
import { untranslatable } from './shared.ts';
import {
  chatIdOfGemini,
  emptyGeminiCounts,
  finishOfGemini,
  functionResponseOf,
  GEMINI,
  geminiBlockError,
  openAIUsageOfGemini,
  randomCallId,
  readGeminiUsage,
  SKIP_THOUGHT_SIGNATURE,
  thinkingConfigOf,
} from './geminiShared.ts';

const P = GEMINI;

export interface ChatToGeminiOptions {
  maxTokensCap?: number;
  /** How reasoning_effort is sent: a thinkingBudget (Gemini 2.5, default) or a thinkingLevel (Gemini 3). */
  thinking?: 'budget' | 'level';
}

export function chatToGeminiRequest(body: Record<string, any>, o: ChatToGeminiOptions = {}): Record<string, any> {
  refuseUntranslatable(body);
  const out: Record<string, any> = {};
  const { system, contents } = convertMessages(body.messages);
  out.contents = contents;
  if (system.length > 0) out.systemInstruction = { parts: system };

  const tools = body.tools;
  if (Array.isArray(tools) && tools.length > 0) {
    out.tools = [{ functionDeclarations: tools.map(convertTool) }];
    const cfg = convertToolChoice(body.tool_choice);
    if (cfg !== null) out.toolConfig = { functionCallingConfig: cfg };
  }

  const g: Record<string, any> = {};
  let max = body.max_completion_tokens ?? body.max_tokens;
  if (max != null) {
    if (o.maxTokensCap != null && max > o.maxTokensCap) max = o.maxTokensCap;
    g.maxOutputTokens = max;
  } else if (o.maxTokensCap != null) g.maxOutputTokens = o.maxTokensCap;
  if (body.temperature != null) g.temperature = body.temperature;
  if (body.top_p != null) g.topP = body.top_p;
  if (body.stop != null) {
    const stops = typeof body.stop === 'string' ? [body.stop] : body.stop;
    if (stops.length > 0) g.stopSequences = stops;
  }
  if (body.seed != null) g.seed = body.seed;
  if (body.presence_penalty != null && body.presence_penalty !== 0) g.presencePenalty = body.presence_penalty;
  if (body.frequency_penalty != null && body.frequency_penalty !== 0) g.frequencyPenalty = body.frequency_penalty;
  const rf = body.response_format;
  if (rf?.type === 'json_schema') {
    g.responseMimeType = 'application/json';
    g.responseJsonSchema = rf.json_schema.schema;
  } else if (rf?.type === 'json_object') g.responseMimeType = 'application/json';
  const effort = body.reasoning_effort;
  if (effort != null) {
    const t = thinkingConfigOf(effort, o.thinking);
    if (t === null) throw untranslatable('reasoning_effort', P, 'use one of none, minimal, low, medium, high or xhigh');
    g.thinkingConfig = t;
  }
  if (Object.keys(g).length > 0) out.generationConfig = g;
  return out;
}

function refuseUntranslatable(b: Record<string, any>): void {
  if (b.n != null && b.n !== 1) throw untranslatable('n', P, 'one choice is translated per request; send n: 1 (or omit it) and repeat the request');
  if (b.logprobs === true) throw untranslatable('logprobs', P, 'log probabilities are not translated; drop logprobs');
  if (b.top_logprobs != null) throw untranslatable('top_logprobs', P, 'log probabilities are not translated; drop top_logprobs');
  if (b.logit_bias != null && Object.keys(b.logit_bias).length > 0) throw untranslatable('logit_bias', P, 'they have no logit_bias; drop it');
  const rf = b.response_format;
  if (rf != null && rf.type !== 'text' && rf.type !== 'json_object' && !(rf.type === 'json_schema' && rf.json_schema?.schema != null))
    throw untranslatable('response_format', P, 'send {type:"json_schema", json_schema:{schema}} or {type:"json_object"}');
  if (b.audio != null || (Array.isArray(b.modalities) && b.modalities.some((m: unknown) => m !== 'text')))
    throw untranslatable('modalities', P, 'audio output is not translated; drop audio');
  if (b.web_search_options != null) throw untranslatable('web_search_options', P, 'web search is not translated; drop web_search_options');
  if (b.functions != null || b.function_call != null)
    throw untranslatable(b.functions != null ? 'functions' : 'function_call', P, 'use tools and tool_choice instead of the legacy functions');
}

interface Content {
  role: 'user' | 'model';
  parts: Array<Record<string, any>>;
}

function convertMessages(messages: unknown): { system: Array<Record<string, any>>; contents: Content[] } {
  if (!Array.isArray(messages)) throw new TallyError('invalid_request', 'messages must be an array of chat messages', { param: 'messages' });
  const system: Array<Record<string, any>> = [];
  const contents: Content[] = [];
  /** Function name of each tool call id seen so far (a tool message names only the id). */
  const nameOfCall = new Map<string, string>();
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const role = m?.role;
    if (role === 'system' || role === 'developer') {
      const c = m.content;
      if (typeof c === 'string') {
        if (c.length > 0) system.push({ text: c });
      } else if (Array.isArray(c)) for (const p of c) if (p?.type === 'text' && p.text) system.push({ text: p.text });
    } else if (role === 'user') {
      append(contents, 'user', typeof m.content === 'string' ? (m.content.length > 0 ? [{ text: m.content }] : []) : userParts(m.content, i));
    } else if (role === 'assistant') {
      append(contents, 'model', modelParts(m, i, nameOfCall));
    } else if (role === 'tool') {
      const name = nameOfCall.get(m.tool_call_id);
      if (name === undefined)
        throw new TallyError('invalid_message', `messages[${i}].tool_call_id does not match a tool call of an earlier assistant message`, {
          param: `messages[${i}].tool_call_id`,
        });
      append(contents, 'user', [{ functionResponse: { name, response: functionResponseOf(toolText(m.content)) } }]);
    } else if (role === 'function') {
      throw untranslatable(`messages[${i}].role`, P, 'use role "tool" with tool_call_id instead of the legacy role "function"');
    } else {
      throw new TallyError('invalid_message', `messages[${i}].role must be system, developer, user, assistant or tool`, { param: `messages[${i}].role` });
    }
  }
  return { system, contents };
}

function append(contents: Content[], role: 'user' | 'model', parts: Array<Record<string, any>>): void {
  if (parts.length === 0) return;
  const last = contents[contents.length - 1];
  if (last !== undefined && last.role === role) for (const p of parts) last.parts.push(p);
  else contents.push({ role, parts });
}

function toolText(c: unknown): string {
  if (typeof c === 'string') return c;
  if (!Array.isArray(c)) return '';
  let text = '';
  for (const p of c) if (p?.type === 'text' && typeof p.text === 'string') text = text.length === 0 ? p.text : `${text}\n${p.text}`;
  return text;
}

const DATA_URL = /^data:([^;,]+);base64,/;

function userParts(parts: unknown, i: number): Array<Record<string, any>> {
  if (!Array.isArray(parts)) return [];
  const out: Array<Record<string, any>> = [];
  for (let j = 0; j < parts.length; j++) {
    const p = parts[j];
    const field = `messages[${i}].content[${j}]`;
    if (p?.type === 'text') {
      if (p.text) out.push({ text: p.text });
    } else if (p?.type === 'image_url') {
      const url: unknown = typeof p.image_url === 'string' ? p.image_url : p.image_url?.url;
      const m = typeof url === 'string' ? DATA_URL.exec(url) : null;
      if (!m) throw untranslatable(`${field}.image_url`, P, 'send the image as a base64 data: URL (Gemini does not fetch http(s) image URLs)');
      out.push({ inlineData: { mimeType: m[1], data: (url as string).slice(m[0].length) } });
    } else if (p?.type === 'file') {
      const m = typeof p.file?.file_data === 'string' ? DATA_URL.exec(p.file.file_data) : null;
      if (!m) throw untranslatable(`${field}.file`, P, 'only a file sent inline as file_data (a base64 data: URL) is translated; file_id is not');
      out.push({ inlineData: { mimeType: m[1], data: p.file.file_data.slice(m[0].length) } });
    } else if (p?.type === 'input_audio') {
      out.push({ inlineData: { mimeType: `audio/${p.input_audio?.format ?? 'wav'}`, data: p.input_audio?.data ?? '' } });
    } else {
      throw untranslatable(field, P, `content parts of type ${JSON.stringify(p?.type)} are not translated; send text, image_url, file or input_audio`);
    }
  }
  return out;
}

function modelParts(m: Record<string, any>, i: number, nameOfCall: Map<string, string>): Array<Record<string, any>> {
  const out: Array<Record<string, any>> = [];
  const c = m.content;
  if (typeof c === 'string') {
    if (c.length > 0) out.push({ text: c });
  } else if (Array.isArray(c)) {
    for (const p of c) {
      if (p?.type === 'text' && p.text) out.push({ text: p.text });
      else if (p?.type === 'refusal' && p.refusal) out.push({ text: p.refusal });
    }
  }
  const calls = m.tool_calls;
  if (Array.isArray(calls)) {
    for (let j = 0; j < calls.length; j++) {
      const call = calls[j];
      if (call?.type !== undefined && call.type !== 'function')
        throw untranslatable(`messages[${i}].tool_calls[${j}]`, P, 'only function tool calls are translated');
      const name = call.function?.name;
      nameOfCall.set(call.id, name);
      const part: Record<string, any> = {
        functionCall: { name, args: parseArgs(call.function?.arguments, `messages[${i}].tool_calls[${j}].function.arguments`) },
      };
      const sig = call.extra_content?.google?.thought_signature;
      // The first call of a turn carries the signature; a client that kept none gets Google's documented placeholder.
      if (typeof sig === 'string' && sig.length > 0) part.thoughtSignature = sig;
      else if (j === 0) part.thoughtSignature = SKIP_THOUGHT_SIGNATURE;
      out.push(part);
    }
  }
  if (m.function_call != null) throw untranslatable(`messages[${i}].function_call`, P, 'use tool_calls instead of the legacy function_call');
  return out;
}

function parseArgs(args: unknown, field: string): Record<string, any> {
  if (args == null || args === '') return {};
  if (typeof args !== 'string') throw untranslatable(field, P, 'arguments must be a JSON object encoded as a string');
  let v: unknown;
  try {
    v = JSON.parse(args);
  } catch {
    throw untranslatable(field, P, 'arguments must be valid JSON (Gemini takes function args as an object)');
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
  if (f.parameters != null) out.parametersJsonSchema = f.parameters;
  return out;
}

function convertToolChoice(choice: unknown): Record<string, any> | null {
  if (choice == null || choice === 'auto') return null;
  if (choice === 'none') return { mode: 'NONE' };
  if (choice === 'required') return { mode: 'ANY' };
  const c = choice as Record<string, any>;
  if (c.type === 'function' && typeof c.function?.name === 'string') return { mode: 'ANY', allowedFunctionNames: [c.function.name] };
  throw untranslatable('tool_choice', P, 'use auto, none, required or {type:"function",function:{name}}');
}

/** A whole Gemini GenerateContentResponse as an OpenAI chat.completion, under the caller's model name. */
export function geminiToChatResponse(resp: Record<string, any>, o: { model: string; id?: string; created?: number }): Record<string, any> {
  const blocked = geminiBlockError(resp);
  if (blocked) throw blocked;
  const candidate = Array.isArray(resp.candidates) ? resp.candidates[0] : undefined;
  let text: string | null = null;
  let reasoning: string | null = null;
  let toolCalls: Array<Record<string, any>> | null = null;
  const parts = candidate?.content?.parts;
  if (Array.isArray(parts)) {
    for (const p of parts) {
      if (p.functionCall) {
        (toolCalls ??= []).push(toolCallOf(p));
      } else if (typeof p.text === 'string') {
        if (p.thought === true) reasoning = reasoning === null ? p.text : reasoning + p.text;
        else text = text === null ? p.text : text + p.text;
      }
      // inlineData (generated images), executableCode and codeExecutionResult have no chat twin.
    }
  }
  const message: Record<string, any> = { role: 'assistant', content: text, refusal: null };
  if (reasoning !== null) message.reasoning_content = reasoning;
  if (toolCalls !== null) message.tool_calls = toolCalls;
  const counts = emptyGeminiCounts();
  readGeminiUsage(resp.usageMetadata, counts);
  return {
    id: o.id ?? chatIdOfGemini(resp.responseId),
    object: 'chat.completion',
    created: o.created ?? Math.floor(Date.now() / 1000),
    model: o.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishOfGemini(candidate?.finishReason, toolCalls !== null) }],
    usage: openAIUsageOfGemini(counts),
  };
}

/** A functionCall part as a chat tool call; its thoughtSignature rides in extra_content (Google's OpenAI-compatible field). */
export function toolCallOf(p: Record<string, any>): Record<string, any> {
  const fc = p.functionCall;
  const call: Record<string, any> = {
    id: typeof fc.id === 'string' && fc.id.length > 0 ? fc.id : randomCallId(),
    type: 'function',
    function: { name: fc.name, arguments: JSON.stringify(fc.args ?? {}) },
  };
  if (typeof p.thoughtSignature === 'string') call.extra_content = { google: { thought_signature: p.thoughtSignature } };
  return call;
}
