import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { countTokens } from 'gpt-tokenizer/encoding/cl100k_base';
import { countText, countTextBefore, utf8Bytes, RUN_LIMIT } from '../../src/gateway/tokens.ts';
import { countWithin, cheapToCount } from '../../src/gateway/tokenCounter.ts';
import { estimatePrompt, promptFloor, promptCeiling, billablePrompt } from '../../src/gateway/promptEstimate.ts';
import { collectPrompt } from '../../src/gateway/protocols/openai/prompt.ts';
import { readWholeBody } from '../../src/gateway/protocols/openai/usage.ts';

// Counting must cost time linear in the text whatever the text (a long run
// with no pre-token split was quadratic: 100,000 repeated characters took
// 6 s), must never throw on user text, and the hold's bound must stay an
// honest upper bound: at least the count + 10% up to the byte ceiling, never
// above the byte ceiling, never below the floor the early refusal uses.

const english = 'The ledger records every transfer twice: once as a debit, once as a credit. Support staff read it to answer "I paid, where is my balance?" ';

describe('bounded token counting', () => {
  test('ordinary text counts exactly as the tokenizer does', () => {
    for (const s of [english, english.repeat(50), 'function f(x) {\n  return x * 2; // double\n}\n', 'Hé, 世界 🙂 done', '']) {
      assert.equal(countText(s), countTokens(s), JSON.stringify(s.slice(0, 40)));
    }
  });

  test('one character repeated 1,000,000 times, and 200,000 characters of Chinese, are counted in linear time', () => {
    const time = (s: string) => {
      const t0 = performance.now();
      const n = countText(s);
      return { n, ms: performance.now() - t0 };
    };
    const a = time('a'.repeat(1_000_000));
    assert.ok(a.n > 1_000_000 / 128 && a.n <= 1_000_000, String(a.n));
    let zh = '';
    for (let i = 0; zh.length < 200_000; i++) zh += String.fromCharCode(0x4e00 + ((i * 7919) % 3000));
    const z = time(zh);
    assert.ok(z.n > 0 && z.n <= utf8Bytes(zh));
    // Before: minutes for the first, tens of seconds for the second. Generous bounds for a busy machine.
    assert.ok(a.ms < 5_000, `1 MB of "a" took ${a.ms.toFixed(0)} ms`);
    assert.ok(z.ms < 10_000, `200,000 Chinese characters took ${z.ms.toFixed(0)} ms`);
  });

  test('special-token text is ordinary text, never an exception', () => {
    assert.ok(countText('<|endoftext|><|fim_prefix|>') > 2);
  });

  test('never more tokens than UTF-8 bytes, and cuts never split a surrogate pair', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.integer({ min: 0, max: 3 }), (s, pad) => {
        const text = 'x'.repeat(pad) + s.repeat(3);
        const n = countText(text);
        assert.ok(n <= utf8Bytes(text), `${n} tokens for ${utf8Bytes(text)} bytes`);
      }),
      { numRuns: 200 },
    );
    // A run of emoji after one letter: every RUN_LIMIT-th code unit is the second half of a pair, so the cut waits one unit.
    const e = (k: number) => '𝕏'.repeat(k); // 3 tokens; its halves, if split apart, would be 1 each
    const half = RUN_LIMIT / 2;
    assert.equal(countText('a' + e(half * 6)), countTokens('a' + e(half)) + 5 * countTokens(e(half)));
  });

  test('a deadline that has passed gives up (null) instead of counting on', () => {
    assert.equal(countTextBefore('ab'.repeat(10_000) + ' ' + 'c'.repeat(100_000), Date.now() - 1), null);
    assert.equal(countTextBefore('short', Date.now() - 1), countText('short'));
  });

  test('large texts are counted on the counting thread, to the same figure', async () => {
    let zh = '';
    for (let i = 0; zh.length < 50_000; i++) zh += String.fromCharCode(0x4e00 + ((i * 104729) % 5000));
    assert.equal(cheapToCount(zh.length, utf8Bytes(zh)), false);
    const n = countWithin([zh, english], 30_000, utf8Bytes(zh) + utf8Bytes(english));
    assert.ok(n instanceof Promise, 'sent to the worker');
    assert.equal(await n, countText(zh) + countText(english));
    assert.equal(typeof countWithin(['small text'], 1_000, 10), 'number', 'small texts stay on the calling thread');
  });
});

