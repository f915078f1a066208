// Gemini inbound (Gemini CLI, @google/genai) → OpenAI-compatible upstream: the
// generateContent body as a chat request, and the whole chat answer back as a
// GenerateContentResponse. The model and stream-or-not come from the URL
// (`{model}:generateContent` / `:streamGenerateContent`): pass `stream`.
//
// Mapped: systemInstruction → a system message; contents role user / model →
// user / assistant; text parts; thought parts of model turns →
// reasoning_content (DeepSeek's thinking mode wants it back; others ignore it);
// inlineData image/* → image_url data: URL, application/pdf → a file part,
// audio/wav|mp3 → input_audio; fileData with an http(s) image URL → image_url;
// functionCall → assistant tool_calls (id: the call's own id, or call_<turn>_<n>,
// so that its functionResponse, matched by id or else by name in order, gets
// the same tool_call_id); functionResponse → a tool message (a lone string
// `output`/`result`/`content` is unwrapped, anything else is JSON) — tool
// messages first, then the turn's other user parts; functionDeclarations
// (`parametersJsonSchema`, or OpenAPI-style `parameters` with its upper-case
// type names lowered) → function tools; toolConfig.functionCallingConfig mode
// AUTO/VALIDATED → auto, ANY → required (one allowed name → that function),
// NONE → none; generationConfig maxOutputTokens, temperature, topP,
// stopSequences, seed, presence/frequencyPenalty; responseMimeType
// application/json + responseJsonSchema / responseSchema → response_format
// json_schema (alone → json_object); thinkingConfig → reasoning_effort
// (budget 0 → none, −1/dynamic → the upstream's default, below 4096 low,
// below 16384 medium, else high; thinkingLevel as named).
// Dropped silently: safetySettings (no chat twin; the upstream's own policy
// applies), includeThoughts (reasoning comes back when the upstream gives it),
// thoughtSignature, labels, mediaResolution, responseMimeType text/plain,
// thinkingConfig on a model without reasoning_effort (`reasoningEffort: false`),
// unknown fields. Hosted tools (googleSearch, codeExecution, urlContext…)
// offered next to function declarations are dropped (the model simply does not
// use them).
// A 400 (untranslatable_field) for: cachedContent (a Gemini cache id),
// candidateCount > 1, topK, responseLogprobs/logprobs, responseModalities other
// than TEXT, speechConfig, other responseMimeTypes (text/x.enum), a request
// whose only tools are hosted ones (Gemini CLI's web search and fetch ask for
// googleSearch/urlContext alone: the answer depends on them), Files API /
// Cloud Storage fileData, executableCode and codeExecutionResult parts,
// inlineData of other media types.
import { TallyError } from '../../lib/errors.ts';
import { OPENAI_COMPATIBLE, untranslatable } from './shared.ts';
import { emptyChatCounts, effortOfThinkingConfig, geminiFinishOf, geminiUsageOfChat, readChatUsage, responseIdOfChat, toolTextOf } from './geminiShared.ts';

const P = OPENAI_COMPATIBLE;

export interface GeminiToChatOptions {
  upstreamModel: string;
  /** The URL said :streamGenerateContent. */
  stream?: boolean;
  maxTokensCap?: number;
  maxTokensField?: 'max_tokens' | 'max_completion_tokens';
  /** false: the upstream model takes no reasoning_effort (thinkingConfig is then left out). */
  reasoningEffort?: boolean;
}

