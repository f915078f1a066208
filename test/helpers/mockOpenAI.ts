// A mock OpenAI-compatible upstream: a real HTTP server on 127.0.0.1 that speaks
// the OpenAI wire format (chat.completion, chat.completion.chunk over SSE with
// `data: {...}\n\n` framing and `data: [DONE]\n\n`, the usage-only chunk with
// `choices: []`, text_completion, embeddings as floats or base64 float32,
// the model list, and `{error:{message,type,param,code}}` bodies), with
// switches for latency, failures, hangs and mid-stream disconnects.
//
// Everything it produces is deterministic so tests can compute the exact
// usage (and therefore the exact cost) a request must be charged:
//   prompt_tokens (chat)        = words in every message's text + 3 per message
//   prompt_tokens (completions) = words in the prompt(s)
//   prompt_tokens (embeddings)  = words in the input(s) (a token array counts its length)
//   completion_tokens           = content words generated, summed over the n choices
//                                 (a tool call counts the words of its arguments)
// where a "word" is a whitespace-separated run of characters.
// Not a test file itself.
import { createServer, type IncomingMessage, type ServerResponse, type IncomingHttpHeaders } from 'node:http';
import { mockServer } from './mockServer.ts';
import { createHash, randomBytes } from 'node:crypto';

export interface MockUsage {
  prompt_tokens: number;
  completion_tokens: number;
  /** Reported as usage.prompt_tokens_details.cached_tokens. */
  cached_tokens?: number;
}

export interface MockBehavior {
  /** Delay before the response headers are written. */
  latencyMs?: number;
  /** Delay between streamed chunks. */
  chunkDelayMs?: number;
  /** Answer with this HTTP status and an OpenAI error body (400, 401, 403, 404, 429, 500, 502, 503, ...). */
  fail?: number;
  /** Overrides the error message of `fail`. */
  failMessage?: string;
  /** With fail: 429 (default 1): the retry-after header in seconds. */
  retryAfter?: number;
  /** Fail (with `fail`, or 500) only the first N requests this server sees after setBehavior, then succeed. */
  failFirstN?: number;
  /** Accept the request and never answer. */
  hang?: boolean;
  /** Destroy the connection before sending anything (a reset after the request was read). */
  disconnectBeforeResponse?: boolean;
  /** Stream: destroy the socket after N content chunks were written. Non-stream chat: drop the connection instead of sending the body. */
  disconnectAfterChunks?: number;
  /** Stream only: after N content chunks, send an in-stream error event (`data: {"error":{...}}`) and end. */
  errorAfterChunks?: number;
  /** Never send usage, even when the request asked for it (stream_options.include_usage) or in a non-stream body. */
  omitUsage?: boolean;
  /** Report these usage numbers instead of the computed ones. */
  usageOverride?: MockUsage;
  /** Number of content words in a reply (default 48), before max_tokens caps it. */
  replyWords?: number;
  /** Number of content chunks a streamed reply is split into (default 16). */
  chunks?: number;
  /**
   * Read `stream` and `stream_options.include_usage` the way pydantic's lax
   * mode does (vLLM-style servers): "true", "1", "yes", "on" and 1 are true.
   */
  laxBooleans?: boolean;
  /** Answer chat and completions as an SSE stream whatever the request said. */
  forceStream?: boolean;
  /** Answer 200 with exactly this body (and content type, default application/json) instead of a real answer. */
  rawReply?: { body: string; contentType?: string };
}

/** pydantic's lax boolean: what a coercing upstream makes of a loose value. */
export function laxBoolean(v: unknown): boolean {
  if (typeof v === 'string') return ['true', '1', 'yes', 'on', 't', 'y'].includes(v.trim().toLowerCase());
  return v === true || v === 1;
}

export type BehaviorSource = MockBehavior | ((req: MockRequest) => MockBehavior);

