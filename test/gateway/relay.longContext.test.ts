// Long-context prices and reasoning reported apart, through the relay, on
// SQLite and PostgreSQL: above N prompt tokens the tier's prices apply to the
// whole request (exactly N: the base prices), the log row keeps the counts and
// the prices, GET /api/usage/:id says which price set applied; the hold uses
// the tier prices when the prompt's bound could exceed N; reasoning and
// tool-use prompt tokens reported apart are billed and kept on the row.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, ADMIN_TOKEN, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice, computeCost, costBound, type ModelPrice } from '../../src/gateway/pricing.ts';
import { toBig } from '../../src/ledger/index.ts';
import { newId } from '../../src/lib/ids.ts';
import { PROTOCOLS } from '../../src/gateway/protocols/index.ts';
import { PROVIDERS, type Provider } from '../../src/gateway/providers/index.ts';
import { RequestCharge, type RelayDeps } from '../../src/gateway/charge/requestCharge.ts';
import { admit } from '../../src/gateway/charge/admit.ts';
import { quote } from '../../src/gateway/charge/quote.ts';
import { Settler } from '../../src/gateway/charge/settle.ts';
import { relaySdk as sdk, requestLogRow as logRow, settledWallet as wallet, verifyThenClose } from '../helpers/relay.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';
/** $1.25 in / $10 out; above 1,000 prompt tokens $2.50 / $15 (per 1M tokens). */
const PRO = 'gemini-pro-tiered';
const ONE_X = 1_000_000n;
const messages = [{ role: 'user' as const, content: 'Hello there.' }];

/** Reads the answer's usage as a Gemini upstream reports it: thoughts and tool-use prompt outside the counts. */
const geminiLikeReader: Provider = {
  ...PROVIDERS.openai!,
  readAnswer(body: Buffer) {
    const m = JSON.parse(body.toString()).usageMetadata;
    return {
      usage: {
        promptTokens: m.promptTokenCount,
        completionTokens: m.candidatesTokenCount,
        cachedTokens: m.cachedContentTokenCount ?? 0,
        reasoningTokens: m.thoughtsTokenCount,
        toolUsePromptTokens: m.toolUsePromptTokenCount,
      },
      output: '',
      shape: 'json',
    };
  },
};

