import { TallyError } from '../../../lib/errors.ts';
import type { GatewayCall, Inbound } from '../../call.ts';
import { collectGeminiPrompt } from './prompt.ts';
import { bad, isObject, kind } from '../check.ts';

// Reads a Gemini request (POST /v1beta/models/{model}:generateContent,
// :streamGenerateContent, :countTokens) into the neutral call. The model and
// the method are in the path (the fast path's pattern route put them in
// `inb.params`); stream or not follows the method, and the JSON-array
// framing a `:streamGenerateContent` without `?alt=sse` asks for is noted on
// the call. As for the other protocols, the fields that decide what a request
// costs (contents, generationConfig.maxOutputTokens, candidateCount,
// thinkingConfig.thinkingBudget) must have the JSON type Google documents,
// or the request is refused with a 400 naming the field; everything else
// (safetySettings, cachedContent, labels…) goes through untouched.

function checkContents(contents: unknown, at: string): void {
  if (!Array.isArray(contents) || contents.length === 0) {
    throw bad(at, `${at} is required: a non-empty array of {role: "user" | "model", parts: [{text: "..."}]}`);
  }
  for (let i = 0; i < contents.length; i++) {
    const c = contents[i];
    if (!isObject(c)) throw bad(`${at}[${i}]`, `${at}[${i}] must be an object {role, parts}, not ${kind(c)}`);
    if (c.role !== undefined && c.role !== 'user' && c.role !== 'model' && c.role !== 'function') {
      throw bad(`${at}[${i}].role`, `${at}[${i}].role must be "user" or "model"`);
    }
    if (!Array.isArray(c.parts) || c.parts.length === 0) throw bad(`${at}[${i}].parts`, `${at}[${i}].parts must be a non-empty array of parts`);
  }
}

/**
 * Google's JSON parser also takes the proto (snake_case) names of fields; Tally reads only the camelCase ones, so
 * a billed or capped field spelled the other way would reach Google unread (and beside the cap Tally adds).
 */
function refuseProtoNames(o: Record<string, any>, names: Record<string, string>, at: string): void {
  for (const [snake, camel] of Object.entries(names)) {
    if (Object.hasOwn(o, snake)) {
      const field = at ? `${at}.${snake}` : snake;
      throw bad(field, `${field} is not accepted: use the camelCase name ${at ? `${at}.${camel}` : camel}`);
    }
  }
}

function checkRequest(b: Record<string, any>, at: string): { maxTokens: number | null; candidates: number } {
  const p = (f: string) => (at ? `${at}.${f}` : f);
  refuseProtoNames(b, { generation_config: 'generationConfig', system_instruction: 'systemInstruction' }, at);
  checkContents(b.contents, p('contents'));
  const sys = b.systemInstruction;
  if (sys !== undefined && sys !== null && typeof sys !== 'string' && !isObject(sys)) {
    throw bad(p('systemInstruction'), `systemInstruction must be a Content object {parts: [{text: "..."}]}, not ${kind(sys)}`);
  }
  if (b.tools !== undefined && b.tools !== null && !Array.isArray(b.tools)) throw bad(p('tools'), `tools must be an array, not ${kind(b.tools)}`);
  const g = b.generationConfig;
  let maxTokens: number | null = null;
  let candidates = 1;
  if (g !== undefined && g !== null) {
    if (!isObject(g)) throw bad(p('generationConfig'), `generationConfig must be an object, not ${kind(g)}`);
    refuseProtoNames(g, { max_output_tokens: 'maxOutputTokens', candidate_count: 'candidateCount', thinking_config: 'thinkingConfig' }, p('generationConfig'));
    if (g.maxOutputTokens !== undefined && g.maxOutputTokens !== null) {
      if (!Number.isSafeInteger(g.maxOutputTokens) || g.maxOutputTokens < 1) {
        throw bad(p('generationConfig.maxOutputTokens'), `generationConfig.maxOutputTokens must be a positive integer, not ${kind(g.maxOutputTokens)}`);
      }
      maxTokens = g.maxOutputTokens;
    }
    if (g.candidateCount !== undefined && g.candidateCount !== null) {
      if (!Number.isSafeInteger(g.candidateCount) || g.candidateCount < 1 || g.candidateCount > 8) {
        throw bad(p('generationConfig.candidateCount'), `generationConfig.candidateCount must be an integer from 1 to 8, not ${kind(g.candidateCount)}`);
      }
      candidates = g.candidateCount;
    }
    const t = g.thinkingConfig;
    if (t !== undefined && t !== null) {
      if (!isObject(t)) throw bad(p('generationConfig.thinkingConfig'), `generationConfig.thinkingConfig must be an object, not ${kind(t)}`);
      refuseProtoNames(t, { thinking_budget: 'thinkingBudget' }, p('generationConfig.thinkingConfig'));
      if (t.thinkingBudget !== undefined && t.thinkingBudget !== null && (!Number.isSafeInteger(t.thinkingBudget) || t.thinkingBudget < -1)) {
        throw bad(
          p('generationConfig.thinkingConfig.thinkingBudget'),
          `generationConfig.thinkingConfig.thinkingBudget must be an integer (-1 for dynamic), not ${kind(t.thinkingBudget)}`,
        );
      }
    }
  }
  return { maxTokens, candidates };
}

