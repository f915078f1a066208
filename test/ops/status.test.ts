// The public status page: availability and latency per public model from
// live traffic and probes; an outage (failed requests, failed probes) lowers
// availability; the page and the JSON never name a channel or an upstream URL;
// /status is HTML that lists its content without JavaScript, in zh and en.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { relaySdk, verifyThenClose } from '../helpers/relay.ts';
import { classifyProbe } from '../../src/ops/probes.ts';
import { quantileFromBuckets, LATENCY_BOUNDS } from '../../src/ops/status.ts';
import { statusLang } from '../../src/ops/statusPage.ts';

const UPSTREAM_KEY = 'sk-upstream-status-0123456789abcdef';
const CHANNEL_NAME = 'secret-upstream-channel-name';

interface StatusJson {
  models: Array<{ model: string; state: string; last_24h: any; last_7d: any; hours: Array<{ hour: string; availability: number | null }> }>;
}

async function status(t: TestTally): Promise<StatusJson> {
  await t.ctx.relay.flush();
  t.ctx.status.invalidate();
  const res = await fetch(`${t.url}/api/status`);
  assert.equal(res.status, 200);
  return (await res.json()) as StatusJson;
}

for (const dialect of testDialects()) {
  describe(`status page on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let apiKey: string;

    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_CHANNEL_PROBE_MS: '3600000' });
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null });
      await setModelPrice(t.ctx.db, { model: 'status-model', inputPer1M: 1_000_000n, outputPer1M: 1_000_000n });
      await createChannel(t.ctx.db, t.ctx.config.secret, {
        name: CHANNEL_NAME,
        type: 'openai',
        baseUrl: mock.url,
        apiKey: UPSTREAM_KEY,
        models: ['status-model'],
      });
      await t.ctx.catalog.reload();
      ({ apiKey } = await seedUser(t, { balance: 10_000_000n }));
    });

    after(async () => {
      await verifyThenClose(t, mock);
    });

    test('healthy traffic, then an outage of requests and probes lowers availability', async () => {
      const sdk = relaySdk(t, apiKey);
      const ask = () => sdk.chat.completions.create({ model: 'status-model', messages: [{ role: 'user', content: 'status?' }] });
      for (let i = 0; i < 4; i++) await ask();
      let s = await status(t);
      let m = s.models.find((x) => x.model === 'status-model')!;
      assert.ok(m, 'the public model is listed');
      assert.equal(m.state, 'operational');
      assert.equal(m.last_24h.requests, 4);
      assert.equal(m.last_24h.availability, 1);
      assert.equal(m.last_7d.requests, 4);
      assert.ok(m.last_24h.latency_ms.p50 !== null && m.last_24h.latency_ms.p95 !== null);
      assert.ok(m.last_24h.latency_ms.p50 <= m.last_24h.latency_ms.p95);
      assert.equal(m.hours.length, 24);
      assert.equal(m.hours.at(-1)!.availability, 1);

      // The upstream fails: 4 failed requests (502 to the caller), and a failed probe.
      mock.setBehavior({ fail: 500 });
      for (let i = 0; i < 4; i++) await assert.rejects(ask());
      await t.ctx.probes.tick(Date.now());
      s = await status(t);
      m = s.models.find((x) => x.model === 'status-model')!;
      assert.equal(m.last_24h.requests, 8);
      assert.equal(m.last_24h.failed_requests, 4);
      assert.equal(m.last_24h.probes, 1);
      assert.equal(m.last_24h.failed_probes, 1);
      assert.equal(m.last_24h.availability, 0.4444); // 4 good of 8 requests and 1 failed probe: 4/9, to 4 places
      assert.equal(m.state, 'outage');
      assert.ok(m.hours.at(-1)!.availability! < 0.5);

      // A caller's own mistake (a bad key) is not an outage.
      await assert.rejects(
        relaySdk(t, 'sk-not-a-real-key-000000000000').chat.completions.create({ model: 'status-model', messages: [{ role: 'user', content: 'x' }] }),
      );
      s = await status(t);
      assert.equal(s.models.find((x) => x.model === 'status-model')!.last_24h.failed_requests, 4);
      mock.setBehavior({});

      const json = JSON.stringify(s);
      assert.ok(!json.includes(CHANNEL_NAME), 'no channel name');
      assert.ok(!json.includes(String(mock.port)) && !json.includes('127.0.0.1'), 'no upstream URL');
      assert.ok(!json.includes('chn_'), 'no channel id');
    });

    test('/status is server-rendered HTML in English or Chinese, without channel names or URLs', async () => {
      await t.ctx.relay.flush();
      t.ctx.status.invalidate();
      const en = await fetch(`${t.url}/status`, { headers: { 'accept-language': 'en-US,en;q=0.9' } });
      assert.equal(en.status, 200);
      assert.match(en.headers.get('content-type') ?? '', /text\/html/);
      const enHtml = await en.text();
      assert.match(enHtml, /<html lang="en">/);
      assert.match(enHtml, /Service status/);
      assert.match(enHtml, /<code>status-model<\/code>/);
      assert.ok(!/<script/i.test(enHtml), 'no JavaScript needed');
      const zh = await fetch(`${t.url}/status`, { headers: { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' } });
      const zhHtml = await zh.text();
      assert.match(zhHtml, /服务状态/);
      assert.match(zhHtml, /<code>status-model<\/code>/);
      const forced = await (await fetch(`${t.url}/status?lang=en`, { headers: { 'accept-language': 'zh-CN' } })).text();
      assert.match(forced, /Service status/);
      for (const html of [enHtml, zhHtml]) {
        assert.ok(!html.includes(CHANNEL_NAME));
        assert.ok(!html.includes(String(mock.port)));
      }
    });
  });
}

test('probe classes, latency quantiles and the page language', () => {
  assert.equal(classifyProbe(401, null), 'auth');
  assert.equal(classifyProbe(403, null), 'auth');
  assert.equal(classifyProbe(402, null), 'quota');
  assert.equal(classifyProbe(429, 'insufficient_quota'), 'quota');
  assert.equal(classifyProbe(429, 'rate_limit_exceeded'), 'rate_limited');
  assert.equal(classifyProbe(503, null), 'upstream_error');
  assert.equal(classifyProbe(0, null), 'unreachable');
  assert.equal(classifyProbe(404, 'model_not_found'), 'rejected');
  const buckets = new Array(LATENCY_BOUNDS.length + 1).fill(0);
  assert.equal(quantileFromBuckets(buckets, 0.5), null);
  buckets[2] = 10; // ten answers between 100 and 200 ms
  assert.equal(quantileFromBuckets(buckets, 0.5), 150);
  buckets[LATENCY_BOUNDS.length] = 10; // ten slower than the last bound
  assert.equal(quantileFromBuckets(buckets, 0.95), LATENCY_BOUNDS.at(-1));
  assert.equal(statusLang('zh', 'en'), 'zh');
  assert.equal(statusLang(undefined, 'zh-TW,zh;q=0.9'), 'zh');
  assert.equal(statusLang(undefined, 'en-GB,zh;q=0.5'), 'en');
  assert.equal(statusLang('fr', undefined), 'en');
});
