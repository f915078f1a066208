// The alert settings API and what it refuses: a webhook URL is fetched by the
// server, so it may not point into the server's own network (SSRF), neither
// as saved nor when a name resolves there at delivery time.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { isPrivateAddress, validateWebhookUrl } from '../../src/alerts/index.ts';
import { createDeliverer } from '../../src/alerts/deliver.ts';
import { startHookReceiver, WEBHOOK_SECRET } from './receivers.ts';

describe('webhook addresses', () => {
  test('loopback, private, link-local and unspecified addresses are private; public ones are not', () => {
    for (const ip of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
    ]) {
      assert.ok(isPrivateAddress(ip), ip);
    }
    for (const ip of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) assert.ok(!isPrivateAddress(ip), ip);
  });

  test('a URL naming a private address or localhost is refused as saved, unless private addresses are allowed', () => {
    for (const url of [
      'http://127.0.0.1/x',
      'http://localhost:8080/',
      'https://api.localhost/',
      'http://[::1]/',
      'http://10.0.0.5/',
      'http://169.254.169.254/latest/meta-data',
    ]) {
      assert.throws(() => validateWebhookUrl(url, { allowPrivate: false }), { code: 'invalid_webhook_url' }, url);
    }
    for (const url of ['ftp://example.com/', 'not a url', 'https://user:pass@example.com/']) {
      assert.throws(() => validateWebhookUrl(url, { allowPrivate: true }), { code: 'invalid_webhook_url' }, url);
    }
    assert.equal(validateWebhookUrl('https://hooks.example.com/tally', { allowPrivate: false }), 'https://hooks.example.com/tally');
    assert.equal(validateWebhookUrl('http://127.0.0.1:9/x', { allowPrivate: true }), 'http://127.0.0.1:9/x');
  });

  test('a name that resolves to a private address is refused when the webhook is sent, and nothing reaches it', async () => {
    const hooks = await startHookReceiver();
    const port = new URL(hooks.url).port;
    const d = createDeliverer({ smtpUrl: null, mailFrom: 'x@y', webhookSecret: WEBHOOK_SECRET, allowPrivate: false, now: Date.now });
    try {
      const event = {
        id: 'alt_1',
        kind: 'balance.below' as const,
        owner: 'user:u',
        currency: 'USD',
        createdAt: Date.now(),
        threshold: '1.00',
        spendable: '0.50',
      };
      await assert.rejects(d.send({ channel: 'webhook', target: `http://localhost:${port}/x`, event, language: 'en' }), /private address/);
      await assert.rejects(d.send({ channel: 'webhook', target: `http://127.0.0.1:${port}/x`, event, language: 'en' }), /private address/);
      assert.equal(hooks.calls.length, 0);
    } finally {
      await d.close();
      await hooks.close();
    }
  });
});

for (const dialect of testDialects()) {
  describe(`GET and PUT /api/alerts on ${dialect}`, () => {
    let t: TestTally;
    let plain: TestTally;
    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_WEBHOOK_SECRET: WEBHOOK_SECRET });
      plain = await startTestTally(dialect);
    });
    after(async () => {
      await t?.close();
      await plain?.close();
    });

    test('a signed-in user reads the defaults, changes only what the PUT names, and an anonymous caller gets 401', async () => {
      const u = await seedUser(t);
      const api = await signIn(t, u.email, u.password);
      const got = await (await api('/api/alerts')).json();
      assert.deepEqual(got, {
        balance_below: null,
        email: true,
        webhook_url: null,
        language: 'en',
        currency: 'USD',
        email_available: false,
        webhook_available: true,
      });
      let r = await api('/api/alerts', { method: 'PUT', body: JSON.stringify({ balance_below: '5.5', webhook_url: 'https://hooks.example.com/t?x=1' }) });
      assert.equal(r.status, 200, await r.clone().text());
      r = await api('/api/alerts', { method: 'PUT', body: JSON.stringify({ language: 'zh' }) });
      const saved = (await r.json()) as any;
      assert.equal(saved.balance_below, '5.50');
      assert.equal(saved.webhook_url, 'https://hooks.example.com/t?x=1');
      assert.equal(saved.language, 'zh');
      r = await api('/api/alerts', { method: 'PUT', body: JSON.stringify({ balance_below: null, webhook_url: null }) });
      assert.deepEqual([((await r.json()) as any).balance_below, ((await (await api('/api/alerts')).json()) as any).webhook_url], [null, null]);
      assert.equal((await fetch(`${t.url}/api/alerts`)).status, 401);
      assert.equal((await fetch(`${t.url}/api/alerts`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 401);
    });

    test('refused: a webhook into the private network, a number for money, a webhook on a server without a signing secret', async () => {
      const u = await seedUser(t);
      const api = await signIn(t, u.email, u.password);
      for (const url of ['http://127.0.0.1:8080/', 'http://169.254.169.254/latest', 'http://localhost/', 'file:///etc/passwd']) {
        const r = await api('/api/alerts', { method: 'PUT', body: JSON.stringify({ webhook_url: url }) });
        assert.equal(r.status, 400, url);
        assert.equal(((await r.json()) as any).error.code, 'invalid_webhook_url');
      }
      const r = await api('/api/alerts', { method: 'PUT', body: JSON.stringify({ balance_below: 5 }) });
      assert.equal(r.status, 400);
      const p = await seedUser(plain);
      const papi = await signIn(plain, p.email, p.password);
      const n = await papi('/api/alerts', { method: 'PUT', body: JSON.stringify({ webhook_url: 'https://hooks.example.com/x' }) });
      assert.equal(n.status, 400);
      assert.match(((await n.json()) as any).error.message, /TALLY_WEBHOOK_SECRET/);
      assert.equal(((await (await api('/api/alerts')).json()) as any).webhook_url, null, 'nothing saved');
    });

    test('without TALLY_SMTP_URL e-mail alerts are skipped, with one warning logged at start', () => {
      assert.deepEqual(plain.ctx.alerts.warnings().length, 1);
      assert.match(plain.ctx.alerts.warnings()[0], /TALLY_SMTP_URL is not set/);
      assert.equal(plain.ctx.alerts.channels.email, false);
    });
  });
}
