import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SseUsageTap } from '../../src/gateway/protocols/openai/sse.ts';

// The usage tap sits between upstream and client on every stream. Whatever
// way upstream's bytes are cut into chunks, the client must get exactly the
// upstream bytes (minus the usage-only event when the client did not ask for
// usage), and Tally must read the usage.

const usage = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 };
const ev = (obj: unknown, nl = '\n') => `data: ${JSON.stringify(obj)}${nl}${nl}`;
const delta = (content: string, nl = '\n') =>
  ev({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: null }], usage: null }, nl);
const usageEvent = (nl = '\n') => ev({ id: 'c1', object: 'chat.completion.chunk', choices: [], usage }, nl);

function stream(nl = '\n') {
  const head =
    delta('Hé, ', nl) +
    delta('世界 ', nl) +
    delta('🙂 done', nl) +
    ev({ id: 'c1', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null }, nl);
  const u = usageEvent(nl);
  const done = `data: [DONE]${nl}${nl}`;
  return { all: head + u + done, withoutUsage: head + done };
}

/** Feeds `bytes` cut at the given positions; returns what the client received. */
function feed(tap: SseUsageTap, bytes: Buffer, cuts: number[]): Buffer {
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, bytes.length]) {
    const chunk = bytes.subarray(from, c);
    from = c;
    if (chunk.length) out.push(tap.push(chunk));
  }
  out.push(tap.flushCarry());
  return Buffer.concat(out);
}

describe('SSE usage tap', () => {
  for (const nl of ['\n', '\r\n']) {
    const label = nl === '\n' ? 'LF' : 'CRLF';
    const { all, withoutUsage } = stream(nl);
    const bytes = Buffer.from(all, 'utf8');

    test(`${label}: the client asked for usage: every chunk passes unchanged, at every cut point, and usage is read`, () => {
      for (let cut = 1; cut < bytes.length; cut++) {
        const tap = new SseUsageTap(false);
        const a = bytes.subarray(0, cut);
        const b = bytes.subarray(cut);
        assert.equal(tap.push(a), a, 'the first chunk is forwarded as the same Buffer');
        assert.equal(tap.push(b), b, 'the second chunk is forwarded as the same Buffer');
        assert.equal(tap.flushCarry().length, 0);
        assert.deepEqual(tap.usage, usage, `usage read with a cut at byte ${cut}`);
      }
    });

    test(`${label}: the client did not ask for usage: exactly the usage-only event is cut, at every pair of cut points`, () => {
      const expected = Buffer.from(withoutUsage, 'utf8');
      for (let i = 1; i < bytes.length; i += 7) {
        for (let j = i + 1; j < bytes.length; j += 13) {
          const tap = new SseUsageTap(true);
          const got = feed(tap, bytes, [i, j]);
          assert.ok(got.equals(expected), `cuts at ${i} and ${j}: ${JSON.stringify(got.toString())}`);
          assert.deepEqual(tap.usage, usage);
        }
      }
    });

    test(`${label}: one chunk per byte still works, and multi-byte characters split across chunks are counted right`, () => {
      const tap = new SseUsageTap(true);
      const got = feed(
        tap,
        bytes,
        Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
      );
      assert.equal(got.toString('utf8'), withoutUsage);
      assert.equal(tap.producedText(), 'Hé, 世界 🙂 done');
    });
  }

  test('a usage object on an event that also carries choices is read but never cut', () => {
    const s = ev({ id: 'x', choices: [{ index: 0, delta: { content: 'hi' } }], usage }) + 'data: [DONE]\n\n';
    const tap = new SseUsageTap(true);
    assert.equal(feed(tap, Buffer.from(s), []).toString(), s);
    assert.deepEqual(tap.usage, usage);
  });

  test('a malformed usage event is forwarded as it came and not billed from', () => {
    const s = delta('a') + 'data: {"choices":[],"usage":{"prompt_tokens":3,\n\n' + 'data: [DONE]\n\n';
    const tap = new SseUsageTap(true);
    assert.equal(feed(tap, Buffer.from(s), [10, 60]).toString(), s);
    assert.equal(tap.usage, null);
    assert.equal(tap.producedText(), 'a');
  });

  test('an unterminated last event is held in strip mode and sent at the end; sent at once otherwise', () => {
    const s = delta('a') + 'data: {"choices":[{"delta":{"content":"b"}}]}';
    const strip = new SseUsageTap(true);
    assert.equal(strip.push(Buffer.from(s)).toString(), delta('a'));
    assert.equal(strip.flushCarry().toString(), 'data: {"choices":[{"delta":{"content":"b"}}]}');
    const keep = new SseUsageTap(false);
    assert.equal(keep.push(Buffer.from(s)).toString(), s);
    assert.equal(keep.flushCarry().length, 0);
  });

  test('several usage events in one chunk: the last one counts and every usage-only event is cut', () => {
    const u2 = { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 };
    const s = delta('a') + usageEvent() + ev({ id: 'c1', choices: [], usage: u2 }) + 'data: [DONE]\n\n';
    const tap = new SseUsageTap(true);
    assert.equal(feed(tap, Buffer.from(s), []).toString(), delta('a') + 'data: [DONE]\n\n');
    assert.deepEqual(tap.usage, u2);
  });

  test("an upstream's own error line is noticed wherever the chunks are cut; the same words inside generated text are not", () => {
    const err = 'data: {"error":{"message":"The server had an error","type":"server_error"}}\r\n\r\n';
    const s = delta('a') + delta('b') + err;
    for (let cut = 1; cut < s.length; cut += 7) {
      const tap = new SseUsageTap(false);
      assert.equal(feed(tap, Buffer.from(s), [cut]).toString(), s, 'forwarded unchanged');
      assert.equal(tap.failedInStream(), true, `cut at ${cut}`);
    }
    const innocent = delta('data: {"error": nothing wrong}') + delta('\ndata:{"error"') + stream().all;
    const tap = new SseUsageTap(false);
    feed(tap, Buffer.from(innocent), [5, 40, 90]);
    assert.equal(tap.failedInStream(), false);
  });
});
