import { loadConfig, type Config } from '../../src/config/index.ts';
import { startTally, type RunningTally } from '../../src/app/start.ts';
import { createUser } from '../../src/accounts/users.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { adjustBalanceManually } from '../../src/accounts/manualCredit.ts';
import { createTestDb, whileNoSchemaIsDropped, type TestDb } from './db.ts';
import type { Dialect } from '../../src/db/index.ts';

export interface TestTally extends RunningTally {
  testDb: TestDb;
  config: Config;
  close(): Promise<void>;
}

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

/** A running Tally on a random port with its own fresh database. */
export async function startTestTally(dialect: Dialect, overrides: Partial<Config> = {}, env: Record<string, string> = {}): Promise<TestTally> {
  const testDb = await createTestDb(dialect);
  let config: Config;
  let t: RunningTally;
  try {
    config = loadConfig(
      {
        TALLY_DATABASE_URL: testDb.connectionUrl,
        TALLY_PORT: '0',
        TALLY_HOST: '127.0.0.1',
        TALLY_SECRET: 'test-secret-0123456789abcdef',
        TALLY_ADMIN_TOKEN: ADMIN_TOKEN,
        TALLY_LOG_LEVEL: 'silent',
        TALLY_DEMO: 'off',
        ...env,
      },
      overrides,
    );
    const start = () => startTally(config, { bootstrap: false });
    // startTally migrates (a no-op here, but Kysely still introspects the whole database).
    t = dialect === 'postgres' ? await whileNoSchemaIsDropped(start) : await start();
  } catch (e) {
    await testDb.cleanup();
    throw e;
  }
  return {
    ...t,
    testDb,
    config,
    close: async () => {
      await t.stop();
      await testDb.cleanup();
    },
  };
}

/** A user with a password, an optional balance and an API key. */
export async function seedUser(
  t: TestTally,
  opts: { email?: string; password?: string; balance?: bigint; role?: 'user' | 'support' | 'admin'; group?: string } = {},
) {
  const email = opts.email ?? `u${Math.random().toString(36).slice(2, 10)}@test.io`;
  const password = opts.password ?? 'correct horse battery';
  const { user } = await createUser(t.ctx.db, { email, password, role: opts.role, group: opts.group });
  if (opts.balance) {
    await adjustBalanceManually(t.ctx.db, { userId: user.id, amount: opts.balance, reason: 'test funding', actor: { type: 'system' } });
  }
  const { key, secret } = await createApiKey(t.ctx.db, { userId: user.id, name: 'test' });
  return { user, email, password, key, apiKey: secret };
}

/** Signs in through the API and returns a fetch that carries the session cookie. */
export async function signIn(t: TestTally, email: string, password: string) {
  const res = await fetch(`${t.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  const cookie = res.headers.get('set-cookie')!.split(';')[0];
  return (path: string, init: RequestInit = {}) =>
    fetch(`${t.url}${path}`, {
      ...init,
      headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string>), cookie },
    });
}

/** The secret every instance of a shared multi-instance test database uses (channel keys are encrypted with it). */
export const MULTI_INSTANCE_SECRET = 'multi-instance-secret-0123456789';

/**
 * One more Tally on a database several instances share (PostgreSQL, with
 * Redis between them from TALLY_TEST_REDIS_URL), not bootstrapped; `env`
 * adds to or overrides the defaults.
 */
export function startSharedInstance(db: TestDb, env: Record<string, string> = {}): Promise<RunningTally> {
  return whileNoSchemaIsDropped(() =>
    startTally(
      loadConfig({
        TALLY_DATABASE_URL: db.connectionUrl,
        TALLY_REDIS_URL: process.env.TALLY_TEST_REDIS_URL!,
        TALLY_PORT: '0',
        TALLY_HOST: '127.0.0.1',
        TALLY_SECRET: MULTI_INSTANCE_SECRET,
        TALLY_LOG_LEVEL: 'silent',
        TALLY_DEMO: 'off',
        ...env,
      }),
      { bootstrap: false },
    ),
  );
}