export function geminiToChatRequest(body: Record<string, any>, o: GeminiToChatOptions): Record<string, any> {
  if (body.cachedContent != null) throw untranslatable('cachedContent', P, 'Gemini context caches live at Google; send the whole contents');
  const out: Record<string, any> = { model: o.upstreamModel };
  const messages: Array<Record<string, any>> = [];
  const sys = body.systemInstruction;
  const sysText = sys == null ? '' : typeof sys === 'string' ? sys : partsText(sys.parts, 'systemInstruction');
  if (sysText.length > 0) messages.push({ role: 'system', content: sysText });
  const contents = body.contents;
  if (!Array.isArray(contents)) throw new TallyError('invalid_request', 'contents must be an array of turns', { param: 'contents' });
  const pending = new Map<string, string[]>();
  for (let i = 0; i < contents.length; i++) {
    const c = contents[i];
    const role = c?.role ?? 'user';
    if (role === 'model') messages.push(modelTurn(c.parts, i, pending));
    else if (role === 'user' || role === 'function') userTurn(c.parts, i, pending, messages);
    else throw new TallyError('invalid_message', `contents[${i}].role must be user or model`, { param: `contents[${i}].role` });
  }
  out.messages = messages;

  const g = body.generationConfig ?? {};
  if (g.candidateCount != null && g.candidateCount !== 1)
    throw untranslatable('generationConfig.candidateCount', P, 'one candidate is translated per request; send 1');
  if (g.topK != null) throw untranslatable('generationConfig.topK', P, 'they have no topK; use temperature or topP');
  if (g.responseLogprobs === true || g.logprobs != null) throw untranslatable('generationConfig.responseLogprobs', P, 'log probabilities are not translated');
  if (Array.isArray(g.responseModalities) && g.responseModalities.some((m: unknown) => String(m).toUpperCase() !== 'TEXT'))
    throw untranslatable('generationConfig.responseModalities', P, 'they answer in text only');
  if (g.speechConfig != null) throw untranslatable('generationConfig.speechConfig', P, 'speech output is not translated');
  if (g.maxOutputTokens != null) {
    let max = g.maxOutputTokens;
    if (o.maxTokensCap != null && max > o.maxTokensCap) max = o.maxTokensCap;
    out[o.maxTokensField ?? 'max_tokens'] = max;
  }
  if (g.temperature != null) out.temperature = g.temperature;
  if (g.topP != null) out.top_p = g.topP;
  if (Array.isArray(g.stopSequences) && g.stopSequences.length > 0) out.stop = g.stopSequences;
  if (g.seed != null) out.seed = g.seed;
  if (g.presencePenalty != null) out.presence_penalty = g.presencePenalty;
  if (g.frequencyPenalty != null) out.frequency_penalty = g.frequencyPenalty;
  const mime = g.responseMimeType;
  if (mime === 'application/json') {
    const schema = g.responseJsonSchema ?? (g.responseSchema != null ? lowerTypes(g.responseSchema) : undefined);
    out.response_format = schema != null ? { type: 'json_schema', json_schema: { name: 'output', schema } } : { type: 'json_object' };
  } else if (mime != null && mime !== 'text/plain') throw untranslatable('generationConfig.responseMimeType', P, 'use application/json or text/plain');
  const effort = effortOfThinkingConfig(g.thinkingConfig);
  if (effort !== null && o.reasoningEffort !== false) out.reasoning_effort = effort;

  const tools = convertTools(body.tools);
  if (tools.length > 0) {
    out.tools = tools;
    const choice = convertToolConfig(body.toolConfig?.functionCallingConfig);
    if (choice !== undefined) out.tool_choice = choice;
  }
  if (o.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  return out;
}

function partsText(parts: unknown, field: string): string {
  if (!Array.isArray(parts)) return '';
  let text = '';
  for (let j = 0; j < parts.length; j++) {
    const p = parts[j];
    if (typeof p?.text !== 'string') throw untranslatable(`${field}.parts[${j}]`, P, 'system instructions must be text');
    text = text.length === 0 ? p.text : `${text}\n\n${p.text}`;
  }
  return text;
}

function modelTurn(parts: unknown, i: number, pending: Map<string, string[]>): Record<string, any> {
  let text: string | null = null;
  let reasoning: string | null = null;
  let calls: Array<Record<string, any>> | null = null;
  if (Array.isArray(parts)) {
    for (let j = 0; j < parts.length; j++) {
      const p = parts[j];
      if (p?.functionCall) {
        const fc = p.functionCall;
        const id = typeof fc.id === 'string' && fc.id.length > 0 ? fc.id : `call_${i}_${calls?.length ?? 0}`;
        (calls ??= []).push({ id, type: 'function', function: { name: fc.name, arguments: JSON.stringify(fc.args ?? {}) } });
        const q = pending.get(fc.name);
        if (q === undefined) pending.set(fc.name, [id]);
        else q.push(id);
      } else if (typeof p?.text === 'string') {
        if (p.thought === true) reasoning = reasoning === null ? p.text : reasoning + p.text;
        else text = text === null ? p.text : text + p.text;
      } else throw untranslatable(`contents[${i}].parts[${j}]`, P, 'model turns may hold text and function calls only');
    }
  }
  const m: Record<string, any> = { role: 'assistant', content: text };
  if (reasoning !== null) m.reasoning_content = reasoning;
  if (calls !== null) m.tool_calls = calls;
  return m;
}

function userTurn(parts: unknown, i: number, pending: Map<string, string[]>, out: Array<Record<string, any>>): void {
  if (!Array.isArray(parts)) return;
  let userParts: Array<Record<string, any>> | null = null;
  for (let j = 0; j < parts.length; j++) {
    const p = parts[j];
    const field = `contents[${i}].parts[${j}]`;
    if (p?.functionResponse) {
      const fr = p.functionResponse;
      out.push({ role: 'tool', tool_call_id: callIdFor(fr, pending, field), content: toolTextOf(fr.response) });
    } else if (typeof p?.text === 'string') {
      if (p.thought !== true && p.text.length > 0) (userParts ??= []).push({ type: 'text', text: p.text });
    } else if (p?.inlineData) (userParts ??= []).push(inlinePart(p.inlineData, field));
    else if (p?.fileData) (userParts ??= []).push(filePart(p.fileData, field));
    else throw untranslatable(field, P, 'user turns may hold text, inlineData, fileData (http(s) images) and function responses');
  }
  // Tool messages must directly follow the assistant's tool calls: what the user added comes after them.
  if (userParts !== null) out.push({ role: 'user', content: userParts.length === 1 && userParts[0].type === 'text' ? userParts[0].text : userParts });
}

function callIdFor(fr: Record<string, any>, pending: Map<string, string[]>, field: string): string {
  const q = pending.get(fr.name);
  if (typeof fr.id === 'string' && fr.id.length > 0) {
    if (q !== undefined) {
      const at = q.indexOf(fr.id);
      if (at >= 0) q.splice(at, 1);
    }
    return fr.id;
  }
  const id = q?.shift();
  if (id === undefined)
    throw new TallyError('invalid_message', `${field}.functionResponse names ${JSON.stringify(fr.name)}, which no earlier model turn called`, {
      param: `${field}.functionResponse.name`,
    });
  return id;
}

const AUDIO_FORMAT: Record<string, string> = { 'audio/wav': 'wav', 'audio/x-wav': 'wav', 'audio/mp3': 'mp3', 'audio/mpeg': 'mp3' };

function inlinePart(d: Record<string, any>, field: string): Record<string, any> {
  const mime = String(d.mimeType ?? '');
  if (mime.startsWith('image/')) return { type: 'image_url', image_url: { url: `data:${mime};base64,${d.data}` } };
  if (mime === 'application/pdf') return { type: 'file', file: { filename: d.displayName ?? 'document.pdf', file_data: `data:${mime};base64,${d.data}` } };
  const audio = AUDIO_FORMAT[mime];
  if (audio !== undefined) return { type: 'input_audio', input_audio: { data: d.data, format: audio } };
  throw untranslatable(`${field}.inlineData`, P, `inline ${mime || 'data'} is not translated; send images, PDFs or wav/mp3 audio`);
}

function filePart(f: Record<string, any>, field: string): Record<string, any> {
  const uri = String(f.fileUri ?? '');
  if (
    (uri.startsWith('https://') || uri.startsWith('http://')) &&
    !uri.startsWith('https://generativelanguage.googleapis.com/') &&
    String(f.mimeType ?? 'image/').startsWith('image/')
  )
    return { type: 'image_url', image_url: { url: uri } };
  throw untranslatable(`${field}.fileData`, P, 'Gemini Files API and Cloud Storage files are readable by Google only; send the data inline');
}

/** OpenAPI-style schema type names (OBJECT, STRING…) lowered to JSON Schema's; one pass over the schema. */
function lowerTypes(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(lowerTypes);
  if (s === null || typeof s !== 'object') return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) out[k] = k === 'type' && typeof v === 'string' ? v.toLowerCase() : lowerTypes(v);
  return out;
}

