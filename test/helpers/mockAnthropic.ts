// A mock Anthropic upstream: a real HTTP server on 127.0.0.1 that speaks the
// Anthropic Messages API wire format (the sibling of mockOpenAI.ts, same style:
// start, url, a request log, per-test scripted behaviours).
//
// Where each shape comes from (public sources, read for this file):
// - Message, Usage, CacheCreation, MessageDeltaUsage, RawMessageStreamEvent and the
//   content blocks / deltas: anthropics/anthropic-sdk-typescript,
//   src/resources/messages/messages.ts (snapshot of 2026-08, SDK 0.120.0).
// - Event names, order and framing (`event: <name>\ndata: <json>\n\n`; a `ping` right
//   after the first content_block_start; `input_json_delta` opening with an empty
//   partial_json; usage in message_start with output_tokens 1 or so, and cumulative
//   usage in message_delta with the input and cache counts repeated):
//   https://platform.claude.com/docs/en/build-with-claude/streaming and the recorded
//   streams in vercel/ai packages/anthropic/src/__fixtures__/*.chunks.txt
//   (e.g. anthropic-json-tool.1.chunks.txt, claude-haiku-4-5-20251001).
// - usage.service_tier "standard" and inference_geo "not_available": the same recordings.
// - Errors `{type:"error",error:{type,message},request_id}` with a `request-id` header,
//   and the status of each type (400 invalid_request_error, 401 authentication_error,
//   402 billing_error, 403 permission_error, 404 not_found_error, 413 request_too_large,
//   429 rate_limit_error, 500 api_error, 529 overloaded_error, and `event: error` inside
//   a 200 stream): https://docs.claude.com/en/api/errors.
// - SDK error classes by status (400/401/403/404/409/422/429, >=500 InternalServerError,
//   413 a plain APIError): anthropic-sdk-typescript src/core/error.ts APIError.generate.
// - POST /v1/messages/count_tokens answers `{input_tokens}`: MessageTokensCount in the
//   SDK types; the SDK posts to '/v1/messages/count_tokens'.
//
// Everything it produces is deterministic so tests can compute the exact usage:
//   input tokens  = words in `system` + (words in each message's text + 3 per message)
//                   + (1 + words in the description) per tool
//                   (reported as input_tokens unless usageOverride splits it into cache counts;
//                   count_tokens answers the same number)
//   output tokens = words of text + words of thinking + words of each tool input JSON
//                   (pretty-printed, so it splits into several words)
// where a "word" is a whitespace-separated run of characters. Not a test file itself.
import type { IncomingMessage, ServerResponse, IncomingHttpHeaders } from 'node:http';
import { mockServer } from './mockServer.ts';
import { createHash, randomBytes } from 'node:crypto';
import { countWords, mockReplyWords } from './mockOpenAI.ts';

export { countWords, mockReplyWords, mockReplyText } from './mockOpenAI.ts';

/** Anthropic usage, as the API reports it (SDK type `Usage`). */
export interface AnthropicUsage {
  /** Uncached input tokens only. */
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  /** The split of cache_creation_input_tokens by TTL. Omit to report `cache_creation: null` (an unsplit count). */
  cache_creation?: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number } | null;
}

export type AnthropicReplyKind = 'text' | 'tool_use' | 'thinking' | 'echo';

export interface AnthropicBehavior {
  /** Delay before the response headers are written (a slow first byte). */
  latencyMs?: number;
  /** Stream: delay after the headers, before the first event. */
  firstEventDelayMs?: number;
  /** Stream: delay between events. */
  eventDelayMs?: number;
  /** Answer with this status and an Anthropic error body (400, 401, 402, 403, 404, 413, 429, 500, 529, ...). */
  fail?: number;
  /** Overrides the error message of `fail`. */
  failMessage?: string;
  /** With fail: 429 or 529 (default 429 → 1): the retry-after header in seconds. */
  retryAfter?: number;
  /** Fail (with `fail`, or 529) only the first N requests after setBehavior, then succeed. */
  failFirstN?: number;
  /** Accept the request and never answer. */
  hang?: boolean;
  /** Destroy the connection before sending anything. */
  disconnectBeforeResponse?: boolean;
  /** Stream: destroy the socket after N SSE events (every event counts, message_start and ping included). Non-stream: drop the connection instead of the body. */
  disconnectAfterEvents?: number;
  /** Stream: after N events, send `event: error` (overloaded_error by default) and end the response. */
  errorAfterEvents?: number;
  /** With errorAfterEvents: the error type of the in-stream error (default overloaded_error). */
  streamErrorType?: string;
  /** Report these usage numbers (every field the tests want to assert) instead of the computed ones. */
  usageOverride?: AnthropicUsage;
  /** What to answer. Default: tool_use when the request has tools and the last user text says "call a tool", thinking when `thinking.type` is enabled/adaptive, else text. */
  reply?: AnthropicReplyKind;
  /** Words in a text reply (default 48), before max_tokens caps it. */
  replyWords?: number;
  /** Words of thinking in a thinking reply (default 12). */
  thinkingWords?: number;
  /** Number of deltas a text or thinking block is split into (default 8). */
  chunks?: number;
  /** Answer 200 with exactly this body (and content type, default application/json). */
  rawReply?: { body: string; contentType?: string };
}

