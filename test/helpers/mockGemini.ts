// A mock Google Gemini upstream: a real HTTP server on 127.0.0.1 that speaks the
// Gemini API (v1beta) wire format (the sibling of mockOpenAI.ts and
// mockAnthropic.ts, same style: start, url, a request log, per-test behaviours).
//
// Where each shape comes from (public sources, read for this file):
// - GenerateContentResponse {candidates[{content{parts,role:'model'},finishReason,index}],
//   promptFeedback{blockReason,safetyRatings}, usageMetadata, modelVersion, responseId};
//   Part {text, thought, thoughtSignature, functionCall{name,args}, functionResponse};
//   usageMetadata {promptTokenCount (includes cachedContentTokenCount), candidatesTokenCount,
//   thoughtsTokenCount, cachedContentTokenCount, toolUsePromptTokenCount, totalTokenCount
//   (= prompt + candidates + thoughts + tool-use prompt), promptTokensDetails[{modality,tokenCount}]}:
//   googleapis/js-genai docs (types.GenerateContentResponseUsageMetadata, types.Part) and
//   the @google/genai 2.x converters (dist/node/index.mjs, *FromMldev).
// - `:streamGenerateContent?alt=sse`: each chunk a whole GenerateContentResponse framed as
//   `data: <json>\r\n\r\n` (the SDK splits on \n\n, \r\r or \r\n\r\n); the finishReason
//   and the complete usageMetadata on the last chunk; a function call arrives whole in one
//   chunk; an error after the headers is a `data: {"error":{...}}` chunk (the SDK's
//   throwIfStreamErrorChunk).
// - `:countTokens` answers `{totalTokens, promptTokensDetails}` for `{contents}` or
//   `{generateContentRequest}`; `GET /v1beta/models` lists `{models:[{name:'models/..',
//   supportedGenerationMethods, inputTokenLimit, outputTokenLimit, thinking}]}`.
// - Auth: `x-goog-api-key` header or `?key=`; no key → 403 PERMISSION_DENIED, a wrong one
//   → 400 INVALID_ARGUMENT "API key not valid" (reason API_KEY_INVALID).
// - Errors `{error:{code,message,status,details?}}` (400 INVALID_ARGUMENT, 403
//   PERMISSION_DENIED, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED with a RetryInfo detail,
//   500 INTERNAL, 503 UNAVAILABLE): ai.google.dev/gemini-api/docs/troubleshooting.
//
// Everything it produces is deterministic so tests can compute the exact usage:
//   promptTokenCount     = words in systemInstruction + (words in each content's parts + 3 per content)
//                          + (1 + words in the description) per function declaration
//                          (text, functionCall args JSON and functionResponse JSON count as words)
//   candidatesTokenCount = words of text + words of each functionCall args JSON (pretty-printed)
//   thoughtsTokenCount   = thinking words, when thinking is on (thinkingConfig with includeThoughts,
//                          or a thinkingBudget other than 0); thought parts are sent only with includeThoughts
// where a "word" is a whitespace-separated run of characters. usageOverride replaces the figures.
// Not a test file itself.
import type { IncomingMessage, ServerResponse, IncomingHttpHeaders } from 'node:http';
import { mockServer } from './mockServer.ts';
import { createHash, randomBytes } from 'node:crypto';
import { countWords, mockReplyWords } from './mockOpenAI.ts';

export { countWords, mockReplyWords, mockReplyText } from './mockOpenAI.ts';

/** usageMetadata numbers to report instead of the computed ones (totalTokenCount is derived). */
export interface GeminiUsage {
  /** Every prompt token, cached content included. */
  promptTokenCount: number;
  candidatesTokenCount: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
  toolUsePromptTokenCount?: number;
}

export type GeminiReplyKind = 'text' | 'function_call' | 'thinking' | 'blocked' | 'safety' | 'echo';

