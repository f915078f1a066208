// TALLY_SETTLE_WORKER=on (SQLite): settlements are written by a worker thread
// with its own connection. The same guarantees must hold as in process.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { getAccount, walletAccountId } from '../../src/ledger/index.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';
import { toBig } from '../../src/ledger/money.ts';

describe('settlement on a worker thread (SQLite)', () => {
  let t: TestTally;
  let mock: MockOpenAI;
  before(async () => {
    mock = await startMockOpenAI();
    t = await startTestTally('sqlite', {}, { TALLY_SETTLE_WORKER: 'on' });
    await setModelPrice(t.ctx.db, { model: 'gpt-4o-mini', inputPer1M: 1_000_000n, outputPer1M: 2_000_000n, maxOutputTokens: 64 });
    await createChannel(t.ctx.db, t.config.secret, { name: 'mock', type: 'openai', baseUrl: mock.url, apiKey: 'sk-upstream', models: ['gpt-4o-mini'] });
    await t.ctx.catalog.reload();
  });
  after(async () => {
    await t?.close();
    await mock?.close();
  });

  test('every request is charged once and logged, and the wallet agrees with the log', async () => {
    const u = await seedUser(t, { balance: 1_000_000n });
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: u.apiKey, maxRetries: 0 });
    await Promise.all(Array.from({ length: 40 }, (_, i) => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `question ${i}` }], max_tokens: 8 })));
    await t.ctx.relay.flush();
    const rows = await t.ctx.db.selectFrom('request_logs').select(['charged_amount', 'charged']).where('user_id', '=', u.user.id).execute();
    assert.equal(rows.length, 40);
    assert.ok(rows.every((r) => Number(r.charged) === 1));
    const charged = rows.reduce((s, r) => s + toBig(r.charged_amount), 0n);
    const wallet = await getAccount(t.ctx.db, walletAccountId(u.user.id));
    assert.equal(wallet.balance, 1_000_000n - charged);
    const report = await verifyBooks(t.ctx.db);
    assert.ok(report.ok, JSON.stringify(report.checks.filter((c) => !c.ok)));
  });
});
