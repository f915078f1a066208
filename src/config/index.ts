import { z } from 'zod';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

// Configuration comes from the environment only. Every variable is listed in
// the README; unknown values are refused at start with a message naming them.
const schema = z.object({
  TALLY_DATABASE_URL: z.string().default('sqlite:./data/tally.db'),
  TALLY_DATA_DIR: z.string().optional(),
  TALLY_REDIS_URL: z.string().optional(),
  TALLY_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  TALLY_HOST: z.string().default('0.0.0.0'),
  TALLY_SECRET: z.string().min(16, 'TALLY_SECRET must be at least 16 characters').optional(),
  TALLY_ADMIN_TOKEN: z.string().min(16, 'TALLY_ADMIN_TOKEN must be at least 16 characters').optional(),
  TALLY_PUBLIC_URL: z.string().optional(),
  TALLY_ALLOWED_ORIGINS: z.string().default(''), // other origins whose pages may call the console API (e.g. a console served elsewhere)
  TALLY_CURRENCY: z
    .string()
    .regex(/^[A-Z]{3}$/)
    .default('USD'),
  TALLY_DEMO: z.enum(['on', 'off']).default('on'),
  TALLY_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TALLY_TRUST_PROXY: z.string().default('off'),
  TALLY_SECURE_COOKIES: z.enum(['auto', 'on', 'off']).default('auto'),
  TALLY_HOLD_SWEEP_MS: z.coerce.number().int().min(100).default(5000),
  TALLY_API_PREFIXES: z.string().default('/v1,/api/v1'),
  TALLY_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(8 * 1024 * 1024),
  TALLY_RELAY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  TALLY_OVERSPEND: z.enum(['cap', 'reject']).default('cap'),
  TALLY_MIN_OUTPUT_TOKENS: z.coerce.number().int().min(1).default(16),
  TALLY_KEY_RPM: z.coerce.number().int().min(0).default(0),
  TALLY_TIMEZONE: z.string().default('UTC'), // the time zone of budget periods (day, week, month), e.g. Asia/Shanghai
  TALLY_CATALOG_RELOAD_MS: z.coerce.number().int().min(100).default(5000),
  TALLY_SETTLE_WORKER: z.enum(['on', 'off']).default('off'),
  TALLY_SETTLE_INTERVAL_MS: z.coerce.number().int().min(1).max(1000).default(5),
  TALLY_SETTLE_MAX_INTERVAL_MS: z.coerce.number().int().min(1).max(1000).default(20),
  TALLY_BREAKER_THRESHOLD: z.coerce.number().int().min(1).default(3),
  TALLY_BREAKER_COOLDOWN_MS: z.coerce.number().int().min(100).default(30_000),
  // Asynchronous tasks (videos): read by src/gateway/tasks/.
  TALLY_TASK_POLL_MS: z.coerce.number().int().min(10).default(2000), // first poll after submit; backs off from here
  TALLY_TASK_POLL_MAX_MS: z.coerce.number().int().min(10).default(30_000), // the longest wait between two polls of a task
  TALLY_TASK_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(2 * 60 * 60_000), // a task not ended by then is given up: its hold is released
  TALLY_TASK_LEASE_MS: z.coerce.number().int().min(100).default(60_000), // how long a poller owns a task; a crashed instance's tasks move on after this
  TALLY_TASK_MAX_LIVE: z.coerce.number().int().min(1).default(20), // videos one account may have running at once (429 past it)
  TALLY_TASK_WORKER: z.enum(['on', 'off']).default('on'), // off: this instance takes submits but never polls
  TALLY_VIDEO_WEBHOOK_SECRET: z.string().optional(), // whsec_...: verifies upstream video webhooks (Standard Webhooks, as OpenAI sends them)
  // Alerts (read by src/alerts/): balance and budget thresholds, by e-mail and signed webhook.
  TALLY_SMTP_URL: z.string().optional(), // smtp://host:port (smtps://user:pass@host:465); unset: e-mail alerts are skipped
  TALLY_MAIL_FROM: z.string().default('Tally <tally@localhost>'),
  TALLY_WEBHOOK_SECRET: z.string().min(16, 'TALLY_WEBHOOK_SECRET must be at least 16 characters').optional(), // signs alert webhooks; unset: no webhook alerts
  TALLY_ALERTS_ALLOW_PRIVATE: z.enum(['on', 'off']).default('off'), // on: webhooks may go to loopback and private addresses (tests, a LAN receiver)
  TALLY_ALERTS_POLL_MS: z.coerce.number().int().min(10).default(2000), // how often the outbox is read for due deliveries
  TALLY_ALERTS_RETRY_MS: z.coerce.number().int().min(1).default(30_000), // the first retry's delay; doubles per attempt (capped at 1 hour)
  TALLY_ALERTS_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(10), // then the delivery is marked failed
  TALLY_STRIPE_SECRET_KEY: z.string().optional(),
  TALLY_STRIPE_WEBHOOK_SECRET: z.string().optional(),
  TALLY_STRIPE_API_BASE: z.string().optional(),
  TALLY_EPAY_PID: z.string().optional(),
  TALLY_EPAY_KEY: z.string().optional(),
  TALLY_EPAY_URL: z.string().optional(),
  // Payments (read by src/payments/settings.ts).
  TALLY_PAYMENT_PROVIDERS: z.string().optional(), // e.g. "stripe,epay"; default: those configured (+ sandbox when TALLY_PAYMENT_SANDBOX=on)
  TALLY_PAYMENT_SANDBOX: z.enum(['on', 'off']).optional(), // off unless set: the sandbox credits balances without real money (demo mode does not turn it on)
  TALLY_PAYMENT_RATES: z.string().default(''), // operator exchange rates into the platform currency, e.g. "CNY=0.138,EUR=1.08"
  TALLY_PAYMENT_MIN: z.string().default('1.00'), // per order, in the platform currency
  TALLY_PAYMENT_MAX: z.string().default('10000.00'),
  TALLY_PAYMENT_EXPIRY_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(30 * 60_000),
  TALLY_PAYMENT_RECONCILE_AFTER_MS: z.coerce.number().int().min(0).default(60_000),
  TALLY_PAYMENT_RECONCILE_INTERVAL_MS: z.coerce.number().int().min(0).default(30_000), // 0 = no background worker
  TALLY_PAYMENT_STUCK_AFTER_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(60 * 60_000),
  TALLY_PAYMENT_DUPLICATE_WINDOW_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(10 * 60_000),
  // Support money actions above this (platform currency) wait for an admin's approval (read by src/support/permissions.ts).
  TALLY_SUPPORT_APPROVAL_ABOVE: z
    .string()
    .regex(/^\d+(\.\d{1,6})?$/, 'TALLY_SUPPORT_APPROVAL_ABOVE must be an amount like 10.00')
    .default('10.00'),
  // Accounts (read by src/accounts/signup.ts and src/app/routes/signup.ts): self sign-up, its limits and an optional captcha.
  TALLY_SIGNUP: z.enum(['open', 'invite', 'closed']).default('closed'), // closed: only admins (console, API, CLI) create accounts
  TALLY_SIGNUP_LIMIT_PER_IP: z.coerce.number().int().min(1).default(10), // sign-ups per client address (IPv6: /64) per hour
  TALLY_SIGNUP_LIMIT_PER_DOMAIN: z.coerce.number().int().min(1).default(100), // sign-ups per e-mail domain per hour
  TALLY_TURNSTILE_SECRET: z.string().optional(), // Cloudflare Turnstile: sign-up needs a solved widget when set
  TALLY_TURNSTILE_SITE_KEY: z.string().optional(),
  TALLY_HCAPTCHA_SECRET: z.string().optional(), // hCaptcha: the same, when set (not together with Turnstile)
  TALLY_HCAPTCHA_SITE_KEY: z.string().optional(),
  TALLY_CAPTCHA_VERIFY_URL: z.string().optional(), // the siteverify endpoint (default: the provider's); tests point it at a local server
  // Two-factor and OpenID Connect sign-in (read by src/accounts/twoFactor and src/accounts/oidc.ts).
  TALLY_STAFF_2FA: z.enum(['on', 'off']).default('off'), // on: support and admin sessions reach no staff route until they set up 2FA
  TALLY_OIDC_ISSUER: z.string().optional(), // https://accounts.example.com (discovery at /.well-known/openid-configuration)
  TALLY_OIDC_CLIENT_ID: z.string().optional(),
  TALLY_OIDC_CLIENT_SECRET: z.string().optional(),
  TALLY_OIDC_NAME: z.string().max(60).default('OpenID Connect'), // the sign-in button says "Sign in with <name>"
  // Operations (read by src/ops/): metrics, channel probes, log format.
  TALLY_METRICS: z.enum(['on', 'off']).default('on'), // off: no GET /metrics and nothing recorded on the relay path
  TALLY_METRICS_TOKEN: z.string().min(16, 'TALLY_METRICS_TOKEN must be at least 16 characters').optional(), // set: GET /metrics needs Authorization: Bearer <it>
  TALLY_CHANNEL_PROBE_MS: z.coerce.number().int().min(0).default(300_000), // how often each channel is probed; 0 = never
  TALLY_CHANNEL_PROBE_RECOVER: z.coerce.number().int().min(1).max(100).default(3), // consecutive healthy probes that enable an auto-disabled channel again
  TALLY_LOG_FORMAT: z.enum(['auto', 'pretty', 'json']).default('auto'), // auto: pretty when stdout is a terminal, JSON otherwise
});

