// GET /metrics: Prometheus text that a strict reader accepts, whose counters
// move as real requests (the official openai SDK) flow through the relay to a
// mock upstream; a token when one is set; each instance its own figures.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { relaySdk, verifyThenClose } from '../helpers/relay.ts';
import { parsePrometheusText, sampleValue, type Exposition } from './promText.ts';

const UPSTREAM_KEY = 'sk-upstream-metrics-0123456789abcd';
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

async function scrape(t: TestTally, headers: Record<string, string> = {}): Promise<Exposition> {
  await t.ctx.relay.flush();
  const res = await fetch(`${t.url}/metrics`, { headers });
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

for (const dialect of testDialects()) {
  describe(`metrics on ${dialect}`, () => {
    let t: TestTally;
    let other: TestTally;
    let good: MockOpenAI;
    let broken: MockOpenAI;
    let apiKey: string;

    before(async () => {
      t = await startTestTally(dialect);
      other = await startTestTally(dialect, {}, { TALLY_METRICS_TOKEN: METRICS_TOKEN });
      good = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null });
      broken = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null, behavior: { fail: 500 } });
      await setModelPrice(t.ctx.db, { model: 'm-good', inputPer1M: 1_000_000n, outputPer1M: 2_000_000n });
      await setModelPrice(t.ctx.db, { model: 'm-broken', inputPer1M: 1_000_000n, outputPer1M: 2_000_000n });
      await createChannel(t.ctx.db, t.ctx.config.secret, { name: 'good-one', type: 'openai', baseUrl: good.url, apiKey: UPSTREAM_KEY, models: ['m-good'] });
      await createChannel(t.ctx.db, t.ctx.config.secret, {
        name: 'broken-one',
        type: 'openai',
        baseUrl: broken.url,
        apiKey: UPSTREAM_KEY,
        models: ['m-broken'],
      });
      await t.ctx.catalog.reload();
      ({ apiKey } = await seedUser(t, { balance: 10_000_000n }));
    });

    after(async () => {
      await verifyThenClose(t, other, good, broken);
    });

    test('counters, histograms and upstream errors move as requests flow', async () => {
      const before = await scrape(t);
      const ok = { model: 'm-good', channel: 'good-one', protocol: 'openai', status: '200' };
      const sdk = relaySdk(t, apiKey);
      await sdk.chat.completions.create({ model: 'm-good', messages: [{ role: 'user', content: 'hello' }] });
      await sdk.chat.completions.create({ model: 'm-good', messages: [{ role: 'user', content: 'hello again' }] });
      const stream = await sdk.chat.completions.create({ model: 'm-good', stream: true, messages: [{ role: 'user', content: 'stream it' }] });
      for await (const _ of stream) void _;
      await assert.rejects(sdk.chat.completions.create({ model: 'm-broken', messages: [{ role: 'user', content: 'fail' }] }));
      await assert.rejects(sdk.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'which?' }] }));
      const after = await scrape(t);

      assert.equal(sampleValue(after, 'tally_requests_total', ok) - sampleValue(before, 'tally_requests_total', ok), 3);
      const lat = { model: 'm-good', protocol: 'openai' };
      assert.equal(sampleValue(after, 'tally_request_duration_seconds_count', lat) - sampleValue(before, 'tally_request_duration_seconds_count', lat), 3);
      assert.equal(sampleValue(after, 'tally_request_ttfb_seconds_count', lat) - sampleValue(before, 'tally_request_ttfb_seconds_count', lat), 3);
      assert.ok(sampleValue(after, 'tally_request_duration_seconds_sum', lat) > 0);
      assert.equal(
        sampleValue(after, 'tally_request_duration_seconds_bucket', { ...lat, le: '+Inf' }),
        sampleValue(after, 'tally_request_duration_seconds_count', lat),
      );

      // The broken channel: its 500 is an upstream error of class upstream_error, and the request a 502.
      const errs = { channel: 'broken-one', class: 'upstream_error' };
      assert.equal(sampleValue(after, 'tally_upstream_errors_total', errs) - sampleValue(before, 'tally_upstream_errors_total', errs), 1);
      const failed = after.samples.filter((s) => s.name === 'tally_requests_total' && s.labels.model === 'm-broken');
      assert.equal(failed.length, 1);
      assert.equal(failed[0].labels.channel, 'broken-one');
      assert.ok(Number(failed[0].labels.status) >= 500);

      // A model the catalog does not know is never a label of its own.
      assert.ok(!after.samples.some((s) => s.labels.model === 'no-such-model'));
      assert.ok(sampleValue(after, 'tally_requests_total', { model: 'other', channel: 'none' }) >= 1);
      // No user, key or request ids among the labels.
      const labelNames = new Set(after.samples.flatMap((s) => Object.keys(s.labels)));
      for (const forbidden of ['user', 'user_id', 'key', 'key_id', 'request_id']) assert.ok(!labelNames.has(forbidden), forbidden);
      assert.ok(!after.samples.some((s) => Object.values(s.labels).some((v) => v.startsWith('usr_') || v.startsWith('key_') || v.startsWith('req_'))));

      // Settlement: lag observed, queue depth reported, breaker and channel state per channel.
      assert.ok(sampleValue(after, 'tally_settlement_lag_seconds_count') > sampleValue(before, 'tally_settlement_lag_seconds_count'));
      assert.equal(after.types.get('tally_settlement_queue_depth'), 'gauge');
      assert.equal(sampleValue(after, 'tally_channel_breaker_state', { channel: 'good-one' }), 0);
      assert.equal(sampleValue(after, 'tally_channel_enabled', { channel: 'good-one', status: 'enabled' }), 1);
      assert.equal(sampleValue(after, 'tally_dead_letter_file_items'), 0);
      assert.equal(after.types.get('tally_orders'), 'gauge');
      assert.equal(after.types.get('tally_tasks'), 'gauge');
    });

    test('a payment callback with a bad signature is counted by provider and outcome', async () => {
      const before = await scrape(t);
      const res = await fetch(`${t.url}/api/payments/epay/notify?out_trade_no=ord_x&trade_status=TRADE_SUCCESS&sign=bad`);
      await res.text();
      const after = await scrape(t);
      const moved = after.samples
        .filter((s) => s.name === 'tally_payment_callbacks_total' && s.labels.provider === 'epay')
        .reduce((n, s) => n + s.value - sampleValue(before, 'tally_payment_callbacks_total', s.labels), 0);
      assert.equal(moved, 1);
    });

    test('with TALLY_METRICS_TOKEN the scrape needs the bearer token; each instance has its own figures', async () => {
      const none = await fetch(`${other.url}/metrics`);
      assert.equal(none.status, 401);
      assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'invalid_metrics_token');
      const wrong = await fetch(`${other.url}/metrics`, { headers: { authorization: 'Bearer not-the-token-at-all-000' } });
      assert.equal(wrong.status, 401);
      const e = await scrape(other, { authorization: `Bearer ${METRICS_TOKEN}` });
      // `other` relayed nothing: the first instance's requests are not in its registry.
      assert.equal(e.samples.filter((s) => s.name === 'tally_requests_total').length, 0);
    });
  });
}

test('TALLY_METRICS=off: no /metrics route', async () => {
  const t = await startTestTally('sqlite', {}, { TALLY_METRICS: 'off' });
  try {
    assert.equal(t.ctx.metrics, null);
    const res = await fetch(`${t.url}/metrics`);
    assert.equal(res.status, 404);
  } finally {
    await t.close();
  }
});
