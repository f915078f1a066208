// Every inbound protocol against every upstream wire format, through the
// official clients: the openai SDK (chat.completions and responses), the
// Anthropic SDK (messages) and @google/genai (generateContent), each streamed
// and whole, against an OpenAI-compatible channel, an anthropic channel, a
// gemini channel and an openai channel that speaks the Responses API natively.
// Same protocol on both sides passes through; every other pair is translated
// through OpenAI chat. Each mock reports fixed usage in its own format (cache
// reads, reasoning, Gemini tool-use prompt tokens); the charge must be the
// arithmetic on those numbers, written out here by hand, to the micro-unit, on
// SQLite and PostgreSQL, with the ledger verifying afterwards.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, mockReplyText, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { startMockAnthropic, type MockAnthropic } from '../helpers/mockAnthropic.ts';
import { startMockGemini, type MockGemini } from '../helpers/mockGemini.ts';
import { startMockResponses, type MockResponses } from '../helpers/mockResponses.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { toBig } from '../../src/ledger/index.ts';
import { divCeil } from '../../src/ledger/money.ts';
import { relaySdk, settledWallet, verifyThenClose } from '../helpers/relay.ts';

const KEYS = {
  openai: 'sk-oai-matrix-0123456789',
  anthropic: 'sk-ant-matrix-0123456789',
  gemini: 'AIza-matrix-0123456789',
  responses: 'sk-resp-matrix-0123456789',
};
const MODEL = { openai: 'm-chat', anthropic: 'm-claude', gemini: 'm-gemini', responses: 'm-responses' } as const;
type Upstream = keyof typeof MODEL;
type Caller = 'chat' | 'messages' | 'responses' | 'gemini';

// Prices per 1M tokens in micro-units: input 2, cache read 0.5, output 8.
const IN = 2_000_000n;
const CACHED = 500_000n;
const OUT = 8_000_000n;
const REPLY = mockReplyText(48);

/** Usage each mock reports, in its own format, and what it must cost (by hand: uncached input, cache reads, output). */
const REPORTED = {
  // prompt_tokens includes the 200 cached; completion_tokens includes reasoning.
  openai: { usage: { prompt_tokens: 1000, cached_tokens: 200, completion_tokens: 300 }, cost: cost(800 + 0, 200, 300) },
  // input_tokens is uncached only.
  anthropic: { usage: { input_tokens: 800, cache_read_input_tokens: 200, cache_creation_input_tokens: 0, output_tokens: 300 }, cost: cost(800, 200, 300) },
  // promptTokenCount includes cachedContentTokenCount; toolUsePromptTokenCount is input besides; thoughts are output besides candidates.
  gemini: {
    usage: { promptTokenCount: 1000, cachedContentTokenCount: 200, toolUsePromptTokenCount: 30, candidatesTokenCount: 250, thoughtsTokenCount: 50 },
    cost: cost(800 + 30, 200, 250 + 50),
  },
  // input_tokens includes cached; output_tokens includes reasoning.
  responses: { usage: { input_tokens: 1000, cached_tokens: 200, output_tokens: 300, reasoning_tokens: 50 }, cost: cost(800, 200, 300) },
};

function cost(uncached: number, cached: number, output: number): bigint {
  return divCeil(BigInt(uncached) * IN + BigInt(cached) * CACHED + BigInt(output) * OUT, 1_000_000n);
}

/** Which upstreams each caller reaches: every wire format; the Responses-native channel serves Responses callers (it speaks chat too, but the mock does not). */
const PAIRS: Array<[Caller, Upstream]> = [
  ['chat', 'openai'],
  ['chat', 'anthropic'],
  ['chat', 'gemini'],
  ['messages', 'openai'],
  ['messages', 'anthropic'],
  ['messages', 'gemini'],
  ['responses', 'openai'],
  ['responses', 'anthropic'],
  ['responses', 'gemini'],
  ['responses', 'responses'],
  ['gemini', 'openai'],
  ['gemini', 'anthropic'],
  ['gemini', 'gemini'],
];

