// A person's own sessions (GET /api/auth/sessions, DELETE /api/auth/sessions/:id,
// POST /api/auth/sessions/revoke-others): the list names devices and never a
// token, an ended session's cookie is refused at once, "sign out the others"
// keeps the one asking, and "last seen" is written at most once a minute.
// On SQLite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { login, expectError, expectJson, type Fetcher } from './http.ts';
import { sha256Hex } from '../../src/lib/crypto.ts';
import { noteSessionSeen, LAST_SEEN_EVERY_MS } from '../../src/accounts/sessions.ts';
import { describeDevice } from '../../src/accounts/userAgent.ts';

const CHROME_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';
const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';

interface Session {
  cookie: string;
  token: string;
  f: Fetcher;
}

for (const dialect of testDialects()) {
  describe(`my sessions on ${dialect}`, () => {
    let t: TestTally;
    before(async () => {
      t = await startTestTally(dialect);
    });
    after(() => t?.close());

    /** Signs in with a given User-Agent; returns the cookie, its token and a fetch that carries it. */
    async function signInAs(email: string, password: string, userAgent: string): Promise<Session> {
      const res = await login(t, email, password, { 'user-agent': userAgent });
      assert.equal(res.status, 200, await res.clone().text());
      const cookie = res.headers.get('set-cookie')!.split(';')[0];
      const token = decodeURIComponent(cookie.split('=')[1]);
      const f: Fetcher = (path, init = {}) =>
        fetch(`${t.url}${path}`, {
          ...init,
          headers: {
            ...(init.body ? { 'content-type': 'application/json' } : {}),
            ...(init.headers as Record<string, string>),
            cookie,
            'user-agent': userAgent,
          },
        });
      return { cookie, token, f };
    }
    const list = async (s: Session) => (await expectJson<{ data: any[] }>(await s.f('/api/auth/sessions'))).data;

    test('the list names each device and address, marks the current one, and carries no token', async () => {
      const u = await seedUser(t);
      const a = await signInAs(u.email, u.password, CHROME_WINDOWS);
      const b = await signInAs(u.email, u.password, SAFARI_IPHONE);
      const other = await seedUser(t);
      await signInAs(other.email, other.password, FIREFOX_LINUX); // someone else's: not in my list

      const res = await a.f('/api/auth/sessions');
      const text = await res.clone().text();
      const sessions = (await expectJson<{ data: any[] }>(res)).data;
      assert.equal(sessions.length, 2);
      assert.deepEqual(sessions.map((s) => s.device).sort(), ['Chrome on Windows', 'Safari on iPhone']);
      const current = sessions.filter((s) => s.current);
      assert.equal(current.length, 1);
      assert.equal(current[0].device, 'Chrome on Windows');
      for (const s of sessions) {
        assert.match(s.id, /^ses_/);
        assert.ok(s.ip, 'the address it signed in from');
        assert.ok(Date.parse(s.created_at) && Date.parse(s.last_seen_at) && Date.parse(s.expires_at));
        assert.deepEqual(Object.keys(s).sort(), ['created_at', 'current', 'device', 'expires_at', 'id', 'ip', 'last_seen_at', 'user_agent']);
      }
      for (const secret of [a.token, b.token, sha256Hex(a.token), sha256Hex(b.token)]) assert.ok(!text.includes(secret), 'no token and no token hash');
      // From the other device, that one is current.
      assert.equal((await list(b)).find((s) => s.current)?.device, 'Safari on iPhone');
    });

    test('ending one of my sessions: its cookie gets 401 at once, mine keeps working; ending my own signs me out', async () => {
      const u = await seedUser(t);
      const a = await signInAs(u.email, u.password, CHROME_WINDOWS);
      const b = await signInAs(u.email, u.password, SAFARI_IPHONE);
      await expectJson(await b.f('/api/me'));
      const bId = (await list(b)).find((s) => s.current)!.id;

      const r = await expectJson(await a.f(`/api/auth/sessions/${bId}`, { method: 'DELETE' }));
      assert.deepEqual(r, { ok: true, signed_out: false });
      await expectError(await b.f('/api/me'), 401, 'not_signed_in');
      await expectJson(await a.f('/api/me'));
      const left = await list(a);
      assert.deepEqual(
        left.map((s) => s.current),
        [true],
        'only the session asking is left',
      );
      // Again: it is gone.
      await expectError(await a.f(`/api/auth/sessions/${bId}`, { method: 'DELETE' }), 404, 'session_not_found', 'id');

      // Ending the session I am using is signing out: the cookie is cleared.
      const aId = (await list(a)).find((s) => s.current)!.id;
      const self = await a.f(`/api/auth/sessions/${aId}`, { method: 'DELETE' });
      assert.deepEqual(await expectJson(self), { ok: true, signed_out: true });
      assert.match(self.headers.get('set-cookie') ?? '', /tally_session=;/);
      await expectError(await a.f('/api/me'), 401, 'not_signed_in');
    });

    test("someone else's session id is not found, and that session keeps working", async () => {
      const me = await seedUser(t);
      const mine = await signInAs(me.email, me.password, CHROME_WINDOWS);
      const them = await seedUser(t);
      const theirs = await signInAs(them.email, them.password, FIREFOX_LINUX);
      const theirId = (await list(theirs))[0].id;
      await expectError(await mine.f(`/api/auth/sessions/${theirId}`, { method: 'DELETE' }), 404, 'session_not_found', 'id');
      await expectError(await mine.f('/api/auth/sessions/ses_does_not_exist', { method: 'DELETE' }), 404, 'session_not_found');
      await expectJson(await theirs.f('/api/me'));
      // Without a session: 401, nothing listed.
      await expectError(await fetch(`${t.url}/api/auth/sessions`), 401, 'not_signed_in');
    });

    test('sign out the others: every other session ends, the one asking stays', async () => {
      const u = await seedUser(t);
      const a = await signInAs(u.email, u.password, CHROME_WINDOWS);
      const b = await signInAs(u.email, u.password, SAFARI_IPHONE);
      const c = await signInAs(u.email, u.password, FIREFOX_LINUX);
      const r = await expectJson(await b.f('/api/auth/sessions/revoke-others', { method: 'POST' }));
      assert.deepEqual(r, { ok: true, sessions_ended: 2 });
      await expectJson(await b.f('/api/me'));
      await expectError(await a.f('/api/me'), 401, 'not_signed_in');
      await expectError(await c.f('/api/me'), 401, 'not_signed_in');
      const left = await list(b);
      assert.equal(left.length, 1);
      assert.equal(left[0].current, true);
      assert.equal(left[0].device, 'Safari on iPhone');
      // Nothing else to end.
      assert.deepEqual(await expectJson(await b.f('/api/auth/sessions/revoke-others', { method: 'POST' })), { ok: true, sessions_ended: 0 });
    });

    test('last seen is written at most once a minute per session, however many requests come', async () => {
      const u = await seedUser(t);
      const t0 = Date.now();
      t.ctx.now = () => t0;
      try {
        const a = await signInAs(u.email, u.password, CHROME_WINDOWS);
        const id = (await list(a))[0].id;
        const stored = async () => {
          const r = await t.ctx.db.selectFrom('sessions').select('last_seen_at').where('id', '=', id).executeTakeFirstOrThrow();
          return r.last_seen_at === null ? null : Number(r.last_seen_at);
        };
        const at = async (ms: number, n = 5) => {
          t.ctx.now = () => t0 + ms;
          for (let i = 0; i < n; i++) await expectJson(await a.f('/api/me'));
        };
        assert.equal(await stored(), null, 'not written at sign-in');
        await at(10_000);
        assert.equal(await stored(), null, 'used 10 s after sign-in: not written');
        assert.equal((await list(a))[0].last_seen_at, new Date(t0).toISOString(), 'the list shows the sign-in time until then');
        await at(61_000);
        assert.equal(await stored(), t0 + 61_000, 'a minute later: written once');
        await at(100_000);
        assert.equal(await stored(), t0 + 61_000, '39 s after that: not written again');
        await at(121_000);
        assert.equal(await stored(), t0 + 121_000);
        assert.equal((await list(a))[0].last_seen_at, new Date(t0 + 121_000).toISOString());
        // The UPDATE's own condition: two instances noting the same minute write once.
        const later = t0 + 121_000 + LAST_SEEN_EVERY_MS;
        assert.deepEqual(await Promise.all([noteSessionSeen(t.ctx.db, id, later), noteSessionSeen(t.ctx.db, id, later)]).then((r) => r.sort()), [false, true]);
        assert.equal(await noteSessionSeen(t.ctx.db, id, later + 1000), false);
      } finally {
        t.ctx.now = () => Date.now();
      }
    });
  });
}

describe('device names from a User-Agent', () => {
  test('common browsers and clients, and anything else', () => {
    assert.equal(describeDevice(CHROME_WINDOWS), 'Chrome on Windows');
    assert.equal(describeDevice(SAFARI_IPHONE), 'Safari on iPhone');
    assert.equal(describeDevice(FIREFOX_LINUX), 'Firefox on Linux');
    assert.equal(
      describeDevice('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0'),
      'Edge on macOS',
    );
    assert.equal(describeDevice('curl/8.5.0'), 'curl');
    assert.equal(
      describeDevice('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36'),
      'Chrome on Linux',
    );
    assert.equal(describeDevice(''), 'Unknown device');
    assert.equal(describeDevice(null), 'Unknown device');
    assert.equal(describeDevice('x'.repeat(100_000)), 'Unknown device', 'a huge header is cut to its first 300 characters');
  });
});
