// Two Tally instances on one PostgreSQL with Redis between them: a user
// disabled through instance A has their API key (cached on B) refused by B
// with account_disabled within the same second, their session on B ends;
// enabled through A, B serves the key again; a group changed through A prices
// B's next request. Skipped without PostgreSQL and Redis.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningTally } from '../../src/app/start.ts';
import { createTestDb, POSTGRES_URL, type TestDb } from '../helpers/db.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { ADMIN_TOKEN, MULTI_INSTANCE_SECRET, startSharedInstance } from '../helpers/tally.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { upsertGroup } from '../../src/gateway/groups.ts';
import { createUser } from '../../src/accounts/users.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { adjustBalanceManually } from '../../src/accounts/manualCredit.ts';
import { toBig } from '../../src/ledger/index.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';

const REDIS_URL = process.env.TALLY_TEST_REDIS_URL;
const CHAT = 'gpt-4o-mini';
const PASSWORD = 'correct horse battery';

describe('user administration on two instances (PostgreSQL + Redis)', {
  skip: !POSTGRES_URL || !REDIS_URL ? 'needs TALLY_TEST_POSTGRES_URL and TALLY_TEST_REDIS_URL' : false,
}, () => {
  let db: TestDb;
  let mock: MockOpenAI;
  let a: RunningTally;
  let b: RunningTally;

  before(async () => {
    db = await createTestDb('postgres');
    mock = await startMockOpenAI();
    await setModelPrice(db.db, { model: CHAT, inputPer1M: 1_000_000n, outputPer1M: 2_000_000n, maxOutputTokens: 64 });
    await createChannel(db.db, MULTI_INSTANCE_SECRET, { name: 'mock', type: 'openai', baseUrl: mock.url, apiKey: 'sk-upstream-secret', models: [CHAT] });
    await upsertGroup(db.db, { name: 'triple', multiplierPpm: 3_000_000n, models: null });
    [a, b] = await Promise.all([startSharedInstance(db, { TALLY_ADMIN_TOKEN: ADMIN_TOKEN }), startSharedInstance(db, { TALLY_ADMIN_TOKEN: ADMIN_TOKEN })]);
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

  async function person(tag: string) {
    const { user } = await createUser(db.db, { email: `${tag}@multi.io`, password: PASSWORD });
    await adjustBalanceManually(db.db, { userId: user.id, amount: 5_000_000n, reason: 'test funding', actor: { type: 'system' } });
    const { secret } = await createApiKey(db.db, { userId: user.id, name: 'k' });
    return { user, secret };
  }
  async function ask(on: RunningTally, apiKey: string) {
    const res = await fetch(`${on.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: CHAT, messages: [{ role: 'user', content: 'hello there' }] }),
    });
    const body: any = await res.json();
    return { status: res.status, code: (body.error?.code as string) ?? null, rid: res.headers.get('x-request-id') };
  }
  const asOperator = (on: RunningTally, path: string, body: unknown) =>
    fetch(`${on.url}${path}`, { method: 'POST', headers: { 'x-admin-token': ADMIN_TOKEN, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  /** Checks until `check` holds, for at most one second (the event travels through Redis); whether it did. */
  async function withinASecond(check: () => Promise<boolean>): Promise<boolean> {
    const end = Date.now() + 1000;
    do {
      if (await check()) return true;
      await new Promise((r) => setTimeout(r, 10));
    } while (Date.now() < end);
    return false;
  }

  test('disabled on A: the key cached on B is refused with account_disabled within the second, the session on B ends; enabled on A: B serves it', async () => {
    const { user, secret } = await person('disable');
    assert.equal((await ask(b, secret)).status, 200); // cached on B
    const login = await fetch(`${b.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: user.email, password: PASSWORD }),
    });
    const cookie = login.headers.get('set-cookie')!.split(';')[0];
    assert.equal((await fetch(`${b.url}/api/me`, { headers: { cookie } })).status, 200);

    const res = await asOperator(a, `/api/admin/users/${user.id}/disable`, { reason: 'stolen card' });
    assert.equal(res.status, 200, await res.clone().text());
    let last: Awaited<ReturnType<typeof ask>> | null = null;
    const refused = await withinASecond(async () => {
      last = await ask(b, secret);
      return last.status === 403;
    });
    assert.ok(refused, `B still served the key: ${JSON.stringify(last)}`);
    assert.equal(last!.code, 'account_disabled');
    assert.equal((await fetch(`${b.url}/api/me`, { headers: { cookie } })).status, 401);

    assert.equal((await asOperator(a, `/api/admin/users/${user.id}/enable`, { reason: 'card holder confirmed' })).status, 200);
    assert.ok(await withinASecond(async () => (await ask(b, secret)).status === 200), 'B serves the key again');
  });

  test("a group changed on A prices B's next request", async () => {
    const { user, secret } = await person('group');
    const before = await ask(b, secret);
    assert.equal(before.status, 200);
    assert.equal((await asOperator(a, `/api/admin/users/${user.id}/group`, { group: 'triple' })).status, 200);
    let rid: string | null = null;
    assert.ok(
      await withinASecond(async () => {
        const r = await ask(b, secret);
        rid = r.rid;
        await b.ctx.relay.flush();
        const row = await db.db.selectFrom('request_logs').select('group_name').where('id', '=', r.rid!).executeTakeFirst();
        return row?.group_name === 'triple';
      }),
      'B priced a request in the new group',
    );
    await b.ctx.relay.flush();
    const [first, next] = await Promise.all(
      [before.rid!, rid!].map((id) => db.db.selectFrom('request_logs').select('cost').where('id', '=', id).executeTakeFirstOrThrow()),
    );
    assert.ok(toBig(next.cost) > toBig(first.cost) * 2n, `3x: ${first.cost} then ${next.cost}`);
  });
});
