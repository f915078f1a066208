// A minimal, fast OpenAI-compatible upstream for benchmarks (separate process).
// POST /v1/chat/completions: non-stream JSON, or a stream of 16 content chunks
// + a usage chunk + [DONE]. Model "slow-stream" sends one chunk a second for a
// minute (to hold streams open for the memory measurement).
// POST /v1/messages: the same answer in Anthropic's Messages format (a whole
// Message, or message_start, a text block of 16 deltas with its ping,
// message_delta with the usage, message_stop), for the Anthropic-inbound runs.
// POST /v1/responses: the same answer as a Response (OpenAI's Responses API:
// a whole Response, or response.created … 16 output_text deltas …
// response.completed with the usage), for the Responses-inbound runs.
// POST /v1beta/models/{m}:generateContent / :streamGenerateContent?alt=sse:
// the same answer in Gemini's format (16 chunks, usageMetadata on the last).
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 0);
const created = Math.floor(Date.now() / 1000);
const usage = { prompt_tokens: 12, completion_tokens: 16, total_tokens: 28 };
const whole = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created,
  model: 'bench-model',
  choices: [{ index: 0, message: { role: 'assistant', content: 'word '.repeat(16).trim(), refusal: null }, logprobs: null, finish_reason: 'stop' }],
  usage,
});
const chunk = (content: string | null, finish: string | null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created, model: 'bench-model', choices: [{ index: 0, delta: content === null ? {} : { content }, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
const streamBody =
  Array.from({ length: 16 }, () => chunk('word ', null)).join('') +
  chunk(null, 'stop') +
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created, model: 'bench-model', choices: [], usage })}\n\n` +
  'data: [DONE]\n\n';
const streamChunks = streamBody.split(/(?<=\n\n)/);

const anthropicUsage = { input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 16 };
const message = JSON.stringify({
  id: 'msg_bench',
  type: 'message',
  role: 'assistant',
  model: 'bench-model',
  content: [{ type: 'text', text: 'word '.repeat(16).trim() }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: anthropicUsage,
});
const ev = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
const messageEvents = [
  ev('message_start', {
    type: 'message_start',
    message: {
      id: 'msg_bench',
      type: 'message',
      role: 'assistant',
      model: 'bench-model',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...anthropicUsage, output_tokens: 1 },
    },
  }),
  ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  ev('ping', { type: 'ping' }),
  ...Array.from({ length: 16 }, () => ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'word ' } })),
  ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
  ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 16 } }),
  ev('message_stop', { type: 'message_stop' }),
];

// OpenAI's Responses API.
const responsesUsage = {
  input_tokens: 12,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 16,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 28,
};
const text16 = 'word '.repeat(16).trim();
const messageItem = (text: string, status: string) => ({
  id: 'msg_bench',
  type: 'message',
  status,
  role: 'assistant',
  content: text === '' && status === 'in_progress' ? [] : [{ type: 'output_text', annotations: [], logprobs: [], text }],
});
const responseObject = (status: string, output: unknown[], usage: unknown) => ({
  id: 'resp_bench',
  object: 'response',
  created_at: created,
  status,
  error: null,
  incomplete_details: null,
  model: 'bench-model',
  output,
  parallel_tool_calls: true,
  store: false,
  tool_choice: 'auto',
  tools: [],
  usage,
});
const responseWhole = JSON.stringify(responseObject('completed', [messageItem(text16, 'completed')], responsesUsage));
let seq = 0;
const rev = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data, sequence_number: seq++ })}\n\n`;
const responseEvents = [
  rev('response.created', { response: responseObject('in_progress', [], null) }),
  rev('response.in_progress', { response: responseObject('in_progress', [], null) }),
  rev('response.output_item.added', { output_index: 0, item: messageItem('', 'in_progress') }),
  rev('response.content_part.added', {
    item_id: 'msg_bench',
    output_index: 0,
    content_index: 0,
    part: { type: 'output_text', annotations: [], logprobs: [], text: '' },
  }),
  ...Array.from({ length: 16 }, (_, i) =>
    rev('response.output_text.delta', { item_id: 'msg_bench', output_index: 0, content_index: 0, delta: i < 15 ? 'word ' : 'word', logprobs: [] }),
  ),
  rev('response.output_text.done', { item_id: 'msg_bench', output_index: 0, content_index: 0, text: text16, logprobs: [] }),
  rev('response.content_part.done', {
    item_id: 'msg_bench',
    output_index: 0,
    content_index: 0,
    part: { type: 'output_text', annotations: [], logprobs: [], text: text16 },
  }),
  rev('response.output_item.done', { output_index: 0, item: messageItem(text16, 'completed') }),
  rev('response.completed', { response: responseObject('completed', [messageItem(text16, 'completed')], responsesUsage) }),
];

// Gemini's generateContent.
const geminiUsage = { promptTokenCount: 12, candidatesTokenCount: 16, totalTokenCount: 28 };
const geminiWhole = JSON.stringify({
  candidates: [{ content: { parts: [{ text: text16 }], role: 'model' }, finishReason: 'STOP', index: 0 }],
  usageMetadata: geminiUsage,
  modelVersion: 'bench-gemini',
  responseId: 'bench-gemini-response',
});
const geminiChunks = Array.from(
  { length: 16 },
  (_, i) =>
    `data: ${JSON.stringify({
      candidates: [{ content: { parts: [{ text: 'word ' }], role: 'model' }, index: 0, ...(i === 15 ? { finishReason: 'STOP' } : {}) }],
      ...(i === 15 ? { usageMetadata: geminiUsage } : {}),
      modelVersion: 'bench-gemini',
      responseId: 'bench-gemini-response',
    })}\r\n\r\n`,
);

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    if (req.url?.endsWith('/models')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"object":"list","data":[{"id":"bench-model","object":"model","created":0,"owned_by":"bench"}]}');
      return;
    }
    const stream = body.includes('"stream":true');
    if (req.url?.startsWith('/v1beta/models/')) {
      if (!req.url.includes(':streamGenerateContent')) {
        res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(geminiWhole) });
        res.end(geminiWhole);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const c of geminiChunks) res.write(c);
      res.end();
      return;
    }
    if (req.url?.startsWith('/v1/responses')) {
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(responseWhole) });
        res.end(responseWhole);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      for (const e of responseEvents) res.write(e);
      res.end();
      return;
    }
    if (req.url?.startsWith('/v1/messages')) {
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(message) });
        res.end(message);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      for (const e of messageEvents) res.write(e);
      res.end();
      return;
    }
    if (!stream) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(whole) });
      res.end(whole);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (body.includes('slow-stream')) {
      let i = 0;
      const t = setInterval(() => {
        if (i++ >= 60 || res.destroyed) {
          clearInterval(t);
          res.end(streamChunks.slice(16).join(''));
          return;
        }
        res.write(streamChunks[0]);
      }, 1000);
      res.on('close', () => clearInterval(t));
      return;
    }
    // Each event as its own write, as a real provider sends them.
    for (const c of streamChunks) res.write(c);
    res.end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`LISTENING ${typeof a === 'object' && a ? a.port : port}\n`);
});
