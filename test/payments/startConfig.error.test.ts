import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { createContext } from '../../src/context.ts';
import { runTally } from '../helpers/cli.ts';

// A payment configuration the server cannot use stops it at start, with a
// message naming the variable, instead of failing the first customer's order.

function tempEnv(extra: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'tally-pay-config-'));
  const env = { TALLY_SECRET: 'test-secret-0123456789abcdef', TALLY_DATA_DIR: dir, TALLY_DATABASE_URL: `sqlite:${join(dir, 'tally.db')}`, ...extra };
  return { dir, env, dbFile: join(dir, 'tally.db') };
}

const BAD: Array<[string, Record<string, string>, string, RegExp]> = [
  ['a rate that is not CODE=number', { TALLY_PAYMENT_RATES: 'garbage' }, 'invalid_payment_rate', /TALLY_PAYMENT_RATES: "garbage" is not like CNY=0.138/],
  ['a rate of zero', { TALLY_PAYMENT_RATES: 'CNY=0' }, 'invalid_amount', /TALLY_PAYMENT_RATES/],
  ['an unknown provider', { TALLY_PAYMENT_PROVIDERS: 'paypal' }, 'invalid_payment_config', /TALLY_PAYMENT_PROVIDERS: "paypal" is not a payment provider/],
  ['stripe listed without its key', { TALLY_PAYMENT_PROVIDERS: 'stripe' }, 'invalid_payment_config', /TALLY_STRIPE_SECRET_KEY is not set/],
  [
    'half an EPay configuration',
    { TALLY_EPAY_PID: '1001', TALLY_EPAY_KEY: 'k' },
    'invalid_payment_config',
    /set all of TALLY_EPAY_PID, TALLY_EPAY_KEY and TALLY_EPAY_URL/,
  ],
  [
    'a minimum above the maximum',
    { TALLY_PAYMENT_MIN: '50.00', TALLY_PAYMENT_MAX: '10.00' },
    'invalid_payment_config',
    /TALLY_PAYMENT_MIN .* is above TALLY_PAYMENT_MAX/,
  ],
  ['a malformed minimum', { TALLY_PAYMENT_MIN: 'ten' }, 'invalid_amount', /TALLY_PAYMENT_MIN "ten" is not a decimal number/],
];

describe('a bad payment configuration fails at start', () => {
  for (const [what, extra, code, message] of BAD) {
    test(`${what}: createContext refuses with ${code} before the database is opened`, async () => {
      const { dir, env, dbFile } = tempEnv(extra);
      try {
        await assert.rejects(createContext(loadConfig(env)), (e: any) => e.code === code && message.test(e.message));
        assert.ok(!existsSync(dbFile), 'nothing was created');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('`tally serve` with TALLY_PAYMENT_RATES=garbage exits with the message on stderr and never listens', async () => {
    const { dir, env } = tempEnv({ TALLY_PAYMENT_RATES: 'garbage', TALLY_PORT: '0', TALLY_HOST: '127.0.0.1' });
    try {
      const { TALLY_DATABASE_URL: _u, TALLY_REDIS_URL: _r, TALLY_PAYMENT_RATES: _p, ...rest } = process.env;
      const r = await runTally({ ...rest, ...env }, 'serve');
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /error: TALLY_PAYMENT_RATES: "garbage" is not like CNY=0\.138.*\(invalid_payment_rate\)/);
      assert.ok(!/listening/.test(r.stdout), r.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a good configuration builds the providers once, on the context', async () => {
    const { dir, env } = tempEnv({ TALLY_PAYMENT_SANDBOX: 'on', TALLY_PAYMENT_RATES: 'CNY=0.14' });
    const ctx = await createContext(loadConfig(env));
    try {
      assert.deepEqual([...ctx.payments.providers.keys()], ['sandbox']);
      assert.equal(ctx.payments.settings.rates.get('CNY'), 140_000n);
      assert.equal(ctx.payments.provider('sandbox'), ctx.payments.provider('sandbox'));
    } finally {
      await ctx.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
