import type { ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { countForBilling } from '../tokenCounter.ts';

// The built-in demo upstream: an OpenAI-compatible model that answers
// offline, so the README's first request works on a fresh install. It is a
// real HTTP upstream (served by Tally itself under /_demo/v1) reached through
// the same relay, billing and logging path as any provider.

export const DEMO_MODELS = { chat: 'demo-chat', embed: 'demo-embed' } as const;

// Counted like Tally counts (a large text on the counting thread: this upstream shares Tally's event loop).
async function promptTokens(messages: any[]): Promise<number> {
  return (
    (await countForBilling(messages.map((m) => (typeof m?.content === 'string' ? m.content : JSON.stringify(m?.content ?? ''))).join('\n'))) +
    3 * messages.length
  );
}

function reply(messages: any[]): string {
  const last = [...messages].reverse().find((m) => m?.role === 'user');
  const said = typeof last?.content === 'string' ? last.content : 'something';
  const short = said.length > 120 ? said.slice(0, 117) + '...' : said;
  return `Hello from Tally's demo model. You said: "${short}". Point a channel at a real provider (tally channel add) to talk to GPT, Claude, Gemini or DeepSeek.`;
}

function words(text: string, maxTokens: number | undefined): string[] {
  const parts = text.split(/(?<= )/);
  return maxTokens ? parts.slice(0, Math.max(1, maxTokens)) : parts;
}

export async function demoChat(body: any, res: ServerResponse): Promise<void> {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  const id = `chatcmpl-demo${Date.now().toString(36)}`;
  const created = Math.floor(Date.now() / 1000);
  const model = body?.model ?? DEMO_MODELS.chat;
  const pieces = words(reply(messages), body?.max_tokens ?? body?.max_completion_tokens);
  const text = pieces.join('');
  const usage = { prompt_tokens: await promptTokens(messages), completion_tokens: await countForBilling(text), total_tokens: 0 };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  const finish = pieces.length < reply(messages).split(/(?<= )/).length ? 'length' : 'stop';
  if (body?.stream !== true) {
    const out = JSON.stringify({
      id,
      object: 'chat.completion',
      created,
      model,
      system_fingerprint: 'fp_tally_demo',
      choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finish }],
      usage,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    res.end(out);
    return;
  }
  const withUsage = body?.stream_options?.include_usage === true;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const chunk = (delta: object, finish_reason: string | null) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_tally_demo', choices: [{ index: 0, delta, logprobs: null, finish_reason }], ...(withUsage ? { usage: null } : {}) })}\n\n`;
  res.write(chunk({ role: 'assistant', content: '', refusal: null }, null));
  for (const p of pieces) res.write(chunk({ content: p }, null));
  res.write(chunk({}, finish));
  if (withUsage)
    res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_tally_demo', choices: [], usage })}\n\n`);
  res.end('data: [DONE]\n\n');
}

export async function demoEmbeddings(body: any, res: ServerResponse): Promise<void> {
  const inputs: string[] = Array.isArray(body?.input) ? body.input.map((x: unknown) => String(x)) : [String(body?.input ?? '')];
  const data = inputs.map((text, index) => {
    const h = createHash('sha256').update(text).digest();
    const v = Array.from({ length: 16 }, (_, i) => (h[i] - 128) / 128);
    const norm = Math.hypot(...v) || 1;
    return { object: 'embedding', index, embedding: v.map((x) => x / norm) };
  });
  let tokens = 0;
  for (const t of inputs) tokens += await countForBilling(t);
  const out = JSON.stringify({ object: 'list', data, model: body?.model ?? DEMO_MODELS.embed, usage: { prompt_tokens: tokens, total_tokens: tokens } });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
  res.end(out);
}
