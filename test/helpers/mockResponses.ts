// A mock OpenAI upstream that speaks the Responses API natively (`POST /v1/responses`,
// `GET /v1/responses/{id}`): a real HTTP server on 127.0.0.1, the sibling of
// mockOpenAI.ts (same style: start, url ending in /v1, a request log, behaviours).
//
// Where each shape comes from (public sources, read for this file):
// - The Response object (id `resp_…`, object 'response', created_at, status, error,
//   incomplete_details, instructions, max_output_tokens, model, output, parallel_tool_calls,
//   previous_response_id, prompt_cache_key, reasoning, store, text, tool_choice, tools, usage
//   {input_tokens, input_tokens_details.cached_tokens, output_tokens,
//   output_tokens_details.reasoning_tokens, total_tokens}); output items `message`
//   (`msg_…`, content [{type:'output_text', annotations:[], logprobs:[], text}]),
//   `function_call` (`fc_…`, call_id `call_…`, name, arguments), `reasoning` (`rs_…`,
//   summary [{type:'summary_text', text}], encrypted_content when
//   include has 'reasoning.encrypted_content'): openai-node src/resources/responses/responses.ts
//   (6.x) and the docs' streaming guide.
// - The stream: `event: <type>\ndata: <json with type and sequence_number>\n\n`, no [DONE];
//   response.created, response.in_progress, then per item output_item.added,
//   (reasoning) reasoning_summary_part.added / reasoning_summary_text.delta / .done /
//   reasoning_summary_part.done, (message) content_part.added, output_text.delta…,
//   output_text.done, content_part.done, (function_call) function_call_arguments.delta…
//   / .done, output_item.done; then response.completed (or response.incomplete when
//   max_output_tokens cut it) carrying the whole response with usage; a failure after the
//   headers is `response.failed` with response.error. The SDK's ResponseAccumulator
//   (openai-node lib/responses) checks this order.
// - An unknown (or unstored) previous_response_id: 400 invalid_request_error, param
//   previous_response_id, code previous_response_not_found.
//
// Deterministic usage:
//   input_tokens  = words in `instructions` + (words of each input item's text + 3 per item)
//                   + (1 + words in the description) per function tool
//                   + with previous_response_id, that response's input_tokens + output_tokens
//                   (the stored conversation is input again)
//   output_tokens = text words + function-call argument words + reasoning words
//   reasoning_tokens = reasoning words (when reasoning.effort is set and not 'none')
// Not a test file itself.
import type { IncomingMessage, ServerResponse, IncomingHttpHeaders } from 'node:http';
import { mockServer } from './mockServer.ts';
import { createHash, randomBytes } from 'node:crypto';
import { countWords, mockReplyWords, openAIError } from './mockOpenAI.ts';

export { countWords, mockReplyWords, mockReplyText } from './mockOpenAI.ts';

export interface ResponsesUsage {
  /** Every input token, cached ones included. */
  input_tokens: number;
  /** Every output token, reasoning included. */
  output_tokens: number;
  cached_tokens?: number;
  reasoning_tokens?: number;
}

export type ResponsesReplyKind = 'text' | 'function_call' | 'echo';

export interface ResponsesBehavior {
  latencyMs?: number;
  /** Stream: delay between events. */
  eventDelayMs?: number;
  /** Answer with this status and an OpenAI error body. */
  fail?: number;
  failMessage?: string;
  failFirstN?: number;
  hang?: boolean;
  disconnectBeforeResponse?: boolean;
  /** Stream: destroy the socket after N events. Non-stream: drop the connection instead of the body. */
  disconnectAfterEvents?: number;
  /** Stream: after N events, send response.failed (server_error) and end. */
  failAfterEvents?: number;
  usageOverride?: ResponsesUsage;
  /** Default: function_call when function tools are given and the last user text says "call a tool", else text. */
  reply?: ResponsesReplyKind;
  replyWords?: number;
  reasoningWords?: number;
  /** Deltas a text or a summary is split into (default 8). */
  chunks?: number;
  rawReply?: { body: string; contentType?: string };
}

export type ResponsesBehaviorSource = ResponsesBehavior | ((req: ResponsesMockRequest) => ResponsesBehavior);