export type AnthropicBehaviorSource = AnthropicBehavior | ((req: AnthropicMockRequest) => AnthropicBehavior);

export interface AnthropicMockRequest {
  method: string;
  path: string;
  /** The query string, decoded (Claude Code sends `?beta=true`). */
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The anthropic-version header, or undefined. */
  version?: string;
  /** The anthropic-beta header split on commas (empty when absent). */
  betas: string[];
  /** Parsed JSON body, or the raw text when it is not JSON, or undefined when empty. */
  body: any;
  seq: number;
  receivedAt: number;
  /** As in mockOpenAI: 'completed', 'client_closed', 'mock_closed', or undefined while running. */
  outcome?: 'completed' | 'client_closed' | 'mock_closed';
}

export interface AnthropicMockOptions {
  /** When set, every request must carry `x-api-key: <apiKey>` (401 authentication_error otherwise). */
  apiKey?: string;
  /** Also accept `Authorization: Bearer <apiKey>` (the official SDK from 1.x sends its apiKey so, and Claude Code sends ANTHROPIC_AUTH_TOKEN so). Default true; false to insist on x-api-key. */
  acceptBearer?: boolean;
  /** Models served; others get 404 not_found_error. null accepts any model. */
  models?: string[] | null;
  behavior?: AnthropicBehaviorSource;
}

export interface MockAnthropic {
  /** Base URL as Anthropic's SDK takes it (no /v1), e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  requests: AnthropicMockRequest[];
  setBehavior(b: AnthropicBehaviorSource): void;
  /** Requests whose path ends with `suffix` (e.g. '/messages' or '/count_tokens'). */
  requestsTo(suffix: string): AnthropicMockRequest[];
  openConnections(): number;
  close(): Promise<void>;
}

export const ANTHROPIC_DEFAULT_MODELS = [
  'claude-opus-4-5-20251101',
  'claude-sonnet-4-5-20250929',
  'claude-haiku-4-5-20251001',
  'claude-sonnet-4-20250514',
  'claude-3-5-haiku-20241022',
];
export const ANTHROPIC_DEFAULT_REPLY_WORDS = 48;
export const ANTHROPIC_DEFAULT_THINKING_WORDS = 12;
export const ANTHROPIC_DEFAULT_CHUNKS = 8;
export const ANTHROPIC_VERSION = '2023-06-01';

const THINKING_VOCAB = ['Let', 'me', 'think', 'about', 'this', 'step', 'by', 'step', 'before', 'I', 'answer', 'it'];

// ---------------------------------------------------------------------------
// Deterministic token arithmetic, shared by the server and by tests.

/** The text of an Anthropic content value: a string, or blocks whose text / thinking / tool_result text count. */
export function anthropicContentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((b: any) => {
      if (!b || typeof b !== 'object') return '';
      if (typeof b.text === 'string') return b.text;
      if (typeof b.thinking === 'string') return b.thinking;
      if (b.type === 'tool_use') return JSON.stringify(b.input ?? {});
      if (b.type === 'tool_result') return anthropicContentText(b.content);
      return '';
    })
    .join(' ');
}

/** The input tokens the mock counts for a Messages (or count_tokens) body. */
export function mockAnthropicInputTokens(body: any): number {
  let n = countWords(anthropicContentText(body?.system));
  for (const m of Array.isArray(body?.messages) ? body.messages : []) n += countWords(anthropicContentText(m?.content)) + 3;
  for (const t of Array.isArray(body?.tools) ? body.tools : []) n += 1 + countWords(typeof t?.description === 'string' ? t.description : '');
  return n;
}

