// Two instances on one PostgreSQL database (with Redis when it is set): a
// crossing both see alerts once, and an outbox both drain delivers each
// alert once. Skipped without TALLY_TEST_POSTGRES_URL.
import { OUTBOX_RETAIN_MS } from '../../src/alerts/outbox.ts';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { loadConfig } from '../../src/config/index.ts';
import { startTally, type RunningTally } from '../../src/app/start.ts';
import { createTestDb, POSTGRES_URL, type TestDb } from '../helpers/db.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { createUser } from '../../src/accounts/users.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { adjustBalanceManually } from '../../src/accounts/manualCredit.ts';
import { getAccount, walletAccountId } from '../../src/ledger/index.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';
import { writeAlertSettings } from '../../src/alerts/index.ts';
import { newId } from '../../src/lib/ids.ts';
import { alertEnv, settle, startHookReceiver, startSmtp, waitFor } from './receivers.ts';

const REDIS_URL = process.env.TALLY_TEST_REDIS_URL;
const SECRET = 'alerts-multi-secret-0123456789';

describe('alerts with two instances on one PostgreSQL', { skip: !POSTGRES_URL ? 'needs TALLY_TEST_POSTGRES_URL' : false }, () => {
  let db: TestDb;
  let mock: MockOpenAI;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let hooks: Awaited<ReturnType<typeof startHookReceiver>>;
  let a: RunningTally;
  let b: RunningTally;

  const start = () =>
    startTally(
      loadConfig({
        TALLY_DATABASE_URL: db.connectionUrl,
        ...(REDIS_URL ? { TALLY_REDIS_URL: REDIS_URL } : {}),
        TALLY_PORT: '0',
        TALLY_HOST: '127.0.0.1',
        TALLY_SECRET: SECRET,
        TALLY_LOG_LEVEL: 'silent',
        TALLY_DEMO: 'off',
        ...alertEnv(smtp.url),
      }),
      { bootstrap: false },
    );

  before(async () => {
    db = await createTestDb('postgres');
    smtp = await startSmtp();
    hooks = await startHookReceiver();
    mock = await startMockOpenAI({ models: null });
    await setModelPrice(db.db, { model: 'gpt-4o-mini', inputPer1M: 1_000_000_000n, outputPer1M: 2_000_000_000n, maxOutputTokens: 64 });
    await createChannel(db.db, SECRET, { name: 'mock', type: 'openai', baseUrl: mock.url, apiKey: 'sk-upstream', models: ['gpt-4o-mini'] });
    [a, b] = await Promise.all([start(), start()]);
  });
  after(async () => {
    try {
      const report = await verifyBooks(db.db);
      assert.ok(report.ok, JSON.stringify(report.checks.filter((c) => !c.ok)));
    } finally {
      await a?.stop();
      await b?.stop();
      await mock?.close();
      await smtp?.close();
      await hooks?.close();
      await db?.cleanup();
    }
  });

  test('a wallet spent below its threshold through both instances alerts once', async () => {
    const { user } = await createUser(db.db, { email: 'both@multi.io', password: 'correct horse battery' });
    await adjustBalanceManually(db.db, { userId: user.id, amount: 1_500_000n, reason: 'test funding', actor: { type: 'system' } });
    const { secret } = await createApiKey(db.db, { userId: user.id, name: 'shared' });
    const owner = walletAccountId(user.id);
    await writeAlertSettings(db.db, { owner, balanceBelow: 1_000_000n, email: true, webhookUrl: `${hooks.url}/multi`, language: 'en' }, Date.now());
    await Promise.all([a.ctx.alerts.reload(), b.ctx.alerts.reload()]);
    const clients = [a, b].map((x) => new OpenAI({ baseURL: `${x.url}/v1`, apiKey: secret, maxRetries: 0 }));
    const ask = (i: number) => clients[i % 2].chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    for (let i = 0; i < 40; i++) {
      await Promise.all([ask(i), ask(i + 1)]);
      await Promise.all([a.ctx.relay.flush(), b.ctx.relay.flush()]);
      if ((await getAccount(db.db, owner)).balance < 800_000n) break;
    }
    await Promise.all([a.ctx.alerts.idle(), b.ctx.alerts.idle()]);
    await waitFor('the e-mail', () => smtp.mails.some((m) => m.to.includes('both@multi.io')));
    await waitFor('the webhook', () => hooks.calls.some((c) => c.path === '/multi'));
    // Both instances judge the same figures: neither may alert a second time.
    const figures = new Map([[owner, 1n]]);
    for (let i = 0; i < 5; i++) {
      a.ctx.alerts.walletFigures(figures);
      b.ctx.alerts.walletFigures(figures);
    }
    await Promise.all([a.ctx.alerts.idle(), b.ctx.alerts.idle()]);
    await settle(400);
    assert.equal(smtp.mails.filter((m) => m.to.includes('both@multi.io')).length, 1);
    assert.equal(hooks.calls.filter((c) => c.path === '/multi').length, 1);
  });

  test('an outbox drained by both instances at once delivers each alert once', async () => {
    const now = Date.now();
    const ids = Array.from({ length: 30 }, () => newId('alt'));
    // Paused workers first, so the two passes below race for every row.
    await Promise.all([a.ctx.alerts.outbox.stop(), b.ctx.alerts.outbox.stop()]);
    await db.db
      .insertInto('alert_outbox')
      .values(
        ids.map((id) => ({
          id,
          owner_ref: 'user:nobody',
          channel: 'webhook' as const,
          target: `${hooks.url}/drain`,
          kind: 'balance.below',
          payload: JSON.stringify({
            event: { id, kind: 'balance.below', owner: 'user:nobody', currency: 'USD', createdAt: now, threshold: '1.00', spendable: '0.10' },
          }),
          status: 'pending' as const,
          attempts: 0,
          next_attempt_at: now,
          created_at: now,
        })),
      )
      .execute();
    a.ctx.alerts.outbox.start();
    b.ctx.alerts.outbox.start();
    const [na, nb] = await Promise.all([a.ctx.alerts.outbox.runOnce(), b.ctx.alerts.outbox.runOnce()]);
    await waitFor('every delivery', () => hooks.calls.filter((c) => c.path === '/drain').length >= 30);
    await settle(300);
    const got = hooks.calls.filter((c) => c.path === '/drain').map((c) => c.json.id);
    assert.equal(got.length, 30, 'no alert delivered twice');
    assert.deepEqual([...new Set(got)].sort(), [...ids].sort());
    assert.ok(na + nb <= 30);
    const rows = await db.db.selectFrom('alert_outbox').select(['status', 'attempts']).where('owner_ref', '=', 'user:nobody').execute();
    assert.ok(rows.every((r) => r.status === 'sent' && Number(r.attempts) === 1));
  });

  test('old sent and failed deliveries are pruned; pending ones and recent ones stay', async () => {
    const now = Date.now();
    const old = now - OUTBOX_RETAIN_MS - 60_000;
    const row = (id: string, status: 'sent' | 'failed' | 'pending', at: number) => ({
      id,
      owner_ref: 'user:prune',
      channel: 'webhook' as const,
      target: `${hooks.url}/prune`,
      kind: 'balance.below',
      payload: '{}',
      status,
      attempts: 1,
      next_attempt_at: at,
      created_at: at,
    });
    await Promise.all([a.ctx.alerts.outbox.stop(), b.ctx.alerts.outbox.stop()]);
    const oldOnes = Array.from({ length: 1005 }, (_, i) => row(`alt_prune_old_${i}`, i % 2 ? 'sent' : 'failed', old - i));
    for (let i = 0; i < oldOnes.length; i += 200)
      await db.db
        .insertInto('alert_outbox')
        .values(oldOnes.slice(i, i + 200))
        .execute();
    await db.db
      .insertInto('alert_outbox')
      .values([row('alt_prune_recent', 'sent', now - 1000), row('alt_prune_pending', 'pending', old)])
      .execute();
    const gone = await a.ctx.alerts.outbox.prune(now);
    assert.equal(gone, 1005);
    const left = await db.db.selectFrom('alert_outbox').select('id').where('owner_ref', '=', 'user:prune').orderBy('id').execute();
    assert.deepEqual(
      left.map((r) => r.id),
      ['alt_prune_pending', 'alt_prune_recent'],
    );
    assert.equal(await b.ctx.alerts.outbox.prune(now), 0);
  });
});