export interface GeminiBehavior {
  /** Delay before the response headers are written. */
  latencyMs?: number;
  /** Stream: delay between chunks. */
  chunkDelayMs?: number;
  /** Answer with this status and a Google error body (400, 403, 404, 429, 500, 503, ...). */
  fail?: number;
  failMessage?: string;
  /** With fail 429: the RetryInfo retryDelay in seconds (default 13). */
  retryAfter?: number;
  /** Fail (with `fail`, or 503) only the first N requests after setBehavior. */
  failFirstN?: number;
  hang?: boolean;
  disconnectBeforeResponse?: boolean;
  /** Stream: destroy the socket after N chunks. Non-stream: drop the connection instead of the body. */
  disconnectAfterChunks?: number;
  /** Stream: after N chunks, send `data: {"error":{...}}` (503 UNAVAILABLE by default) and end. */
  errorAfterChunks?: number;
  /** With errorAfterChunks: the HTTP-like code of the in-stream error (default 503). */
  streamErrorCode?: number;
  usageOverride?: GeminiUsage;
  /** Stream: every chunk carries a running usageMetadata (as the real API does), not only the last. */
  usageOnEveryChunk?: boolean;
  /**
   * What to answer. Default: function_call when the request declares functions and the last user
   * text says "call a tool", thinking when thinking is on, else text. `blocked`: a 200 with
   * promptFeedback.blockReason SAFETY and no candidates; `safety`: a candidate stopped with
   * finishReason SAFETY and no parts.
   */
  reply?: GeminiReplyKind;
  /** Words in a text reply (default 48), before maxOutputTokens caps it. */
  replyWords?: number;
  /** Thinking words (default 12). */
  thinkingWords?: number;
  /** Stream: number of chunks a text (and a thinking run) is split into (default 8). */
  chunks?: number;
  /** Answer 200 with exactly this body. */
  rawReply?: { body: string; contentType?: string };
}

export type GeminiBehaviorSource = GeminiBehavior | ((req: GeminiMockRequest) => GeminiBehavior);

export interface GeminiMockRequest {
  method: string;
  path: string;
  /** The model of a /v1beta/models/{model}:{method} path. */
  model?: string;
  /** generateContent, streamGenerateContent, countTokens, or undefined. */
  action?: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** 'header' (x-goog-api-key), 'query' (?key=) or 'none'. */
  auth: 'header' | 'query' | 'none';
  body: any;
  seq: number;
  receivedAt: number;
  outcome?: 'completed' | 'client_closed' | 'mock_closed';
}

export interface GeminiMockOptions {
  /** When set, every request must carry it as x-goog-api-key or ?key=. */
  apiKey?: string;
  /** Models served (without the `models/` prefix); others 404. null accepts any. */
  models?: string[] | null;
  behavior?: GeminiBehaviorSource;
}

export interface MockGemini {
  /** Base URL as Google's SDK takes it (httpOptions.baseUrl; no /v1beta), e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  requests: GeminiMockRequest[];
  setBehavior(b: GeminiBehaviorSource): void;
  /** Requests of one action (generateContent, streamGenerateContent, countTokens). */
  requestsTo(action: string): GeminiMockRequest[];
  openConnections(): number;
  close(): Promise<void>;
}

export const GEMINI_DEFAULT_MODELS = ['gemini-2.5-pro', 'gemini-2.5-flash', 'gemini-2.5-flash-lite', 'gemini-3-pro-preview'];
export const GEMINI_DEFAULT_REPLY_WORDS = 48;
export const GEMINI_DEFAULT_THINKING_WORDS = 12;
export const GEMINI_DEFAULT_CHUNKS = 8;

const THINKING_VOCAB = ['Let', 'me', 'think', 'about', 'this', 'step', 'by', 'step', 'before', 'I', 'answer', 'it'];

// ---------------------------------------------------------------------------
// Deterministic token arithmetic, shared by the server and by tests.

/** The words a list of Gemini parts counts: text, functionCall args, functionResponse response. */
export function geminiPartsText(parts: unknown): string {
  if (!Array.isArray(parts)) return '';
  const out: string[] = [];
  for (const p of parts) {
    if (!p || typeof p !== 'object') continue;
    if (typeof p.text === 'string') out.push(p.text);
    else if (p.functionCall) out.push(JSON.stringify(p.functionCall.args ?? {}));
    else if (p.functionResponse) out.push(JSON.stringify(p.functionResponse.response ?? {}));
  }
  return out.join(' ');
}

function declarations(body: any): any[] {
  const out: any[] = [];
  for (const t of Array.isArray(body?.tools) ? body.tools : []) if (Array.isArray(t?.functionDeclarations)) out.push(...t.functionDeclarations);
  return out;
}

