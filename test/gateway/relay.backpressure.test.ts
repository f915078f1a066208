// A client that reads slowly must slow the upstream down, not make Tally
// buffer the stream in memory: while the client is paused, the upstream's
// writes stop (its socket fills up), and once the client reads again every
// byte arrives and the request is charged from the upstream's usage.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { requestLogRow, verifyThenClose } from '../helpers/relay.ts';

const MODEL = 'bulk-stream';
const EVENTS = 25_000;
const WORDS_PER_EVENT = 400; // ~2.4 KB per event, ~60 MB in all

/** An OpenAI-style upstream that streams EVENTS content events as fast as its socket takes them, then usage and [DONE]. */
function startFloodUpstream() {
  const state = { written: 0, finished: false };
  const content = JSON.stringify({
    id: 'c',
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta: { content: ' word'.repeat(WORDS_PER_EVENT) }, finish_reason: null }],
  });
  const event = Buffer.from(`data: ${content}\n\n`);
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const pump = () => {
        while (i < EVENTS) {
          i++;
          state.written += event.length;
          if (!res.write(event)) return void res.once('drain', pump);
        }
        res.write(
          `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 7, completion_tokens: EVENTS * WORDS_PER_EVENT, total_tokens: 7 + EVENTS * WORDS_PER_EVENT } })}\n\n`,
        );
        res.end('data: [DONE]\n\n');
        state.finished = true;
      };
      pump();
    });
  });
  return new Promise<{ url: string; state: typeof state; close: () => Promise<void> }>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
      resolve({
        url,
        state,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

describe('stream back-pressure (SQLite)', () => {
  let t: TestTally;
  let upstream: Awaited<ReturnType<typeof startFloodUpstream>>;

  before(async () => {
    t = await startTestTally('sqlite');
    upstream = await startFloodUpstream();
    await createChannel(t.ctx.db, t.config.secret, {
      name: 'flood',
      type: 'openai',
      baseUrl: upstream.url,
      apiKey: 'sk-flood-upstream-0123456789',
      models: [MODEL],
    });
    await setModelPrice(t.ctx.db, { model: MODEL, inputPer1M: 1n, outputPer1M: 1n, maxOutputTokens: 10_000_000 });
    await t.ctx.catalog.reload();
  });
  after(() => verifyThenClose(t, upstream));

  test('a paused client pauses the upstream; resumed, it gets every byte and the request is charged', async () => {
    const u = await seedUser(t, { balance: 100_000_000n });
    const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'flood me' }], stream: true });
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const r = request(
        `${t.url}/v1/chat/completions`,
        { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${u.apiKey}` } },
        resolve,
      );
      r.on('error', reject);
      r.end(body);
    });
    assert.equal(res.statusCode, 200);
    const rid = res.headers['x-request-id'] as string;
    res.pause();
    // Let the pipes fill, then watch the upstream: with back-pressure it stops writing.
    await new Promise((r) => setTimeout(r, 1500));
    const a = upstream.state.written;
    await new Promise((r) => setTimeout(r, 750));
    const b = upstream.state.written;
    const total = EVENTS * (WORDS_PER_EVENT * 5 + 100);
    assert.equal(upstream.state.finished, false, `the upstream could not finish while the client was paused (${b} bytes written)`);
    assert.ok(b - a < 1_000_000, `the upstream was held back while the client was paused (${a} -> ${b} bytes)`);
    assert.ok(b < total / 2, `well under the ${total} byte stream was in flight (${b})`);

    let received = 0;
    let events = 0;
    let tail = '';
    for await (const chunk of res) {
      received += chunk.length;
      const text = tail + chunk.toString('latin1');
      const parts = text.split('\n\n');
      tail = parts.pop()!;
      for (const p of parts) if (p.includes('"content"')) events++;
      if (parts.some((p) => p.includes('"usage":{'))) assert.fail('the usage chunk reached a client that did not ask for it');
    }
    assert.equal(events, EVENTS, 'every content event arrived');
    assert.equal(tail, '');
    assert.ok(upstream.state.finished);
    const row = await requestLogRow(t, rid);
    assert.equal(Number(row.completion_tokens), EVENTS * WORDS_PER_EVENT);
    assert.equal(row.usage_source, 'upstream');
    assert.equal(Number(row.charged), 1, row.charge_reason);
    assert.ok(received > total / 2);
  });
});
