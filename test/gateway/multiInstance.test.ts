// Two Tally instances on one PostgreSQL database with Redis between them, the
// supported way to run more than one instance. Skipped unless both
// TALLY_TEST_POSTGRES_URL and TALLY_TEST_REDIS_URL are set (CI sets both).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { RunningTally } from '../../src/app/start.ts';
import { createTestDb, POSTGRES_URL, type TestDb } from '../helpers/db.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { createUser } from '../../src/accounts/users.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { adjustBalanceManually } from '../../src/accounts/manualCredit.ts';
import { getAccount, walletAccountId } from '../../src/ledger/index.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';
import { toBig } from '../../src/ledger/money.ts';
import { startSharedInstance } from '../helpers/tally.ts';

const REDIS_URL = process.env.TALLY_TEST_REDIS_URL;

describe('two instances on one PostgreSQL with Redis', {
  skip: !POSTGRES_URL || !REDIS_URL ? 'needs TALLY_TEST_POSTGRES_URL and TALLY_TEST_REDIS_URL' : false,
}, () => {
  let db: TestDb;
  let mock: MockOpenAI;
  let a: RunningTally;
  let b: RunningTally;

  const start = () => startSharedInstance(db, { TALLY_OVERSPEND: 'reject' });

  before(async () => {
    db = await createTestDb('postgres');
    mock = await startMockOpenAI();
    await setModelPrice(db.db, { model: 'gpt-4o-mini', inputPer1M: 1_000_000n, outputPer1M: 2_000_000n, maxOutputTokens: 64 });
    await createChannel(db.db, 'multi-instance-secret-0123456789', {
      name: 'mock',
      type: 'openai',
      baseUrl: mock.url,
      apiKey: 'sk-upstream-secret',
      models: ['gpt-4o-mini'],
    });
    [a, b] = await Promise.all([start(), start()]);
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await mock?.close();
    await db?.cleanup();
  });

  test('a key revoked through one instance stops working on the other at once', async () => {
    const { user } = await createUser(db.db, { email: 'revoke@multi.io', password: 'correct horse battery' });
    await adjustBalanceManually(db.db, { userId: user.id, amount: 5_000_000n, reason: 'test funding', actor: { type: 'system' } });
    const { key, secret } = await createApiKey(db.db, { userId: user.id, name: 'shared' });
    const viaB = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: secret, maxRetries: 0 });
    await viaB.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }] }); // now cached on B
    const login = await fetch(`${a.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'revoke@multi.io', password: 'correct horse battery' }),
    });
    const cookie = login.headers.get('set-cookie')!.split(';')[0];
    const del = await fetch(`${a.url}/api/keys/${key.id}`, { method: 'DELETE', headers: { cookie } });
    assert.equal(del.status, 200);
    // Redis pub/sub delivers the revocation; allow it a moment, far less than the 60 s cache.
    let refused = false;
    for (let i = 0; i < 50 && !refused; i++) {
      try {
        await viaB.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'still there?' }] });
        await new Promise((r) => setTimeout(r, 20));
      } catch (e) {
        assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
        refused = true;
      }
    }
    assert.ok(refused, 'instance B kept accepting a key revoked on instance A');
  });

  test('both instances spending one wallet at once never take it below zero, and every charge is logged', async () => {
    const { user } = await createUser(db.db, { email: 'spend@multi.io', password: 'correct horse battery' });
    await adjustBalanceManually(db.db, { userId: user.id, amount: 2_000n, reason: 'a small balance', actor: { type: 'system' } });
    const { secret } = await createApiKey(db.db, { userId: user.id, name: 'spend' });
    const clients = [a, b].map((t) => new OpenAI({ baseURL: `${t.url}/v1`, apiKey: secret, maxRetries: 0 }));
    const results = await Promise.allSettled(
      Array.from({ length: 120 }, (_, i) =>
        clients[i % 2].chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `request number ${i}` }], max_tokens: 8 }),
      ),
    );
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { status?: number }).status, 402, String(r.reason));
    await Promise.all([a.ctx.relay.flush(), b.ctx.relay.flush()]);
    const wallet = await getAccount(db.db, walletAccountId(user.id));
    assert.ok(wallet.balance >= 0n, `wallet went negative: ${wallet.balance}`);
    const rows = await db.db.selectFrom('request_logs').select(['charged_amount', 'uncollected', 'cost']).where('user_id', '=', user.id).execute();
    const charged = rows.reduce((s, r) => s + toBig(r.charged_amount), 0n);
    assert.equal(charged, 2_000n - wallet.balance, 'the wallet lost exactly what the request log says was charged');
    for (const r of rows) assert.equal(toBig(r.charged_amount) + toBig(r.uncollected), toBig(r.cost));
    const report = await verifyBooks(db.db);
    assert.ok(report.ok, JSON.stringify(report.checks.filter((c) => !c.ok)));
  });
});
