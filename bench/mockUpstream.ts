// A minimal, fast OpenAI-compatible upstream for benchmarks (separate process).
// POST /v1/chat/completions: non-stream JSON, or a stream of 16 content chunks
// + a usage chunk + [DONE]. Model "slow-stream" sends one chunk a second for a
// minute (to hold streams open for the memory measurement).
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