function lastUserText(body: any): string {
  const msgs: any[] = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i]?.role === 'user') return anthropicContentText(msgs[i].content);
  return '';
}

/** The reply kind the mock picks for a body under a behaviour. */
export function anthropicReplyKind(body: any, b: AnthropicBehavior = {}): AnthropicReplyKind {
  if (b.reply) return b.reply;
  if (Array.isArray(body?.tools) && body.tools.length > 0 && /call a tool/i.test(lastUserText(body))) return 'tool_use';
  if (body?.thinking?.type === 'enabled' || body?.thinking?.type === 'adaptive') return 'thinking';
  return 'text';
}

/** The tool input the mock generates for a tool: every property of input_schema set to "mock <name>". */
export function mockToolInput(tool: any): Record<string, string> {
  const props = tool?.input_schema?.properties;
  const out: Record<string, string> = {};
  for (const k of Object.keys(props && typeof props === 'object' ? props : {})) out[k] = `mock ${k}`;
  if (!Object.keys(out).length) out.input = 'mock input';
  return out;
}

/** The exact JSON text the mock streams as partial_json pieces (pretty-printed so its words count). */
export function mockToolInputJson(tool: any): string {
  return JSON.stringify(mockToolInput(tool), null, 1);
}

type PlannedBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, string>; json: string };

export interface AnthropicPlan {
  content: PlannedBlock[];
  stop_reason: 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use';
  stop_sequence: string | null;
  usage: Required<Omit<AnthropicUsage, 'cache_creation'>> & { cache_creation: AnthropicUsage['cache_creation'] };
}

function deterministicId(seed: string, len: number): string {
  return createHash('sha256').update(seed).digest('base64url').replace(/[-_]/g, 'x').slice(0, len);
}

const randomId = (len: number) => randomBytes(len).toString('base64url').replace(/[-_]/g, 'x').slice(0, len);

/** What the mock answers for a Messages body: the content blocks, the stop reason and the usage. */
export function planAnthropic(body: any, b: AnthropicBehavior = {}, echo?: unknown): AnthropicPlan {
  const kind = anthropicReplyKind(body, b);
  const max = typeof body?.max_tokens === 'number' ? body.max_tokens : Number.POSITIVE_INFINITY;
  const content: PlannedBlock[] = [];
  let stop: AnthropicPlan['stop_reason'] = 'end_turn';
  let stopSequence: string | null = null;
  if (kind === 'tool_use') {
    const tool = body.tools.find((t: any) => typeof t?.name === 'string') ?? { name: 'tool' };
    const json = mockToolInputJson(tool);
    content.push({ type: 'text', text: `Calling ${tool.name} now.` });
    content.push({ type: 'tool_use', id: `toolu_01${deterministicId(JSON.stringify(body), 22)}`, name: tool.name, input: mockToolInput(tool), json });
    stop = 'tool_use';
  } else if (kind === 'echo') {
    content.push({ type: 'text', text: JSON.stringify(echo ?? null) });
  } else {
    if (kind === 'thinking') {
      const n = b.thinkingWords ?? ANTHROPIC_DEFAULT_THINKING_WORDS;
      const words = Array.from({ length: n }, (_, i) => THINKING_VOCAB[i % THINKING_VOCAB.length]);
      content.push({ type: 'thinking', thinking: words.join(' '), signature: `EqQBCkgIBxABGAIqQM${deterministicId(words.join(' '), 40)}` });
    }
    let words = mockReplyWords(b.replyWords ?? ANTHROPIC_DEFAULT_REPLY_WORDS);
    const seqs: string[] = Array.isArray(body?.stop_sequences) ? body.stop_sequences.filter((s: unknown) => typeof s === 'string') : [];
    const at = words.findIndex((w) => seqs.includes(w));
    if (at >= 0 && at < max) {
      stopSequence = words[at];
      words = words.slice(0, at);
      stop = 'stop_sequence';
    } else if (words.length > max) {
      words = words.slice(0, Math.max(0, max));
      stop = 'max_tokens';
    }
    content.push({ type: 'text', text: words.join(' ') });
  }
  const output = content.reduce(
    (a, c) => a + (c.type === 'text' ? countWords(c.text) : c.type === 'thinking' ? countWords(c.thinking) : countWords(c.json)),
    0,
  );
  const o = b.usageOverride;
  const usage = o
    ? {
        input_tokens: o.input_tokens,
        output_tokens: o.output_tokens,
        cache_creation_input_tokens: o.cache_creation_input_tokens ?? 0,
        cache_read_input_tokens: o.cache_read_input_tokens ?? 0,
        cache_creation: o.cache_creation === undefined ? null : o.cache_creation,
      }
    : {
        input_tokens: mockAnthropicInputTokens(body),
        output_tokens: output,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      };
  return { content, stop_reason: stop, stop_sequence: stopSequence, usage };
}

