// A balance alert as a customer lives it: real requests through the official
// OpenAI SDK spend a wallet past its threshold; one e-mail (read from a real
// SMTP server) and one signed webhook arrive, however many requests follow;
// a top-up re-arms it and the next crossing alerts again; a webhook endpoint
// that fails is retried with backoff until it takes the alert, once.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { adjustBalanceManually } from '../../src/accounts/manualCredit.ts';
import { relaySdk, settledWallet, verifyThenClose } from '../helpers/relay.ts';
import { parseMoney } from '../../src/ledger/money.ts';
import { alertEnv, settle, startHookReceiver, startSmtp, waitFor } from './receivers.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcd';
const CHAT = 'gpt-4o-mini';
const messages = [{ role: 'user' as const, content: 'hello there' }];

for (const dialect of testDialects()) {
  describe(`balance alerts on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    let hooks: Awaited<ReturnType<typeof startHookReceiver>>;

    before(async () => {
      smtp = await startSmtp();
      hooks = await startHookReceiver();
      t = await startTestTally(dialect, {}, alertEnv(smtp.url));
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null });
      await createChannel(t.ctx.db, t.config.secret, { name: 'primary', type: 'openai', baseUrl: mock.url, apiKey: UPSTREAM_KEY, models: [CHAT] });
      // $1,000 / $2,000 per 1M tokens: a short request costs about $0.10, so a few cross a threshold.
      await setModelPrice(t.ctx.db, { model: CHAT, inputPer1M: 1_000_000_000n, outputPer1M: 2_000_000_000n, maxOutputTokens: 64 });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock, smtp, hooks));

    /** Spends with real requests until the settled wallet is below `below` (micro-units), then `extra` more. */
    async function spendBelow(apiKey: string, userId: string, below: bigint, extra: number) {
      const client = relaySdk(t, apiKey);
      for (let i = 0; i < 40; i++) {
        await client.chat.completions.create({ model: CHAT, messages });
        const w = await settledWallet(t, userId);
        if (w.balance < below) break;
      }
      const w = await settledWallet(t, userId);
      assert.ok(w.balance < below, 'the wallet was spent below the threshold');
      await Promise.all(Array.from({ length: extra }, () => client.chat.completions.create({ model: CHAT, messages })));
      await t.ctx.relay.flush();
      await t.ctx.alerts.idle();
    }

    test('spent below its threshold by real requests: one e-mail and one signed webhook, however many requests follow', async () => {
      const u = await seedUser(t, { balance: 1_500_000n });
      const api = await signIn(t, u.email, u.password);
      const put = await api('/api/alerts', { method: 'PUT', body: JSON.stringify({ balance_below: '1.00', webhook_url: `${hooks.url}/hooks/a` }) });
      assert.equal(put.status, 200, await put.clone().text());
      assert.deepEqual(await put.json(), {
        balance_below: '1.00',
        email: true,
        webhook_url: `${hooks.url}/hooks/a`,
        language: 'en',
        currency: 'USD',
        email_available: true,
        webhook_available: true,
      });
      assert.equal(smtp.mails.length, 0, 'the balance is above the threshold: nothing yet');

      await spendBelow(u.apiKey, u.user.id, 1_000_000n, 6);
      await waitFor('the e-mail', () => smtp.mails.some((m) => m.to.includes(u.email)));
      await waitFor('the webhook', () => hooks.calls.some((c) => c.path === '/hooks/a'));
      await settle();
      const mails = smtp.mails.filter((m) => m.to.includes(u.email));
      assert.equal(mails.length, 1, 'one e-mail per crossing');
      assert.match(mails[0].subject, /balance is below 1\.00 USD/);
      assert.match(mails[0].raw, /From: Tally Alerts <alerts@tally\.test>/);
      const calls = hooks.calls.filter((c) => c.path === '/hooks/a');
      assert.equal(calls.length, 1, 'one webhook per crossing');
      assert.ok(calls[0].valid, 'the webhook is signed with HMAC-SHA256 over "timestamp.body"');
      assert.ok(Math.abs(Number(calls[0].timestamp) - Date.now() / 1000) < 60, 'the signed timestamp is now');
      assert.equal(calls[0].json.type, 'balance.below');
      assert.equal(calls[0].json.data.owner, `user:${u.user.id}`);
      assert.equal(calls[0].json.data.threshold, '1.00');
      assert.ok(parseMoney(calls[0].json.data.spendable, { allowNegative: true }) < 1_000_000n, 'the figure that crossed it');
      const sent = await t.ctx.db.selectFrom('alert_outbox').selectAll().where('owner_ref', '=', `user:${u.user.id}`).execute();
      assert.deepEqual(sent.map((r) => [r.channel, r.status, Number(r.attempts)]).sort(), [
        ['email', 'sent', 1],
        ['webhook', 'sent', 1],
      ]);

      // Topped up above the threshold: re-armed; spent below again: alerted again, once.
      await adjustBalanceManually(t.ctx.db, { userId: u.user.id, amount: 1_000_000n, reason: 'top-up', actor: { type: 'system' } });
      await relaySdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages });
      await t.ctx.relay.flush();
      await t.ctx.alerts.idle();
      const state = await t.ctx.db.selectFrom('alert_state').select('state').where('subject', '=', `balance:user:${u.user.id}`).executeTakeFirst();
      assert.equal(state?.state, 'above', 'the first settlement after the top-up sees the balance above the threshold');
      await spendBelow(u.apiKey, u.user.id, 1_000_000n, 4);
      await waitFor('the second e-mail', () => smtp.mails.filter((m) => m.to.includes(u.email)).length >= 2);
      await waitFor('the second webhook', () => hooks.calls.filter((c) => c.path === '/hooks/a').length >= 2);
      await settle();
      assert.equal(smtp.mails.filter((m) => m.to.includes(u.email)).length, 2);
      assert.equal(hooks.calls.filter((c) => c.path === '/hooks/a').length, 2);
      const ids = new Set(hooks.calls.filter((c) => c.path === '/hooks/a').map((c) => c.json.id));
      assert.equal(ids.size, 2, 'two crossings are two events');
    });

    test('a failing webhook endpoint is retried with backoff and then takes the alert once', async () => {
      const u = await seedUser(t, { balance: 1_500_000n });
      const api = await signIn(t, u.email, u.password);
      hooks.failNext('/hooks/flaky', 2);
      const put = await api('/api/alerts', {
        method: 'PUT',
        body: JSON.stringify({ balance_below: '1.20', email: false, webhook_url: `${hooks.url}/hooks/flaky` }),
      });
      assert.equal(put.status, 200);
      await spendBelow(u.apiKey, u.user.id, 1_200_000n, 2);
      await waitFor('the delivery', () => hooks.calls.some((c) => c.path === '/hooks/flaky' && c.status === 200));
      await settle(600);
      const calls = hooks.calls.filter((c) => c.path === '/hooks/flaky');
      assert.deepEqual(
        calls.map((c) => c.status),
        [500, 500, 200],
        'two failures, then one success, and nothing after it',
      );
      assert.ok(calls.every((c) => c.valid));
      assert.equal(new Set(calls.map((c) => c.json.id)).size, 1, 'the same event each time');
      // TALLY_ALERTS_RETRY_MS=150: the first retry waits 150 ms, the second 300 ms.
      assert.ok(calls[1].at - calls[0].at >= 140, `first retry after ${calls[1].at - calls[0].at} ms`);
      assert.ok(calls[2].at - calls[1].at >= 290, `second retry after ${calls[2].at - calls[1].at} ms`);
      const rows = await t.ctx.db.selectFrom('alert_outbox').selectAll().where('owner_ref', '=', `user:${u.user.id}`).execute();
      assert.equal(rows.length, 1, 'e-mail off: the webhook only');
      assert.equal(rows[0].status, 'sent');
      assert.equal(Number(rows[0].attempts), 3);
      assert.equal(smtp.mails.filter((m) => m.to.includes(u.email)).length, 0);
    });

    test('a wallet re-read by the flusher (as after a video task is held or charged) is judged too', async () => {
      const u = await seedUser(t, { balance: 3_000_000n });
      const api = await signIn(t, u.email, u.password);
      await api('/api/alerts', { method: 'PUT', body: JSON.stringify({ balance_below: '2.00', webhook_url: `${hooks.url}/hooks/task` }) });
      await relaySdk(t, u.apiKey).chat.completions.create({ model: CHAT, messages }); // the wallet is in the reservation book
      await t.ctx.relay.flush();
      // Money that moved without a settlement (a task's hold, its charge): the tasks ask the flusher to re-read the wallet.
      await adjustBalanceManually(t.ctx.db, { userId: u.user.id, amount: -2_000_000n, reason: 'a task hold, say', actor: { type: 'system' } });
      await t.ctx.settlement.refreshWallet(`user:${u.user.id}`);
      await t.ctx.alerts.idle();
      await waitFor('the webhook', () => hooks.calls.some((c) => c.path === '/hooks/task'));
      await waitFor('the e-mail', () => smtp.mails.some((m) => m.to.includes(u.email)));
    });

    test('a manual debit through the admin API crosses the threshold too', async () => {
      const u = await seedUser(t, { balance: 5_000_000n });
      const api = await signIn(t, u.email, u.password);
      await api('/api/alerts', { method: 'PUT', body: JSON.stringify({ balance_below: '2.00', language: 'zh' }) });
      const res = await fetch(`${t.url}/api/admin/users/${u.user.id}/credit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${t.config.adminToken}` },
        body: JSON.stringify({ amount: '-4.00', reason: 'chargeback' }),
      });
      assert.equal(res.status, 200, await res.text());
      await waitFor('the e-mail', () => smtp.mails.some((m) => m.to.includes(u.email)));
      const mail = smtp.mails.find((m) => m.to.includes(u.email))!;
      assert.match(mail.subject, /余额已低于 2\.00 USD/, 'written in the language the user chose (zh)');
    });
  });
}