/** promptTokenCount the mock reports for a generateContent (or countTokens) body. */
export function mockGeminiPromptTokens(body: any): number {
  const req = body?.generateContentRequest ?? body;
  let n = countWords(geminiPartsText(req?.systemInstruction?.parts));
  for (const c of Array.isArray(req?.contents) ? req.contents : []) n += countWords(geminiPartsText(c?.parts)) + 3;
  for (const d of declarations(req)) n += 1 + countWords(typeof d?.description === 'string' ? d.description : '');
  return n;
}

function lastUserText(body: any): string {
  const cs: any[] = Array.isArray(body?.contents) ? body.contents : [];
  for (let i = cs.length - 1; i >= 0; i--) if ((cs[i]?.role ?? 'user') === 'user') return geminiPartsText(cs[i].parts);
  return '';
}

function thinkingOn(body: any): boolean {
  const t = body?.generationConfig?.thinkingConfig;
  return t != null && (t.includeThoughts === true || (typeof t.thinkingBudget === 'number' && t.thinkingBudget !== 0));
}

/** The reply kind the mock picks for a body under a behaviour. */
export function geminiReplyKind(body: any, b: GeminiBehavior = {}): GeminiReplyKind {
  if (b.reply) return b.reply;
  if (declarations(body).length > 0 && /call a tool/i.test(lastUserText(body))) return 'function_call';
  if (thinkingOn(body)) return 'thinking';
  return 'text';
}

/** The args the mock generates for a function declaration: every property set to "mock <name>". */
export function mockFunctionArgs(decl: any): Record<string, string> {
  const schema = decl?.parametersJsonSchema ?? decl?.parameters;
  const props = schema?.properties;
  const out: Record<string, string> = {};
  for (const k of Object.keys(props && typeof props === 'object' ? props : {})) out[k] = `mock ${k}`;
  if (!Object.keys(out).length) out.input = 'mock input';
  return out;
}

export interface GeminiPlan {
  /** Thought text (counted whether or not it is shown). */
  thought: string | null;
  showThought: boolean;
  text: string | null;
  functionCall: { name: string; args: Record<string, string> } | null;
  thoughtSignature: string | null;
  finishReason: 'STOP' | 'MAX_TOKENS' | 'SAFETY' | null;
  blocked: boolean;
  usage: Required<GeminiUsage>;
}

function deterministicId(seed: string, len: number): string {
  return createHash('sha256').update(seed).digest('base64url').replace(/[-_]/g, 'x').slice(0, len);
}

const randomId = (len: number) => randomBytes(len).toString('base64url').replace(/[-_]/g, 'x').slice(0, len);

/** What the mock answers for a generateContent body: parts, finish reason, usage. */
export function planGemini(body: any, b: GeminiBehavior = {}, echo?: unknown): GeminiPlan {
  const kind = geminiReplyKind(body, b);
  const cfg = body?.generationConfig ?? {};
  const max = typeof cfg.maxOutputTokens === 'number' ? cfg.maxOutputTokens : Number.POSITIVE_INFINITY;
  const plan: GeminiPlan = {
    thought: null,
    showThought: cfg.thinkingConfig?.includeThoughts === true,
    text: null,
    functionCall: null,
    thoughtSignature: null,
    finishReason: 'STOP',
    blocked: false,
    usage: { promptTokenCount: 0, candidatesTokenCount: 0, thoughtsTokenCount: 0, cachedContentTokenCount: 0, toolUsePromptTokenCount: 0 },
  };
  if (kind === 'blocked') {
    plan.blocked = true;
    plan.finishReason = null;
  } else if (kind === 'safety') {
    plan.finishReason = 'SAFETY';
  } else {
    if (thinkingOn(body) || kind === 'thinking') {
      const n = b.thinkingWords ?? GEMINI_DEFAULT_THINKING_WORDS;
      plan.thought = Array.from({ length: n }, (_, i) => THINKING_VOCAB[i % THINKING_VOCAB.length]).join(' ');
      plan.thoughtSignature = `CiQB${deterministicId(plan.thought + JSON.stringify(body?.contents ?? null), 40)}`;
    }
    if (kind === 'function_call') {
      const d = declarations(body).find((x) => typeof x?.name === 'string') ?? { name: 'tool' };
      plan.functionCall = { name: d.name, args: mockFunctionArgs(d) };
    } else if (kind === 'echo') {
      plan.text = JSON.stringify(echo ?? null);
    } else {
      let words = mockReplyWords(b.replyWords ?? GEMINI_DEFAULT_REPLY_WORDS);
      const seqs: string[] = Array.isArray(cfg.stopSequences) ? cfg.stopSequences.filter((s: unknown) => typeof s === 'string') : [];
      const at = words.findIndex((w) => seqs.includes(w));
      if (at >= 0 && at < max) words = words.slice(0, at);
      else if (words.length > max) {
        words = words.slice(0, Math.max(0, max));
        plan.finishReason = 'MAX_TOKENS';
      }
      plan.text = words.join(' ');
    }
  }
  const o = b.usageOverride;
  if (o) {
    plan.usage = {
      promptTokenCount: o.promptTokenCount,
      candidatesTokenCount: o.candidatesTokenCount,
      thoughtsTokenCount: o.thoughtsTokenCount ?? 0,
      cachedContentTokenCount: o.cachedContentTokenCount ?? 0,
      toolUsePromptTokenCount: o.toolUsePromptTokenCount ?? 0,
    };
  } else {
    plan.usage.promptTokenCount = mockGeminiPromptTokens(body);
    plan.usage.candidatesTokenCount =
      (plan.text !== null ? countWords(plan.text) : 0) + (plan.functionCall ? countWords(JSON.stringify(plan.functionCall.args, null, 1)) : 0);
    plan.usage.thoughtsTokenCount = plan.thought !== null ? countWords(plan.thought) : 0;
  }
  return plan;
}