export interface MockRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or the raw text when it is not JSON, or undefined when empty. */
  body: any;
  /** Sequence number of this request on this server, from 1. */
  seq: number;
  receivedAt: number;
  /**
   * How the exchange ended: 'completed' (the whole response was written),
   * 'client_closed' (the caller went away before the response was complete),
   * 'mock_closed' (the mock cut it on purpose: a disconnect switch, or close()),
   * undefined while it is still going (or hanging).
   */
  outcome?: 'completed' | 'client_closed' | 'mock_closed';
}

export interface MockOptions {
  /** When set, every request must carry `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
  /** Models this upstream serves; others get 404 model_not_found. null accepts any model. */
  models?: string[] | null;
  /** Default behaviour of the server (setBehavior replaces it). */
  behavior?: BehaviorSource;
  /** owned_by of the model list entries. */
  ownedBy?: string;
}

export interface MockOpenAI {
  /** Base URL ending in /v1, e.g. http://127.0.0.1:41234/v1 */
  url: string;
  port: number;
  /** Every request received, in order, failures included. */
  requests: MockRequest[];
  /** Replaces the server-wide behaviour and resets the failFirstN counter. */
  setBehavior(b: BehaviorSource): void;
  /** Requests whose path ends with `suffix` (e.g. '/chat/completions'). */
  requestsTo(suffix: string): MockRequest[];
  /** Number of connections currently open to the mock (a hung or streaming request keeps one). */
  openConnections(): number;
  close(): Promise<void>;
}

export const DEFAULT_MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'gpt-3.5-turbo-instruct', 'text-embedding-3-small', 'text-embedding-3-large'];
export const DEFAULT_REPLY_WORDS = 48;
export const DEFAULT_CHUNKS = 16;
export const DEFAULT_EMBEDDING_DIMENSIONS = 64;
/** OpenAI's legacy completions default max_tokens. */
export const LEGACY_COMPLETIONS_DEFAULT_MAX_TOKENS = 16;
export const MODEL_CREATED = 1_715_367_049;

const VOCAB = ['The', 'quick', 'brown', 'fox', 'jumps', 'over', 'the', 'lazy', 'dog', 'while', 'a', 'small', 'bird', 'sings', 'in', 'tree'];

// ---------------------------------------------------------------------------
// Deterministic token arithmetic, shared by the server and by tests.

/** Whitespace-separated words in a string. */
export function countWords(s: string): number {
  const t = s.trim();
  return t ? t.split(/\s+/).length : 0;
}

/** The text of a chat message content (a string, or an array of content parts of which text parts count). */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p: any) => (p && typeof p === 'object' && typeof p.text === 'string' ? p.text : typeof p === 'string' ? p : '')).join(' ');
  }
  return '';
}

/** prompt_tokens the mock reports for a chat request: words in every message's text + 3 per message. */
export function mockPromptTokens(messages: Array<{ content?: unknown }>): number {
  let n = 0;
  for (const m of messages ?? []) n += countWords(contentText(m?.content)) + 3;
  return n;
}

/** prompt_tokens for a legacy completions prompt (string, string[], token array or arrays of them). */
export function mockCompletionPromptTokens(prompt: unknown): number {
  if (typeof prompt === 'string') return countWords(prompt);
  if (Array.isArray(prompt)) {
    if (prompt.every((x) => typeof x === 'number')) return prompt.length;
    return prompt.reduce((a: number, p) => a + mockCompletionPromptTokens(p), 0);
  }
  return 0;
}

/** prompt_tokens (= total_tokens) for an embeddings input. */
export function mockEmbeddingTokens(input: unknown): number {
  return mockCompletionPromptTokens(input);
}

/** The reply words, in order, for a reply of `n` words. */
export function mockReplyWords(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(VOCAB[i % VOCAB.length]);
  return out;
}

/** The full reply text of `n` words. */
export function mockReplyText(n: number): string {
  return mockReplyWords(n).join(' ');
}

