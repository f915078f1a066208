// The built-in demo upstream speaks OpenAI's video API, so a fresh install can
// run a video task offline: the openai SDK submits demo-video, the task is held,
// polled to completion (queued 1 s, rendering 4 s) and charged $0.01 a second;
// its content is the demo's SVG of the prompt. The ledger verifies after.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { seedDemoChannel } from '../../src/gateway/demo/seed.ts';
import { relaySdk, verifyThenClose } from '../helpers/relay.ts';

for (const dialect of testDialects()) {
  describe(`the demo upstream's videos on ${dialect}`, () => {
    let t: TestTally;
    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_TASK_POLL_MS: '100', TALLY_TASK_POLL_MAX_MS: '200' });
      await seedDemoChannel(t.ctx.db, t.config.secret);
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t));

    test('videos.create on demo-video: held at submit, completed by the poller, charged 8 s x $0.01, content downloadable', async () => {
      const u = await seedUser(t, { balance: 1_000_000n });
      const sdk = relaySdk(t, u.apiKey);
      const v = await sdk.videos.create({ model: 'demo-video', prompt: 'a paper <boat> on a pond', seconds: '8' });
      assert.equal(v.status, 'queued');
      assert.match(v.id, /^video_[0-9a-z]{26}$/);
      const wallet = () =>
        t.ctx.db.selectFrom('ledger_accounts').select(['balance', 'pending_debits']).where('id', '=', `user:${u.user.id}`).executeTakeFirstOrThrow();
      // Held: 8 s x 10,000 micro-units a second = 80,000.
      assert.deepEqual(await wallet(), { balance: 1_000_000n, pending_debits: 80_000n });
      let last = v;
      for (let i = 0; i < 100 && last.status !== 'completed' && last.status !== 'failed'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        last = await sdk.videos.retrieve(v.id);
      }
      assert.equal(last.status, 'completed', JSON.stringify(last));
      assert.equal(last.progress, 100);
      assert.deepEqual(await wallet(), { balance: 920_000n, pending_debits: 0n });
      const res = await sdk.videos.downloadContent(v.id);
      assert.equal(res.headers.get('content-type'), 'image/svg+xml');
      const svg = await res.text();
      assert.ok(svg.startsWith('<svg') && svg.includes('a paper &#60;boat&#62; on a pond'), svg.slice(0, 200));
    });
  });
}