// ---------------------------------------------------------------------------
// Wire shapes.

const STATUS_OF_CODE: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

const DEFAULT_MESSAGES: Record<string, string> = {
  INVALID_ARGUMENT: 'Request contains an invalid argument.',
  PERMISSION_DENIED: 'You do not have permission to access this resource.',
  NOT_FOUND: 'Requested entity was not found.',
  RESOURCE_EXHAUSTED:
    'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.',
  INTERNAL: 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
  UNAVAILABLE: 'The model is overloaded. Please try again later.',
  DEADLINE_EXCEEDED: 'Deadline expired before operation could complete.',
};

/** The canonical status name Google uses for an HTTP code. */
export function geminiStatus(code: number): string {
  return STATUS_OF_CODE[code] ?? (code >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT');
}

/** A Google error body. */
export function geminiError(code: number, message?: string, details?: unknown[]) {
  const status = geminiStatus(code);
  const error: Record<string, unknown> = { code, message: message ?? DEFAULT_MESSAGES[status] ?? 'Error', status };
  if (details) error.details = details;
  return { error };
}

/** usageMetadata as the API writes it: zero counts left out, the total derived. */
export function geminiUsageWire(u: Required<GeminiUsage>, withCandidates = true): Record<string, unknown> {
  const out: Record<string, unknown> = { promptTokenCount: u.promptTokenCount };
  if (withCandidates) out.candidatesTokenCount = u.candidatesTokenCount;
  out.totalTokenCount = u.promptTokenCount + (withCandidates ? u.candidatesTokenCount + u.thoughtsTokenCount : 0) + u.toolUsePromptTokenCount;
  out.promptTokensDetails = [{ modality: 'TEXT', tokenCount: u.promptTokenCount }];
  if (u.cachedContentTokenCount) {
    out.cachedContentTokenCount = u.cachedContentTokenCount;
    out.cacheTokensDetails = [{ modality: 'TEXT', tokenCount: u.cachedContentTokenCount }];
  }
  if (u.toolUsePromptTokenCount) out.toolUsePromptTokenCount = u.toolUsePromptTokenCount;
  if (withCandidates && u.thoughtsTokenCount) out.thoughtsTokenCount = u.thoughtsTokenCount;
  return out;
}

const SAFETY_RATINGS = [
  { category: 'HARM_CATEGORY_SEXUALLY_EXPLICIT', probability: 'NEGLIGIBLE' },
  { category: 'HARM_CATEGORY_HATE_SPEECH', probability: 'NEGLIGIBLE' },
  { category: 'HARM_CATEGORY_HARASSMENT', probability: 'NEGLIGIBLE' },
  { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true },
];

/** The parts of the whole answer (thought first when shown, signature on the first part after it). */
function answerParts(plan: GeminiPlan): Array<Record<string, unknown>> {
  const parts: Array<Record<string, unknown>> = [];
  if (plan.thought !== null && plan.showThought) parts.push({ text: plan.thought, thought: true });
  if (plan.functionCall) parts.push({ functionCall: { name: plan.functionCall.name, args: plan.functionCall.args } });
  else if (plan.text !== null) parts.push({ text: plan.text });
  const first = parts.find((p) => p.thought !== true);
  if (first && plan.thoughtSignature) first.thoughtSignature = plan.thoughtSignature;
  return parts;
}

/** A whole GenerateContentResponse for a plan. */
export function geminiResponseWire(model: string, responseId: string, plan: GeminiPlan): Record<string, unknown> {
  if (plan.blocked) {
    return {
      promptFeedback: { blockReason: 'SAFETY', safetyRatings: SAFETY_RATINGS },
      usageMetadata: geminiUsageWire(plan.usage, false),
      modelVersion: model,
      responseId,
    };
  }
  const candidate: Record<string, unknown> = {
    content: { parts: answerParts(plan), role: 'model' },
    finishReason: plan.finishReason,
    index: 0,
  };
  if (plan.finishReason === 'SAFETY') {
    candidate.content = { role: 'model' };
    candidate.safetyRatings = SAFETY_RATINGS;
  }
  return { candidates: [candidate], usageMetadata: geminiUsageWire(plan.usage), modelVersion: model, responseId };
}

function splitText(text: string, parts: number): string[] {
  const words = text.split(' ');
  const k = Math.max(1, Math.min(parts, words.length));
  const out: string[] = [];
  let at = 0;
  for (let i = 0; i < k; i++) {
    const size = Math.floor(words.length / k) + (i < words.length % k ? 1 : 0);
    out.push((i > 0 ? ' ' : '') + words.slice(at, at + size).join(' '));
    at += size;
  }
  return text ? out : [];
}

/** The stream chunks of a plan, in order (each a whole GenerateContentResponse). */
export function geminiStreamChunks(
  model: string,
  responseId: string,
  plan: GeminiPlan,
  o: { chunks?: number; usageOnEveryChunk?: boolean } = {},
): Array<Record<string, unknown>> {
  if (plan.blocked) return [geminiResponseWire(model, responseId, plan)];
  const n = o.chunks ?? GEMINI_DEFAULT_CHUNKS;
  const pieces: Array<Record<string, unknown>> = [];
  if (plan.thought !== null && plan.showThought) for (const t of splitText(plan.thought, n)) pieces.push({ text: t, thought: true });
  let signed = false;
  const sign = (p: Record<string, unknown>) => {
    if (!signed && plan.thoughtSignature) p.thoughtSignature = plan.thoughtSignature;
    signed = true;
    return p;
  };
  if (plan.functionCall) pieces.push(sign({ functionCall: { name: plan.functionCall.name, args: plan.functionCall.args } }));
  else if (plan.text !== null) for (const t of splitText(plan.text, n)) pieces.push(sign({ text: t }));
  if (pieces.length === 0) pieces.push({ text: '' });
  const out: Array<Record<string, unknown>> = [];
  let candidates = 0;
  for (let i = 0; i < pieces.length; i++) {
    const last = i === pieces.length - 1;
    const p = pieces[i];
    const candidate: Record<string, unknown> = { content: { parts: [p], role: 'model' }, index: 0 };
    if (last) candidate.finishReason = plan.finishReason;
    if (last && plan.finishReason === 'SAFETY') {
      candidate.content = { role: 'model' };
      candidate.safetyRatings = SAFETY_RATINGS;
    }
    const chunk: Record<string, unknown> = { candidates: [candidate] };
    if (last) chunk.usageMetadata = geminiUsageWire(plan.usage);
    else if (o.usageOnEveryChunk) {
      if (p.thought !== true) candidates += typeof p.text === 'string' ? countWords(p.text) : 0;
      // A running count: the prompt, and the candidates so far (thoughts are reported at the end).
      chunk.usageMetadata = geminiUsageWire({ ...plan.usage, candidatesTokenCount: candidates, thoughtsTokenCount: 0 });
    }
    chunk.modelVersion = model;
    chunk.responseId = responseId;
    out.push(chunk);
  }
  return out;
}

/** Reads a raw Gemini SSE body (`data: <json>` blocks) into the parsed chunks. */
export function parseGeminiSse(text: string): any[] {
  const out: any[] = [];
  for (const block of text.split(/\r\n\r\n|\n\n/)) {
    const t = block.trim();
    if (!t.startsWith('data:')) continue;
    out.push(JSON.parse(t.slice(5).trim()));
  }
  return out;
}

function parseBehaviorHeader(v: string | string[] | undefined): GeminiBehavior {
  if (!v) return {};
  try {
    return JSON.parse(Array.isArray(v) ? v[0] : v) as GeminiBehavior;
  } catch {
    return {};
  }
}

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

const MODEL_PATH = /^\/v1beta\/models\/([^/:]+)(?::([A-Za-z]+))?$/;

function modelEntry(id: string) {
  return {
    name: `models/${id}`,
    version: '001',
    displayName: id,
    description: `Mock ${id}`,
    inputTokenLimit: 1_048_576,
    outputTokenLimit: 65_536,
    supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent', 'batchGenerateContent'],
    temperature: 1,
    topP: 0.95,
    topK: 64,
    maxTemperature: 2,
    thinking: true,
  };
}

// ---------------------------------------------------------------------------
// The server.

export async function startMockGemini(opts: GeminiMockOptions = {}): Promise<MockGemini> {
  const requests: GeminiMockRequest[] = [];
  let behavior: GeminiBehaviorSource = opts.behavior ?? {};
  let failedSoFar = 0;
  const models = opts.models === undefined ? GEMINI_DEFAULT_MODELS : opts.models;
  const srv = mockServer(handle, (res, message) => sendError(res, 500, message));
  const { cut, wait } = srv;

  function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    if (res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=UTF-8',
      'content-length': String(Buffer.byteLength(text)),
      vary: 'Origin, X-Origin, Referer',
      'server-timing': 'gfet4t7; dur=12',
      ...headers,
    });
    res.end(text);
  }

  function sendError(res: ServerResponse, code: number, message?: string, details?: unknown[]) {
    sendJson(res, code, geminiError(code, message, details));
  }

  function failure(res: ServerResponse, code: number, b: GeminiBehavior) {
    if (code === 429) {
      return sendError(res, 429, b.failMessage, [
        {
          '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
          violations: [
            {
              quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
              quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
              quotaValue: '10',
            },
          ],
        },
        {
          '@type': 'type.googleapis.com/google.rpc.Help',
          links: [{ description: 'Learn more about Gemini API quotas', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }],
        },
        { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${b.retryAfter ?? 13}s` },
      ]);
    }
    return sendError(res, code, b.failMessage);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, raw: string) {
    let body: any;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const url = new URL(req.url ?? '/', 'http://mock');
    const m = MODEL_PATH.exec(url.pathname);
    const headerKey = header(req.headers, 'x-goog-api-key');
    const queryKey = url.searchParams.get('key') ?? undefined;
    const record: GeminiMockRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      model: m ? decodeURIComponent(m[1]) : undefined,
      action: m?.[2],
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      auth: headerKey ? 'header' : queryKey ? 'query' : 'none',
      body,
      seq: requests.length + 1,
      receivedAt: Date.now(),
    };
    requests.push(record);
    srv.trackOutcome(res, record);

    const base = typeof behavior === 'function' ? behavior(record) : behavior;
    const b: GeminiBehavior = { ...base, ...parseBehaviorHeader(req.headers['x-mock-behavior']) };
    if (b.hang) return;
    if (b.disconnectBeforeResponse) return cut(res);
    await wait(b.latencyMs ?? 0);
    if (res.destroyed || srv.closing) return;

    if (opts.apiKey !== undefined) {
      const key = headerKey ?? queryKey;
      if (!key)
        return sendError(
          res,
          403,
          "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        );
      if (key !== opts.apiKey)
        return sendError(res, 400, 'API key not valid. Please pass a valid API key.', [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
            metadata: { service: 'generativelanguage.googleapis.com' },
          },
        ]);
    }

    let failCode: number | undefined;
    if (b.failFirstN !== undefined) {
      if (failedSoFar < b.failFirstN) {
        failedSoFar++;
        failCode = b.fail ?? 503;
      }
    } else if (b.fail) failCode = b.fail;
    if (failCode) return failure(res, failCode, b);

    const served = models ?? GEMINI_DEFAULT_MODELS;
    if (req.method === 'GET' && url.pathname === '/v1beta/models') return sendJson(res, 200, { models: served.map(modelEntry) });
    if (req.method === 'GET' && m && !m[2]) {
      if (models && !models.includes(record.model!)) return sendError(res, 404, `models/${record.model} is not found for API version v1beta.`);
      return sendJson(res, 200, modelEntry(record.model!));
    }
    const action = record.action;
    if (req.method !== 'POST' || !m || (action !== 'generateContent' && action !== 'streamGenerateContent' && action !== 'countTokens'))
      return sendError(res, 404, `Requested entity was not found.`);
    const model = record.model!;
    if (models && !models.includes(model))
      return sendError(
        res,
        404,
        `models/${model} is not found for API version v1beta, or is not supported for ${action}. Call ListModels to see the list of available models and their supported methods.`,
      );
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      return sendError(res, 400, `Invalid JSON payload received. Unexpected token.\n${String(raw).slice(0, 40)}\n^`);

    if (action === 'countTokens') {
      const o = b.usageOverride;
      const n = o ? o.promptTokenCount : mockGeminiPromptTokens(body);
      if (!Array.isArray(body.contents) && body.generateContentRequest == null)
        return sendError(res, 400, '* CountTokensRequest.contents: contents is not specified\n');
      return sendJson(res, 200, { totalTokens: n, promptTokensDetails: [{ modality: 'TEXT', tokenCount: n }] });
    }
    if (!Array.isArray(body.contents) || body.contents.length === 0)
      return sendError(res, 400, '* GenerateContentRequest.contents: contents is not specified\n');
    for (let i = 0; i < body.contents.length; i++) {
      const role = body.contents[i]?.role;
      if (role !== undefined && role !== 'user' && role !== 'model') return sendError(res, 400, `Please use a valid role: user, model.`);
      if (!Array.isArray(body.contents[i]?.parts) || body.contents[i].parts.length === 0)
        return sendError(res, 400, `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.\n`);
    }
    if (b.rawReply) {
      res.writeHead(200, {
        'content-type': b.rawReply.contentType ?? 'application/json; charset=UTF-8',
        'content-length': String(Buffer.byteLength(b.rawReply.body)),
      });
      res.end(b.rawReply.body);
      return;
    }
    const echo = { path: url.pathname, query: record.query, auth: record.auth, body };
    const plan = planGemini(body, b, echo);
    const responseId = randomId(22);
    if (action === 'streamGenerateContent') return stream(res, model, responseId, plan, b, record.query.alt === 'sse');
    if (b.disconnectAfterChunks !== undefined) return cut(res);
    sendJson(res, 200, geminiResponseWire(model, responseId, plan));
  }

  function write(res: ServerResponse, text: string): Promise<void> {
    return new Promise((resolve) => {
      if (res.destroyed || res.writableEnded) return resolve();
      res.write(text, () => resolve());
    });
  }

  async function stream(res: ServerResponse, model: string, responseId: string, plan: GeminiPlan, b: GeminiBehavior, sse: boolean) {
    const chunks = geminiStreamChunks(model, responseId, plan, { chunks: b.chunks, usageOnEveryChunk: b.usageOnEveryChunk });
    if (!sse) {
      // Without alt=sse the API streams one JSON array, written element by element.
      if (b.disconnectAfterChunks !== undefined) return cut(res);
      const text = `[${chunks.map((c) => JSON.stringify(c)).join(',\r\n')}]`;
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(text);
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'content-disposition': 'attachment',
      vary: 'Origin, X-Origin, Referer',
      'transfer-encoding': 'chunked',
    });
    res.flushHeaders();
    let sent = 0;
    for (const c of chunks) {
      if (res.destroyed || srv.closing) return;
      if (b.disconnectAfterChunks !== undefined && sent >= b.disconnectAfterChunks) return cut(res);
      if (b.errorAfterChunks !== undefined && sent >= b.errorAfterChunks) {
        await write(res, `data: ${JSON.stringify(geminiError(b.streamErrorCode ?? 503))}\r\n\r\n`);
        res.end();
        return;
      }
      if (sent > 0) await wait(b.chunkDelayMs ?? 0);
      if (res.destroyed || srv.closing) return;
      await write(res, `data: ${JSON.stringify(c)}\r\n\r\n`);
      sent++;
    }
    res.end();
  }

  const port = await srv.listen();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    setBehavior(nb: GeminiBehaviorSource) {
      behavior = nb;
      failedSoFar = 0;
    },
    requestsTo(action: string) {
      return requests.filter((r) => r.action === action);
    },
    openConnections: srv.openConnections,
    close: () => srv.close(),
  };
}
