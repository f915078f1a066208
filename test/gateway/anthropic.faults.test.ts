// Faults on the Anthropic path, each checked for what is charged and what the
// log row says: the client hangs up mid-stream, the upstream cuts the stream,
// the upstream ends it with its own in-stream error event, and an upstream
// answers 529 overloaded_error before the first byte (failover to the next
// channel; and when every channel is overloaded). On SQLite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import {
  startMockAnthropic,
  mockAnthropicInputTokens,
  parseAnthropicSse,
  ANTHROPIC_DEFAULT_REPLY_WORDS,
  type MockAnthropic,
} from '../helpers/mockAnthropic.ts';
import { createChannel, type Channel } from '../../src/gateway/channels.ts';
import { computeCost, setModelPrice, type ModelPrice } from '../../src/gateway/pricing.ts';
import { toBig } from '../../src/ledger/index.ts';
import { requestLogRow as logRow, settledWallet as wallet, verifyThenClose } from '../helpers/relay.ts';
import { anthropicCost, assertChargedRow, assertNotChargedRow, claudeSdk } from '../helpers/anthropicRelay.ts';

const KEY_A = 'sk-ant-upstream-a-0123456789';
const KEY_B = 'sk-ant-upstream-b-0123456789';
const messages = [{ role: 'user' as const, content: 'Tell me a long story about double entry bookkeeping' }];
const INPUT = mockAnthropicInputTokens({ messages });