function convertTools(tools: unknown): Array<Record<string, any>> {
  if (!Array.isArray(tools) || tools.length === 0) return [];
  const out: Array<Record<string, any>> = [];
  let hosted: string | null = null;
  for (const t of tools) {
    if (Array.isArray(t?.functionDeclarations)) {
      for (const d of t.functionDeclarations) {
        const f: Record<string, any> = { name: d.name };
        if (d.description) f.description = d.description;
        f.parameters = d.parametersJsonSchema ?? (d.parameters != null ? lowerTypes(d.parameters) : { type: 'object', properties: {} });
        out.push({ type: 'function', function: f });
      }
    } else if (t && typeof t === 'object') hosted ??= Object.keys(t)[0] ?? 'unknown';
  }
  if (out.length === 0 && hosted !== null)
    throw untranslatable('tools', P, `the ${hosted} tool is run by Google only and this request declares no function; use a Gemini model for it`);
  return out;
}

function convertToolConfig(cfg: Record<string, any> | undefined): unknown {
  const mode = cfg?.mode;
  if (mode == null || mode === 'AUTO' || mode === 'VALIDATED' || mode === 'MODE_UNSPECIFIED') return undefined;
  if (mode === 'NONE') return 'none';
  if (mode === 'ANY') {
    const names = cfg?.allowedFunctionNames;
    return Array.isArray(names) && names.length === 1 ? { type: 'function', function: { name: names[0] } } : 'required';
  }
  throw untranslatable('toolConfig.functionCallingConfig.mode', P, 'use AUTO, ANY or NONE');
}