describe('the prompt estimate', () => {
  test('the bound is count + 10% under the byte ceiling, and the floor is below both', async () => {
    const body = {
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: english },
      ],
    };
    const p = collectPrompt(body);
    const e = await estimatePrompt(p);
    assert.ok(e.count !== null);
    assert.equal(e.bound, Math.min(Math.ceil((e.count * 11) / 10), promptCeiling(p)));
    assert.ok(promptFloor(p) <= e.count && e.count <= e.bound && e.bound <= promptCeiling(p));
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 80 }), { minLength: 1, maxLength: 5 }), (texts) => {
        const q = collectPrompt({ messages: texts.map((content) => ({ role: 'user', content })) });
        const est = estimatePrompt(q);
        assert.ok(!(est instanceof Promise));
        assert.ok(est.count !== null && promptFloor(q) <= est.count && est.count <= est.bound && est.bound <= promptCeiling(q));
        assert.equal(
          q.bytes,
          q.pieces.reduce((n, x) => n + utf8Bytes(x) + 1, 0),
        );
      }),
      { numRuns: 200 },
    );
  });

  test('a token id array is already tokens: one each, no tokenizer', () => {
    assert.deepEqual(collectPrompt({ prompt: [5, 6, 7] }), { pieces: [], bytes: 0, fixed: 3 + 3 });
    assert.deepEqual(collectPrompt({ input: [[1, 2], [3]] }), { pieces: [], bytes: 0, fixed: 3 + 3 });
    assert.deepEqual(collectPrompt({ input: ['ab', 'c'] }), { pieces: ['ab', 'c'], bytes: 5, fixed: 3 });
  });

  test('content parts Tally does not know are counted by their JSON text, images by a fixed figure', () => {
    const p = collectPrompt({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'hi' },
            { type: 'image_url', image_url: { url: 'https://x/y.png' } },
            { type: 'file', file: { file_data: 'QUJD' } },
          ],
        },
      ],
    });
    assert.match(p.pieces.join(''), /file_data/);
    assert.equal(p.fixed, 3 + 4 + 1_105);
  });

  test('a prompt too large to count in time is held at the byte ceiling and billed from a later count', async () => {
    const p = collectPrompt({ messages: [{ role: 'user', content: 'z'.repeat(100) }] });
    const notCounted = { count: null, bound: promptCeiling(p) };
    assert.equal(await billablePrompt(p, notCounted), p.fixed + countText('z'.repeat(100)) + 1);
  });
});

describe('reading an upstream body Tally did not expect', () => {
  test('JSON with usage, JSON without, SSE with and without usage, and text that is not JSON', () => {
    const u = { prompt_tokens: 3, completion_tokens: 4 };
    assert.deepEqual(readWholeBody(Buffer.from(JSON.stringify({ choices: [], usage: u }))).usage, { promptTokens: 3, completionTokens: 4, cachedTokens: 0 });
    assert.equal(readWholeBody(Buffer.from(JSON.stringify({ choices: [{ message: { content: 'Hi there' } }] }))).output, 'Hi there');
    assert.equal(readWholeBody(Buffer.from(JSON.stringify({ object: 'list', data: [] }))).output, '');
    const sse = `data: ${JSON.stringify({ choices: [{ delta: { content: 'Hel' } }] })}\n\ndata: ${JSON.stringify({ choices: [{ delta: { content: 'lo' } }] })}\n\ndata: [DONE]\n\n`;
    assert.deepEqual(readWholeBody(Buffer.from(sse)), { usage: null, output: 'Hello', shape: 'sse' });
    const sseUsage = sse + `data: ${JSON.stringify({ choices: [], usage: u })}\n\n`;
    assert.equal(readWholeBody(Buffer.from(sseUsage)).usage?.completionTokens, 4);
    assert.deepEqual(readWholeBody(Buffer.from('<html>502 Bad Gateway</html>')), {
      usage: null,
      output: '<html>502 Bad Gateway</html>',
      shape: 'unrecognised',
    });
    assert.equal(readWholeBody(Buffer.from('"just a string"')).output, '"just a string"');
    assert.equal(
      readWholeBody(
        Buffer.from(JSON.stringify({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 'x' } } })),
      ).usage?.cachedTokens,
      0,
    );
  });
});
