// Video tasks count against a key's budget (src/gateway/tasks/store.ts):
// the hold counts from submit (so a second video that would cross the budget
// is refused while the first is running), and completion corrects it to what
// was charged, in the submit's period; a failed video gives it all back. On
// SQLite and PostgreSQL with the official openai SDK; the books verified.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { testDialects } from '../helpers/db.ts';
import { startMockVideo, type MockVideo } from '../helpers/mockVideo.ts';
import { relaySdk, verifyThenClose } from '../helpers/relay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { periodKey } from '../../src/gateway/budgets.ts';
import { toBig } from '../../src/ledger/money.ts';
import { upstreamIdOf, waitTask } from './videos.helpers.ts';

const SORA = 'sora-2';
const FAST = { TALLY_TASK_POLL_MS: '30', TALLY_TASK_POLL_MAX_MS: '60', TALLY_TASK_LEASE_MS: '500' };

for (const dialect of testDialects()) {
  describe(`video tasks and budgets (${dialect})`, () => {
    let t: TestTally;
    let mock: MockVideo;

    before(async () => {
      t = await startTestTally(dialect, {}, FAST);
      mock = await startMockVideo({ apiKey: 'sk-video-a' });
      await createChannel(t.ctx.db, t.config.secret, { name: 'video-a', type: 'openai', baseUrl: mock.baseUrl, apiKey: 'sk-video-a', models: [SORA] });
      await setModelPrice(t.ctx.db, { model: SORA, kind: 'video', perSecond: 100_000n, maxSeconds: 12 }); // 0.10 a second
      await t.ctx.catalog.reload();
      mock.setPromptBehavior('HALF', { outcome: 'never', producedSeconds: '4' });
      mock.setPromptBehavior('HOLD', { outcome: 'never' });
    });
    after(() => verifyThenClose(t, mock));

    test('held against the budget from submit, corrected to the charge at completion; a failure gives it back', async () => {
      const u = await seedUser(t, { balance: 5_000_000n });
      const { key, secret } = await createApiKey(t.ctx.db, { userId: u.user.id, name: 'video', budget: 1_000_000n, budgetPeriod: 'day' });
      const ref = `key:${key.id}`;
      const pk = periodKey('day', t.ctx.now(), t.config.timeZone);
      const spent = async () => {
        const r = await t.ctx.db.selectFrom('budget_spend').select('spent').where('budget_ref', '=', ref).where('period_key', '=', pk).executeTakeFirst();
        return r ? toBig(r.spent) : 0n;
      };
      const sdk = relaySdk(t, secret);
      // 8 s x 0.10 = 0.80 held, and counted in the budget at once.
      const first = await sdk.videos.create({ model: SORA, prompt: 'HALF a river', seconds: '8' });
      assert.equal(await spent(), 800_000n);
      // Another 4 s (0.40) would cross 1.00 while the first is running.
      const refused = await sdk.videos.create({ model: SORA, prompt: 'HOLD a lake', seconds: '4' }).catch((e) => e);
      assert.equal(refused?.status, 402);
      assert.equal(refused.code, 'budget_exceeded');
      assert.match(refused.message, /this API key's budget \(1\.00 per day\)/);
      // Completed with 4 s produced: 0.40 charged, and that is what the budget counts.
      mock.complete(await upstreamIdOf(t.ctx.db, first.id));
      const done = await waitTask(t.ctx.db, first.id);
      assert.equal(done.charged, 400_000n);
      assert.equal(await spent(), 400_000n);
      await t.ctx.settlement.flush();
      // Now 4 s fits (0.40 of the 0.60 left); it fails upstream, so the budget gets it back.
      const second = await sdk.videos.create({ model: SORA, prompt: 'HOLD a lake', seconds: '4' });
      assert.equal(await spent(), 800_000n);
      mock.fail(await upstreamIdOf(t.ctx.db, second.id));
      const failed = await waitTask(t.ctx.db, second.id);
      assert.equal(failed.status, 'failed');
      assert.equal(await spent(), 400_000n);
    });
  });
}