/** A whole chat.completion as a Gemini GenerateContentResponse, under the caller's model name. */
export function chatToGeminiResponse(c: Record<string, any>, o: { model: string }): Record<string, any> {
  const choice = Array.isArray(c.choices) ? c.choices[0] : undefined;
  const m = choice?.message ?? {};
  const parts: Array<Record<string, any>> = [];
  const reasoning = m.reasoning_content ?? m.reasoning;
  if (typeof reasoning === 'string' && reasoning.length > 0) parts.push({ text: reasoning, thought: true });
  if (typeof m.content === 'string' && m.content.length > 0) parts.push({ text: m.content });
  else if (typeof m.refusal === 'string' && m.refusal.length > 0) parts.push({ text: m.refusal });
  if (Array.isArray(m.tool_calls)) for (const call of m.tool_calls) parts.push(functionCallPart(call));
  if (parts.length === 0) parts.push({ text: '' });
  const counts = emptyChatCounts();
  readChatUsage(c.usage, counts);
  return {
    candidates: [{ content: { parts, role: 'model' }, finishReason: geminiFinishOf(choice?.finish_reason), index: 0 }],
    usageMetadata: geminiUsageOfChat(counts),
    modelVersion: o.model,
    responseId: responseIdOfChat(c.id),
  };
}

/** A chat tool call as a functionCall part (args must be a JSON object: Gemini's shape needs one). */
export function functionCallPart(call: Record<string, any>): Record<string, any> {
  const args = call.function?.arguments;
  let v: unknown = {};
  if (args != null && args !== '') {
    try {
      v = JSON.parse(args);
    } catch {
      v = null;
    }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new TallyError('upstream_error', 'the upstream model returned tool-call arguments that are not a JSON object');
  const fc: Record<string, any> = { name: call.function?.name ?? '', args: v };
  if (typeof call.id === 'string' && call.id.length > 0) fc.id = call.id;
  return { functionCall: fc };
}