for (const dialect of testDialects()) {
  describe(`long-context prices and reasoning through the relay on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let pro: ModelPrice;
    let deps: RelayDeps;

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'primary',
        type: 'openai',
        baseUrl: mock.url,
        apiKey: UPSTREAM_KEY,
        models: [PRO],
        modelMap: { [PRO]: 'gpt-4o-mini' },
      });
      pro = await setModelPrice(t.ctx.db, {
        model: PRO,
        inputPer1M: 1_250_000n,
        outputPer1M: 10_000_000n,
        tierAbove: 1_000,
        tierInputPer1M: 2_500_000n,
        tierOutputPer1M: 15_000_000n,
      });
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

    async function chat(apiKey: string, promptTokens: number) {
      mock.setBehavior({ usageOverride: { prompt_tokens: promptTokens, completion_tokens: 100 } });
      const { response } = await sdk(t, apiKey).chat.completions.create({ model: PRO, messages, max_tokens: 100 }).withResponse();
      mock.setBehavior({});
      return response.headers.get('x-request-id')!;
    }

    test('exactly N prompt tokens: base prices; N + 1: the tier prices on the whole request; the usage API says which applied', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const atN = await logRow(t, await chat(u.apiKey, 1_000));
      assert.equal(toBig(atN.cost), 2_250n, '1,000 x 1.25 + 100 x 10');
      const rid = await chat(u.apiKey, 1_001);
      const above = await logRow(t, rid);
      assert.equal(toBig(above.cost), 4_003n, '1,001 x 2.50 + 100 x 15 = 2,502.5 + 1,500, rounded up once');
      assert.equal(toBig(above.cost), computeCost(pro, { promptTokens: 1_001, completionTokens: 100, cachedTokens: 0 }, ONE_X));
      assert.equal(JSON.parse(above.pricing).tier_above, '1000');
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n - 2_250n - 4_003n);

      const f = await signIn(t, u.email, u.password);
      const one = (await (await f(`/api/usage/${rid}`)).json()) as any;
      assert.equal(one.pricing.price_set, 'tier');
      assert.equal(one.pricing.tier_above, 1_000);
      assert.equal(one.pricing.tier_input_per_1m, '2.50');
      assert.equal(one.pricing.tier_output_per_1m, '15.00');
      assert.match(
        one.explanation,
        /^\(1001 input x 2\.50\/1M \+ 100 output x 15\.00\/1M\) x 1\.00 = 0\.004003 .*\[long-context prices: prompt above 1000 tokens\]$/,
      );
      const base = (await (await f(`/api/usage/${atN.id}`)).json()) as any;
      assert.equal(base.pricing.price_set, 'base');
      const staff = (await (await fetch(`${t.url}/api/admin/requests/${rid}`, { headers: { 'x-admin-token': ADMIN_TOKEN } })).json()) as any;
      assert.equal(staff.explanation, one.explanation);
    });

    test('the hold: a short prompt is held at the base prices, one whose bound could exceed N at the tier prices', async () => {
      const u = await seedUser(t, { balance: 10_000_000n });
      const short = await logRow(t, await chat(u.apiKey, 10));
      const bound = Number(((toBig(short.held) - 1_000n) * 1_000_000n) / 1_250_000n);
      assert.ok(bound > 0 && bound <= 1_000, `a short prompt (bound ${bound})`);
      assert.equal(toBig(short.held), costBound(pro, bound, 100, ONE_X));

      const long = [{ role: 'user' as const, content: 'Summarise the ledger entries of this account, line by line. '.repeat(200) }];
      const { response } = await sdk(t, u.apiKey).chat.completions.create({ model: PRO, messages: long, max_tokens: 100 }).withResponse();
      const row = await logRow(t, response.headers.get('x-request-id'));
      const held = toBig(row.held);
      const longBound = Number(((held - 1_500n) * 1_000_000n) / 2_500_000n);
      assert.ok(longBound > 1_000, `the long prompt's bound (${longBound}) exceeds N`);
      assert.equal(held, costBound(pro, longBound, 100, ONE_X), 'held at $2.50 / $15');
      assert.ok(toBig(row.cost) <= held);
    });

    test('reasoning and tool-use prompt tokens reported apart: billed as output and input, kept on the row and in the usage API', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const body = { model: PRO, messages, max_tokens: 300 };
      const requestId = newId('req');
      const c = new RequestCharge({
        protocol: PROTOCOLS.find((p) => p.name === 'openai')!,
        endpoint: 'chat.completions',
        body,
        raw: JSON.stringify(body),
        ip: '127.0.0.1',
        requestId,
        req: { headers: { authorization: `Bearer ${u.apiKey}` } } as unknown as IncomingMessage,
        res: {} as ServerResponse,
      });
      await admit(deps, c);
      await quote(deps, c);
      const answer = { usageMetadata: { promptTokenCount: 400, candidatesTokenCount: 50, thoughtsTokenCount: 120, toolUsePromptTokenCount: 30 } };
      new Settler(deps).whole(c, geminiLikeReader, c.call, Buffer.from(JSON.stringify(answer)), 200);
      const row = await logRow(t, requestId);
      // (400 + 30) x 1.25 + (50 + 120) x 10 = 537.5 + 1,700 -> 2,238
      assert.equal(toBig(row.cost), 2_238n);
      assert.deepEqual([row.prompt_tokens, row.completion_tokens, row.reasoning_tokens, row.tool_use_prompt_tokens].map(Number), [400, 50, 120, 30]);
      const f = await signIn(t, u.email, u.password);
      const one = (await (await f(`/api/usage/${requestId}`)).json()) as any;
      assert.equal(one.reasoning_tokens, 120);
      assert.equal(one.tool_use_prompt_tokens, 30);
      assert.equal(
        one.explanation,
        '(400 input x 1.25/1M + 30 tool-use prompt x 1.25/1M + 50 output x 10.00/1M + 120 reasoning x 10.00/1M) x 1.00 = 0.002238 (rounded up to the micro-unit)',
      );
      assert.equal((await wallet(t, u.user.id)).balance, 1_000_000n - 2_238n);
    });
  });
}