export interface ResponsesMockRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: any;
  seq: number;
  receivedAt: number;
  outcome?: 'completed' | 'client_closed' | 'mock_closed';
}

export interface ResponsesMockOptions {
  /** When set, every request must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  models?: string[] | null;
  behavior?: ResponsesBehaviorSource;
}

export interface MockResponses {
  /** Base URL ending in /v1. */
  url: string;
  port: number;
  requests: ResponsesMockRequest[];
  /** Responses this mock holds (store not false), by id. */
  stored: Map<string, Record<string, any>>;
  setBehavior(b: ResponsesBehaviorSource): void;
  requestsTo(suffix: string): ResponsesMockRequest[];
  openConnections(): number;
  close(): Promise<void>;
}

export const RESPONSES_DEFAULT_MODELS = ['gpt-5.1-codex', 'gpt-5.1', 'gpt-5-mini', 'gpt-4.1', 'o4-mini'];
export const RESPONSES_DEFAULT_REPLY_WORDS = 48;
export const RESPONSES_DEFAULT_REASONING_WORDS = 12;
export const RESPONSES_DEFAULT_CHUNKS = 8;

const REASONING_VOCAB = ['Let', 'me', 'think', 'about', 'this', 'step', 'by', 'step', 'before', 'I', 'answer', 'it'];

// ---------------------------------------------------------------------------
// Deterministic token arithmetic.

/** The text an input item (or a content value) counts. */
export function responsesItemText(item: unknown): string {
  if (typeof item === 'string') return item;
  if (!item || typeof item !== 'object') return '';
  const it = item as Record<string, any>;
  if (it.type === 'function_call') return typeof it.arguments === 'string' ? it.arguments : '';
  if (it.type === 'function_call_output') return typeof it.output === 'string' ? it.output : responsesItemText({ content: it.output });
  if (it.type === 'reasoning') return Array.isArray(it.summary) ? it.summary.map((s: any) => s?.text ?? '').join(' ') : '';
  const c = it.content;
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((p: any) => (typeof p?.text === 'string' ? p.text : '')).join(' ');
  return '';
}

function inputItems(body: any): unknown[] {
  if (typeof body?.input === 'string') return [{ role: 'user', content: body.input }];
  return Array.isArray(body?.input) ? body.input : [];
}

function functionTools(body: any): any[] {
  return (Array.isArray(body?.tools) ? body.tools : []).filter((t: any) => t?.type === 'function' && typeof t.name === 'string');
}

/** input_tokens for a body (without a previous response's share). */
export function mockResponsesInputTokens(body: any): number {
  let n = countWords(typeof body?.instructions === 'string' ? body.instructions : '');
  for (const it of inputItems(body)) n += countWords(responsesItemText(it)) + 3;
  for (const t of functionTools(body)) n += 1 + countWords(typeof t.description === 'string' ? t.description : '');
  return n;
}

/** The text of the last input item when it is a user message ('' after a function_call_output: the model answers the result). */
function lastUserText(body: any): string {
  const last = (inputItems(body) as any[]).at(-1);
  return last?.role === 'user' ? responsesItemText(last) : '';
}

export function responsesReplyKind(body: any, b: ResponsesBehavior = {}): ResponsesReplyKind {
  if (b.reply) return b.reply;
  if (functionTools(body).length > 0 && /call a tool/i.test(lastUserText(body))) return 'function_call';
  return 'text';
}

/** Arguments for a JSON schema: every property "mock <name>", pretty-printed (so it counts several words). */
export function mockSchemaArguments(schema: any): string {
  const props = schema?.properties;
  const out: Record<string, string> = {};
  for (const k of Object.keys(props && typeof props === 'object' ? props : {})) out[k] = `mock ${k}`;
  if (!Object.keys(out).length) out.input = 'mock input';
  return JSON.stringify(out, null, 1);
}

function deterministicId(seed: string, len: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, len);
}

const randomHex = (len: number) =>
  randomBytes(Math.ceil(len / 2))
    .toString('hex')
    .slice(0, len);

