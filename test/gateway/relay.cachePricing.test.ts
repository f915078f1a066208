// Prompt-cache prices through the relay, on SQLite and PostgreSQL: a usage
// with cache reads and 5-minute and 1-hour cache writes is charged each part
// at its price to the micro-unit; the log row keeps every count and the prices;
// GET /api/usage/:id and the admin request view show the arithmetic; a model
// without cache prices costs what it always did; and the hold prices the
// prompt at the highest prompt price, so a wallet that could pay the prompt at
// the input price but not as a cache write is capped or refused before
// anything is sent.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import OpenAI from 'openai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, ADMIN_TOKEN, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, requestedMaxTokens, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice, computeCost, costBound, type ModelPrice, type Usage } from '../../src/gateway/pricing.ts';
import { toBig, formatMoney } from '../../src/ledger/index.ts';
import { newId } from '../../src/lib/ids.ts';
import { PROTOCOLS } from '../../src/gateway/protocols/index.ts';
import { PROVIDERS, type Provider } from '../../src/gateway/providers/index.ts';
import { RequestCharge, type RelayDeps } from '../../src/gateway/charge/requestCharge.ts';
import { admit } from '../../src/gateway/charge/admit.ts';
import { quote } from '../../src/gateway/charge/quote.ts';
import { Settler } from '../../src/gateway/charge/settle.ts';
import { emptyCounts, readAnthropicUsage, usageOfCounts } from '../../src/gateway/translate/shared.ts';
import { relaySdk as sdk, requestLogRow as logRow, settledWallet as wallet, verifyThenClose } from '../helpers/relay.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';
/** Priced for prompt caching: $3 in, $15 out, reads $0.30, 5-minute writes $3.75, 1-hour writes $6 (per 1M tokens). */
const CLAUDE = 'claude-sonnet-cached';
/** The same input and output prices, no cache prices. */
const PLAIN = 'claude-sonnet-plain';
const ONE_X = 1_000_000n;
const messages = [{ role: 'user' as const, content: 'Summarise the ledger entries of this account for the last quarter, line by line. '.repeat(40) }];

/**
 * An Anthropic Messages answer's usage as the upstream reports it: 1,000
 * uncached input tokens, 2,000 read from the cache, 800 written to it (500 for
 * 5 minutes, 300 for an hour), 200 output.
 */
const ANTHROPIC_USAGE = {
  input_tokens: 1_000,
  cache_read_input_tokens: 2_000,
  cache_creation_input_tokens: 800,
  cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 300 },
  output_tokens: 200,
};

/**
 * The channel's answer read as an Anthropic upstream's: its usage through the
 * one Anthropic usage reader on this branch (translate/shared.ts), so the
 * settlement gets a Usage with cache-write counts. (The anthropic provider
 * itself lands with the Anthropic protocol; this stands in for its readAnswer.)
 */
const anthropicAnswerReader: Provider = {
  ...PROVIDERS.openai!,
  readAnswer(body: Buffer) {
    const counts = emptyCounts();
    readAnthropicUsage(JSON.parse(body.toString()).usage, counts);
    return { usage: usageOfCounts(counts), output: '', shape: 'json' };
  },
};