/** The max output the request allows: max_completion_tokens, else max_tokens, else undefined. */
export function requestedMaxTokens(body: any): number | undefined {
  const v = body?.max_completion_tokens ?? body?.max_tokens;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function lastUserText(body: any): string {
  const msgs: any[] = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i]?.role === 'user') return contentText(msgs[i].content);
  return '';
}

/** True when the mock answers this chat request with a tool call. */
export function wantsToolCall(body: any): boolean {
  return Array.isArray(body?.tools) && body.tools.length > 0 && /call a tool/i.test(lastUserText(body));
}

interface PlannedChoice {
  index: number;
  words: string[];
  finishReason: 'stop' | 'length' | 'tool_calls';
  toolCall?: { id: string; name: string; arguments: string };
}

interface Plan {
  choices: PlannedChoice[];
  usage: { prompt_tokens: number; completion_tokens: number; cached_tokens: number };
}

function toolArguments(tool: any): string {
  const props = tool?.function?.parameters?.properties;
  const args: Record<string, string> = {};
  for (const k of Object.keys(props && typeof props === 'object' ? props : {})) args[k] = `mock ${k}`;
  if (!Object.keys(args).length) args.input = 'mock input';
  return JSON.stringify(args, null, 1); // spaces and newlines, so it splits into several words
}

function planChat(body: any, b: MockBehavior): Plan {
  const n = Number.isInteger(body?.n) && body.n > 0 ? body.n : 1;
  const promptTokens = mockPromptTokens(Array.isArray(body?.messages) ? body.messages : []);
  const choices: PlannedChoice[] = [];
  if (wantsToolCall(body)) {
    const tool = body.tools[0];
    const args = toolArguments(tool);
    for (let i = 0; i < n; i++) {
      choices.push({
        index: i,
        words: [],
        finishReason: 'tool_calls',
        toolCall: { id: `call_${deterministicId(JSON.stringify(body) + i, 24)}`, name: tool?.function?.name ?? 'tool', arguments: args },
      });
    }
  } else {
    const want = b.replyWords ?? DEFAULT_REPLY_WORDS;
    const max = requestedMaxTokens(body);
    const words = max !== undefined ? Math.max(0, Math.min(want, max)) : want;
    for (let i = 0; i < n; i++) choices.push({ index: i, words: mockReplyWords(words), finishReason: max !== undefined && max < want ? 'length' : 'stop' });
  }
  const completion = choices.reduce((a, c) => a + (c.toolCall ? countWords(c.toolCall.arguments) : c.words.length), 0);
  return { choices, usage: { prompt_tokens: promptTokens, completion_tokens: completion, cached_tokens: 0 } };
}

function planCompletion(body: any, b: MockBehavior): Plan {
  const n = Number.isInteger(body?.n) && body.n > 0 ? body.n : 1;
  const prompts = Array.isArray(body?.prompt) && body.prompt.length && !body.prompt.every((x: unknown) => typeof x === 'number') ? body.prompt.length : 1;
  const want = b.replyWords ?? DEFAULT_REPLY_WORDS;
  const max = requestedMaxTokens(body) ?? LEGACY_COMPLETIONS_DEFAULT_MAX_TOKENS;
  const words = Math.max(0, Math.min(want, max));
  const choices: PlannedChoice[] = [];
  for (let i = 0; i < n * prompts; i++) choices.push({ index: i, words: mockReplyWords(words), finishReason: max < want ? 'length' : 'stop' });
  return { choices, usage: { prompt_tokens: mockCompletionPromptTokens(body?.prompt), completion_tokens: words * choices.length, cached_tokens: 0 } };
}

/**
 * The usage the mock reports for a request body (chat or legacy completions,
 * chosen by the presence of `messages`), under a behaviour (replyWords,
 * usageOverride). Use it on the body the mock actually received
 * (`mock.requests[i].body`) to get the figures Tally must charge.
 */
