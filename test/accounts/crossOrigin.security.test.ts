// Cross-site request forgery: a page on another site makes the signed-in
// user's browser post to Tally. Every state-changing route fastify knows is
// tried (read from the server's own route table, so a route added later is
// covered without touching this file); nothing may change.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, ADMIN_TOKEN, type TestTally } from '../helpers/tally.ts';
import { expectError, expectJson, assertLedgerOk, type Fetcher } from './http.ts';
import { createChannel, findChannel } from '../../src/gateway/channels.ts';

const FOREIGN = 'https://evil.example';
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// Routes no browser session authorizes, so no origin check: payment providers'
// signed callbacks (posted by their servers, as forms or raw bytes) and the
// demo upstream, which answers only the loopback address. Anything else that
// changes state is a cookie route and is checked.
const NOT_COOKIE_ROUTES = [
  'POST /_demo/v1/chat/completions',
  'POST /_demo/v1/embeddings',
  'POST /_demo/v1/videos',
  'DELETE /_demo/v1/videos/:id',
  'POST /api/payments/epay/notify',
  'POST /api/payments/sandbox/notify',
  'POST /api/payments/stripe/webhook',
  'POST /api/webhooks/videos',
];
// The Gemini API's catch-all for methods the relay does not serve (an API-key route, never a session's; it only ever
// answers 404 in Google's shape). The relay's own POST routes are served in front of fastify and are not in its tree.
const GEMINI_UNSERVED_METHODS = /^POST (\/api)?\/v1(beta)?\/models\/?\*$/;

/** Every (method, url pattern) in fastify's route tree, parsed from `printRoutes`, so the list cannot drift from the server. */
function routesOf(app: FastifyInstance): Array<{ method: string; url: string }> {
  const out: Array<{ method: string; url: string }> = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)(?:├── |└── )(\S+)(?: \(([^)]*)\))?$/.exec(line.replace(/\s+$/, ''));
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    stack.push(m[2]);
    const url = stack.join('').replace(/^\/+/, '/').replace(/\/\/+/g, '/');
    for (const method of (m[3] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean))
      out.push({ method, url });
  }
  return out;
}