/** `alt=sse` in the request's query (what @google/genai and Gemini CLI send); without it a stream is a JSON array. */
function wantsSse(url: string | undefined): boolean {
  const q = url?.indexOf('?') ?? -1;
  if (!url || q < 0) return false;
  return new URLSearchParams(url.slice(q + 1)).get('alt') === 'sse';
}

export function parseGeminiCall(inb: Inbound): GatewayCall {
  const model = inb.params?.model ?? '';
  if (!model) throw bad('model', 'the model is part of the path: POST /v1beta/models/{model}:generateContent');
  const body = inb.body;
  if (!isObject(body)) throw new TallyError('invalid_request', 'the request body must be a JSON object');
  const counting = inb.endpoint === 'gemini.count_tokens';
  if (counting) refuseProtoNames(body, { generate_content_request: 'generateContentRequest' }, '');
  else if (body.model !== undefined) {
    // The model is the path's; a different one in the body could be the one Google serves (not the one billed).
    const named = typeof body.model === 'string' ? body.model.replace(/^models\//, '') : null;
    if (named !== model)
      throw bad('model', `model in the body (${kind(body.model)}) differs from the model in the path (${model}): leave it out or make them equal`);
  }
  let maxTokens: number | null = null;
  let candidates = 1;
  if (counting && body.contents === undefined && body.generateContentRequest !== undefined) {
    if (!isObject(body.generateContentRequest)) {
      throw bad('generateContentRequest', `generateContentRequest must be an object {model, contents}, not ${kind(body.generateContentRequest)}`);
    }
    checkRequest(body.generateContentRequest, 'generateContentRequest');
  } else ({ maxTokens, candidates } = checkRequest(body, ''));
  const stream = !counting && inb.params?.method === 'streamGenerateContent';
  const req = counting && isObject(body.generateContentRequest) ? body.generateContentRequest : body;
  return {
    protocol: inb.protocol,
    endpoint: inb.endpoint,
    model,
    messages: req.contents,
    input: undefined, // the system instruction is part of the conversation (body.systemInstruction)
    tools: req.tools,
    stream,
    // Gemini always reports usageMetadata (on a stream's last chunk at least).
    clientWantsUsage: true,
    choices: counting ? 0 : candidates,
    requestedMax: counting ? null : maxTokens,
    prompt: collectGeminiPrompt(body),
    body,
    raw: inb.raw,
    forwardHeaders: null,
    ...(stream && !wantsSse(inb.req.url) ? { arrayStream: true } : {}),
  };
}