export function mockUsageFor(body: any, behavior: MockBehavior = {}): { prompt_tokens: number; completion_tokens: number; cached_tokens: number } {
  if (behavior.usageOverride) return { cached_tokens: 0, ...behavior.usageOverride };
  return (Array.isArray(body?.messages) ? planChat(body, behavior) : planCompletion(body, behavior)).usage;
}

/** Usage in the camelCase shape of Tally's pricing.computeCost. */
export function toUsage(u: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number }) {
  return { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, cachedTokens: u.cached_tokens ?? 0 };
}

/** The deterministic embedding vector of a text (unit length). */
export function mockEmbedding(text: string, dimensions = DEFAULT_EMBEDDING_DIMENSIONS): number[] {
  const out: number[] = [];
  let block = Buffer.alloc(0);
  let counter = 0;
  const digest = createHash('sha256').update(text).digest('hex'); // the text is hashed once, however many blocks (a large input stays cheap)
  for (let i = 0; i < dimensions; i++) {
    if ((i * 4) % 32 === 0) block = createHash('sha256').update(`${counter++}:${digest}`).digest();
    const u = block.readUInt32BE((i * 4) % 32) / 0xffffffff;
    out.push(u * 2 - 1);
  }
  const norm = Math.sqrt(out.reduce((a, x) => a + x * x, 0)) || 1;
  // Round through float32 so the base64 and float encodings carry the same numbers.
  return out.map((x) => Math.fround(x / norm));
}

export function float32Base64(v: number[]): string {
  const buf = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => buf.writeFloatLE(x, i * 4));
  return buf.toString('base64');
}

// ---------------------------------------------------------------------------
// Wire shapes.

function deterministicId(seed: string, len: number): string {
  return createHash('sha256').update(seed).digest('base64url').replace(/[-_]/g, 'x').slice(0, len);
}

const randomId = (len: number) => randomBytes(len).toString('base64url').replace(/[-_]/g, 'x').slice(0, len);

const SYSTEM_FINGERPRINT = 'fp_mock0001';