// ---------------------------------------------------------------------------
// Wire shapes.

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

const DEFAULT_MESSAGES: Record<string, string> = {
  invalid_request_error: 'messages: at least one message is required',
  authentication_error: 'invalid x-api-key',
  billing_error: 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.',
  permission_error: 'Your API key does not have permission to use the specified resource.',
  not_found_error: 'Not found',
  request_too_large: 'Request exceeds the maximum allowed number of bytes.',
  rate_limit_error:
    'Number of request tokens has exceeded your per-minute rate limit (https://docs.claude.com/en/api/rate-limits); see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.',
  api_error: 'Internal server error',
  overloaded_error: 'Overloaded',
};

/** The error type the real API uses for a status (a 4xx not listed is invalid_request_error, a 5xx api_error). */
export function anthropicErrorType(status: number): string {
  return ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/** An Anthropic error body. */
export function anthropicError(type: string, message: string, requestId: string) {
  return { type: 'error', error: { type, message }, request_id: requestId };
}

function usageWire(u: AnthropicPlan['usage']) {
  return {
    input_tokens: u.input_tokens,
    cache_creation_input_tokens: u.cache_creation_input_tokens,
    cache_read_input_tokens: u.cache_read_input_tokens,
    cache_creation: u.cache_creation ?? null,
    output_tokens: u.output_tokens,
    service_tier: 'standard',
    inference_geo: 'not_available',
  };
}

function blockWire(c: PlannedBlock) {
  if (c.type === 'text') return { type: 'text', text: c.text };
  if (c.type === 'thinking') return { type: 'thinking', thinking: c.thinking, signature: c.signature };
  return { type: 'tool_use', id: c.id, name: c.name, input: c.input };
}

/** The start shape of a block in content_block_start (text and thinking empty, tool_use with input {}). */
function blockStartWire(c: PlannedBlock) {
  if (c.type === 'text') return { type: 'text', text: '' };
  if (c.type === 'thinking') return { type: 'thinking', thinking: '', signature: '' };
  return { type: 'tool_use', id: c.id, name: c.name, input: {} };
}

/** Splits text into at most `parts` runs on word boundaries; the runs concatenate back to the text. */
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

/** Splits a JSON text into pieces of at most `size` characters (tool input arrives as fragments of JSON, not whole values). */
function splitJson(json: string, size = 7): string[] {
  const out: string[] = [];
  for (let i = 0; i < json.length; i += size) out.push(json.slice(i, i + size));
  return out;
}

/** The SSE events of a planned message, as [event name, data] pairs in the real order. */
export function anthropicStreamEvents(id: string, model: string, plan: AnthropicPlan, chunks = ANTHROPIC_DEFAULT_CHUNKS): Array<[string, unknown]> {
  const ev: Array<[string, unknown]> = [];
  const startUsage = { ...plan.usage, output_tokens: Math.min(1, plan.usage.output_tokens) };
  ev.push([
    'message_start',
    {
      type: 'message_start',
      message: {
        model,
        id,
        type: 'message',
        role: 'assistant',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        usage: usageWire(startUsage),
      },
    },
  ]);
  plan.content.forEach((c, index) => {
    ev.push(['content_block_start', { type: 'content_block_start', index, content_block: blockStartWire(c) }]);
    if (index === 0) ev.push(['ping', { type: 'ping' }]);
    const delta = (d: unknown) => ev.push(['content_block_delta', { type: 'content_block_delta', index, delta: d }]);
    if (c.type === 'text') for (const t of splitText(c.text, chunks)) delta({ type: 'text_delta', text: t });
    else if (c.type === 'thinking') {
      for (const t of splitText(c.thinking, chunks)) delta({ type: 'thinking_delta', thinking: t });
      delta({ type: 'signature_delta', signature: c.signature });
    } else {
      delta({ type: 'input_json_delta', partial_json: '' });
      for (const p of splitJson(c.json)) delta({ type: 'input_json_delta', partial_json: p });
    }
    ev.push(['content_block_stop', { type: 'content_block_stop', index }]);
  });
  ev.push([
    'message_delta',
    {
      type: 'message_delta',
      delta: { stop_reason: plan.stop_reason, stop_sequence: plan.stop_sequence, stop_details: null },
      usage: {
        input_tokens: plan.usage.input_tokens,
        cache_creation_input_tokens: plan.usage.cache_creation_input_tokens,
        cache_read_input_tokens: plan.usage.cache_read_input_tokens,
        output_tokens: plan.usage.output_tokens,
      },
    },
  ]);
  ev.push(['message_stop', { type: 'message_stop' }]);
  return ev;
}

/** Reads a raw Anthropic SSE body into its events: [{event, data}] with data parsed as JSON. */
export function parseAnthropicSse(text: string): Array<{ event: string; data: any }> {
  const out: Array<{ event: string; data: any }> = [];
  for (const block of text.split('\n\n')) {
    if (!block.trim()) continue;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    const raw = data.join('\n');
    let parsed: any = raw;
    try {
      parsed = JSON.parse(raw);
    } catch {
      /* keep the raw text */
    }
    out.push({ event, data: parsed });
  }
  return out;
}

function parseBehaviorHeader(v: string | string[] | undefined): AnthropicBehavior {
  if (!v) return {};
  try {
    return JSON.parse(Array.isArray(v) ? v[0] : v) as AnthropicBehavior;
  } catch {
    return {};
  }
}

function bearer(h: IncomingHttpHeaders): string | null {
  const m = /^Bearer\s+(.+)$/i.exec(h.authorization ?? '');
  return m ? m[1].trim() : null;
}

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

// ---------------------------------------------------------------------------
// The server.

export async function startMockAnthropic(opts: AnthropicMockOptions = {}): Promise<MockAnthropic> {
  const requests: AnthropicMockRequest[] = [];
  let behavior: AnthropicBehaviorSource = opts.behavior ?? {};
  let failedSoFar = 0;
  const models = opts.models === undefined ? ANTHROPIC_DEFAULT_MODELS : opts.models;
  const srv = mockServer(handle, (res, message) => sendError(res, 500, message));
  const { cut, wait } = srv;

  const newRequestId = () => `req_011C${randomId(20)}`;

  function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, requestId = newRequestId()) {
    if (res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      'request-id': requestId,
      'anthropic-organization-id': '00000000-0000-4000-8000-000000000000',
      ...headers,
    });
    res.end(text);
  }

  function sendError(res: ServerResponse, status: number, message?: string, headers: Record<string, string> = {}) {
    const type = anthropicErrorType(status);
    const id = newRequestId();
    sendJson(res, status, anthropicError(type, message ?? DEFAULT_MESSAGES[type] ?? 'Error', id), headers, id);
  }

  function failureHeaders(status: number, b: AnthropicBehavior): Record<string, string> {
    if (status === 429) {
      return {
        'retry-after': String(b.retryAfter ?? 1),
        'anthropic-ratelimit-requests-limit': '50',
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': new Date(Date.now() + (b.retryAfter ?? 1) * 1000).toISOString(),
      };
    }
    if (status === 529 && b.retryAfter !== undefined) return { 'retry-after': String(b.retryAfter) };
    return {};
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
    const betaHeader = header(req.headers, 'anthropic-beta');
    const record: AnthropicMockRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      version: header(req.headers, 'anthropic-version'),
      betas: betaHeader
        ? betaHeader
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : [],
      body,
      seq: requests.length + 1,
      receivedAt: Date.now(),
    };
    requests.push(record);
    srv.trackOutcome(res, record);

    const base = typeof behavior === 'function' ? behavior(record) : behavior;
    const b: AnthropicBehavior = { ...base, ...parseBehaviorHeader(req.headers['x-mock-behavior']) };

    if (b.hang) return;
    if (b.disconnectBeforeResponse) return cut(res);
    await wait(b.latencyMs ?? 0);
    if (res.destroyed || srv.closing) return;

    // Authentication first, as the real API does: a missing or wrong key is 401 whatever else is wrong.
    if (opts.apiKey !== undefined) {
      const key = header(req.headers, 'x-api-key') ?? (opts.acceptBearer !== false ? bearer(req.headers) : null);
      if (!key) return sendError(res, 401, 'x-api-key header is required');
      if (key !== opts.apiKey) return sendError(res, 401, 'invalid x-api-key');
    }
    if (!record.version) return sendError(res, 400, 'anthropic-version: header is required');

    let failStatus: number | undefined;
    if (b.failFirstN !== undefined) {
      if (failedSoFar < b.failFirstN) {
        failedSoFar++;
        failStatus = b.fail ?? 529;
      }
    } else if (b.fail) failStatus = b.fail;
    if (failStatus) return sendError(res, failStatus, b.failMessage, failureHeaders(failStatus, b));

    const path = url.pathname;
    if (req.method === 'GET' && path === '/v1/models') {
      const data = (models ?? ANTHROPIC_DEFAULT_MODELS).map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-10-01T00:00:00Z' }));
      return sendJson(res, 200, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
    }
    if (req.method !== 'POST' || (path !== '/v1/messages' && path !== '/v1/messages/count_tokens')) {
      return sendError(res, 404, 'Not found');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return sendError(res, 400, 'There was an error parsing the body of your request.');
    if (typeof body.model !== 'string' || !body.model) return sendError(res, 400, 'model: Field required');
    if (models && !models.includes(body.model)) return sendError(res, 404, `model: ${body.model}`);
    if (!Array.isArray(body.messages) || body.messages.length === 0) return sendError(res, 400, 'messages: at least one message is required');

    if (path === '/v1/messages/count_tokens') {
      const o = b.usageOverride;
      const n = o ? o.input_tokens + (o.cache_creation_input_tokens ?? 0) + (o.cache_read_input_tokens ?? 0) : mockAnthropicInputTokens(body);
      return sendJson(res, 200, { input_tokens: n });
    }
    if (typeof body.max_tokens !== 'number') return sendError(res, 400, 'max_tokens: Field required');
    if (body.thinking?.type === 'enabled' && !(body.max_tokens > body.thinking.budget_tokens)) {
      return sendError(
        res,
        400,
        '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size',
      );
    }
    if (b.rawReply) {
      res.writeHead(200, { 'content-type': b.rawReply.contentType ?? 'application/json', 'content-length': String(Buffer.byteLength(b.rawReply.body)) });
      res.end(b.rawReply.body);
      return;
    }
    const echo = {
      path,
      query: record.query,
      version: record.version,
      betas: record.betas,
      auth: header(req.headers, 'x-api-key') ? 'x-api-key' : bearer(req.headers) ? 'bearer' : 'none',
      body,
    };
    const plan = planAnthropic(body, b, echo);
    const id = `msg_01${randomId(22)}`;
    if (body.stream === true) return stream(res, id, body.model, plan, b);
    if (b.disconnectAfterEvents !== undefined) return cut(res);
    sendJson(res, 200, {
      id,
      type: 'message',
      role: 'assistant',
      model: body.model,
      content: plan.content.map(blockWire),
      stop_reason: plan.stop_reason,
      stop_sequence: plan.stop_sequence,
      stop_details: null,
      usage: usageWire(plan.usage),
    });
  }

  function writeEvent(res: ServerResponse, name: string, data: unknown): Promise<void> {
    return new Promise((resolve) => {
      if (res.destroyed || res.writableEnded) return resolve();
      res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`, () => resolve());
    });
  }

  async function stream(res: ServerResponse, id: string, model: string, plan: AnthropicPlan, b: AnthropicBehavior) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'request-id': newRequestId(),
      'anthropic-organization-id': '00000000-0000-4000-8000-000000000000',
    });
    res.flushHeaders();
    await wait(b.firstEventDelayMs ?? 0);
    const events = anthropicStreamEvents(id, model, plan, b.chunks ?? ANTHROPIC_DEFAULT_CHUNKS);
    let sent = 0;
    for (const [name, data] of events) {
      if (res.destroyed || srv.closing) return;
      if (b.disconnectAfterEvents !== undefined && sent >= b.disconnectAfterEvents) return cut(res);
      if (b.errorAfterEvents !== undefined && sent >= b.errorAfterEvents) {
        const type = b.streamErrorType ?? 'overloaded_error';
        await writeEvent(res, 'error', { type: 'error', error: { type, message: DEFAULT_MESSAGES[type] ?? 'Error' } });
        res.end();
        return;
      }
      if (sent > 0) await wait(b.eventDelayMs ?? 0);
      if (res.destroyed || srv.closing) return;
      await writeEvent(res, name, data);
      sent++;
    }
    res.end();
  }

  const port = await srv.listen();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    setBehavior(nb: AnthropicBehaviorSource) {
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
