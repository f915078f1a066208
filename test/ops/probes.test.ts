// Channel probes: a channel whose upstream starts refusing its key is taken
// out of rotation by the probe, stays out while refusing, and is enabled again
// after 3 healthy probes; a channel an operator disabled is never probed nor
// enabled; auto-recovery can be switched off per channel; with several
// instances one probe per channel per interval. The probe tick is called
// directly with the interval's time (no sleeping for the interval).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDb, testDialects } from '../helpers/db.ts';
import { startTestTally, startSharedInstance, type TestTally } from '../helpers/tally.ts';
import { startMockOpenAI, type MockOpenAI } from '../helpers/mockOpenAI.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { asAdminToken } from '../accounts/http.ts';
import type { RunningTally } from '../../src/app/start.ts';
import { ensureSystemAccounts } from '../../src/ledger/accounts.ts';

const UPSTREAM_KEY = 'sk-upstream-probes-0123456789abcdef';
const INTERVAL = 3_600_000;

async function channelRow(t: { ctx: RunningTally['ctx'] }, id: string) {
  return t.ctx.db.selectFrom('channels').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function probeCount(t: { ctx: RunningTally['ctx'] }, id: string): Promise<number> {
  const r = await t.ctx.db
    .selectFrom('channel_probes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('channel_id', '=', id)
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

for (const dialect of testDialects()) {
  describe(`channel probes on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockOpenAI;
    let slot = 1_000;
    /** The next probe interval's time: each call is a new interval. */
    const nextInterval = () => ++slot * INTERVAL;

    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_CHANNEL_PROBE_MS: String(INTERVAL) });
      mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null });
      await setModelPrice(t.ctx.db, { model: 'probe-model', inputPer1M: 1_000_000n, outputPer1M: 1_000_000n });
    });

    after(async () => {
      await t.close();
      await mock.close();
    });

    async function channel(name: string, body: Record<string, unknown> = {}) {
      const res = await asAdminToken(t, 'POST', '/api/admin/channels', {
        name,
        type: 'openai',
        base_url: mock.url,
        api_key: UPSTREAM_KEY,
        models: ['probe-model'],
        ...body,
      });
      assert.equal(res.status, 201, await res.clone().text());
      return (await res.json()) as { id: string; auto_recover: boolean };
    }

    async function listed(id: string) {
      const res = await asAdminToken(t, 'GET', '/api/admin/channels');
      assert.equal(res.status, 200);
      const body = (await res.json()) as { data: Array<Record<string, any>> };
      return body.data.find((c) => c.id === id)!;
    }

    test('refused key: disabled by the probe, stays disabled while refusing, enabled after 3 healthy probes', async () => {
      const ch = await channel('probe-refused');
      assert.equal(ch.auto_recover, true);
      mock.setBehavior({});
      let out = await t.ctx.probes.tick(nextInterval());
      assert.deepEqual(
        out.filter((o) => o.channelId === ch.id).map((o) => o.ok),
        [true],
      );
      // The upstream starts refusing Tally's key.
      mock.setBehavior({ fail: 401, failMessage: `Incorrect API key provided: ${UPSTREAM_KEY}` });
      out = await t.ctx.probes.tick(nextInterval());
      const o = out.find((x) => x.channelId === ch.id)!;
      assert.equal(o.errorClass, 'auth');
      assert.equal(o.change, 'disabled');
      let row = await channelRow(t, ch.id);
      assert.equal(row.status, 'needs_attention');
      assert.equal(Number(row.auto_disabled), 1);
      assert.match(row.status_reason ?? '', /probe: upstream answered 401/);
      // The relay no longer routes it (the catalog reloaded on catalog_changed).
      assert.equal(
        t.ctx.catalog.channelsFor('probe-model').some((c) => c.id === ch.id),
        false,
      );
      // Still refusing: stays out.
      await t.ctx.probes.tick(nextInterval());
      await t.ctx.probes.tick(nextInterval());
      assert.equal((await channelRow(t, ch.id)).status, 'needs_attention');
      // The channel list shows the state, the reason, the last probe and the recent errors, with the key masked.
      const view = await listed(ch.id);
      assert.equal(view.status, 'needs_attention');
      assert.equal(view.auto_disabled, true);
      assert.equal(view.last_probe.ok, false);
      assert.equal(view.last_probe.error_class, 'auth');
      assert.ok(view.probes.length >= 4);
      assert.ok(view.recent_errors.length >= 3);
      assert.ok(!JSON.stringify(view).includes(UPSTREAM_KEY), 'the upstream key never appears');
      // It recovers: two healthy probes are not enough, the third enables it.
      mock.setBehavior({});
      await t.ctx.probes.tick(nextInterval());
      await t.ctx.probes.tick(nextInterval());
      row = await channelRow(t, ch.id);
      assert.equal(row.status, 'needs_attention');
      assert.equal(Number(row.probe_ok_streak), 2);
      out = await t.ctx.probes.tick(nextInterval());
      assert.equal(out.find((x) => x.channelId === ch.id)?.change, 'enabled');
      row = await channelRow(t, ch.id);
      assert.equal(row.status, 'enabled');
      assert.equal(row.status_reason, null);
      assert.equal(Number(row.auto_disabled), 0);
      assert.equal(
        t.ctx.catalog.channelsFor('probe-model').some((c) => c.id === ch.id),
        true,
      );
      // A refusal between healthy probes starts the count again.
      mock.setBehavior({ fail: 403 });
      await t.ctx.probes.tick(nextInterval());
      mock.setBehavior({});
      await t.ctx.probes.tick(nextInterval());
      await t.ctx.probes.tick(nextInterval());
      mock.setBehavior({ fail: 403 });
      await t.ctx.probes.tick(nextInterval());
      mock.setBehavior({});
      await t.ctx.probes.tick(nextInterval());
      await t.ctx.probes.tick(nextInterval());
      assert.equal((await channelRow(t, ch.id)).status, 'needs_attention');
      await t.ctx.probes.tick(nextInterval());
      assert.equal((await channelRow(t, ch.id)).status, 'enabled');
      // Probes are recorded, never billed to anyone.
      const charged = await t.ctx.db.selectFrom('request_logs').select('id').execute();
      assert.equal(charged.length, 0);
      await asAdminToken(t, 'POST', `/api/admin/channels/${ch.id}/disable`);
    });

    test('a quota refusal (402) disables too; a plain 500 does not', async () => {
      const ch = await channel('probe-quota');
      mock.setBehavior({ fail: 500 });
      await t.ctx.probes.tick(nextInterval());
      assert.equal((await channelRow(t, ch.id)).status, 'enabled');
      mock.setBehavior({ fail: 402 });
      const out = await t.ctx.probes.tick(nextInterval());
      assert.equal(out.find((x) => x.channelId === ch.id)?.errorClass, 'quota');
      assert.equal((await channelRow(t, ch.id)).status, 'needs_attention');
      mock.setBehavior({});
      await asAdminToken(t, 'POST', `/api/admin/channels/${ch.id}/disable`);
    });

    test('a channel an operator disabled is neither probed nor enabled', async () => {
      const ch = await channel('probe-by-hand');
      const res = await asAdminToken(t, 'POST', `/api/admin/channels/${ch.id}/disable`);
      assert.equal(res.status, 200);
      const before = await probeCount(t, ch.id);
      mock.setBehavior({});
      for (let i = 0; i < 4; i++) await t.ctx.probes.tick(nextInterval());
      assert.equal(await probeCount(t, ch.id), before);
      const row = await channelRow(t, ch.id);
      assert.equal(row.status, 'disabled');
      assert.equal(row.status_reason, 'disabled by an operator');
    });

    test('auto_recover off: disabled by the probe, never enabled by one', async () => {
      const ch = await channel('probe-no-recover', { auto_recover: false });
      assert.equal(ch.auto_recover, false);
      mock.setBehavior({ fail: 401 });
      await t.ctx.probes.tick(nextInterval());
      assert.equal((await channelRow(t, ch.id)).status, 'needs_attention');
      mock.setBehavior({});
      for (let i = 0; i < 5; i++) await t.ctx.probes.tick(nextInterval());
      assert.equal((await channelRow(t, ch.id)).status, 'needs_attention');
      // Switched on again (PATCH): the next healthy probes enable it.
      const res = await asAdminToken(t, 'PATCH', `/api/admin/channels/${ch.id}`, { auto_recover: true });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(((await res.json()) as { auto_recover: boolean }).auto_recover, true);
      for (let i = 0; i < 3; i++) await t.ctx.probes.tick(nextInterval());
      assert.equal((await channelRow(t, ch.id)).status, 'enabled');
      await asAdminToken(t, 'POST', `/api/admin/channels/${ch.id}/disable`);
    });

    test('auto_recover must be a boolean', async () => {
      const res = await asAdminToken(t, 'POST', '/api/admin/channels', {
        name: 'probe-bad',
        type: 'openai',
        base_url: mock.url,
        api_key: UPSTREAM_KEY,
        models: ['probe-model'],
        auto_recover: 'yes',
      });
      assert.equal(res.status, 400);
    });
  });
}

// Several instances on one database: each channel is probed once per interval,
// through Redis when configured, else through the database lease.
if (testDialects().includes('postgres')) {
  for (const via of ['redis', 'database'] as const) {
    test(`two instances probe a channel once per interval (${via})`, async () => {
      const db = await createTestDb('postgres');
      const mock = await startMockOpenAI({ apiKey: UPSTREAM_KEY, models: null });
      const instances: RunningTally[] = [];
      try {
        const env = { TALLY_CHANNEL_PROBE_MS: String(INTERVAL), ...(via === 'database' ? { TALLY_REDIS_URL: '' } : {}) };
        instances.push(await startSharedInstance(db, env));
        instances.push(await startSharedInstance(db, env));
        const [a, b] = instances;
        await ensureSystemAccounts(a.ctx.db, 'USD');
        await setModelPrice(a.ctx.db, { model: 'probe-model', inputPer1M: 1n, outputPer1M: 1n });
        const ch = await createChannel(a.ctx.db, a.ctx.config.secret, {
          name: `shared-${via}`,
          type: 'openai',
          baseUrl: mock.url,
          apiKey: UPSTREAM_KEY,
          models: ['probe-model'],
        });
        // (The Redis claim keys name the channel id, new in every run.)
        const base = (Math.floor(Date.now() / INTERVAL) + 10) * INTERVAL;
        for (let i = 0; i < 3; i++) {
          const now = base + i * INTERVAL;
          await Promise.all([a.ctx.probes.tick(now), b.ctx.probes.tick(now), a.ctx.probes.tick(now + 1)]);
          assert.equal(await probeCount(a, ch.id), i + 1);
        }
        assert.equal(mock.requestsTo('/chat/completions').length, 3);
      } finally {
        for (const i of instances) await i.stop();
        await mock.close();
        await db.cleanup();
      }
    });
  }
}