for (const dialect of testDialects()) {
  describe(`prompt-cache prices through the relay on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let cached: ModelPrice;
    let plain: ModelPrice;
    let deps: RelayDeps;

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'primary',
        type: 'openai',
        baseUrl: mock.url,
        apiKey: UPSTREAM_KEY,
        models: [CLAUDE, PLAIN],
        modelMap: { [CLAUDE]: 'gpt-4o-mini', [PLAIN]: 'gpt-4o-mini' },
      });
      cached = await setModelPrice(t.ctx.db, {
        model: CLAUDE,
        inputPer1M: 3_000_000n,
        outputPer1M: 15_000_000n,
        cachedInputPer1M: 300_000n,
        cacheWritePer1M: 3_750_000n,
        cacheWrite1hPer1M: 6_000_000n,
      });
      plain = await setModelPrice(t.ctx.db, { model: PLAIN, inputPer1M: 3_000_000n, outputPer1M: 15_000_000n });
      await t.ctx.catalog.reload();
      const c = t.ctx;
      deps = {
        db: c.db,
        log: c.log,
        keys: c.keys,
        catalog: c.catalog,
        book: c.book,
        settlement: c.settlement,
        limiter: c.limiter,
        limits: c.limits,
        config: c.config.relay,
      };
    });
    after(() => verifyThenClose(t, mock));

    /** One chat call through the charge steps (admit, quote) and settled from an Anthropic answer's usage. */
    async function settleAnthropicAnswer(apiKey: string, model: string, usage: Record<string, unknown>): Promise<string> {
      const body = { model, messages, max_tokens: 300 };
      const requestId = newId('req');
      const c = new RequestCharge({
        protocol: PROTOCOLS.find((p) => p.name === 'openai')!,
        endpoint: 'chat.completions',
        body,
        raw: JSON.stringify(body),
        ip: '127.0.0.1',
        requestId,
        req: { headers: { authorization: `Bearer ${apiKey}` } } as unknown as IncomingMessage,
        res: {} as ServerResponse,
      });
      await admit(deps, c);
      await quote(deps, c);
      const answer = { id: 'msg_01', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: 'Done.' }], stop_reason: 'end_turn', usage };
      new Settler(deps).whole(c, anthropicAnswerReader, c.call, Buffer.from(JSON.stringify(answer)), 200);
      return requestId;
    }

    test('cache reads + 5-minute + 1-hour writes: each part at its price, to the micro-unit; the row keeps every count; the usage API shows the arithmetic', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const rid = await settleAnthropicAnswer(u.apiKey, CLAUDE, ANTHROPIC_USAGE);
      const usage: Usage = { promptTokens: 3_800, completionTokens: 200, cachedTokens: 2_000, cacheWriteTokens: 500, cacheWrite1hTokens: 300 };
      const expected = computeCost(cached, usage, ONE_X);
      assert.equal(expected, 10_275n, '1,000 x 3 + 2,000 x 0.30 + 500 x 3.75 + 300 x 6 + 200 x 15 = 3,000 + 600 + 1,875 + 1,800 + 3,000');
      const row = await logRow(t, rid);
      assert.ok(row, 'the request is settled and logged');
      assert.equal(Number(row.charged), 1, row.charge_reason);
      assert.equal(toBig(row.cost), expected);
      assert.equal(toBig(row.charged_amount), expected);
      assert.equal(toBig(row.uncollected), 0n);
      assert.deepEqual(
        [row.prompt_tokens, row.cached_tokens, row.cache_write_tokens, row.cache_write_1h_tokens, row.completion_tokens].map(Number),
        [3_800, 2_000, 500, 300, 200],
      );
      const snapshot = JSON.parse(row.pricing);
      assert.equal(snapshot.cache_write_per_1m, '3750000');
      assert.equal(snapshot.cache_write_1h_per_1m, '6000000');
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n - expected, 'the wallet moved by exactly the cost');

      const f = await signIn(t, u.email, u.password);
      const one = (await (await f(`/api/usage/${rid}`)).json()) as any;
      assert.equal(one.cache_write_tokens, 500);
      assert.equal(one.cache_write_1h_tokens, 300);
      assert.deepEqual(one.pricing, {
        input_per_1m: '3.00',
        output_per_1m: '15.00',
        cached_input_per_1m: '0.30',
        cache_write_per_1m: '3.75',
        cache_write_1h_per_1m: '6.00',
        multiplier: '1.0',
        group: 'default',
      });
      assert.equal(
        one.explanation,
        '(1000 input x 3.00/1M + 2000 cached x 0.30/1M + 500 cache write (5m) x 3.75/1M + 300 cache write (1h) x 6.00/1M + 200 output x 15.00/1M) x 1.00 = 0.010275 (rounded up to the micro-unit)',
      );
      const staff = await fetch(`${t.url}/api/admin/requests/${rid}`, { headers: { 'x-admin-token': ADMIN_TOKEN } });
      const view = (await staff.json()) as any;
      assert.equal(view.explanation, one.explanation, 'the admin request view shows the same arithmetic');
      assert.equal(view.pricing.cache_write_1h_per_1m, '6.00');
    });

    test('an unsplit cache-write count is 5-minute; a model without cache prices bills every prompt token at the input price', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const unsplit = { ...ANTHROPIC_USAGE, cache_creation: null };
      const rid = await settleAnthropicAnswer(u.apiKey, CLAUDE, unsplit);
      const row = await logRow(t, rid);
      assert.deepEqual([row.cache_write_tokens, row.cache_write_1h_tokens].map(Number), [800, 0]);
      assert.equal(toBig(row.cost), 9_600n, '1,000 x 3 + 2,000 x 0.30 + 800 x 3.75 + 200 x 15');

      const rid2 = await settleAnthropicAnswer(u.apiKey, PLAIN, ANTHROPIC_USAGE);
      const row2 = await logRow(t, rid2);
      assert.equal(toBig(row2.cost), 14_400n, '3,800 x 3 + 200 x 15: no cache price, nothing changes');
      assert.equal(toBig(row2.cost), computeCost(plain, { promptTokens: 3_800, completionTokens: 200, cachedTokens: 0 }, ONE_X));
      assert.deepEqual(
        [row2.cached_tokens, row2.cache_write_tokens, row2.cache_write_1h_tokens].map(Number),
        [2_000, 500, 300],
        'the counts are kept all the same',
      );
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n - 9_600n - 14_400n);
    });

    test('an OpenAI usage with cached_tokens on a model priced for cache writes: reads at the read price, the rest at input, no writes', async () => {
      mock.setBehavior({ usageOverride: { prompt_tokens: 1_001, completion_tokens: 7, cached_tokens: 600 } });
      const u = await seedUser(t, { balance: 1_000_000n });
      const { response } = await sdk(t, u.apiKey).chat.completions.create({ model: CLAUDE, messages }).withResponse();
      mock.setBehavior({});
      const expected = computeCost(cached, { promptTokens: 1_001, completionTokens: 7, cachedTokens: 600 }, ONE_X);
      assert.equal(expected, 1_488n, '401 x 3 + 600 x 0.30 + 7 x 15 = 1,203 + 180 + 105');
      const row = await logRow(t, response.headers.get('x-request-id'));
      assert.equal(toBig(row.cost), expected);
      assert.equal(toBig(row.charged_amount), expected);
      assert.deepEqual([row.prompt_tokens, row.cached_tokens, row.cache_write_tokens, row.cache_write_1h_tokens].map(Number), [1_001, 600, 0, 0]);
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n - expected);
    });

    test('the hold prices the prompt at the cache-write price: a wallet that pays the prompt at the input price but not as a 1-hour write is refused (402), nothing sent', async () => {
      // The prompt bound B comes from a request on the plain model (max_tokens 16): held = B x 3 + 16 x 15.
      const rich = await seedUser(t, { balance: 10_000_000n });
      const { response } = await sdk(t, rich.apiKey).chat.completions.create({ model: PLAIN, messages, max_tokens: 16 }).withResponse();
      const held = toBig((await logRow(t, response.headers.get('x-request-id'))).held);
      const bound = Number((held - 240n) / 3n);
      assert.equal(held, costBound(plain, bound, 16, ONE_X));
      assert.ok(bound > 500, `a prompt of about ${bound} tokens`);

      // Half as much again as the plain hold: enough at the input price, not at $6 per 1M.
      const balance = (held * 3n) / 2n;
      const needed = costBound(cached, bound, 16, ONE_X);
      assert.equal(needed, BigInt(bound) * 6n + 240n);
      assert.ok(balance < needed);
      const u = await seedUser(t, { balance });
      const sent = mock.requests.length;
      let err: any;
      try {
        await sdk(t, u.apiKey).chat.completions.create({ model: CLAUDE, messages, max_tokens: 16 });
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof OpenAI.APIError, String(err));
      assert.equal(err.status, 402);
      assert.equal(err.code, 'insufficient_balance');
      assert.equal(err.error.details.needed, formatMoney(needed, 6), 'the hold it needed prices the prompt as a 1-hour cache write');
      assert.equal(mock.requests.length, sent, 'nothing reached the upstream');
      // The same wallet can make the same request on the model without cache-write prices.
      const ok = await sdk(t, u.apiKey).chat.completions.create({ model: PLAIN, messages, max_tokens: 16 });
      assert.equal(ok.object, 'chat.completion');
    });

    test('the hold prices the prompt at the cache-write price: a wallet short of the default output gets max_tokens capped to what it can pay after the prompt as a 1-hour write', async () => {
      const rich = await seedUser(t, { balance: 10_000_000n });
      const { response } = await sdk(t, rich.apiKey).chat.completions.create({ model: PLAIN, messages, max_tokens: 16 }).withResponse();
      const bound = Number((toBig((await logRow(t, response.headers.get('x-request-id'))).held) - 240n) / 3n);
      // The prompt as a 1-hour write, plus 100 output tokens' worth ($15 per 1M: 15 micro-units each).
      const balance = BigInt(bound) * 6n + 1_500n;
      const u = await seedUser(t, { balance });
      const { response: r2 } = await sdk(t, u.apiKey).chat.completions.create({ model: CLAUDE, messages }).withResponse();
      const cap = requestedMaxTokens(mock.requests.at(-1)!.body)!;
      assert.ok(
        cap >= 16 && cap <= 100,
        `max_tokens capped to ${cap}: what is left after the prompt at $6 per 1M (at the input price it would be about ${Math.floor((bound * 3 + 1_500) / 15)})`,
      );
      const row = await logRow(t, r2.headers.get('x-request-id'));
      assert.equal(toBig(row.held), costBound(cached, bound, cap, ONE_X), 'held: the prompt at the 1-hour write price plus the capped output');
      assert.ok(toBig(row.held) <= balance);
      assert.match(row.charge_reason, /max_tokens capped/);
      assert.ok((await wallet(t, u.user.id)).balance >= 0n);
    });
  });
}
