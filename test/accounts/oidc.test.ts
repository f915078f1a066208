import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { userForOidcAccount } from '../../src/accounts/oidc.ts';
import { expectError, expectJson, call } from './http.ts';
import { enableTwoFactor, fetcherWith, manualClock, totpCode, verify } from './twoFactorHelpers.ts';

// Sign-in with OpenID Connect against a real provider (oidc-provider) started
// here: real discovery, the authorization code flow with PKCE driven by fetch
// following redirects as a browser would (keeping cookies), the provider's
// login step answered for whichever account the test names.

interface Person {
  email: string;
  email_verified: boolean;
}

const CLIENT_SECRET = 'oidc-client-secret-0123456789abcdef';

async function startProvider() {
  const people = new Map<string, Person>();
  let signInAs = '';
  let provider: InstanceType<typeof Provider> | null = null;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (!provider) return void res.writeHead(503).end();
    if (req.url?.startsWith('/interaction/')) {
      // The provider's login page, answered at once for the account the test chose.
      void provider.interactionFinished(req, res, { login: { accountId: signInAs } }, { mergeWithLastSubmission: false });
      return;
    }
    provider.callback()(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    people,
    signInAs(sub: string, p: Person) {
      people.set(sub, p);
      signInAs = sub;
    },
    /** The provider, once Tally's callback address is known. */
    configure(redirectUri: string) {
      provider = new Provider(issuer, {
        clients: [
          {
            client_id: 'tally',
            client_secret: CLIENT_SECRET,
            redirect_uris: [redirectUri],
            grant_types: ['authorization_code'],
            response_types: ['code'],
            token_endpoint_auth_method: 'client_secret_basic',
          },
        ],
        cookies: { keys: ['provider-cookie-key-0123456789'] },
        claims: { openid: ['sub'], email: ['email', 'email_verified'] },
        features: { devInteractions: { enabled: false } },
        interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
        // Consent is given: the test is about what Tally does with the answer.
        loadExistingGrant: async (ctx) => {
          const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
          grant.addOIDCScope('openid email profile');
          await grant.save();
          return grant;
        },
        findAccount: async (_ctx, sub) => {
          const p = people.get(sub);
          return p ? { accountId: sub, claims: async () => ({ sub, ...p }) } : undefined;
        },
      });
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Follows redirects from `url` as a browser would, with one cookie jar, until the browser lands on the console. */
async function browse(url: string, jar = new Map<string, string>()): Promise<{ landed: URL; jar: Map<string, string> }> {
  let at = new URL(url);
  for (let hop = 0; hop < 20; hop++) {
    if (at.pathname.startsWith('/console')) return { landed: at, jar };
    const res = await fetch(at, { redirect: 'manual', headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      const expired = attrs.some((a) => /expires=thu, 01 jan 1970/i.test(a.trim()) || /^max-age=0$/i.test(a.trim()));
      if (expired) jar.delete(pair.slice(0, i));
      else jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    const location = res.headers.get('location');
    await res.text();
    assert.ok(res.status >= 300 && res.status < 400 && location, `${at.pathname} answered ${res.status} without a redirect`);
    at = new URL(location, at);
  }
  throw new Error('too many redirects');
}

for (const dialect of testDialects()) {
  describe(`OpenID Connect sign-in on ${dialect}`, () => {
    let t: TestTally;
    let idp: Awaited<ReturnType<typeof startProvider>>;
    before(async () => {
      idp = await startProvider();
      t = await startTestTally(
        dialect,
        {},
        { TALLY_OIDC_ISSUER: idp.issuer, TALLY_OIDC_CLIENT_ID: 'tally', TALLY_OIDC_CLIENT_SECRET: CLIENT_SECRET, TALLY_OIDC_NAME: 'Test IdP' },
      );
      idp.configure(`${t.url}/api/auth/oidc/callback`);
    });
    after(async () => {
      await t?.close();
      await idp?.close();
    });

    const links = (userId: string) => t.ctx.db.selectFrom('oidc_links').selectAll().where('user_id', '=', userId).execute();

    test('the sign-in page learns the provider name from /api/auth/options', async () => {
      const o = await expectJson(await call(t, 'GET', '/api/auth/options'));
      assert.deepEqual(o.oidc, { name: 'Test IdP', start_url: '/api/auth/oidc/start' });
    });

    test('a verified e-mail signs in to the account with that e-mail and links it; later the link decides, not the e-mail', async () => {
      const u = await seedUser(t, { email: `Alice${Date.now()}@test.io` });
      idp.signInAs(`sub-alice-${u.user.id}`, { email: u.email.toLowerCase(), email_verified: true });
      const { landed, jar } = await browse(`${t.url}/api/auth/oidc/start`);
      assert.equal(landed.pathname, '/console/');
      assert.equal(landed.search, '');
      const f = fetcherWith(t, `tally_session=${jar.get('tally_session')}`);
      assert.equal((await expectJson(await f('/api/me'))).id, u.user.id);
      const l = await links(u.user.id);
      assert.equal(l.length, 1);
      assert.equal(l[0].issuer, idp.issuer);
      // The provider changes the address (even to an unverified one): the same provider account still lands here.
      idp.signInAs(`sub-alice-${u.user.id}`, { email: `renamed-${u.email}`, email_verified: false });
      const again = await browse(`${t.url}/api/auth/oidc/start`);
      const g = fetcherWith(t, `tally_session=${again.jar.get('tally_session')}`);
      assert.equal((await expectJson(await g('/api/me'))).id, u.user.id);
    });

    test('an e-mail the provider does not call verified is refused: no session, no link', async () => {
      const u = await seedUser(t);
      idp.signInAs(`sub-mallory-${u.user.id}`, { email: u.email, email_verified: false });
      const { landed, jar } = await browse(`${t.url}/api/auth/oidc/start`);
      assert.equal(landed.searchParams.get('oidc_error'), 'oidc_email_unverified');
      assert.equal(jar.get('tally_session'), undefined);
      assert.equal((await links(u.user.id)).length, 0);
    });

    test('a second provider account with the same verified e-mail is not linked to an account already linked', async () => {
      const u = await seedUser(t);
      idp.signInAs(`sub-first-${u.user.id}`, { email: u.email, email_verified: true });
      assert.equal((await browse(`${t.url}/api/auth/oidc/start`)).landed.search, '');
      idp.signInAs(`sub-second-${u.user.id}`, { email: u.email, email_verified: true });
      const { landed, jar } = await browse(`${t.url}/api/auth/oidc/start`);
      assert.equal(landed.searchParams.get('oidc_error'), 'oidc_link_conflict');
      assert.equal(jar.get('tally_session'), undefined);
    });

    test('no account with that e-mail and sign-up not open: refused', async () => {
      idp.signInAs(`sub-nobody-${Date.now()}`, { email: `nobody${Date.now()}@test.io`, email_verified: true });
      const { landed, jar } = await browse(`${t.url}/api/auth/oidc/start`);
      assert.equal(landed.searchParams.get('oidc_error'), 'oidc_signup_closed');
      assert.equal(jar.get('tally_session'), undefined);
    });

    test('with sign-up open, a new verified e-mail gets an account (linked)', async () => {
      const email = `newcomer${Date.now()}@test.io`;
      const user = await userForOidcAccount(t.ctx.db, {
        claims: { issuer: idp.issuer, sub: `sub-new-${email}`, email, emailVerified: true },
        signupOpen: true,
        now: Date.now(),
      });
      assert.equal(user.email, email);
      assert.equal((await links(user.id)).length, 1);
    });

    test('a user with two-factor on still gives a code after the provider: the console gets a challenge, not a session', async () => {
      const u = await seedUser(t);
      const clock = manualClock(t);
      const { secret } = await enableTwoFactor(await signIn(t, u.email, u.password), clock.now());
      idp.signInAs(`sub-2fa-${u.user.id}`, { email: u.email, email_verified: true });
      const { landed, jar } = await browse(`${t.url}/api/auth/oidc/start`);
      assert.equal(jar.get('tally_session'), undefined);
      const challenge = new URLSearchParams(landed.hash.slice(1)).get('challenge');
      assert.ok(challenge);
      clock.nextStep();
      const body = await expectJson(await verify(t, { challenge, code: totpCode(secret, clock.now()) }));
      assert.equal(body.user.id, u.user.id);
      t.ctx.now = () => Date.now();
    });

    test('a callback without the flow cookie (another browser, a forged link) signs nobody in', async () => {
      const u = await seedUser(t);
      idp.signInAs(`sub-cookie-${u.user.id}`, { email: u.email, email_verified: true });
      const start = await fetch(`${t.url}/api/auth/oidc/start`, { redirect: 'manual' });
      await start.text();
      const { landed, jar } = await browse(start.headers.get('location')!);
      assert.equal(landed.searchParams.get('oidc_error'), 'oidc_failed');
      assert.equal(jar.get('tally_session'), undefined);
      assert.equal((await links(u.user.id)).length, 0);
    });
  });
}

test('without TALLY_OIDC_* the start route says it is not set up', async () => {
  const t = await startTestTally('sqlite');
  try {
    await expectError(await call(t, 'GET', '/api/auth/oidc/start'), 404, 'oidc_not_configured');
    assert.equal((await expectJson(await call(t, 'GET', '/api/auth/options'))).oidc, null);
  } finally {
    await t.close();
  }
});