export type Env = z.infer<typeof schema>;

export interface Config {
  databaseUrl: string;
  dataDir: string;
  redisUrl: string | null;
  port: number;
  host: string;
  secret: string;
  adminToken: string | null;
  publicUrl: string | null;
  /** Origins (scheme://host[:port]) besides this server's own whose browser requests may change state: TALLY_PUBLIC_URL's and TALLY_ALLOWED_ORIGINS. */
  allowedOrigins: string[];
  currency: string;
  demo: boolean;
  logLevel: Env['TALLY_LOG_LEVEL'];
  secureCookies: 'auto' | 'on' | 'off';
  /** Which proxies' X-Forwarded-For to believe: false, or addresses/CIDRs (e.g. 'loopback', '10.0.0.0/8'). */
  trustProxy: false | string[];
  holdSweepMs: number;
  apiPrefixes: string[];
  maxBodyBytes: number;
  relay: { maxAttempts: number; overspend: 'cap' | 'reject'; minOutputTokens: number; keyRpm: number };
  catalogReloadMs: number;
  /** Where a budget's day, week and month begin and end (TALLY_TIMEZONE, an IANA zone). */
  timeZone: string;
  settleIntervalMs: number;
  /** Under load the group commit waits longer (up to this) to write larger batches. */
  settleMaxIntervalMs: number;
  /** SQLite: write settlements from a worker thread. */
  settleWorker: boolean;
  breaker: { threshold: number; cooldownMs: number };
  /** Asynchronous tasks: poll backoff, give-up time, poll lease, whether this instance polls, the upstream webhook secret. */
  tasks: { pollMs: number; pollMaxMs: number; timeoutMs: number; leaseMs: number; maxLive: number; worker: boolean; webhookSecret: string | null };
  /** Alerts: where e-mail goes (null: skipped), the webhook signing secret (null: no webhooks), delivery retries. */
  alerts: {
    smtpUrl: string | null;
    mailFrom: string;
    webhookSecret: string | null;
    allowPrivate: boolean;
    pollMs: number;
    retryMs: number;
    maxAttempts: number;
  };
  /** Self sign-up (TALLY_SIGNUP), its per-address and per-domain hourly limits, and the captcha it asks for (null: none). */
  accounts: {
    signup: 'open' | 'invite' | 'closed';
    signupPerIpHour: number;
    signupPerDomainHour: number;
    captcha: { provider: 'turnstile' | 'hcaptcha'; secret: string; siteKey: string | null; verifyUrl: string } | null;
  };
  /** Two-factor for staff (TALLY_STAFF_2FA) and the OpenID Connect provider (null: none configured). */
  security: {
    staffTwoFactor: boolean;
    oidc: { issuer: string; clientId: string; clientSecret: string; name: string } | null;
  };
  /** Operations: /metrics (off: nothing recorded), its bearer token, channel probes (0 = off) and recovery, the log format. */
  ops: { metrics: boolean; metricsToken: string | null; probeMs: number; probeRecover: number; logFormat: 'auto' | 'pretty' | 'json' };
  env: Env;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const databaseUrl = overrides.databaseUrl ?? e.TALLY_DATABASE_URL;
  const dataDir = resolve(e.TALLY_DATA_DIR ?? defaultDataDir(databaseUrl));
  const secret = overrides.secret ?? e.TALLY_SECRET ?? loadOrCreateSecret(dataDir);
  return {
    databaseUrl,
    dataDir,
    redisUrl: e.TALLY_REDIS_URL ?? null,
    port: e.TALLY_PORT,
    host: e.TALLY_HOST,
    secret,
    adminToken: e.TALLY_ADMIN_TOKEN ?? null,
    publicUrl: e.TALLY_PUBLIC_URL ?? null,
    allowedOrigins: originsOf([e.TALLY_PUBLIC_URL ?? '', ...e.TALLY_ALLOWED_ORIGINS.split(',')]),
    currency: e.TALLY_CURRENCY,
    demo: e.TALLY_DEMO === 'on',
    logLevel: e.TALLY_LOG_LEVEL,
    secureCookies: e.TALLY_SECURE_COOKIES,
    trustProxy:
      e.TALLY_TRUST_PROXY === 'off' || e.TALLY_TRUST_PROXY === ''
        ? false
        : e.TALLY_TRUST_PROXY.split(',')
            .map((x) => x.trim())
            .filter(Boolean),
    holdSweepMs: e.TALLY_HOLD_SWEEP_MS,
    apiPrefixes: e.TALLY_API_PREFIXES.split(',')
      .map((p) => p.trim().replace(/\/$/, ''))
      .filter(Boolean),
    maxBodyBytes: e.TALLY_MAX_BODY_BYTES,
    relay: { maxAttempts: e.TALLY_RELAY_MAX_ATTEMPTS, overspend: e.TALLY_OVERSPEND, minOutputTokens: e.TALLY_MIN_OUTPUT_TOKENS, keyRpm: e.TALLY_KEY_RPM },
    catalogReloadMs: e.TALLY_CATALOG_RELOAD_MS,
    timeZone: checkedTimeZone(e.TALLY_TIMEZONE),
    settleIntervalMs: e.TALLY_SETTLE_INTERVAL_MS,
    settleMaxIntervalMs: Math.max(e.TALLY_SETTLE_INTERVAL_MS, e.TALLY_SETTLE_MAX_INTERVAL_MS),
    settleWorker: e.TALLY_SETTLE_WORKER === 'on',
    breaker: { threshold: e.TALLY_BREAKER_THRESHOLD, cooldownMs: e.TALLY_BREAKER_COOLDOWN_MS },
    tasks: {
      pollMs: e.TALLY_TASK_POLL_MS,
      pollMaxMs: Math.max(e.TALLY_TASK_POLL_MS, e.TALLY_TASK_POLL_MAX_MS),
      timeoutMs: e.TALLY_TASK_TIMEOUT_MS,
      leaseMs: e.TALLY_TASK_LEASE_MS,
      maxLive: e.TALLY_TASK_MAX_LIVE,
      worker: e.TALLY_TASK_WORKER === 'on',
      webhookSecret: e.TALLY_VIDEO_WEBHOOK_SECRET ?? null,
    },
    alerts: {
      smtpUrl: e.TALLY_SMTP_URL || null,
      mailFrom: e.TALLY_MAIL_FROM,
      webhookSecret: e.TALLY_WEBHOOK_SECRET ?? null,
      allowPrivate: e.TALLY_ALERTS_ALLOW_PRIVATE === 'on',
      pollMs: e.TALLY_ALERTS_POLL_MS,
      retryMs: e.TALLY_ALERTS_RETRY_MS,
      maxAttempts: e.TALLY_ALERTS_MAX_ATTEMPTS,
    },
    accounts: {
      signup: e.TALLY_SIGNUP,
      signupPerIpHour: e.TALLY_SIGNUP_LIMIT_PER_IP,
      signupPerDomainHour: e.TALLY_SIGNUP_LIMIT_PER_DOMAIN,
      captcha: captchaOf(e),
    },
    security: { staffTwoFactor: e.TALLY_STAFF_2FA === 'on', oidc: oidcOf(e) },
    ops: {
      metrics: e.TALLY_METRICS === 'on',
      metricsToken: e.TALLY_METRICS_TOKEN ?? null,
      probeMs: e.TALLY_CHANNEL_PROBE_MS,
      probeRecover: e.TALLY_CHANNEL_PROBE_RECOVER,
      logFormat: e.TALLY_LOG_FORMAT,
    },
    env: e,
    ...overrides,
  };
}

