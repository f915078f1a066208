// Two Tally instances on one PostgreSQL with Redis: a member removed through
// one instance has their team key refused by the other at once (the key was
// cached there), and both instances spending one team wallet never overdraw it.
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
import { compensateUser } from '../../src/payments/compensation.ts';
import { getAccount, toBig } from '../../src/ledger/index.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';
import { addMember, createTeam } from '../../src/teams/index.ts';
import { startSharedInstance } from '../helpers/tally.ts';

const REDIS_URL = process.env.TALLY_TEST_REDIS_URL;
const SECRET = 'multi-instance-secret-0123456789';
const CHAT = 'gpt-4o-mini';
const PASSWORD = 'correct horse battery';

describe('teams on two instances (PostgreSQL + Redis)', {
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
    await setModelPrice(db.db, { model: CHAT, inputPer1M: 1_000_000n, outputPer1M: 2_000_000n, maxOutputTokens: 64 });
    await createChannel(db.db, SECRET, { name: 'mock', type: 'openai', baseUrl: mock.url, apiKey: 'sk-upstream-secret', models: [CHAT] });
    [a, b] = await Promise.all([start(), start()]);
  });
  after(async () => {
    try {
      await Promise.all([a?.ctx.relay.flush(), b?.ctx.relay.flush()]);
      const report = await verifyBooks(db.db);
      assert.ok(report.ok, JSON.stringify(report.checks.filter((c) => !c.ok)));
    } finally {
      await a?.stop();
      await b?.stop();
      await mock?.close();
      await db?.cleanup();
    }
  });

  async function world(tag: string, funding: bigint) {
    const { user: owner } = await createUser(db.db, { email: `owner-${tag}@multi.io`, password: PASSWORD });
    const { user: member } = await createUser(db.db, { email: `member-${tag}@multi.io`, password: PASSWORD });
    const team = await createTeam(db.db, { name: `multi ${tag}`, owner, actor: { type: 'system' } });
    await addMember(db.db, { team, email: member.email, actor: { type: 'system' }, by: null });
    await compensateUser(db.db, { userId: owner.id, teamId: team.id, amount: funding, reason: 'test funding', ticket: 'T-1', actor: { type: 'cli' } });
    return { owner, member, team };
  }

  test('a member removed on instance A has their team key refused on instance B at once', async () => {
    const { member, team } = await world('revoke', 5_000_000n);
    const { secret } = await createApiKey(db.db, { userId: member.id, name: 'team', teamId: team.id });
    const viaB = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: secret, maxRetries: 0 });
    await viaB.chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'hello there' }] }); // cached on B
    const login = await fetch(`${a.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'owner-revoke@multi.io', password: PASSWORD }),
    });
    const cookie = login.headers.get('set-cookie')!.split(';')[0];
    const detail: any = await (await fetch(`${a.url}/api/teams/${team.id}`, { headers: { cookie } })).json();
    const memberId = detail.members.find((m: any) => m.user_id === member.id).id;
    const del = await fetch(`${a.url}/api/teams/${team.id}/members/${memberId}`, { method: 'DELETE', headers: { cookie } });
    assert.equal(del.status, 200);
    let refused = false;
    for (let i = 0; i < 50 && !refused; i++) {
      try {
        await viaB.chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: 'still there?' }] });
        await new Promise((r) => setTimeout(r, 20));
      } catch (e) {
        assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
        refused = true;
      }
    }
    assert.ok(refused, 'instance B kept accepting the team key of a member removed on instance A');
  });

  test('two members on two instances spending one team wallet never overdraw it', async () => {
    const { owner, member, team } = await world('spend', 2_000n);
    const keys = await Promise.all([owner, member].map((u) => createApiKey(db.db, { userId: u.id, name: 'team', teamId: team.id })));
    const clients = [a, b].flatMap((t) => keys.map((k) => new OpenAI({ baseURL: `${t.url}/v1`, apiKey: k.secret, maxRetries: 0 })));
    const results = await Promise.allSettled(
      Array.from({ length: 120 }, (_, i) =>
        clients[i % 4].chat.completions.create({ model: CHAT, messages: [{ role: 'user', content: `request number ${i}` }], max_tokens: 8 }),
      ),
    );
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { status?: number }).status, 402, String(r.reason));
    await Promise.all([a.ctx.relay.flush(), b.ctx.relay.flush()]);
    const wallet = await getAccount(db.db, team.walletId);
    assert.ok(wallet.balance >= 0n, `the team wallet went negative: ${wallet.balance}`);
    const rows = await db.db
      .selectFrom('request_logs')
      .select(['charged_amount'])
      .where(
        'key_id',
        'in',
        keys.map((k) => k.key.id),
      )
      .execute();
    const charged = rows.reduce((s, r) => s + toBig(r.charged_amount), 0n);
    assert.equal(charged, 2_000n - wallet.balance);
  });
});
