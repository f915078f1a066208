// The Responses readers on their own: the stream tap (every byte forwarded
// unchanged; usage, response id and failure read wherever the chunks are cut,
// LF or CRLF; linear in the stream), the whole-answer reader (a Response, a
// chat completion from the translated path, an SSE body, garbage), and the
// response pins (another user's, expired ones, pruning) on SQLite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ResponsesSseTap } from '../../src/gateway/protocols/responses/sse.ts';
import { readResponsesAnswer, responsesUsage } from '../../src/gateway/protocols/responses/usage.ts';
import { ResponsePins, RESPONSE_PIN_TTL_MS } from '../../src/gateway/responsePins.ts';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';
import { planResponses, responseObject, responsesStreamEvents } from '../helpers/mockResponses.ts';

const body = { model: 'gpt-5.1-codex', input: 'Tell me a story', reasoning: { effort: 'low', summary: 'auto' } };
// Generated text holding the tap's marks (escaped inside the JSON string, so never taken for an event's own fields).
const plan = { ...planResponses(body), text: 'She wrote {"response": {"usage": 1}, "error": "none"} and left' };
const id = 'resp_0123456789abcdef';
const events = responsesStreamEvents(id, body, plan, 1_700_000_000);
const sse = (eol: string) => events.map((e) => `event: ${e.type}${eol}data: ${JSON.stringify(e)}${eol}${eol}`).join('');
const wire = plan.usage;

function feed(tap: ResponsesSseTap, bytes: Buffer, size: number, readBeforeEnd = false): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(tap.push(bytes.subarray(i, i + size)));
  // Every event here ends with its blank line: all of it is read as it passes, nothing waits for the end.
  if (readBeforeEnd) assert.ok(tap.reportedUsage(), 'usage read before the stream ended');
  out.push(tap.flushCarry());
  return Buffer.concat(out);
}

describe('ResponsesSseTap', () => {
  for (const eol of ['\n', '\r\n']) {
    for (const size of [1, 2, 3, 7, 64, 1 << 20]) {
      test(`${eol === '\n' ? 'LF' : 'CRLF'} stream cut every ${size} bytes: forwarded unchanged; usage, id and produced text read`, () => {
        const bytes = Buffer.from(sse(eol));
        const tap = new ResponsesSseTap();
        assert.ok(feed(tap, bytes, size, true).equals(bytes));
        assert.deepEqual(tap.reportedUsage(), { promptTokens: wire.input_tokens, completionTokens: wire.output_tokens, cachedTokens: 0 });
        assert.equal(tap.responseId(), id);
        assert.equal(tap.failedInStream(), false);
        assert.equal(tap.producedText(), `${plan.reasoning!.text}${plan.text}`);
      });
    }
  }

  test('response.failed and an error event mark the stream failed; a stream cut before completion has no usage but its text', () => {
    const failed = Buffer.from(
      sse('\n').split('event: response.completed')[0] +
        `event: response.failed\ndata: ${JSON.stringify({ type: 'response.failed', response: responseObject(id, body, plan, 1, 'failed') })}\n\n`,
    );
    const tap = new ResponsesSseTap();
    feed(tap, failed, 5);
    assert.equal(tap.failedInStream(), true);
    assert.equal(tap.reportedUsage(), null);
    assert.equal(tap.producedText(), `${plan.reasoning!.text}${plan.text}`);

    const err = new ResponsesSseTap();
    feed(err, Buffer.from(`event: error\ndata: {"type": "error", "code": "server_error", "message": "boom", "param": null}\n\n`), 4);
    assert.equal(err.failedInStream(), true);
  });

  test('a large response.completed in small chunks is read in linear time', () => {
    const big = { ...body };
    const huge = responsesStreamEvents(id, big, { ...plan, text: 'word '.repeat(400_000) }, 1);
    const bytes = Buffer.from(huge.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join(''));
    const tap = new ResponsesSseTap();
    const t0 = performance.now();
    feed(tap, bytes, 1024);
    const ms = performance.now() - t0;
    assert.ok(tap.reportedUsage());
    assert.ok(ms < 2_000, `took ${ms} ms for ${bytes.length} bytes`);
  });
});

