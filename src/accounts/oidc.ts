import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import type { DbOrTx } from '../db/index.ts';
import { isUniqueViolation } from '../db/index.ts';
import { decryptSecret, encryptSecret } from '../lib/crypto.ts';
import { TallyError } from '../lib/errors.ts';
import { createUser, findUserByEmail, getUser, type User } from './users.ts';

// Sign-in with an OpenID Connect provider (TALLY_OIDC_ISSUER, _CLIENT_ID,
// _CLIENT_SECRET): the authorization code flow with PKCE, state and nonce.
// Those three live in a short-lived cookie encrypted (and so authenticated)
// with TALLY_SECRET, so no server-side state is shared between instances.
//
// Accounts: a provider account (issuer, sub) once linked always signs in to
// the same Tally user. The first time, it is linked to the Tally user with the
// same e-mail, and only when the provider says the e-mail is verified
// (email_verified: true): an unverified address would let anyone who can type
// someone's e-mail into the provider take their account. With no user of that
// e-mail, one is created when sign-up is open (TALLY_SIGNUP=open), else refused.
// A Tally user already linked to another account of the same provider is not
// linked again (the provider gave the address to someone else).

export const OIDC_FLOW_TTL_MS = 10 * 60_000;

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
}

export interface OidcClaims {
  issuer: string;
  sub: string;
  email: string | null;
  emailVerified: boolean;
}

interface Flow {
  state: string;
  nonce: string;
  verifier: string;
  exp: number;
}

const failed = (why: string, cause?: unknown) =>
  new TallyError('oidc_failed', `signing in with the identity provider failed (${why}); try again or sign in with your password`, { cause });

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The provider's client for one Tally instance: discovery on first use (and again after a failed one). */
export class OidcClient {
  private configuration: Promise<client.Configuration> | null = null;

  constructor(
    private settings: OidcSettings,
    private secret: string,
  ) {}

  private discover(): Promise<client.Configuration> {
    if (!this.configuration) {
      const issuer = new URL(this.settings.issuer);
      // Plain http only for a provider on this machine (a test, a local proxy); anything else must be https.
      const execute = issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname) ? [client.allowInsecureRequests] : [];
      this.configuration = client
        .discovery(issuer, this.settings.clientId, undefined, client.ClientSecretBasic(this.settings.clientSecret), { execute })
        .catch((e) => {
          this.configuration = null;
          throw failed('the provider could not be reached', e);
        });
    }
    return this.configuration;
  }

  /** Where to send the browser, and the cookie value that must come back with it. */
  async start(redirectUri: string, now: number): Promise<{ url: string; cookie: string }> {
    const config = await this.discover();
    const flow: Flow = { state: client.randomState(), nonce: client.randomNonce(), verifier: client.randomPKCECodeVerifier(), exp: now + OIDC_FLOW_TTL_MS };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid email profile',
      code_challenge: await client.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
      state: flow.state,
      nonce: flow.nonce,
    });
    return { url: url.href, cookie: encryptSecret(this.secret, JSON.stringify(flow)) };
  }

  /** Checks the provider's answer against the cookie, redeems the code and returns who signed in. */
  async finish(input: { callbackUrl: URL; cookie: string | undefined; now: number }): Promise<OidcClaims> {
    const flow = this.readFlow(input.cookie, input.now);
    const config = await this.discover();
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(config, input.callbackUrl, {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
    } catch (e) {
      throw failed(e instanceof client.AuthorizationResponseError ? `the provider answered ${e.error}` : 'the answer could not be checked', e);
    }
    const claims = tokens.claims();
    if (!claims) throw failed('no ID token');
    let email = typeof claims.email === 'string' ? claims.email : null;
    let verified = claims.email_verified === true;
    if (email === null) {
      // Many providers put the e-mail only in the userinfo answer.
      const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub).catch((e) => {
        throw failed('the user info could not be read', e);
      });
      email = typeof info.email === 'string' ? info.email : null;
      verified = info.email_verified === true;
    }
    return { issuer: config.serverMetadata().issuer, sub: claims.sub, email, emailVerified: verified };
  }

  private readFlow(cookie: string | undefined, now: number): Flow {
    let flow: Flow | null = null;
    try {
      flow = cookie ? (JSON.parse(decryptSecret(this.secret, cookie)) as Flow) : null;
    } catch {
      flow = null;
    }
    if (!flow || typeof flow.state !== 'string' || !(flow.exp > now)) throw failed('the sign-in took too long or was started in another browser');
    return flow;
  }
}

/** The Tally user for a provider account: linked before, linked now by verified e-mail, or created when sign-up is open. */
export async function userForOidcAccount(db: DbOrTx, input: { claims: OidcClaims; signupOpen: boolean; currency?: string; now: number }): Promise<User> {
  const { claims } = input;
  const linked = await db.selectFrom('oidc_links').select('user_id').where('issuer', '=', claims.issuer).where('subject', '=', claims.sub).executeTakeFirst();
  if (linked) return activeUser(await getUser(db, linked.user_id));
  if (!claims.email || !claims.emailVerified) {
    throw new TallyError(
      'oidc_email_unverified',
      'the identity provider does not confirm that this e-mail address is verified; verify it there, or sign in with your password',
    );
  }
  const found = await findUserByEmail(db, claims.email);
  let user: User | null = found ? await getUser(db, found.id) : null;
  if (user) {
    const other = await db.selectFrom('oidc_links').select('subject').where('issuer', '=', claims.issuer).where('user_id', '=', user.id).executeTakeFirst();
    if (other) {
      throw new TallyError(
        'oidc_link_conflict',
        'this Tally account is linked to another account of the identity provider; sign in with that one or with your password',
      );
    }
  } else {
    if (!input.signupOpen) {
      throw new TallyError('oidc_signup_closed', 'there is no account with this e-mail address and sign-up is closed; ask an administrator for an account');
    }
    // A password nobody knows: the account signs in through the provider (or sets a password by a reset).
    user = (await createUser(db, { email: claims.email, password: randomBytes(24).toString('base64url') }, { currency: input.currency, now: input.now })).user;
  }
  try {
    await db.insertInto('oidc_links').values({ issuer: claims.issuer, subject: claims.sub, user_id: user.id, created_at: input.now }).execute();
  } catch (e) {
    if (!isUniqueViolation(e)) throw e; // the same provider account signing in twice at once: one link, either answer
  }
  return activeUser(user);
}

function activeUser(u: User): User {
  if (u.status !== 'active') throw new TallyError('account_disabled', 'this account is disabled; contact support');
  return u;
}