for (const dialect of testDialects()) {
  describe(`cross-site requests change nothing on ${dialect}`, () => {
    let t: TestTally;
    let user: Awaited<ReturnType<typeof seedUser>>;
    let u: Fetcher;
    let a: Fetcher;
    let channelId: string;
    let orderId: string;
    let routes: Array<{ method: string; url: string }>;
    let auditRows: number;

    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_PAYMENT_SANDBOX: 'on', TALLY_PAYMENT_RECONCILE_INTERVAL_MS: '0' });
      user = await seedUser(t);
      u = await signIn(t, user.email, user.password);
      const admin = await seedUser(t, { role: 'admin' });
      a = await signIn(t, admin.email, admin.password);
      channelId = (
        await createChannel(t.ctx.db, t.config.secret, { name: 'up', type: 'openai', baseUrl: 'http://127.0.0.1:9', apiKey: 'sk-up', models: ['gpt-4o-mini'] })
      ).id;
      orderId = (await expectJson(await u('/api/orders', { method: 'POST', body: JSON.stringify({ amount: '5.00', provider: 'sandbox' }) }), 201)).id;
      routes = routesOf(t.app).filter((r) => STATE_CHANGING.has(r.method));
      auditRows = (await t.ctx.db.selectFrom('audit_log').select('id').execute()).length;
    });
    after(async () => {
      if (!t) return;
      try {
        await assertLedgerOk(t.ctx.db);
      } finally {
        await t.close();
      }
    });

    // A path for a route pattern that reaches this test's own records, so a forged request would have had an effect.
    const pathFor = (url: string) =>
      url
        .replace(/^\/api\/orders\/:id/, `/api/orders/${orderId}`)
        .replace(/^\/api\/admin\/orders\/:id/, `/api/admin/orders/${orderId}`)
        .replace(/^\/api\/payments\/sandbox\/pay\/:id/, `/api/payments/sandbox/pay/${orderId}`)
        .replace(/^\/api\/admin\/channels\/:id\/:action/, `/api/admin/channels/${channelId}/disable`)
        .replace(/^\/api\/keys\/:id/, `/api/keys/${user.key.id}`)
        .replace(/^\/api\/admin\/users\/:id/, `/api/admin/users/${user.user.id}`)
        .replace(/:[A-Za-z]+/g, 'x');
    // Each route is forged with the session that could use it: admin routes with an admin's, the rest with the user's.
    const sessionFor = (url: string) => (url.startsWith('/api/admin/') ? a : u);
    // Logout last, so the routes after it would still have had a session.
    const guarded = () =>
      routes
        .filter((r) => !NOT_COOKIE_ROUTES.includes(`${r.method} ${r.url}`) && !GEMINI_UNSERVED_METHODS.test(`${r.method} ${r.url}`))
        .sort((x, y) => Number(x.url === '/api/auth/logout') - Number(y.url === '/api/auth/logout'));

    async function assertNothingChanged() {
      const order = await expectJson(await u(`/api/orders/${orderId}`));
      assert.notEqual(order.status, 'canceled', 'the order was canceled by a forged request');
      assert.equal((await findChannel(t.ctx.db, channelId)).status, 'enabled', 'the channel was disabled by a forged request');
      const key = await t.ctx.db.selectFrom('api_keys').select('status').where('id', '=', user.key.id).executeTakeFirstOrThrow();
      assert.equal(key.status, 'active', 'the key was revoked by a forged request');
      await expectJson(await u('/api/me')); // the user's session survived the forged logout
      await expectJson(await a('/api/me'));
      const balance = await t.ctx.db.selectFrom('ledger_accounts').select('balance').where('id', '=', `user:${user.user.id}`).executeTakeFirstOrThrow();
      assert.equal(String(balance.balance), '0', 'money moved on a forged request');
      const audit = await t.ctx.db.selectFrom('audit_log').select('action').execute();
      assert.equal(audit.length, auditRows, `a forged request wrote an audit row: ${audit.slice(auditRows).map((r) => r.action)}`);
    }

    test('the route table is read from the server: every state-changing route except signed callbacks and the demo upstream is a cookie route', () => {
      assert.ok(routes.length >= 30, `only ${routes.length} state-changing routes parsed`);
      for (const r of NOT_COOKIE_ROUTES)
        assert.ok(
          routes.some((x) => `${x.method} ${x.url}` === r),
          `${r} is not a route any more: update NOT_COOKIE_ROUTES`,
        );
      for (const r of [
        'POST /api/orders/:id/cancel',
        'POST /api/auth/logout',
        'POST /api/admin/channels/:id/:action',
        'POST /api/admin/payments/reconcile',
        'DELETE /api/keys/:id',
        'PUT /api/admin/tickets/:id/handoff',
      ]) {
        assert.ok(
          guarded().some((x) => `${x.method} ${x.url}` === r),
          `${r} missing from the parsed table`,
        );
      }
    });

    test('a signed-in text/plain request from a foreign Origin is refused with 403 cross_origin_refused on every cookie route', async () => {
      for (const r of guarded()) {
        const res = await sessionFor(r.url)(pathFor(r.url), {
          method: r.method,
          headers: { origin: FOREIGN, 'content-type': 'text/plain' },
          body: '{"reason":"forged","amount":"1.00","code":"x"}',
        });
        const e = await expectError(res, 403, 'cross_origin_refused');
        assert.match(e.message, /another site/, `${r.method} ${r.url}`);
      }
      await assertNothingChanged();
    });

    test('the same forgery is refused however the browser names the other site', async () => {
      const variants: Array<[string, Record<string, string>]> = [
        ['Referer only (Origin stripped)', { referer: `${FOREIGN}/page.html` }],
        ['Origin "null" (sandboxed frame, no-referrer page)', { origin: 'null' }],
        ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site', origin: FOREIGN }],
        [
          'a sibling subdomain (same-site, so SameSite=Lax would let the cookie through)',
          { 'sec-fetch-site': 'same-site', origin: 'https://blog.tally.example' },
        ],
        ['a form post', { origin: FOREIGN, 'content-type': 'application/x-www-form-urlencoded' }],
        ['a bodiless post from another port of the same host', { origin: t.url.replace(/:\d+$/, ':1') }],
      ];
      for (const [name, headers] of variants) {
        for (const r of guarded()) {
          const res = await sessionFor(r.url)(pathFor(r.url), { method: r.method, headers });
          const text = await res.text();
          assert.equal(res.status, 403, `${name}: ${r.method} ${r.url} answered ${res.status} ${text}`);
          assert.equal(JSON.parse(text).error.code, 'cross_origin_refused');
        }
      }
      await assertNothingChanged();
    });

    test("from the server's own origin the console works as before: JSON is accepted, text and form bodies are 415", async () => {
      const own = { origin: t.url, 'sec-fetch-site': 'same-origin' };
      const s = await signIn(t, user.email, user.password);
      const created = await expectJson(await s('/api/keys', { method: 'POST', headers: own, body: JSON.stringify({ name: 'from the console' }) }), 201);
      await expectJson(await s(`/api/keys/${created.id}`, { method: 'DELETE', headers: { origin: t.url } }));
      await expectError(
        await s('/api/keys', { method: 'POST', headers: { ...own, 'content-type': 'text/plain' }, body: JSON.stringify({ name: 'x' }) }),
        415,
        'unsupported_media_type',
      );
      await expectError(
        await s('/api/keys', { method: 'POST', headers: { ...own, 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=x' }),
        415,
        'unsupported_media_type',
      );
      await expectError(
        await s(`/api/orders/${orderId}/cancel`, { method: 'POST', headers: { ...own, 'content-type': 'text/plain' }, body: '' }),
        415,
        'unsupported_media_type',
      );
      // No route answers 403 cross_origin_refused or 415 to its own origin sending JSON.
      const admin = await seedUser(t, { role: 'admin' });
      const s2 = await signIn(t, admin.email, admin.password);
      for (const r of guarded()) {
        const res = await s2(
          pathFor(r.url).replace(orderId, 'ord_none').replace(channelId, 'ch_none').replace(user.key.id, 'key_none').replace(user.user.id, 'usr_none'),
          { method: r.method, headers: { origin: t.url }, body: '{}' },
        );
        const text = await res.text();
        assert.ok(
          res.status !== 415 && !(res.status === 403 && text.includes('cross_origin_refused')),
          `${r.method} ${r.url} refused its own origin: ${res.status} ${text}`,
        );
      }
    });

    test("a bodiless cancel from the own origin still cancels (the console's button)", async () => {
      const o = await expectJson(await u('/api/orders', { method: 'POST', body: JSON.stringify({ amount: '2.00', provider: 'sandbox' }) }), 201);
      const done = await expectJson(await u(`/api/orders/${o.id}/cancel`, { method: 'POST', headers: { origin: t.url, 'sec-fetch-site': 'same-origin' } }));
      assert.equal(done.status, 'canceled');
    });

    test("the sandbox pay page's own form post (same origin, form content type) is not refused", async () => {
      const o = await expectJson(await u('/api/orders', { method: 'POST', body: JSON.stringify({ amount: '3.00', provider: 'sandbox' }) }), 201);
      const res = await u(`/api/payments/sandbox/pay/${o.id}?outcome=fail`, {
        method: 'POST',
        headers: {
          origin: t.url,
          referer: `${t.url}/api/payments/sandbox/pay/${o.id}`,
          'sec-fetch-site': 'same-origin',
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'text/html',
        },
        body: '',
      });
      assert.equal(res.status, 200, await res.text());
    });

    test('clients that are not browsers pass: no Origin or Referer (curl, CLI), or the admin token without a session', async () => {
      const s = await signIn(t, user.email, user.password);
      const created = await expectJson(await s('/api/keys', { method: 'POST', body: JSON.stringify({ name: 'curl' }) }), 201);
      await expectJson(await s(`/api/keys/${created.id}`, { method: 'DELETE' }));
      // A script with the admin token: no cookie for a page to borrow, and a header no page can add without CORS.
      const ch = await createChannel(t.ctx.db, t.config.secret, {
        name: 'scripted',
        type: 'openai',
        baseUrl: 'http://127.0.0.1:9',
        apiKey: 'sk-up',
        models: ['gpt-4o-mini'],
      });
      const res = await fetch(`${t.url}/api/admin/channels/${ch.id}/disable`, { method: 'POST', headers: { 'x-admin-token': ADMIN_TOKEN, origin: FOREIGN } });
      assert.equal((await expectJson(res)).status, 'disabled');
      // The same token alongside a session cookie is a browser-shaped request: checked.
      const withCookie = await a(`/api/admin/channels/${ch.id}/enable`, { method: 'POST', headers: { 'x-admin-token': ADMIN_TOKEN, origin: FOREIGN } });
      await expectError(withCookie, 403, 'cross_origin_refused');
      assert.equal((await findChannel(t.ctx.db, ch.id)).status, 'disabled');
    });

    test("behind an untrusted proxy X-Forwarded-Host is ignored; a browser's Sec-Fetch-Site: same-origin still passes when the proxy rewrote Host", async () => {
      const s = await signIn(t, user.email, user.password);
      const forged = await s('/api/keys', {
        method: 'POST',
        headers: { origin: 'https://tally.example.com', 'x-forwarded-host': 'tally.example.com' },
        body: JSON.stringify({ name: 'x' }),
      });
      await expectError(forged, 403, 'cross_origin_refused');
      const viaProxy = await s('/api/keys', {
        method: 'POST',
        headers: { origin: 'https://tally.example.com', 'sec-fetch-site': 'same-origin' },
        body: JSON.stringify({ name: 'via proxy' }),
      });
      await expectJson(viaProxy, 201);
    });
  });
}