export interface ResponsesPlan {
  reasoning: { id: string; text: string; summary: boolean; encrypted: string | null } | null;
  text: string | null;
  call: { id: string; callId: string; name: string; arguments: string } | null;
  messageId: string;
  incomplete: boolean;
  usage: Required<ResponsesUsage>;
}

/** What the mock answers for a body (prior: the stored previous response, when one was named). */
export function planResponses(body: any, b: ResponsesBehavior = {}, prior?: Record<string, any>, echo?: unknown): ResponsesPlan {
  const kind = responsesReplyKind(body, b);
  const seed = JSON.stringify(body);
  const effort = body?.reasoning?.effort;
  const plan: ResponsesPlan = {
    reasoning: null,
    text: null,
    call: null,
    messageId: `msg_${deterministicId(`m${seed}`, 48)}`,
    incomplete: false,
    usage: { input_tokens: 0, output_tokens: 0, cached_tokens: 0, reasoning_tokens: 0 },
  };
  if (typeof effort === 'string' && effort !== 'none') {
    const n = b.reasoningWords ?? RESPONSES_DEFAULT_REASONING_WORDS;
    const text = Array.from({ length: n }, (_, i) => REASONING_VOCAB[i % REASONING_VOCAB.length]).join(' ');
    const wantsEncrypted = Array.isArray(body?.include) && body.include.includes('reasoning.encrypted_content');
    plan.reasoning = {
      id: `rs_${deterministicId(`r${seed}`, 48)}`,
      text,
      summary: body?.reasoning?.summary != null && body.reasoning.summary !== 'none',
      encrypted: wantsEncrypted ? `gAAAAA${Buffer.from(`mock-reasoning:${text}`).toString('base64')}` : null,
    };
  }
  const max = typeof body?.max_output_tokens === 'number' ? body.max_output_tokens : Number.POSITIVE_INFINITY;
  if (kind === 'function_call') {
    const t = functionTools(body)[0];
    plan.call = {
      id: `fc_${deterministicId(`f${seed}`, 48)}`,
      callId: `call_${deterministicId(`c${seed}`, 24)}`,
      name: t.name,
      arguments: mockSchemaArguments(t.parameters),
    };
  } else if (kind === 'echo') {
    plan.text = JSON.stringify(echo ?? null);
  } else if (body?.text?.format?.type === 'json_schema') {
    plan.text = mockSchemaArguments(body.text.format.schema);
  } else {
    let words = mockReplyWords(b.replyWords ?? RESPONSES_DEFAULT_REPLY_WORDS);
    const reasoningWords = plan.reasoning ? countWords(plan.reasoning.text) : 0;
    // max_output_tokens counts reasoning too, as the real API does.
    if (reasoningWords + words.length > max) {
      words = words.slice(0, Math.max(0, max - reasoningWords));
      plan.incomplete = true;
    }
    plan.text = words.join(' ');
  }
  const o = b.usageOverride;
  if (o)
    plan.usage = {
      input_tokens: o.input_tokens,
      output_tokens: o.output_tokens,
      cached_tokens: o.cached_tokens ?? 0,
      reasoning_tokens: o.reasoning_tokens ?? 0,
    };
  else {
    const reasoning = plan.reasoning ? countWords(plan.reasoning.text) : 0;
    const prev = prior?.usage ? prior.usage.input_tokens + prior.usage.output_tokens : 0;
    plan.usage = {
      input_tokens: mockResponsesInputTokens(body) + prev,
      output_tokens: reasoning + (plan.text !== null ? countWords(plan.text) : 0) + (plan.call ? countWords(plan.call.arguments) : 0),
      cached_tokens: 0,
      reasoning_tokens: reasoning,
    };
  }
  return plan;
}

export function responsesUsageWire(u: Required<ResponsesUsage>) {
  return {
    input_tokens: u.input_tokens,
    input_tokens_details: { cached_tokens: u.cached_tokens },
    output_tokens: u.output_tokens,
    output_tokens_details: { reasoning_tokens: u.reasoning_tokens },
    total_tokens: u.input_tokens + u.output_tokens,
  };
}

function reasoningItem(plan: ResponsesPlan, done: boolean): Record<string, unknown> {
  const r = plan.reasoning!;
  const item: Record<string, unknown> = { id: r.id, type: 'reasoning', summary: done && r.summary ? [{ type: 'summary_text', text: r.text }] : [] };
  if (r.encrypted !== null) item.encrypted_content = r.encrypted;
  return item;
}