const SITEVERIFY = { turnstile: 'https://challenges.cloudflare.com/turnstile/v0/siteverify', hcaptcha: 'https://api.hcaptcha.com/siteverify' };

function captchaOf(e: Env): Config['accounts']['captcha'] {
  if (e.TALLY_TURNSTILE_SECRET && e.TALLY_HCAPTCHA_SECRET) {
    throw new ConfigError(
      'invalid configuration:\n  TALLY_TURNSTILE_SECRET and TALLY_HCAPTCHA_SECRET are both set; sign-up asks for one captcha, keep one of them',
    );
  }
  const provider = e.TALLY_TURNSTILE_SECRET ? 'turnstile' : e.TALLY_HCAPTCHA_SECRET ? 'hcaptcha' : null;
  if (!provider) return null;
  return {
    provider,
    secret: (provider === 'turnstile' ? e.TALLY_TURNSTILE_SECRET : e.TALLY_HCAPTCHA_SECRET) as string,
    siteKey: (provider === 'turnstile' ? e.TALLY_TURNSTILE_SITE_KEY : e.TALLY_HCAPTCHA_SITE_KEY) ?? null,
    verifyUrl: e.TALLY_CAPTCHA_VERIFY_URL || SITEVERIFY[provider],
  };
}

/** All of TALLY_OIDC_ISSUER, _CLIENT_ID and _CLIENT_SECRET, or none. */
function oidcOf(e: Env): Config['security']['oidc'] {
  const set = [e.TALLY_OIDC_ISSUER, e.TALLY_OIDC_CLIENT_ID, e.TALLY_OIDC_CLIENT_SECRET].filter(Boolean).length;
  if (set === 0) return null;
  if (set < 3)
    throw new ConfigError('invalid configuration:\n  TALLY_OIDC_ISSUER, TALLY_OIDC_CLIENT_ID and TALLY_OIDC_CLIENT_SECRET are set together (or none of them)');
  let issuer: URL;
  try {
    issuer = new URL(e.TALLY_OIDC_ISSUER!);
  } catch {
    throw new ConfigError(`invalid configuration:\n  TALLY_OIDC_ISSUER: "${e.TALLY_OIDC_ISSUER}" is not a URL such as https://accounts.example.com`);
  }
  return { issuer: issuer.href, clientId: e.TALLY_OIDC_CLIENT_ID!, clientSecret: e.TALLY_OIDC_CLIENT_SECRET!, name: e.TALLY_OIDC_NAME };
}