/** One request through the caller's official client; returns the answer's text. */
async function call(t: TestTally, apiKey: string, caller: Caller, model: string, stream: boolean): Promise<string> {
  const prompt = 'How much did I spend on tokens today?';
  switch (caller) {
    case 'chat': {
      const c = relaySdk(t, apiKey);
      if (!stream) return (await c.chat.completions.create({ model, messages: [{ role: 'user', content: prompt }] })).choices[0].message.content ?? '';
      let text = '';
      for await (const ch of await c.chat.completions.create({ model, messages: [{ role: 'user', content: prompt }], stream: true }))
        text += ch.choices[0]?.delta?.content ?? '';
      return text;
    }
    case 'messages': {
      const c = new Anthropic({ baseURL: t.url, apiKey, maxRetries: 0 });
      const req = { model, max_tokens: 1024, messages: [{ role: 'user' as const, content: prompt }] };
      const msg = stream ? await c.messages.stream(req).finalMessage() : await c.messages.create(req);
      return msg.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
    }
    case 'responses': {
      const c = relaySdk(t, apiKey);
      if (!stream) return (await c.responses.create({ model, input: prompt, store: false })).output_text;
      const s = c.responses.stream({ model, input: prompt, store: false });
      let text = '';
      s.on('response.output_text.delta', (e) => {
        text += e.delta;
      });
      const final = await s.finalResponse();
      assert.equal(final.output_text, text, 'the deltas add up to the final text');
      return text;
    }
    case 'gemini': {
      const g = new GoogleGenAI({ apiKey, httpOptions: { baseUrl: t.url } });
      const req = { model, contents: [{ role: 'user', parts: [{ text: prompt }] }] };
      if (!stream) return (await g.models.generateContent(req)).text ?? '';
      let text = '';
      for await (const ch of await g.models.generateContentStream(req)) text += ch.text ?? '';
      return text;
    }
  }
}

for (const dialect of testDialects()) {
  describe(`every inbound protocol x every upstream wire format on ${dialect}`, () => {
    let t: TestTally;
    let oai: MockOpenAI;
    let ant: MockAnthropic;
    let gem: MockGemini;
    let resp: MockResponses;

    before(async () => {
      t = await startTestTally(dialect);
      oai = await startMockOpenAI({ apiKey: KEYS.openai, models: null, behavior: { usageOverride: REPORTED.openai.usage } });
      ant = await startMockAnthropic({ apiKey: KEYS.anthropic, acceptBearer: false, models: null, behavior: { usageOverride: REPORTED.anthropic.usage } });
      gem = await startMockGemini({ apiKey: KEYS.gemini, models: null, behavior: { usageOverride: REPORTED.gemini.usage } });
      resp = await startMockResponses({ apiKey: KEYS.responses, models: null, behavior: { usageOverride: REPORTED.responses.usage } });
      const db = t.ctx.db;
      const secret = t.config.secret;
      await createChannel(db, secret, { name: 'chat', type: 'openai', baseUrl: oai.url, apiKey: KEYS.openai, models: [MODEL.openai] });
      await createChannel(db, secret, { name: 'claude', type: 'anthropic', baseUrl: ant.url, apiKey: KEYS.anthropic, models: [MODEL.anthropic] });
      await createChannel(db, secret, { name: 'gemini', type: 'gemini', baseUrl: gem.url, apiKey: KEYS.gemini, models: [MODEL.gemini] });
      await createChannel(db, secret, {
        name: 'responses',
        type: 'openai',
        baseUrl: resp.url,
        apiKey: KEYS.responses,
        responsesApi: true,
        models: [MODEL.responses],
      });
      for (const model of Object.values(MODEL))
        await setModelPrice(db, { model, inputPer1M: IN, outputPer1M: OUT, cachedInputPer1M: CACHED, maxOutputTokens: 4096 });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, oai, ant, gem, resp));

    for (const [caller, upstream] of PAIRS) {
      for (const stream of [false, true]) {
        test(`${caller} -> ${upstream} channel, ${stream ? 'streamed' : 'whole'}: the text arrives; charged the upstream's reported usage exactly`, async () => {
          const u = await seedUser(t, { balance: 1_000_000n });
          const text = await call(t, u.apiKey, caller, MODEL[upstream], stream);
          assert.ok(text.startsWith(REPLY.slice(0, 20)), `the mock's reply reaches the ${caller} client: ${JSON.stringify(text.slice(0, 80))}`);
          const expected = REPORTED[upstream].cost;
          const w = await settledWallet(t, u.user.id);
          assert.equal(1_000_000n - toBig(w.balance), expected, 'the wallet paid exactly the arithmetic on the reported usage');
          const rows = await t.ctx.db.selectFrom('request_logs').selectAll().where('user_id', '=', u.user.id).execute();
          assert.equal(rows.length, 1);
          const row = rows[0];
          assert.equal(Number(row.charged), 1, row.charge_reason);
          assert.equal(row.usage_source, 'upstream');
          assert.equal(toBig(row.charged_amount), expected);
          assert.equal(Number(row.stream), stream ? 1 : 0);
        });
      }
    }
  });
}
