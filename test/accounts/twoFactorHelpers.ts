// Shared by the two-factor suites (not a test file itself): codes computed by a real TOTP library, as an app would.
import assert from 'node:assert/strict';
import { Secret, TOTP } from 'otpauth';
import type { TestTally } from '../helpers/tally.ts';
import { call, expectJson, login, send, type Fetcher } from './http.ts';

export const STEP_MS = 30_000;

export function totpCode(secret: string, timestamp: number): string {
  return new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({ timestamp });
}

/** A clock the test moves by hand (ctx.now), so which 30-second step a code belongs to is never left to chance. */
export function manualClock(t: TestTally) {
  // The middle of a step: a code computed for it cannot fall into the next one.
  let now = Math.floor(Date.now() / STEP_MS) * STEP_MS + STEP_MS / 2;
  t.ctx.now = () => now;
  return {
    now: () => now,
    nextStep() {
      now += STEP_MS;
      return now;
    },
  };
}

export function cookieOf(res: Response): string {
  const c = res.headers.get('set-cookie');
  assert.ok(c, 'no cookie was set');
  return c.split(';')[0];
}

export function fetcherWith(t: TestTally, cookie: string): Fetcher {
  return (path, init = {}) =>
    fetch(`${t.url}${path}`, {
      ...init,
      headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string>), cookie },
    });
}

/** Sets up and enables 2FA for a signed-in user; returns the secret and the recovery codes. */
export async function enableTwoFactor(f: Fetcher, now: number): Promise<{ secret: string; uri: string; recoveryCodes: string[] }> {
  const setup = await expectJson(await send(f, 'POST', '/api/auth/2fa/setup'));
  const on = await expectJson(await send(f, 'POST', '/api/auth/2fa/enable', { code: totpCode(setup.secret, now) }));
  assert.equal(on.recovery_codes.length, 10);
  return { secret: setup.secret, uri: setup.otpauth_uri, recoveryCodes: on.recovery_codes };
}

/** Password step: the challenge a 2FA user gets instead of a session. */
export async function challengeFor(t: TestTally, email: string, password: string): Promise<string> {
  const res = await login(t, email, password);
  assert.equal(res.headers.get('set-cookie'), null, 'the password alone opened a session');
  const b = await expectJson(res);
  assert.equal(b.two_factor_required, true);
  return b.challenge;
}

export function verify(t: TestTally, body: Record<string, string>): Promise<Response> {
  return call(t, 'POST', '/api/auth/2fa/verify', body);
}
