// The Anthropic usage reader (protocols/anthropic/usage.ts) and its stream tap
// (sse.ts): the one convention of pricing.ts's Usage (the prompt total
// includes cache reads and writes), the cache-write split, and a stream cut at
// every byte boundary read the same as whole, its bytes forwarded unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anthropicUsage, readAnthropicAnswer } from '../../src/gateway/protocols/anthropic/usage.ts';
import { AnthropicSseTap } from '../../src/gateway/protocols/anthropic/sse.ts';
import { anthropicPath } from '../../src/gateway/providers/anthropic/request.ts';
import type { RuntimeChannel } from '../../src/gateway/catalog.ts';
import { anthropicStreamEvents, planAnthropic, type AnthropicUsage } from '../helpers/mockAnthropic.ts';

test('usage: input + cache reads + cache writes is the prompt; reads are cached; the write split by TTL', () => {
  assert.deepEqual(
    anthropicUsage({
      input_tokens: 10,
      cache_read_input_tokens: 2000,
      cache_creation_input_tokens: 300,
      cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 },
      output_tokens: 50,
    }),
    { promptTokens: 2310, completionTokens: 50, cachedTokens: 2000, cacheWriteTokens: 100, cacheWrite1hTokens: 200 },
  );
});

test('usage: an unsplit cache write (cache_creation null or absent) is all 5-minute', () => {
  for (const cache_creation of [null, undefined]) {
    assert.deepEqual(anthropicUsage({ input_tokens: 1, cache_creation_input_tokens: 40, cache_creation, output_tokens: 2 }), {
      promptTokens: 41,
      completionTokens: 2,
      cachedTokens: 0,
      cacheWriteTokens: 40,
      cacheWrite1hTokens: 0,
    });
  }
  assert.equal(anthropicUsage(null), null);
  assert.deepEqual(anthropicUsage({ input_tokens: -3, output_tokens: Number.NaN }), {
    promptTokens: 0,
    completionTokens: 0,
    cachedTokens: 0,
    cacheWriteTokens: 0,
    cacheWrite1hTokens: 0,
  });
});

test('a whole Message, a Message without usage (its text counted), and a body that is not one', () => {
  const whole = readAnthropicAnswer(
    Buffer.from(JSON.stringify({ type: 'message', content: [{ type: 'text', text: 'hi' }], usage: { input_tokens: 3, output_tokens: 1 } })),
  );
  assert.equal(whole.shape, 'json');
  assert.equal(whole.usage?.promptTokens, 3);
  const noUsage = readAnthropicAnswer(
    Buffer.from(
      JSON.stringify({
        content: [
          { type: 'text', text: 'hello' },
          { type: 'tool_use', name: 'f', input: { a: 1 } },
        ],
      }),
    ),
  );
  assert.equal(noUsage.usage, null);
  assert.equal(noUsage.output, 'hellof{"a":1}');
  assert.equal(readAnthropicAnswer(Buffer.from('<html>bad gateway</html>')).shape, 'unrecognised');
});

function streamBytes(usageOverride?: AnthropicUsage): Buffer {
  const plan = planAnthropic({ messages: [{ role: 'user', content: 'say something' }], max_tokens: 100 }, { usageOverride, replyWords: 12 });
  return Buffer.from(
    anthropicStreamEvents('msg_01x', 'claude-x', plan, 4)
      .map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`)
      .join(''),
  );
}

test('the tap forwards every byte unchanged and reads the same usage whatever the chunk boundaries', () => {
  const bytes = streamBytes({
    input_tokens: 7,
    output_tokens: 12,
    cache_read_input_tokens: 900,
    cache_creation_input_tokens: 60,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 60 },
  });
  const expected = { promptTokens: 967, completionTokens: 12, cachedTokens: 900, cacheWriteTokens: 0, cacheWrite1hTokens: 60 };
  for (let cut = 1; cut < bytes.length; cut += 7) {
    const tap = new AnthropicSseTap();
    const out = Buffer.concat([tap.push(Buffer.from(bytes.subarray(0, cut))), tap.push(Buffer.from(bytes.subarray(cut))), tap.flushCarry()]);
    assert.ok(out.equals(bytes), `cut at ${cut}`);
    assert.deepEqual(tap.reportedUsage(), expected, `cut at ${cut}`);
    assert.equal(tap.failedInStream(), false);
  }
  // Byte by byte.
  const tap = new AnthropicSseTap();
  for (let i = 0; i < bytes.length; i++) tap.push(bytes.subarray(i, i + 1));
  assert.deepEqual(tap.reportedUsage(), expected);
  assert.equal(tap.producedText().split(' ').length, 12);
});

test('a stream that ends before message_delta reports no final usage, only its prompt side; an error event is noticed', () => {
  const bytes = streamBytes();
  const cut = bytes.indexOf('event: message_delta');
  const tap = new AnthropicSseTap();
  tap.push(bytes.subarray(0, cut));
  tap.push(Buffer.from('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'));
  assert.equal(tap.reportedUsage(), null);
  assert.equal(tap.promptUsage()?.promptTokens, 5, '2 words + 3 for the message');
  assert.equal(tap.promptUsage()?.completionTokens, 0);
  assert.equal(tap.failedInStream(), true);
  // Generated text that merely mentions an error event is not one.
  const t2 = new AnthropicSseTap();
  t2.push(
    Buffer.from(
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\\nevent: error \\"usage\\""}}\n\n',
    ),
  );
  assert.equal(t2.failedInStream(), false);
  assert.equal(t2.promptUsage(), null);
});

test('the upstream path: <base>/v1/messages for a base URL as the SDK takes it, with or without a path, or already ending in /v1', () => {
  // The catalog turns a base without a path into the prefix /v1 (catalog.ts).
  const at = (pathPrefix: string) => anthropicPath({ pathPrefix } as RuntimeChannel, '/messages');
  assert.equal(at('/v1'), '/v1/messages'); // https://api.anthropic.com
  assert.equal(at('/anthropic'), '/anthropic/v1/messages'); // https://proxy.example/anthropic
  assert.equal(at('/anthropic/v1'), '/anthropic/v1/messages');
});