function checkedTimeZone(tz: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new ConfigError(`invalid configuration:\n  TALLY_TIMEZONE: "${tz}" is not a time zone; use an IANA name such as UTC, Europe/Berlin or Asia/Shanghai`);
  }
  return tz;
}

/** `https://tally.example.com/console/` -> `https://tally.example.com`; a value that is not an http(s) URL stops the start. */
function originsOf(values: string[]): string[] {
  const out = new Set<string>();
  for (const v of values.map((x) => x.trim()).filter(Boolean)) {
    let u: URL | null = null;
    try {
      u = new URL(v);
    } catch {
      u = null;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      throw new ConfigError(`invalid configuration:\n  ${v}: TALLY_PUBLIC_URL and TALLY_ALLOWED_ORIGINS take http(s) URLs such as https://tally.example.com`);
    }
    out.add(u.origin);
  }
  return [...out];
}

function defaultDataDir(databaseUrl: string): string {
  if (databaseUrl.startsWith('sqlite:')) {
    const file = databaseUrl.slice('sqlite:'.length);
    if (file && file !== ':memory:') return dirname(file);
  }
  return './data';
}

/**
 * TALLY_SECRET keys every HMAC and encryption in Tally. When it is not set, one
 * is generated on first start into the data dir (mode 0600) and reused after,
 * so an embedded install keeps working across restarts. Several instances must
 * share one secret: set TALLY_SECRET explicitly for them.
 */
function loadOrCreateSecret(dataDir: string): string {
  const file = join(dataDir, 'secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  try {
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
    return secret;
  } catch {
    return readFileSync(file, 'utf8').trim(); // another process won the race
  }
}
