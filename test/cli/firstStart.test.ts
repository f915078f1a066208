import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startServe, type Serving } from '../helpers/cli.ts';
import { WEB_DIST } from '../../src/app/routes/console.ts';

// `tally serve` as an operator runs it on the default configuration, with its
// stdout going to a pipe (systemd, docker logs, a log collector): the first
// start's secrets must not be in that stream, and the README's quick start
// must still work as printed.

function freshEnv(extra: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tally-first-start-'));
  const {
    TALLY_DEMO: _d,
    TALLY_PAYMENT_SANDBOX: _s,
    TALLY_TRUST_PROXY: _p,
    TALLY_SECURE_COOKIES: _c,
    TALLY_SECRET: _x,
    TALLY_ADMIN_TOKEN: _a,
    TALLY_LOG_LEVEL: _l,
    TALLY_DATABASE_URL: _u,
    TALLY_DATA_DIR: _dd,
    TALLY_REDIS_URL: _r,
    ...rest
  } = process.env;
  const env = { ...rest, TALLY_DATABASE_URL: `sqlite:${join(dir, 'tally.db')}`, TALLY_PORT: '0', TALLY_HOST: '127.0.0.1', ...extra };
  return { dir, env };
}

async function listening(s: Serving): Promise<string> {
  const m = await s.waitFor(/"url":"(http:\/\/localhost:\d+)"[^\n]*Tally is listening/);
  return m[1].replace('localhost', '127.0.0.1');
}

const credentials = (file: string) =>
  Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

describe('tally serve on a first start', () => {
  test('with stdout piped, the admin password and demo key go to a 0600 file, not the output; the quick start works as printed and has no sandbox', async () => {
    const { dir, env } = freshEnv();
    const s = startServe(env);
    try {
      const base = await listening(s);
      const file = join(dir, 'first-start-credentials.txt');
      assert.ok(existsSync(file), `the banner names ${file}: ${s.out.stdout}`);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const c = credentials(file);
      assert.equal(c.admin_email, 'admin@tally.local');
      assert.match(c.demo_api_key, /^sk-/);
      for (const secret of [c.admin_password, c.demo_password, c.demo_api_key]) {
        assert.ok(secret && secret.length >= 8);
        assert.ok(!s.out.stdout.includes(secret) && !s.out.stderr.includes(secret), 'a secret reached the output');
      }
      assert.ok(s.out.stdout.includes(file), 'the banner says where the secrets are');
      assert.ok(!/WARNING/.test(s.out.stderr), `no warning on the default configuration: ${s.out.stderr}`);

      // The printed request, pasted into a shell as the README says (it reads the key from the file).
      const printed = /^ *(curl [^\n]*\\\n[^\n]*\\\n[^\n]*)$/m.exec(s.out.stdout);
      assert.ok(printed, s.out.stdout);
      if (existsSync('/usr/bin/curl')) {
        const r = spawnSync('bash', ['-c', `${printed[1]} --silent --show-error --max-time 30`], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        assert.ok(JSON.parse(r.stdout).choices[0].message.content, r.stdout);
      }
      // And the same request with the key read from the file.
      const chat = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.demo_api_key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'demo-chat', messages: [{ role: 'user', content: 'Hello' }] }),
      });
      assert.equal(chat.status, 200, await chat.clone().text());
      assert.ok(((await chat.json()) as any).choices[0].message.content);

      // Demo mode no longer implies the sandbox: a demo user cannot top up for free.
      const login = await fetch(`${base}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: c.demo_email, password: c.demo_password }),
      });
      assert.equal(login.status, 200);
      const cookie = login.headers.get('set-cookie')!.split(';')[0];
      const refused = await fetch(`${base}/api/orders`, {
        method: 'POST',
        headers: { cookie, origin: base, 'content-type': 'application/json' },
        body: JSON.stringify({ amount: '10.00', provider: 'sandbox' }),
      });
      assert.equal(refused.status, 400);
      assert.equal(((await refused.json()) as any).error.code, 'sandbox_disabled');
      assert.deepEqual(await (await fetch(`${base}/api/payments/sandbox/status`)).json(), { enabled: false });

      // The console loads (when it is built, as `npm start` does first).
      if (existsSync(join(WEB_DIST, 'index.html'))) assert.equal((await fetch(`${base}/console/`)).status, 200);
    } finally {
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a server with the sandbox on, or behind a trusted proxy without secure cookies, says so at start (stderr and a warning log line)', async () => {
    const { dir, env } = freshEnv({ TALLY_DEMO: 'off', TALLY_PAYMENT_SANDBOX: 'on', TALLY_TRUST_PROXY: 'loopback' });
    const s = startServe(env);
    try {
      await listening(s);
      assert.match(s.out.stderr, /WARNING: The SANDBOX payment provider is ON/);
      assert.match(s.out.stderr, /WARNING: TALLY_TRUST_PROXY is set but TALLY_SECURE_COOKIES is not on/);
      const warnings = s.out.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l))
        .filter((l) => l.level === 40);
      assert.ok(
        warnings.some((l) => /SANDBOX payment provider is ON/.test(l.msg)),
        s.out.stdout,
      );
      assert.ok(
        warnings.some((l) => /TALLY_SECURE_COOKIES/.test(l.msg)),
        s.out.stdout,
      );
    } finally {
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    const quiet = freshEnv({ TALLY_DEMO: 'off', TALLY_TRUST_PROXY: 'loopback', TALLY_SECURE_COOKIES: 'on' });
    const q = startServe(quiet.env);
    try {
      await listening(q);
      assert.ok(!/WARNING/.test(q.out.stderr), q.out.stderr);
    } finally {
      await q.stop();
      rmSync(quiet.dir, { recursive: true, force: true });
    }
  });
});
