// A JSON body nested 10,000 deep used to answer 500: V8's JSON.parse takes
// it, but the prompt counter's JSON.stringify overflowed the stack. Every
// JSON body, on the relay and on the account API, is now refused above 128
// levels with a 400 json_too_deep in the caller's error shape, before it is
// parsed; a reasonably nested body (a tool schema) still goes through.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, ADMIN_TOKEN, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { expectError } from '../accounts/http.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { verifyThenClose } from '../helpers/relay.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';
const CHAT = 'gpt-4o-mini';
const INSTRUCT = 'gpt-3.5-turbo-instruct';
const EMBED = 'text-embedding-3-small';
const DEEP = 10_000;

const nestedArrays = (d: number) => '['.repeat(d) + ']'.repeat(d);
const nestedObjects = (d: number) => '{"a":'.repeat(d) + '1' + '}'.repeat(d);

/** A schema nested `levels` objects deep (about 2 JSON levels each): what a real tool looks like, only deeper. */
function nestedSchema(levels: number): unknown {
  let s: unknown = { type: 'string' };
  for (let i = 0; i < levels; i++) s = { type: 'object', properties: { inner: s } };
  return s;
}

for (const dialect of testDialects()) {
  describe(`JSON nested 10,000 deep on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let apiKey: string;

    before(async () => {
      t = await startTestTally(dialect);
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null });
      await createChannel(t.ctx.db, t.config.secret, {
        name: 'primary',
        type: 'openai',
        baseUrl: mock.url,
        apiKey: UPSTREAM_KEY,
        models: [CHAT, INSTRUCT, EMBED],
      });
      await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 1_000_000n, outputPer1M: 2_000_000n });
      await setModelPrice(t.ctx.db, { model: INSTRUCT, inputPer1M: 1_000_000n, outputPer1M: 2_000_000n });
      await setModelPrice(t.ctx.db, { model: EMBED, inputPer1M: 100_000n, outputPer1M: 0n, kind: 'embedding' });
      await t.ctx.catalog.reload();
      apiKey = (await seedUser(t, { balance: 10_000_000n })).apiKey;
    });
    after(() => verifyThenClose(t, mock));

    const relayBodies: Array<[string, string, string]> = [
      ['chat message content', '/v1/chat/completions', `{"model":"${CHAT}","messages":[{"role":"user","content":${nestedArrays(DEEP)}}]}`],
      ['chat tools', '/v1/chat/completions', `{"model":"${CHAT}","messages":[{"role":"user","content":"hi"}],"tools":${nestedArrays(DEEP)}}`],
      [
        'a field Tally does not read',
        '/v1/chat/completions',
        `{"model":"${CHAT}","messages":[{"role":"user","content":"hi"}],"metadata":${nestedObjects(DEEP)}}`,
      ],
      ['completions prompt', '/v1/completions', `{"model":"${INSTRUCT}","prompt":${nestedArrays(DEEP)}}`],
      ['embeddings input', '/v1/embeddings', `{"model":"${EMBED}","input":${nestedArrays(DEEP)}}`],
    ];

    for (const [what, path, body] of relayBodies) {
      test(`${path}, nested in ${what}: 400 json_too_deep in the OpenAI shape, not a 500`, async () => {
        const before = mock.requests.length;
        const res = await fetch(`${t.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body,
        });
        const json = (await res.json()) as any;
        assert.equal(res.status, 400, JSON.stringify(json));
        assert.deepEqual(Object.keys(json.error).sort(), ['code', 'message', 'param', 'type']);
        assert.equal(json.error.code, 'json_too_deep');
        assert.equal(json.error.type, 'invalid_request_error');
        assert.match(json.error.message, /128 levels/);
        assert.ok(res.headers.get('x-request-id'));
        assert.equal(mock.requests.length, before, 'nothing reached the upstream');
      });
    }

    test('a tool schema nested 40 objects deep is still relayed', async () => {
      const res = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: CHAT,
          messages: [{ role: 'user', content: 'hi' }],
          tools: [{ type: 'function', function: { name: 'deep', parameters: nestedSchema(40) } }],
        }),
      });
      assert.equal(res.status, 200, await res.text());
    });

    test('the account API answers 400 json_too_deep in its own shape on every JSON route', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const f = await signIn(t, u.email, u.password);
      const deep = `{"name":${nestedArrays(DEEP)}}`;
      const deepObj = `{"subject":"x","message":${nestedObjects(DEEP)}}`;
      // Same-origin requests, so an Origin check on cookie routes lets them through to the body.
      const signedIn = (path: string, body: string) => f(path, { method: 'POST', body, headers: { 'content-type': 'application/json', origin: t.url } });
      const raw = (path: string, body: string, headers: Record<string, string> = {}) =>
        fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      await expectError(await raw('/api/auth/login', `{"email":${nestedArrays(DEEP)}}`), 400, 'json_too_deep');
      for (const path of ['/api/keys', '/api/orders', '/api/redeem']) await expectError(await signedIn(path, deep), 400, 'json_too_deep');
      await expectError(await signedIn('/api/tickets', deepObj), 400, 'json_too_deep');
      await expectError(await raw('/api/admin/channels', deep, { 'x-admin-token': ADMIN_TOKEN }), 400, 'json_too_deep');
      // A body with brackets inside its strings is not nested at all.
      const res = await signedIn('/api/keys', JSON.stringify({ name: '['.repeat(300) }));
      assert.notEqual(res.status, 500);
      assert.notEqual(((await res.json()) as any).error?.code, 'json_too_deep');
    });
  });
}