describe("the server's own origin behind a proxy and for a console served elsewhere", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally(
      'sqlite',
      {},
      { TALLY_TRUST_PROXY: 'loopback', TALLY_ALLOWED_ORIGINS: 'http://localhost:5173', TALLY_PUBLIC_URL: 'https://tally.example.com/console/' },
    );
  });
  after(async () => t?.close());

  test("X-Forwarded-Host from a trusted proxy, TALLY_PUBLIC_URL and TALLY_ALLOWED_ORIGINS are this server's origins; others are still refused", async () => {
    const user = await seedUser(t);
    const s = await signIn(t, user.email, user.password);
    const post = (headers: Record<string, string>) => s('/api/keys', { method: 'POST', headers, body: JSON.stringify({ name: 'k' }) });
    await expectJson(await post({ origin: 'https://proxied.example', 'x-forwarded-host': 'proxied.example' }), 201);
    await expectJson(await post({ origin: 'https://tally.example.com' }), 201);
    await expectJson(await post({ origin: 'http://localhost:5173', 'sec-fetch-site': 'same-site' }), 201);
    await expectError(await post({ origin: 'http://localhost:5174' }), 403, 'cross_origin_refused');
    await expectError(await post({ origin: FOREIGN, 'x-forwarded-host': 'proxied.example' }), 403, 'cross_origin_refused');
  });
});
