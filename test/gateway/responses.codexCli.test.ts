// The recorded Codex CLI turn (test/fixtures/codex-cli/responses-stream.json:
// stream, store false, include reasoning.encrypted_content, prompt_cache_key,
// client_metadata, reasoning.summary, function tools and a web_search tool)
// replayed through Tally as raw HTTP with the client's own headers (only the
// key is Tally's), to an openai channel that declares responses_api: passed
// through byte for byte, the event stream returned as the upstream sent it,
// charged to the micro-unit from response.completed. Then the next turn,
// as Codex sends it (the whole conversation again, the reasoning item with its
// encrypted content and the function_call_output), on SQLite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockResponses, mockResponsesInputTokens, parseResponsesSse, countWords, type MockResponses } from '../helpers/mockResponses.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { computeCost, setModelPrice, type ModelPrice } from '../../src/gateway/pricing.ts';
import { verifyThenClose } from '../helpers/relay.ts';
import { assertChargedRow } from '../helpers/anthropicRelay.ts';
import { billedUsage, replayFixture } from './responses.helpers.ts';

const fixture = JSON.parse(readFileSync(new URL('../fixtures/codex-cli/responses-stream.json', import.meta.url), 'utf8'));
const UP_KEY = 'sk-openai-upstream-secret-0123456789';
const ONE_X = 1_000_000n;

for (const dialect of testDialects()) {
  describe(`Codex CLI replayed through Tally to a responses_api channel on ${dialect}`, () => {
    let t: TestTally;
    let up: MockResponses;
    let price: ModelPrice;

    before(async () => {
      t = await startTestTally(dialect);
      up = await startMockResponses({ apiKey: UP_KEY, models: null });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'native',
        type: 'openai',
        baseUrl: up.url,
        apiKey: UP_KEY,
        models: [fixture.body.model],
        responsesApi: true,
      });
      price = await setModelPrice(t.ctx.db, { model: fixture.body.model, inputPer1M: 1_250_000n, outputPer1M: 10_000_000n, cachedInputPer1M: 125_000n });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, up));

    test('the turn passes through unchanged; the stream comes back event for event; response.completed usage is charged', async () => {
      const u = await seedUser(t, { balance: 10_000_000n });
      const res = await replayFixture(t, fixture, u.apiKey);
      assert.equal(res.status, 200, await res.clone().text());
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
      const events = parseResponsesSse(await res.text());
      const seen = up.requestsTo('/responses').at(-1)!;
      assert.equal(seen.path, '/v1/responses');
      assert.equal(seen.headers.authorization, `Bearer ${UP_KEY}`, "Tally's upstream key, never the caller's");
      assert.equal(JSON.stringify(seen.body), JSON.stringify(fixture.body), 'the body reaches the upstream as Codex sent it');
      assert.equal(events[0].event, 'response.created');
      const done = events.at(-1)!;
      assert.equal(done.event, 'response.completed');
      const reasoning = done.data.response.output.find((o: any) => o.type === 'reasoning');
      assert.match(reasoning.encrypted_content, /^gAAAAA/, 'include: reasoning.encrypted_content is honoured upstream');
      const usage = done.data.response.usage;
      assert.equal(usage.input_tokens, mockResponsesInputTokens(fixture.body));
      assert.ok(usage.output_tokens_details.reasoning_tokens > 0);
      const billed = billedUsage({ input_tokens: usage.input_tokens, output_tokens: usage.output_tokens });
      const said = (kind: string) =>
        countWords(
          events
            .filter((e) => e.event === kind)
            .map((e) => e.data.delta)
            .join(''),
        );
      const reasoned = said('response.reasoning_summary_text.delta');
      assert.equal(reasoned, usage.output_tokens_details.reasoning_tokens);
      assert.equal(reasoned + said('response.output_text.delta'), usage.output_tokens, 'output_tokens counts the reasoning and the text');
      await assertChargedRow(t, res.headers.get('x-request-id'), computeCost(price, billed, ONE_X), {
        endpoint: 'responses',
        stream: 1,
        prompt_tokens: usage.input_tokens,
        completion_tokens: usage.output_tokens,
      });
    });

    test('the next turn (the reasoning item with encrypted content, a function call and its output) passes through and is charged', async () => {
      const u = await seedUser(t, { balance: 10_000_000n });
      const first = parseResponsesSse(await (await replayFixture(t, fixture, u.apiKey)).text()).at(-1)!.data.response;
      const call = { type: 'function_call', call_id: 'call_abc', name: 'shell', arguments: '{"command":["ls"]}' };
      const body = {
        ...fixture.body,
        input: [...fixture.body.input, ...first.output, call, { type: 'function_call_output', call_id: 'call_abc', output: 'foo.py\nREADME.md' }],
      };
      const res = await replayFixture(t, fixture, u.apiKey, body);
      assert.equal(res.status, 200);
      const done = parseResponsesSse(await res.text()).at(-1)!;
      assert.equal(done.event, 'response.completed');
      const seen = up.requestsTo('/responses').at(-1)!;
      assert.equal(JSON.stringify(seen.body), JSON.stringify(body));
      const usage = done.data.response.usage;
      await assertChargedRow(t, res.headers.get('x-request-id'), computeCost(price, billedUsage(usage), ONE_X));
    });
  });
}