function outputText(text: string) {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

function messageItem(plan: ResponsesPlan, done: boolean): Record<string, unknown> {
  return {
    id: plan.messageId,
    type: 'message',
    status: done ? 'completed' : 'in_progress',
    content: done ? [outputText(plan.text ?? '')] : [],
    role: 'assistant',
  };
}

function callItem(plan: ResponsesPlan, done: boolean): Record<string, unknown> {
  const c = plan.call!;
  return { id: c.id, type: 'function_call', status: done ? 'completed' : 'in_progress', arguments: done ? c.arguments : '', call_id: c.callId, name: c.name };
}

/** The finished output items of a plan, in order. */
export function responsesOutput(plan: ResponsesPlan): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  if (plan.reasoning) out.push(reasoningItem(plan, true));
  if (plan.call) out.push(callItem(plan, true));
  else out.push(messageItem(plan, true));
  return out;
}

/** The Response object (status in_progress with no output and no usage while streaming starts). */
export function responseObject(id: string, body: any, plan: ResponsesPlan, createdAt: number, state: 'in_progress' | 'done' | 'failed'): Record<string, any> {
  const done = state === 'done';
  const status = state === 'failed' ? 'failed' : !done ? 'in_progress' : plan.incomplete ? 'incomplete' : 'completed';
  return {
    id,
    object: 'response',
    created_at: createdAt,
    status,
    background: false,
    error: state === 'failed' ? { code: 'server_error', message: 'The server had an error while processing your request. Sorry about that!' } : null,
    incomplete_details: done && plan.incomplete ? { reason: 'max_output_tokens' } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    max_tool_calls: null,
    model: body.model,
    output: done ? responsesOutput(plan) : [],
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    prompt_cache_key: body.prompt_cache_key ?? null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
    safety_identifier: null,
    service_tier: 'default',
    store: body.store !== false,
    temperature: body.temperature ?? 1,
    text: { format: body.text?.format ?? { type: 'text' }, verbosity: body.text?.verbosity ?? 'medium' },
    tool_choice: body.tool_choice ?? 'auto',
    tools: Array.isArray(body.tools) ? body.tools : [],
    top_logprobs: 0,
    top_p: body.top_p ?? 1,
    truncation: 'disabled',
    usage: done ? responsesUsageWire(plan.usage) : null,
    user: null,
    metadata: body.metadata ?? {},
  };
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

/** The stream events of a plan, in the real order; each data carries type and sequence_number. */
export function responsesStreamEvents(
  id: string,
  body: any,
  plan: ResponsesPlan,
  createdAt: number,
  chunks = RESPONSES_DEFAULT_CHUNKS,
): Array<Record<string, any>> {
  const ev: Array<Record<string, any>> = [];
  const push = (type: string, fields: Record<string, unknown>) => ev.push({ type, ...fields, sequence_number: ev.length });
  push('response.created', { response: responseObject(id, body, plan, createdAt, 'in_progress') });
  push('response.in_progress', { response: responseObject(id, body, plan, createdAt, 'in_progress') });
  let index = 0;
  if (plan.reasoning) {
    const r = plan.reasoning;
    push('response.output_item.added', { output_index: index, item: reasoningItem(plan, false) });
    if (r.summary) {
      const at = { item_id: r.id, output_index: index, summary_index: 0 };
      push('response.reasoning_summary_part.added', { ...at, part: { type: 'summary_text', text: '' } });
      for (const d of splitText(r.text, chunks)) push('response.reasoning_summary_text.delta', { ...at, delta: d });
      push('response.reasoning_summary_text.done', { ...at, text: r.text });
      push('response.reasoning_summary_part.done', { ...at, part: { type: 'summary_text', text: r.text } });
    }
    push('response.output_item.done', { output_index: index, item: reasoningItem(plan, true) });
    index++;
  }
  if (plan.call) {
    const c = plan.call;
    push('response.output_item.added', { output_index: index, item: callItem(plan, false) });
    for (let i = 0; i < c.arguments.length; i += 7)
      push('response.function_call_arguments.delta', { item_id: c.id, output_index: index, delta: c.arguments.slice(i, i + 7) });
    push('response.function_call_arguments.done', { item_id: c.id, output_index: index, arguments: c.arguments });
    push('response.output_item.done', { output_index: index, item: callItem(plan, true) });
  } else {
    const text = plan.text ?? '';
    const at = { item_id: plan.messageId, output_index: index, content_index: 0 };
    push('response.output_item.added', { output_index: index, item: messageItem(plan, false) });
    push('response.content_part.added', { ...at, part: outputText('') });
    for (const d of splitText(text, chunks)) push('response.output_text.delta', { ...at, delta: d, logprobs: [] });
    push('response.output_text.done', { ...at, text, logprobs: [] });
    push('response.content_part.done', { ...at, part: outputText(text) });
    push('response.output_item.done', { output_index: index, item: messageItem(plan, true) });
  }
  push(plan.incomplete ? 'response.incomplete' : 'response.completed', { response: responseObject(id, body, plan, createdAt, 'done') });
  return ev;
}

/** Reads a raw Responses SSE body into its events: [{event, data}] with data parsed. */
export function parseResponsesSse(text: string): Array<{ event: string; data: any }> {
  const out: Array<{ event: string; data: any }> = [];
  for (const block of text.split('\n\n')) {
    if (!block.trim()) continue;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    out.push({ event, data: JSON.parse(data.join('\n')) });
  }
  return out;
}

function bearer(h: IncomingHttpHeaders): string | null {
  const m = /^Bearer\s+(.+)$/i.exec(h.authorization ?? '');
  return m ? m[1].trim() : null;
}

function parseBehaviorHeader(v: string | string[] | undefined): ResponsesBehavior {
  if (!v) return {};
  try {
    return JSON.parse(Array.isArray(v) ? v[0] : v) as ResponsesBehavior;
  } catch {
    return {};
  }
}

const FAIL_BODIES: Record<number, [string, string, string | null]> = {
  400: ["Invalid value for 'input': expected a string or an array of input items.", 'invalid_request_error', 'invalid_value'],
  401: ['Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.', 'invalid_request_error', 'invalid_api_key'],
  403: ['Country, region, or territory not supported', 'request_forbidden', 'unsupported_country_region_territory'],
  404: ['The model does not exist or you do not have access to it.', 'invalid_request_error', 'model_not_found'],
  429: ['Rate limit reached for requests per min (RPM). Please try again in 20s.', 'requests', 'rate_limit_exceeded'],
  500: ['The server had an error while processing your request. Sorry about that!', 'server_error', null],
  503: ['The server is overloaded or not ready yet.', 'server_error', null],
};

// ---------------------------------------------------------------------------
// The server.

export async function startMockResponses(opts: ResponsesMockOptions = {}): Promise<MockResponses> {
  const requests: ResponsesMockRequest[] = [];
  const stored = new Map<string, Record<string, any>>();
  let behavior: ResponsesBehaviorSource = opts.behavior ?? {};
  let failedSoFar = 0;
  const models = opts.models === undefined ? RESPONSES_DEFAULT_MODELS : opts.models;
  const srv = mockServer(handle, (res, message) => sendJson(res, 500, openAIError(message, 'server_error', null)));
  const { cut, wait } = srv;

  function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    if (res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      'x-request-id': `req_${randomHex(32)}`,
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
    const record: ResponsesMockRequest = {
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
    const b: ResponsesBehavior = { ...base, ...parseBehaviorHeader(req.headers['x-mock-behavior']) };
    if (b.hang) return;
    if (b.disconnectBeforeResponse) return cut(res);
    await wait(b.latencyMs ?? 0);
    if (res.destroyed || srv.closing) return;

    if (opts.apiKey !== undefined && bearer(req.headers) !== opts.apiKey) {
      const [m, t, c] = FAIL_BODIES[401];
      return sendJson(res, 401, openAIError(m, t, c));
    }
    let failStatus: number | undefined;
    if (b.failFirstN !== undefined) {
      if (failedSoFar < b.failFirstN) {
        failedSoFar++;
        failStatus = b.fail ?? 500;
      }
    } else if (b.fail) failStatus = b.fail;
    if (failStatus) {
      const [m, t, c] = FAIL_BODIES[failStatus] ?? FAIL_BODIES[500];
      return sendJson(res, failStatus, openAIError(b.failMessage ?? m, t, c), failStatus === 429 ? { 'retry-after': '1' } : {});
    }

    const path = url.pathname;
    const got = /^\/v1\/responses\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && got) {
      const r = stored.get(got[1]);
      if (!r) return sendJson(res, 404, openAIError(`Response with id '${got[1]}' not found.`, 'invalid_request_error', null, 'response_id'));
      return sendJson(res, 200, r);
    }
    if (req.method !== 'POST' || path !== '/v1/responses')
      return sendJson(res, 404, openAIError(`Invalid URL (${req.method} ${path})`, 'invalid_request_error', null));
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      return sendJson(res, 400, openAIError('We could not parse the JSON body of your request.', 'invalid_request_error', null));
    if (typeof body.model !== 'string' || !body.model)
      return sendJson(res, 400, openAIError("Missing required parameter: 'model'.", 'invalid_request_error', 'missing_required_parameter', 'model'));
    if (models && !models.includes(body.model))
      return sendJson(res, 400, openAIError(`The requested model '${body.model}' does not exist.`, 'invalid_request_error', 'model_not_found', 'model'));
    let prior: Record<string, any> | undefined;
    if (body.previous_response_id != null) {
      prior = stored.get(body.previous_response_id);
      if (!prior)
        return sendJson(
          res,
          400,
          openAIError(
            `Previous response with id '${body.previous_response_id}' not found.`,
            'invalid_request_error',
            'previous_response_not_found',
            'previous_response_id',
          ),
        );
    }
    if (body.input == null && prior === undefined)
      return sendJson(res, 400, openAIError("Missing required parameter: 'input'.", 'invalid_request_error', 'missing_required_parameter', 'input'));
    if (b.rawReply) {
      res.writeHead(200, { 'content-type': b.rawReply.contentType ?? 'application/json', 'content-length': String(Buffer.byteLength(b.rawReply.body)) });
      res.end(b.rawReply.body);
      return;
    }
    const plan = planResponses(body, b, prior, { path, auth: bearer(req.headers) ? 'bearer' : 'none', body });
    const id = `resp_${randomHex(48)}`;
    const createdAt = Math.floor(Date.now() / 1000);
    const whole = responseObject(id, body, plan, createdAt, 'done');
    if (body.store !== false) stored.set(id, whole);
    if (body.stream === true) return stream(res, id, body, plan, createdAt, b);
    if (b.disconnectAfterEvents !== undefined) return cut(res);
    sendJson(res, 200, whole);
  }

  function write(res: ServerResponse, text: string): Promise<void> {
    return new Promise((resolve) => {
      if (res.destroyed || res.writableEnded) return resolve();
      res.write(text, () => resolve());
    });
  }

  async function stream(res: ServerResponse, id: string, body: any, plan: ResponsesPlan, createdAt: number, b: ResponsesBehavior) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': `req_${randomHex(32)}`,
    });
    res.flushHeaders();
    const events = responsesStreamEvents(id, body, plan, createdAt, b.chunks ?? RESPONSES_DEFAULT_CHUNKS);
    let sent = 0;
    for (const e of events) {
      if (res.destroyed || srv.closing) return;
      if (b.disconnectAfterEvents !== undefined && sent >= b.disconnectAfterEvents) return cut(res);
      if (b.failAfterEvents !== undefined && sent >= b.failAfterEvents) {
        const failed = { type: 'response.failed', response: responseObject(id, body, plan, createdAt, 'failed'), sequence_number: sent };
        await write(res, `event: response.failed\ndata: ${JSON.stringify(failed)}\n\n`);
        res.end();
        return;
      }
      if (sent > 0) await wait(b.eventDelayMs ?? 0);
      if (res.destroyed || srv.closing) return;
      await write(res, `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
      sent++;
    }
    res.end();
  }

  const port = await srv.listen();
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    stored,
    setBehavior(nb: ResponsesBehaviorSource) {
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
