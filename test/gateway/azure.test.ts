// An Azure OpenAI channel (type `azure`), on SQLite and PostgreSQL: Tally
// calls <resource>/openai/deployments/{deployment}/{chat/completions,
// completions, embeddings}?api-version=<the channel's> with the `api-key`
// header (never a Bearer key), the deployment being the mapped model name;
// the answers (OpenAI's format) are read with the openai reader and charged
// to the micro-unit; the channel view shows the api-version, never the key;
// `channel test` probes the deployment the same way.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { asAdminToken, expectError, expectJson } from '../accounts/http.ts';
import { startMockOpenAI, mockUsageFor, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { startMockAzure, type MockAzure } from '../helpers/mockAzure.ts';
import { setModelPrice, computeCost, type ModelPrice } from '../../src/gateway/pricing.ts';
import { toBig } from '../../src/ledger/index.ts';
import { relaySdk as sdk, requestLogRow as logRow, verifyThenClose } from '../helpers/relay.ts';

const AZURE_KEY = '0123456789abcdef0123456789abcdef';
const BEARER = 'sk-behind-azure-0123456789';
const ONE_X = 1_000_000n;

for (const dialect of testDialects()) {
  describe(`azure channels on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let azure: MockAzure;
    let chat: ModelPrice;
    let channelId: string;

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockOpenAI({ apiKey: BEARER, models: null });
      azure = await startMockAzure({ openaiPort: mock.port, bearer: BEARER, apiKey: AZURE_KEY });
      const created = await expectJson<any>(
        await asAdminToken(t, 'POST', '/api/admin/channels', {
          name: 'azure-east',
          type: 'azure',
          base_url: azure.url,
          api_key: AZURE_KEY,
          api_version: '2025-04-01-preview',
          models: ['gpt-4o', 'gpt-3.5-turbo-instruct', 'text-embedding-3-small'],
          model_map: { 'gpt-4o': 'my-gpt4o-deployment', 'text-embedding-3-small': 'embed-small' },
        }),
        201,
      );
      channelId = created.id;
      assert.equal(created.api_version, '2025-04-01-preview');
      assert.equal(created.has_api_key, true);
      assert.ok(!JSON.stringify(created).includes(AZURE_KEY), 'the view never shows the key');
      chat = await setModelPrice(t.ctx.db, { model: 'gpt-4o', inputPer1M: 2_500_000n, outputPer1M: 10_000_000n });
      await setModelPrice(t.ctx.db, { model: 'gpt-3.5-turbo-instruct', inputPer1M: 1_500_000n, outputPer1M: 2_000_000n });
      await setModelPrice(t.ctx.db, { model: 'text-embedding-3-small', kind: 'embedding', inputPer1M: 20_000n, outputPer1M: 0n });
      await t.ctx.catalog.reload();
    });
    after(async () => {
      await azure?.close();
      await verifyThenClose(t, mock);
    });

    test('chat, whole and streamed: the deployment path, the api-version and the api-key header; charged from the usage', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const messages = [{ role: 'user' as const, content: 'Say hello to Azure.' }];
      const { data, response } = await sdk(t, u.apiKey).chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 20 }).withResponse();
      assert.equal(data.object, 'chat.completion');
      const call = azure.calls.at(-1)!;
      assert.equal(call.path, '/openai/deployments/my-gpt4o-deployment/chat/completions');
      assert.equal(call.apiVersion, '2025-04-01-preview');
      assert.equal(call.apiKey, AZURE_KEY);
      assert.equal(call.authorization, null, 'no Bearer key to Azure');
      const sent = mock.requestsTo('/chat/completions').at(-1)!;
      const usage = mockUsageFor(sent.body);
      const row = await logRow(t, response.headers.get('x-request-id'));
      assert.equal(row.upstream_model, 'my-gpt4o-deployment');
      assert.equal(
        toBig(row.cost),
        computeCost(chat, { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, cachedTokens: 0 }, ONE_X),
      );

      const stream = await sdk(t, u.apiKey).chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 20, stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      assert.ok(text.length > 0);
      const streamed = azure.calls.at(-1)!;
      assert.equal(streamed.path, '/openai/deployments/my-gpt4o-deployment/chat/completions');
      assert.equal(streamed.apiKey, AZURE_KEY);
      assert.equal(mock.requestsTo('/chat/completions').at(-1)!.body.stream_options?.include_usage, true, 'usage asked for, as on openai channels');
    });

    test('legacy completions (unmapped: the model name is the deployment) and embeddings go to their deployment paths', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const c = await sdk(t, u.apiKey).completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time', max_tokens: 8 });
      assert.equal(c.object, 'text_completion');
      assert.equal(azure.calls.at(-1)!.path, '/openai/deployments/gpt-3.5-turbo-instruct/completions');
      const e = await sdk(t, u.apiKey).embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
      assert.equal(e.data.length, 1);
      const call = azure.calls.at(-1)!;
      assert.equal(call.path, '/openai/deployments/embed-small/embeddings');
      assert.equal(call.apiVersion, '2025-04-01-preview');
    });

    test('`channel test` probes the deployment with the api-key header and the api-version', async () => {
      const r = await expectJson<{ ok: boolean }>(await asAdminToken(t, 'POST', `/api/admin/channels/${channelId}/test`));
      assert.equal(r.ok, true, JSON.stringify(r));
      const call = azure.calls.at(-1)!;
      assert.match(call.path, /^\/openai\/deployments\/[^/]+\/chat\/completions$/);
      assert.equal(call.apiKey, AZURE_KEY);
      assert.equal(call.apiVersion, '2025-04-01-preview');
    });

    test('an api-version is refused on a non-azure channel and when malformed; an azure channel without one gets the default', async () => {
      const body = (over: Record<string, unknown>) => ({
        name: `x-${Math.random()}`,
        type: 'azure',
        base_url: azure.url,
        api_key: 'k',
        models: ['m-x'],
        ...over,
      });
      await expectError(
        await asAdminToken(t, 'POST', '/api/admin/channels', body({ type: 'openai', api_version: '2024-10-21' })),
        400,
        'invalid_request',
        'api_version',
      );
      await expectError(await asAdminToken(t, 'POST', '/api/admin/channels', body({ api_version: 'latest' })), 400, 'invalid_request', 'api_version');
      const c = await expectJson<any>(await asAdminToken(t, 'POST', '/api/admin/channels', body({})), 201);
      assert.equal(c.api_version, '2024-10-21');
    });
  });
}
