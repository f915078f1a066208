// Rate limits across two instances on one PostgreSQL with Redis between them:
// RPM, TPM and concurrency are exact across both (the limits live in Redis,
// one Lua step each), and a request nobody limited issues no Redis command.
// Skipped unless both TALLY_TEST_POSTGRES_URL and TALLY_TEST_REDIS_URL are set.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { RunningTally } from '../../src/app/start.ts';
import { createTestDb, POSTGRES_URL, type TestDb } from '../helpers/db.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { createUser } from '../../src/accounts/users.ts';
import { createApiKey, type Limits } from '../../src/accounts/apiKeys.ts';
import { adjustBalanceManually } from '../../src/accounts/manualCredit.ts';
import { getAccount, walletAccountId } from '../../src/ledger/index.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';
import { startSharedInstance } from '../helpers/tally.ts';

const REDIS_URL = process.env.TALLY_TEST_REDIS_URL;
const SECRET = 'multi-instance-secret-0123456789';
const CHAT = 'gpt-4o-mini';
const messages = [{ role: 'user' as const, content: 'hello there' }];

describe('rate limits across two instances (PostgreSQL + Redis)', {
  skip: !POSTGRES_URL || !REDIS_URL ? 'needs TALLY_TEST_POSTGRES_URL and TALLY_TEST_REDIS_URL' : false,
}, () => {
  let db: TestDb;
  let mock: MockOpenAI;
  let a: RunningTally;
  let b: RunningTally;
  let n = 0;

  const start = () => startSharedInstance(db);

  before(async () => {
    db = await createTestDb('postgres');
    mock = await startMockOpenAI();
    await setModelPrice(db.db, { model: CHAT, inputPer1M: 1_000_000n, outputPer1M: 2_000_000n, maxOutputTokens: 4096 });
    await createChannel(db.db, SECRET, { name: 'mock', type: 'openai', baseUrl: mock.url, apiKey: 'sk-upstream-secret', models: [CHAT] });
    [a, b] = await Promise.all([start(), start()]);
  });
  after(async () => {
    try {
      for (const x of [a, b]) await x?.ctx.relay.flush();
      if (db) {
        const report = await verifyBooks(db.db);
        assert.ok(report.ok, JSON.stringify(report.checks.filter((c) => !c.ok)));
      }
    } finally {
      await a?.stop();
      await b?.stop();
      await mock?.close();
      await db?.cleanup();
    }
  });

  /** A funded user and a key with these limits; a client on each instance. */
  async function keyWith(limits: Partial<Limits>) {
    const { user } = await createUser(db.db, { email: `lim${++n}-${Date.now()}@multi.io`, password: 'correct horse battery' });
    await adjustBalanceManually(db.db, { userId: user.id, amount: 50_000_000n, reason: 'test funding', actor: { type: 'system' } });
    const { secret } = await createApiKey(db.db, { userId: user.id, name: 'k', limits });
    const sdks = [a, b].map((x) => new OpenAI({ baseURL: `${x.url}/v1`, apiKey: secret, maxRetries: 0 }));
    return { user, secret, sdks };
  }

  async function tally(calls: Promise<unknown>[]) {
    const out = await Promise.allSettled(calls);
    const other = out.filter((r) => r.status === 'rejected' && (r.reason as any)?.status !== 429).map((r: any) => r.reason);
    assert.deepEqual(other, [], 'only 429s fail');
    return { ok: out.filter((r) => r.status === 'fulfilled').length, limited: out.filter((r) => r.status === 'rejected').map((r: any) => r.reason) };
  }

  test('RPM: a key limited to N gets exactly N across both instances, requests alternated and concurrent', async () => {
    const N = 5;
    const { sdks } = await keyWith({ rpm: N });
    const r = await tally(Array.from({ length: 3 * N }, (_, i) => sdks[i % 2].chat.completions.create({ model: CHAT, messages, max_tokens: 8 })));
    assert.equal(r.ok, N);
    assert.equal(r.limited.length, 2 * N);
    for (const e of r.limited) {
      assert.equal(e.code, 'rate_limited');
      assert.equal(e.headers.get('x-ratelimit-limit-requests'), String(N));
      assert.ok(Number(e.headers.get('retry-after')) >= 1);
    }
  });

  test('TPM: a limit that fits k requests bounds gives exactly k across both; the unused part comes back after they settle', async () => {
    // Each request's bound is its prompt bound + 1000 output tokens; it uses far fewer (about 60).
    const k = 3;
    const { sdks } = await keyWith({ tpm: k * 1000 + 500 });
    mock.setBehavior({ latencyMs: 400 }); // none settles (and gives tokens back) while the others arrive
    let r;
    try {
      r = await tally(Array.from({ length: 3 * k }, (_, i) => sdks[i % 2].chat.completions.create({ model: CHAT, messages, max_tokens: 1000 })));
    } finally {
      mock.setBehavior({});
    }
    assert.equal(r.ok, k);
    for (const e of r.limited) assert.match(e.message, /tokens per minute/);
    await Promise.all([a.ctx.relay.flush(), b.ctx.relay.flush()]);
    // Settled: each gave back most of its bound; k more fit again at once (on either instance).
    const again = await tally(Array.from({ length: k }, (_, i) => sdks[(i + 1) % 2].chat.completions.create({ model: CHAT, messages, max_tokens: 1000 })));
    assert.equal(again.ok, k);
  });

  test('concurrency: with a slow upstream, exactly C of 3C concurrent requests over both instances pass; the slots come back', async () => {
    const C = 2;
    const { sdks } = await keyWith({ concurrency: C });
    mock.setBehavior({ latencyMs: 500 });
    try {
      const r = await tally(Array.from({ length: 3 * C }, (_, i) => sdks[i % 2].chat.completions.create({ model: CHAT, messages, max_tokens: 8 })));
      assert.equal(r.ok, C);
      assert.equal(r.limited.length, 2 * C);
      for (const e of r.limited) assert.match(e.message, /requests at a time/);
      // All finished: the slots are free again (released on both instances), C pass at once again.
      await new Promise((res) => setTimeout(res, 50)); // a release is sent without being awaited by the response
      const again = await tally(Array.from({ length: 3 * C }, (_, i) => sdks[(i + 1) % 2].chat.completions.create({ model: CHAT, messages, max_tokens: 8 })));
      assert.equal(again.ok, C);
    } finally {
      mock.setBehavior({});
    }
  });

  test('nobody limited: the relay path issues no Redis command (limits cost nothing when unused)', async () => {
    const { user, sdks } = await keyWith({});
    // Warm: the key is cached on both instances.
    await Promise.all(sdks.map((s) => s.chat.completions.create({ model: CHAT, messages, max_tokens: 8 })));
    await Promise.all([a.ctx.relay.flush(), b.ctx.relay.flush()]);
    const seen: string[] = [];
    const spies = [a, b].map((x) => {
      const redis = x.ctx.redis!;
      const original = redis.sendCommand.bind(redis);
      redis.sendCommand = ((cmd: any, ...rest: any[]) => {
        seen.push(`${cmd.name} ${(cmd.args ?? []).slice(0, 1).join(' ')}`);
        return original(cmd, ...rest);
      }) as typeof redis.sendCommand;
      return () => {
        redis.sendCommand = original;
      };
    });
    try {
      const r = await tally(Array.from({ length: 10 }, (_, i) => sdks[i % 2].chat.completions.create({ model: CHAT, messages, max_tokens: 8 })));
      assert.equal(r.ok, 10);
      const { data: stream } = await sdks[0].chat.completions.create({ model: CHAT, messages, max_tokens: 8, stream: true }).withResponse();
      for await (const _ of stream) void _;
    } finally {
      for (const undo of spies) undo();
    }
    assert.deepEqual(seen, [], 'no Redis command on the relay path');
    // The spy sees what it should: a limited key does use Redis.
    const limited = await keyWith({ rpm: 100 });
    const spy2: string[] = [];
    const redis = a.ctx.redis!;
    const original = redis.sendCommand.bind(redis);
    redis.sendCommand = ((cmd: any, ...rest: any[]) => {
      spy2.push(cmd.name);
      return original(cmd, ...rest);
    }) as typeof redis.sendCommand;
    try {
      await limited.sdks[0].chat.completions.create({ model: CHAT, messages, max_tokens: 8 });
    } finally {
      redis.sendCommand = original;
    }
    assert.ok(
      spy2.some((c) => c === 'eval' || c === 'evalsha'),
      `a limited key's request runs the Lua step: ${spy2.join(',')}`,
    );
    await a.ctx.relay.flush();
    assert.ok((await getAccount(db.db, walletAccountId(user.id))).balance < 50_000_000n);
  });
});
