import assert from 'node:assert/strict';
import type { TestTally } from '../helpers/tally.ts';
import type { signIn } from '../helpers/tally.ts';
import { customer } from '../payments/helpers.ts';
import { getAccount, teamWalletId } from '../../src/ledger/index.ts';

// Shared by the team suites: members signed in through the API, and calls that check their status.

export type Fetch = Awaited<ReturnType<typeof signIn>>;

/** A signed-in user (registered with the payments helpers, so the sandbox pay page knows their session). */
export const person = (t: TestTally, opts: { balance?: bigint; email?: string } = {}) => customer(t, opts);

export type Person = Awaited<ReturnType<typeof person>>;

export async function call(f: Fetch, method: string, path: string, body?: unknown, status = 200): Promise<any> {
  const res = await f(path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  assert.equal(res.status, status, `${method} ${path}: expected ${status}, got ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A team created through the API by `owner`, with `members` added (role member unless given). */
export async function team(owner: Person, name: string, members: Array<{ p: Person; role?: string; budget?: string }> = []) {
  const created = await call(owner.f, 'POST', '/api/teams', { name }, 201);
  for (const m of members) await call(owner.f, 'POST', `/api/teams/${created.id}/members`, { email: m.p.email, role: m.role, budget: m.budget }, 201);
  return created as { id: string; wallet_id: string };
}

export async function teamKey(p: Person, teamId: string, name = 'team key'): Promise<{ id: string; key: string }> {
  return call(p.f, 'POST', '/api/keys', { name, team: teamId }, 201);
}

export async function teamWallet(t: TestTally, teamId: string) {
  await t.ctx.relay.flush();
  return getAccount(t.ctx.db, teamWalletId(teamId));
}
