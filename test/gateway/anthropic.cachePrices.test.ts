// Prompt-cache prices end to end once the Anthropic protocol and provider are
// in: the official @anthropic-ai/sdk (whole and streamed) and the openai SDK
// (translated) against an anthropic channel whose mock reports cache reads and
// 5-minute + 1-hour cache writes; each part is charged at its price to the
// micro-unit, the row keeps every count, /api/usage/:id shows the arithmetic;
// on SQLite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { startMockAnthropic, type MockAnthropic, type AnthropicUsage } from '../helpers/mockAnthropic.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice, type ModelPrice } from '../../src/gateway/pricing.ts';
import { divCeil } from '../../src/ledger/money.ts';
import { relaySdk, settledWallet as wallet, verifyThenClose } from '../helpers/relay.ts';
import { assertChargedRow, claudeSdk } from '../helpers/anthropicRelay.ts';

const UPSTREAM_KEY = 'sk-ant-upstream-secret-0123456789';
const CLAUDE = 'claude-sonnet-4-5';
const messages = [{ role: 'user' as const, content: 'What is double-entry bookkeeping, in two lines?' }];
const CACHE: AnthropicUsage = {
  input_tokens: 1_000,
  output_tokens: 48,
  cache_read_input_tokens: 2_000,
  cache_creation_input_tokens: 800,
  cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 300 },
};

/** By hand: uncached x 3 + reads x 0.30 + 5m writes x 3.75 + 1h writes x 6 + output x 15 (per 1M), rounded up once. */
function byHand(u: AnthropicUsage): bigint {
  const split = u.cache_creation ?? { ephemeral_5m_input_tokens: u.cache_creation_input_tokens ?? 0, ephemeral_1h_input_tokens: 0 };
  const raw =
    BigInt(u.input_tokens) * 3_000_000n +
    BigInt(u.cache_read_input_tokens ?? 0) * 300_000n +
    BigInt(split.ephemeral_5m_input_tokens) * 3_750_000n +
    BigInt(split.ephemeral_1h_input_tokens) * 6_000_000n +
    BigInt(u.output_tokens) * 15_000_000n;
  return divCeil(raw, 1_000_000n);
}

for (const dialect of testDialects()) {
  describe(`prompt-cache prices through an anthropic channel on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockAnthropic;
    let price: ModelPrice;
    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockAnthropic({ apiKey: UPSTREAM_KEY, models: null });
      await createChannel(t.ctx.db, t.config.secret, { name: 'claude', type: 'anthropic', baseUrl: mock.url, apiKey: UPSTREAM_KEY, models: [CLAUDE] });
      price = await setModelPrice(t.ctx.db, {
        model: CLAUDE,
        inputPer1M: 3_000_000n,
        outputPer1M: 15_000_000n,
        cachedInputPer1M: 300_000n,
        cacheWritePer1M: 3_750_000n,
        cacheWrite1hPer1M: 6_000_000n,
      });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock));

    const counts = { prompt_tokens: 3_800, cached_tokens: 2_000, cache_write_tokens: 500, cache_write_1h_tokens: 300, completion_tokens: 48 };

    test('messages.create: reads, 5-minute and 1-hour writes each at its price, to the micro-unit; /api/usage/:id shows it', async () => {
      mock.setBehavior({ usageOverride: CACHE });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { response } = await claudeSdk(t, u.apiKey).messages.create({ model: CLAUDE, max_tokens: 1024, messages }).withResponse();
      const expected = byHand(CACHE);
      assert.equal(expected, 3_000n + 600n + 1_875n + 1_800n + 720n);
      const rid = response.headers.get('x-request-id');
      await assertChargedRow(t, rid, expected, counts);
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n - expected);
      const f = await signIn(t, u.email, u.password);
      const one = (await (await f(`/api/usage/${rid}`)).json()) as any;
      assert.match(one.explanation, /500 cache write \(5m\) x 3\.75\/1M \+ 300 cache write \(1h\) x 6\.00\/1M/);
      assert.match(one.explanation, /= 0\.007995 /);
      mock.setBehavior({});
    });

    test('messages.stream().finalMessage(): the same, read from message_start and message_delta', async () => {
      mock.setBehavior({ usageOverride: CACHE });
      const u = await seedUser(t, { balance: 1_000_000n });
      const stream = claudeSdk(t, u.apiKey).messages.stream({ model: CLAUDE, max_tokens: 1024, messages });
      await stream.finalMessage();
      const { response } = await stream.withResponse();
      await assertChargedRow(t, response.headers.get('x-request-id'), byHand(CACHE), { ...counts, stream: 1 });
      mock.setBehavior({});
    });

    test('an unsplit cache_creation_input_tokens is 5-minute', async () => {
      const unsplit = { ...CACHE, cache_creation: null };
      mock.setBehavior({ usageOverride: unsplit });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { response } = await claudeSdk(t, u.apiKey).messages.create({ model: CLAUDE, max_tokens: 1024, messages }).withResponse();
      await assertChargedRow(t, response.headers.get('x-request-id'), byHand(unsplit), { cache_write_tokens: 800, cache_write_1h_tokens: 0 });
      mock.setBehavior({});
    });

    test('openai SDK through the translation (chat.completions on an anthropic channel): the same charge', async () => {
      mock.setBehavior({ usageOverride: CACHE });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { response } = await relaySdk(t, u.apiKey).chat.completions.create({ model: CLAUDE, messages, max_tokens: 1024 }).withResponse();
      await assertChargedRow(t, response.headers.get('x-request-id'), byHand(CACHE), counts);
      mock.setBehavior({});
      assert.ok(price);
    });
  });
}