function usageObject(u: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number }) {
  return {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.prompt_tokens + u.completion_tokens,
    prompt_tokens_details: { cached_tokens: u.cached_tokens ?? 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** An OpenAI error body. */
export function openAIError(message: string, type: string, code: string | null, param: string | null = null) {
  return { error: { message, type, param, code } };
}

function maskKey(key: string): string {
  if (key.length <= 12) return `${key.slice(0, 3)}***`;
  return `${key.slice(0, 7)}${'*'.repeat(Math.max(4, key.length - 11))}${key.slice(-4)}`;
}

function failureFor(status: number, req: MockRequest, b: MockBehavior): { body: unknown; headers: Record<string, string> } {
  const presented = bearer(req.headers) ?? '';
  const msg = b.failMessage;
  switch (status) {
    case 400:
      return {
        body: openAIError(msg ?? "Invalid value for 'temperature': must be between 0 and 2.", 'invalid_request_error', 'invalid_value', 'temperature'),
        headers: {},
      };
    case 401:
      return {
        body: openAIError(
          msg ?? `Incorrect API key provided: ${maskKey(presented || 'sk-none')}. You can find your API key at https://platform.openai.com/account/api-keys.`,
          'invalid_request_error',
          'invalid_api_key',
        ),
        headers: {},
      };
    case 403:
      return {
        body: openAIError(msg ?? 'Country, region, or territory not supported', 'request_forbidden', 'unsupported_country_region_territory'),
        headers: {},
      };
    case 404:
      return {
        body: openAIError(
          msg ?? `The model \`${req.body?.model}\` does not exist or you do not have access to it.`,
          'invalid_request_error',
          'model_not_found',
        ),
        headers: {},
      };
    case 429:
      return {
        body: openAIError(
          msg ??
            `Rate limit reached for ${req.body?.model ?? 'gpt-4o-mini'} in organization org-mock on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.`,
          'requests',
          'rate_limit_exceeded',
        ),
        headers: {
          'retry-after': String(b.retryAfter ?? 1),
          'x-ratelimit-limit-requests': '3',
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-reset-requests': '20s',
        },
      };
    case 503:
      return { body: openAIError(msg ?? 'The server is overloaded or not ready yet.', 'server_error', null), headers: {} };
    case 502:
      return { body: openAIError(msg ?? 'Bad gateway.', 'server_error', null), headers: {} };
    default:
      return {
        body: openAIError(
          msg ?? 'The server had an error while processing your request. Sorry about that!',
          status >= 500 ? 'server_error' : 'invalid_request_error',
          null,
        ),
        headers: {},
      };
  }
}

function bearer(h: IncomingHttpHeaders): string | null {
  const v = h.authorization;
  if (!v) return null;
  const m = /^Bearer\s+(.+)$/i.exec(v);
  return m ? m[1].trim() : null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function parseBehaviorHeader(v: string | string[] | undefined): MockBehavior {
  if (!v) return {};
  const s = Array.isArray(v) ? v[0] : v;
  try {
    return JSON.parse(s) as MockBehavior;
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------
// The server.

export async function startMockOpenAI(opts: MockOptions = {}): Promise<MockOpenAI> {
  const requests: MockRequest[] = [];
  let behavior: BehaviorSource = opts.behavior ?? {};
  let failedSoFar = 0;
  const models = opts.models === undefined ? DEFAULT_MODELS : opts.models;
  const srv = mockServer(handle, (res, message) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify(openAIError(message, 'server_error', null)));
  });
  const { cut, wait } = srv;

  function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    if (res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      'x-request-id': `req_${randomId(24)}`,
      'openai-version': '2020-10-01',
      'openai-processing-ms': '1',
      ...headers,
    });
    res.end(text);
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
    const record: MockRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      headers: req.headers,
      body,
      seq: requests.length + 1,
      receivedAt: Date.now(),
    };
    requests.push(record);
    srv.trackOutcome(res, record);

    const base = typeof behavior === 'function' ? behavior(record) : behavior;
    const b: MockBehavior = { ...base, ...parseBehaviorHeader(req.headers['x-mock-behavior']) };

    if (b.hang) return; // never answer; close() destroys the socket
    if (b.disconnectBeforeResponse) {
      cut(res);
      return;
    }
    await wait(b.latencyMs ?? 0);
    if (res.destroyed || srv.closing) return;

    if (opts.apiKey !== undefined) {
      const presented = bearer(req.headers);
      if (!presented) {
        return sendJson(
          res,
          401,
          openAIError(
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            'invalid_request_error',
            null,
          ),
        );
      }
      if (presented !== opts.apiKey) {
        const f = failureFor(401, record, b);
        return sendJson(res, 401, f.body, f.headers);
      }
    }

    let failStatus: number | undefined;
    if (b.failFirstN !== undefined) {
      if (failedSoFar < b.failFirstN) {
        failedSoFar++;
        failStatus = b.fail ?? 500;
      }
    } else if (b.fail) failStatus = b.fail;
    if (failStatus) {
      const f = failureFor(failStatus, record, b);
      return sendJson(res, failStatus, f.body, f.headers);
    }

    const path = url.pathname.replace(/^\/v1(?=\/)/, '');
    if (req.method === 'GET' && path === '/models') {
      return sendJson(res, 200, { object: 'list', data: (models ?? DEFAULT_MODELS).map((id) => modelObject(id)) });
    }
    if (req.method === 'GET' && path.startsWith('/models/')) {
      const id = decodeURIComponent(path.slice('/models/'.length));
      if (models && !models.includes(id))
        return sendJson(res, 404, openAIError(`The model '${id}' does not exist`, 'invalid_request_error', 'model_not_found', 'model'));
      return sendJson(res, 200, modelObject(id));
    }
    if (req.method !== 'POST' || !['/chat/completions', '/completions', '/embeddings'].includes(path)) {
      return sendJson(res, 404, openAIError(`Invalid URL (${req.method} ${url.pathname})`, 'invalid_request_error', null));
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return sendJson(
        res,
        400,
        openAIError(
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
          'invalid_request_error',
          null,
        ),
      );
    }
    if (typeof body.model !== 'string' || !body.model) {
      return sendJson(res, 400, openAIError('you must provide a model parameter', 'invalid_request_error', null));
    }
    if (models && !models.includes(body.model)) {
      return sendJson(
        res,
        404,
        openAIError(`The model \`${body.model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found'),
      );
    }

    if (b.rawReply) {
      res.writeHead(200, { 'content-type': b.rawReply.contentType ?? 'application/json', 'content-length': String(Buffer.byteLength(b.rawReply.body)) });
      res.end(b.rawReply.body);
      return;
    }
    if (b.laxBooleans) {
      const so = body.stream_options;
      body = {
        ...body,
        stream: laxBoolean(body.stream),
        ...(so && typeof so === 'object' ? { stream_options: { ...so, include_usage: laxBoolean(so.include_usage) } } : {}),
      };
    }
    if (b.forceStream) body = { ...body, stream: true };
    if (path === '/embeddings') return embeddings(res, body, b);
    if (path === '/chat/completions') {
      if (!Array.isArray(body.messages) || body.messages.length === 0) {
        return sendJson(
          res,
          400,
          openAIError(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            'invalid_request_error',
            'empty_array',
            'messages',
          ),
        );
      }
      const plan = planChat(body, b);
      return body.stream === true ? streamChat(res, body, b, plan) : chat(res, body, b, plan);
    }
    const plan = planCompletion(body, b);
    return body.stream === true ? streamCompletion(res, body, b, plan) : completion(res, body, b, plan);
  }

  function modelObject(id: string) {
    return { id, object: 'model', created: MODEL_CREATED, owned_by: opts.ownedBy ?? (id.startsWith('text-embedding') ? 'system' : 'openai') };
  }

  function reportedUsage(plan: Plan, b: MockBehavior) {
    return b.usageOverride ? { cached_tokens: 0, ...b.usageOverride } : plan.usage;
  }

  function chat(res: ServerResponse, body: any, b: MockBehavior, plan: Plan) {
    const out: any = {
      id: `chatcmpl-${randomId(29)}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: plan.choices.map((c) => ({
        index: c.index,
        message: c.toolCall
          ? {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: c.toolCall.id, type: 'function', function: { name: c.toolCall.name, arguments: c.toolCall.arguments } }],
              refusal: null,
              annotations: [],
            }
          : { role: 'assistant', content: c.words.join(' '), refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: c.finishReason,
      })),
      usage: usageObject(reportedUsage(plan, b)),
      service_tier: 'default',
      system_fingerprint: SYSTEM_FINGERPRINT,
    };
    if (b.omitUsage) delete out.usage;
    if (b.disconnectAfterChunks !== undefined) {
      cut(res); // non-stream: the connection drops instead of the body
      return;
    }
    sendJson(res, 200, out);
  }

  function completion(res: ServerResponse, body: any, b: MockBehavior, plan: Plan) {
    const out: any = {
      id: `cmpl-${randomId(29)}`,
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: plan.choices.map((c) => ({ text: c.words.join(' '), index: c.index, logprobs: null, finish_reason: c.finishReason })),
      usage: {
        prompt_tokens: reportedUsage(plan, b).prompt_tokens,
        completion_tokens: reportedUsage(plan, b).completion_tokens,
        total_tokens: reportedUsage(plan, b).prompt_tokens + reportedUsage(plan, b).completion_tokens,
      },
      system_fingerprint: SYSTEM_FINGERPRINT,
    };
    if (b.omitUsage) delete out.usage;
    sendJson(res, 200, out);
  }

  function embeddings(res: ServerResponse, body: any, b: MockBehavior) {
    const input = body.input;
    let items: unknown[];
    if (typeof input === 'string') items = [input];
    else if (Array.isArray(input) && input.length && input.every((x: unknown) => typeof x === 'number')) items = [input];
    else if (Array.isArray(input)) items = input;
    else return sendJson(res, 400, openAIError("'input' is a required property", 'invalid_request_error', null, 'input'));
    if (items.length === 0 || items.some((x) => x === '')) {
      return sendJson(
        res,
        400,
        openAIError("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'invalid_request_error', null),
      );
    }
    const dims = Number.isInteger(body.dimensions) && body.dimensions > 0 ? body.dimensions : DEFAULT_EMBEDDING_DIMENSIONS;
    const b64 = body.encoding_format === 'base64';
    const tokens = b.usageOverride?.prompt_tokens ?? mockEmbeddingTokens(input);
    const out: any = {
      object: 'list',
      data: items.map((x, index) => {
        const v = mockEmbedding(typeof x === 'string' ? x : JSON.stringify(x), dims);
        return { object: 'embedding', index, embedding: b64 ? float32Base64(v) : v };
      }),
      model: body.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
    if (b.omitUsage) delete out.usage;
    sendJson(res, 200, out);
  }

  /** Splits `words` into at most `parts` runs, as evenly as possible, earlier runs longer. */
  function split(words: string[], parts: number): string[][] {
    const k = Math.max(1, Math.min(parts, words.length));
    const out: string[][] = [];
    let at = 0;
    for (let i = 0; i < k; i++) {
      const size = Math.floor(words.length / k) + (i < words.length % k ? 1 : 0);
      out.push(words.slice(at, at + size));
      at += size;
    }
    return words.length ? out : [];
  }

  /** Writes one SSE event; resolves when written (or at once if the socket is gone). */
  function writeEvent(res: ServerResponse, data: string): Promise<void> {
    return new Promise((resolve) => {
      if (res.destroyed || res.writableEnded) return resolve();
      res.write(`data: ${data}\n\n`, () => resolve());
    });
  }

  function startStream(res: ServerResponse) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': `req_${randomId(24)}`,
      'openai-version': '2020-10-01',
      'openai-processing-ms': '1',
    });
    res.flushHeaders();
  }

  /**
   * Streams the prepared events: `head` first (role chunks), then content events
   * with chunkDelayMs between them, then `tail` (finish chunks), the usage
   * chunk when requested, and [DONE]; honouring disconnectAfterChunks and errorAfterChunks.
   */
  async function runStream(res: ServerResponse, b: MockBehavior, head: string[], content: string[], tail: string[], usage: string | null) {
    startStream(res);
    const delay = b.chunkDelayMs ?? 0;
    for (const e of head) await writeEvent(res, e);
    let sent = 0;
    for (const e of content) {
      if (res.destroyed || srv.closing) return;
      if (b.disconnectAfterChunks !== undefined && sent >= b.disconnectAfterChunks) {
        cut(res);
        return;
      }
      if (b.errorAfterChunks !== undefined && sent >= b.errorAfterChunks) {
        await writeEvent(res, JSON.stringify(openAIError('The server had an error while processing your request. Sorry about that!', 'server_error', null)));
        res.end();
        return;
      }
      if (sent > 0 || head.length) await wait(delay);
      if (res.destroyed || srv.closing) return;
      await writeEvent(res, e);
      sent++;
    }
    if (b.disconnectAfterChunks !== undefined && sent >= b.disconnectAfterChunks) {
      cut(res);
      return;
    }
    await wait(delay);
    for (const e of tail) await writeEvent(res, e);
    if (usage) await writeEvent(res, usage);
    await writeEvent(res, '[DONE]');
    res.end();
  }

  function streamChat(res: ServerResponse, body: any, b: MockBehavior, plan: Plan) {
    const includeUsage = body.stream_options?.include_usage === true;
    const id = `chatcmpl-${randomId(29)}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (choices: unknown[], usage?: unknown) =>
      JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model: body.model,
        service_tier: 'default',
        system_fingerprint: SYSTEM_FINGERPRINT,
        choices,
        ...(includeUsage ? { usage: usage ?? null } : {}),
      });
    const parts = b.chunks ?? DEFAULT_CHUNKS;
    const head: string[] = [];
    const content: string[] = [];
    const tail: string[] = [];
    for (const c of plan.choices) {
      if (c.toolCall) {
        head.push(
          chunk([
            {
              index: c.index,
              delta: {
                role: 'assistant',
                content: null,
                tool_calls: [{ index: 0, id: c.toolCall.id, type: 'function', function: { name: c.toolCall.name, arguments: '' } }],
                refusal: null,
              },
              logprobs: null,
              finish_reason: null,
            },
          ]),
        );
        const argWords = c.toolCall.arguments.split(/(?<=\s)/); // keep the whitespace so pieces concatenate back exactly
        for (const run of split(argWords, parts))
          content.push(
            chunk([{ index: c.index, delta: { tool_calls: [{ index: 0, function: { arguments: run.join('') } }] }, logprobs: null, finish_reason: null }]),
          );
      } else {
        head.push(chunk([{ index: c.index, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]));
        let first = true;
        for (const run of split(c.words, parts)) {
          content.push(chunk([{ index: c.index, delta: { content: (first ? '' : ' ') + run.join(' ') }, logprobs: null, finish_reason: null }]));
          first = false;
        }
      }
      tail.push(chunk([{ index: c.index, delta: {}, logprobs: null, finish_reason: c.finishReason }]));
    }
    const usage = includeUsage && !b.omitUsage ? chunk([], usageObject(reportedUsage(plan, b))) : null;
    return runStream(res, b, head, content, tail, usage);
  }

  function streamCompletion(res: ServerResponse, body: any, b: MockBehavior, plan: Plan) {
    const includeUsage = body.stream_options?.include_usage === true;
    const id = `cmpl-${randomId(29)}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (choices: unknown[], usage?: unknown) =>
      JSON.stringify({
        id,
        object: 'text_completion',
        created,
        model: body.model,
        system_fingerprint: SYSTEM_FINGERPRINT,
        choices,
        ...(includeUsage ? { usage: usage ?? null } : {}),
      });
    const parts = b.chunks ?? DEFAULT_CHUNKS;
    const content: string[] = [];
    const tail: string[] = [];
    for (const c of plan.choices) {
      let first = true;
      for (const run of split(c.words, parts)) {
        content.push(chunk([{ text: (first ? '' : ' ') + run.join(' '), index: c.index, logprobs: null, finish_reason: null }]));
        first = false;
      }
      tail.push(chunk([{ text: '', index: c.index, logprobs: null, finish_reason: c.finishReason }]));
    }
    const u = reportedUsage(plan, b);
    const usage =
      includeUsage && !b.omitUsage
        ? chunk([], { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens: u.prompt_tokens + u.completion_tokens })
        : null;
    return runStream(res, b, [], content, tail, usage);
  }

  const port = await srv.listen();

  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    setBehavior(nb: BehaviorSource) {
      behavior = nb;
      failedSoFar = 0;
    },
    requestsTo(suffix: string) {
      return requests.filter((r) => r.path.endsWith(suffix));
    },
    openConnections: srv.openConnections,
    close: () => srv.close(),
  };
}

/** A port on 127.0.0.1 that nothing listens on (connections are refused). */
export async function refusedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const a = s.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Reads a raw SSE response body into its `data:` payloads (strings, in order). */
export function parseSse(text: string): string[] {
  return text
    .split('\n\n')
    .map((e) =>
      e
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n'),
    )
    .filter((d) => d.length > 0);
}

export { sleep };