const post = (t: TestTally, key: string, body: unknown) =>
  fetch(`${t.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(body),
  });

async function outcomeOf(mock: MockAnthropic) {
  const r = mock.requestsTo('/messages').at(-1)!;
  for (let i = 0; i < 100 && !r.outcome; i++) await new Promise((res) => setTimeout(res, 20));
  return r.outcome;
}

for (const dialect of testDialects()) {
  describe(`Anthropic relay faults on ${dialect}`, () => {
    let t: TestTally;
    let a: MockAnthropic;
    let b: MockAnthropic;
    let price: ModelPrice;
    let n = 0;

    /** A model of its own served by channel A (tried first) and channel B, so each test starts with closed breakers. */
    async function pair(): Promise<{ model: string; chA: Channel; chB: Channel }> {
      const model = `claude-fault-${++n}`;
      const chA = await createChannel(t.ctx.db, t.config.secret, {
        name: `a-${n}`,
        type: 'anthropic',
        baseUrl: a.url,
        apiKey: KEY_A,
        models: [model],
        priority: 10,
      });
      const chB = await createChannel(t.ctx.db, t.config.secret, {
        name: `b-${n}`,
        type: 'anthropic',
        baseUrl: b.url,
        apiKey: KEY_B,
        models: [model],
        priority: 0,
      });
      price = await setModelPrice(t.ctx.db, { model, inputPer1M: 3_000_000n, outputPer1M: 15_000_000n, cachedInputPer1M: 300_000n });
      await t.ctx.catalog.reload();
      return { model, chA, chB };
    }

    before(async () => {
      t = await startTestTally(dialect);
      a = await startMockAnthropic({ apiKey: KEY_A, models: null });
      b = await startMockAnthropic({ apiKey: KEY_B, models: null });
    });
    after(() => verifyThenClose(t, a, b));

    test('client disconnects mid-stream: charged for the prompt the upstream reported and the output produced; the upstream is hung up on', async () => {
      const { model } = await pair();
      a.setBehavior({ eventDelayMs: 40 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { data: stream, response } = await claudeSdk(t, u.apiKey).messages.create({ model, max_tokens: 1024, messages, stream: true }).withResponse();
      let deltas = 0;
      for await (const ev of stream) {
        if (ev.type === 'content_block_delta') deltas++;
        if (deltas === 3) break; // leaving the loop aborts the request
      }
      const row = await logRow(t, response.headers.get('x-request-id'));
      assert.equal(Number(row.charged), 1, row.charge_reason);
      assert.equal(row.error_code, 'client_disconnected');
      assert.match(String(row.charge_reason), /before the client disconnected/);
      assert.equal(Number(row.prompt_tokens), INPUT, "the prompt side is message_start's exact count, not Tally's estimate");
      const out = Number(row.completion_tokens);
      assert.ok(out > 0 && out < ANTHROPIC_DEFAULT_REPLY_WORDS, `completion tokens ${out}`);
      const expected = computeCost(price, { promptTokens: INPUT, completionTokens: out, cachedTokens: 0 }, 1_000_000n);
      assert.equal(toBig(row.cost), expected);
      assert.ok(expected < anthropicCost(price, { input_tokens: INPUT, output_tokens: ANTHROPIC_DEFAULT_REPLY_WORDS }));
      const w = await wallet(t, u.user.id);
      assert.equal(w.balance, 1_000_000n - expected);
      assert.equal(w.available, w.balance, 'nothing stays reserved');
      assert.equal(await outcomeOf(a), 'client_closed', 'Tally aborted the upstream request');
      a.setBehavior({});
    });

    test('upstream cuts the stream mid-way: the client gets what was produced and then an Anthropic error event; charged for that', async () => {
      const { model } = await pair();
      a.setBehavior({ disconnectAfterEvents: 6, eventDelayMs: 5 }); // message_start, block start, ping, 3 deltas
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await post(t, u.apiKey, { model, max_tokens: 1024, messages, stream: true });
      assert.equal(res.status, 200);
      const events = parseAnthropicSse(await res.text());
      assert.deepEqual(
        events.map((e) => e.event),
        ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_delta', 'error'],
      );
      assert.equal(events.at(-1)!.data.type, 'error');
      assert.equal(events.at(-1)!.data.error.type, 'api_error');
      const row = await logRow(t, res.headers.get('x-request-id'));
      assert.equal(Number(row.charged), 1, row.charge_reason);
      assert.equal(row.error_code, 'upstream_disconnected');
      assert.match(String(row.charge_reason), /before the upstream stream broke/);
      assert.equal(Number(row.prompt_tokens), INPUT);
      const out = Number(row.completion_tokens);
      assert.ok(out > 0 && out < ANTHROPIC_DEFAULT_REPLY_WORDS, `completion tokens ${out}`);
      assert.equal(toBig(row.cost), computeCost(price, { promptTokens: INPUT, completionTokens: out, cachedTokens: 0 }, 1_000_000n));

      // The SDK sees the break as an error, not as a short answer.
      await assert.rejects(claudeSdk(t, u.apiKey).messages.stream({ model, max_tokens: 1024, messages }).finalMessage(), (e: any) => {
        assert.match(String(e?.message), /upstream provider closed the stream/);
        return true;
      });
      a.setBehavior({});
    });

    test('upstream cuts the stream before any content: not charged', async () => {
      const { model } = await pair();
      a.setBehavior({ disconnectAfterEvents: 1 }); // message_start only
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await post(t, u.apiKey, { model, max_tokens: 1024, messages, stream: true });
      const events = parseAnthropicSse(await res.text());
      assert.deepEqual(
        events.map((e) => e.event),
        ['message_start', 'error'],
      );
      const row = await assertNotChargedRow(t, res.headers.get('x-request-id'));
      assert.match(String(row.charge_reason), /broke before any output/);
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n);
      a.setBehavior({});
    });

    test("the upstream's own in-stream overloaded_error reaches the client once, and the output before it is charged", async () => {
      const { model } = await pair();
      a.setBehavior({ errorAfterEvents: 6 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const res = await post(t, u.apiKey, { model, max_tokens: 1024, messages, stream: true });
      const events = parseAnthropicSse(await res.text());
      assert.equal(events.at(-1)!.event, 'error');
      assert.equal(events.at(-1)!.data.error.type, 'overloaded_error');
      assert.equal(events.filter((e) => e.event === 'error').length, 1, 'no second error event from Tally');
      const row = await logRow(t, res.headers.get('x-request-id'));
      assert.equal(Number(row.charged), 1, row.charge_reason);
      assert.equal(row.error_code, 'upstream_disconnected');
      assert.equal(Number(row.prompt_tokens), INPUT);
      assert.ok(Number(row.completion_tokens) > 0 && Number(row.completion_tokens) < ANTHROPIC_DEFAULT_REPLY_WORDS);
      a.setBehavior({});
    });

    test('529 overloaded_error before the first byte fails over to the next channel: the client sees success, charged once, the log names B', async () => {
      for (const stream of [false, true]) {
        const { model, chB } = await pair();
        a.setBehavior({ fail: 529 });
        const u = await seedUser(t, { balance: 1_000_000n });
        const aBefore = a.requestsTo('/messages').length;
        const res = await post(t, u.apiKey, { model, max_tokens: 1024, messages, stream });
        assert.equal(res.status, 200);
        if (stream) assert.equal(parseAnthropicSse(await res.text()).at(-1)!.event, 'message_stop');
        else assert.equal(((await res.json()) as any).type, 'message');
        assert.equal(a.requestsTo('/messages').length, aBefore + 1, 'A was tried once');
        const seen = b.requestsTo('/messages').at(-1)!;
        assert.equal(seen.headers['x-api-key'], KEY_B);
        await assertChargedRow(
          t,
          res.headers.get('x-request-id'),
          anthropicCost(price, { input_tokens: INPUT, output_tokens: ANTHROPIC_DEFAULT_REPLY_WORDS }),
          {
            attempts: 2,
            channel_id: chB.id,
            stream: stream ? 1 : 0,
          },
        );
        assert.equal((await wallet(t, u.user.id)).available, (await wallet(t, u.user.id)).balance);
      }
      a.setBehavior({});
    });

    test('every channel overloaded: 529 overloaded_error to the client (the SDK OverloadedError), not charged, both tried', async () => {
      const { model } = await pair();
      a.setBehavior({ fail: 529 });
      b.setBehavior({ fail: 529, retryAfter: 7 });
      const u = await seedUser(t, { balance: 1_000_000n });
      const err = await claudeSdk(t, u.apiKey)
        .messages.create({ model, max_tokens: 1024, messages })
        .then(
          () => null,
          (e) => e,
        );
      assert.ok(err instanceof Anthropic.OverloadedError, String(err));
      assert.equal(err.status, 529);
      assert.equal((err.error as any).error.type, 'overloaded_error');
      assert.equal(err.headers.get('retry-after'), '7');
      const row = await assertNotChargedRow(t, err.requestID ?? null);
      assert.equal(row.error_code, 'upstream_overloaded');
      assert.equal(Number(row.attempts), 2);
      assert.match(String(row.charge_reason), /upstream failed before any output/);
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n);
      a.setBehavior({});
      b.setBehavior({});
    });
  });
}