describe('readResponsesAnswer', () => {
  test('a Response: its usage and id; without usage: its output text', () => {
    const whole = responseObject(id, body, plan, 1, 'done');
    const r = readResponsesAnswer(Buffer.from(JSON.stringify(whole)));
    assert.deepEqual(r, {
      usage: { promptTokens: wire.input_tokens, completionTokens: wire.output_tokens, cachedTokens: 0 },
      output: '',
      shape: 'json',
      responseId: id,
    });
    const bare = readResponsesAnswer(Buffer.from(JSON.stringify({ ...whole, usage: null })));
    assert.equal(bare.usage, null);
    assert.equal(bare.output, `${plan.reasoning!.text}${plan.text}`);
  });

  test('a chat completion (the translated path) is read by the chat reader and pins nothing', () => {
    const chat = { object: 'chat.completion', choices: [{ message: { content: 'hi' } }], usage: { prompt_tokens: 5, completion_tokens: 2 } };
    const r = readResponsesAnswer(Buffer.from(JSON.stringify(chat)));
    assert.deepEqual(r.usage, { promptTokens: 5, completionTokens: 2, cachedTokens: 0 });
    assert.equal(r.responseId ?? null, null);
  });

  test('an SSE body answered to a non-stream request is read as a stream; garbage is counted', () => {
    const r = readResponsesAnswer(Buffer.from(sse('\n')));
    assert.equal(r.shape, 'sse');
    assert.equal(r.usage?.completionTokens, wire.output_tokens);
    assert.equal(r.responseId, id);
    assert.deepEqual(readResponsesAnswer(Buffer.from('<html>oops</html>')), { usage: null, output: '<html>oops</html>', shape: 'unrecognised' });
  });

  test('usage: cached inside input, reasoning inside output; not numbers: none', () => {
    assert.deepEqual(
      responsesUsage({ input_tokens: 100, input_tokens_details: { cached_tokens: 60 }, output_tokens: 30, output_tokens_details: { reasoning_tokens: 20 } }),
      { promptTokens: 100, completionTokens: 30, cachedTokens: 60 },
    );
    assert.equal(responsesUsage({ prompt_tokens: 5 } as any), null);
    assert.equal(responsesUsage({ input_tokens: 'x' as any, output_tokens: 1 }), null);
  });
});

for (const dialect of testDialects()) {
  describe(`ResponsePins on ${dialect}`, () => {
    let db: TestDb;
    let now = 1_000_000_000_000;
    let pins: ResponsePins;
    before(async () => {
      db = await createTestDb(dialect);
      pins = new ResponsePins(db.db, pino({ level: 'silent' }), () => now);
    });
    after(() => db.cleanup());

    test('a pin answers its owner only, from memory at once and from the table once written; it expires after 30 days and is pruned', async () => {
      pins.record('resp_a', { channelId: 'ch_1', keyRef: 'ref2', userId: 'usr_1' });
      assert.deepEqual(await pins.upstreamFor('resp_a', 'usr_1'), { channelId: 'ch_1', keyRef: 'ref2' }, 'answered before the write commits');
      await pins.flush();
      const fresh = new ResponsePins(db.db, pino({ level: 'silent' }), () => now);
      assert.deepEqual(await fresh.upstreamFor('resp_a', 'usr_1'), { channelId: 'ch_1', keyRef: 'ref2' }, 'another instance reads the table');
      assert.equal(await fresh.upstreamFor('resp_a', 'usr_2'), null, "another user's response id");
      assert.equal(await fresh.upstreamFor('resp_b', 'usr_1'), null);
      pins.record('resp_a', { channelId: 'ch_2', keyRef: 'ref0', userId: 'usr_2' });
      await pins.flush();
      assert.deepEqual(
        await fresh.upstreamFor('resp_a', 'usr_1'),
        { channelId: 'ch_1', keyRef: 'ref2' },
        'the first pin stands; a second write of the id changes nothing',
      );
      now += RESPONSE_PIN_TTL_MS + 1;
      assert.equal(await fresh.upstreamFor('resp_a', 'usr_1'), null, 'expired');
      assert.equal(await fresh.prune(), 1);
    });
  });
}
