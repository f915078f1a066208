// A video (a task) started with a team key holds and charges the team wallet,
// not its member's: held at submit on `team:<id>`, posted at completion, the
// task's checks in `tally ledger verify` clean. SQLite and PostgreSQL.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTally, seedUser, type TestTally } from '../helpers/tally.ts';
import { testDialects } from '../helpers/db.ts';
import { startMockVideo, type MockVideo } from '../helpers/mockVideo.ts';
import { relaySdk, verifyThenClose } from '../helpers/relay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { compensateUser } from '../../src/payments/compensation.ts';
import { getAccount, walletAccountId } from '../../src/ledger/index.ts';
import { addMember, createTeam } from '../../src/teams/index.ts';
import { taskHold, waitTask } from '../gateway/videos.helpers.ts';

const SORA = 'sora-2';
const FAST = { TALLY_TASK_POLL_MS: '30', TALLY_TASK_POLL_MAX_MS: '60', TALLY_TASK_LEASE_MS: '500' };

for (const dialect of testDialects()) {
  describe(`team videos on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockVideo;

    before(async () => {
      t = await startTestTally(dialect, {}, FAST);
      mock = await startMockVideo({ apiKey: 'sk-video-a' });
      await createChannel(t.ctx.db, t.config.secret, { name: 'video', type: 'openai', baseUrl: mock.baseUrl, apiKey: 'sk-video-a', models: [SORA] });
      await setModelPrice(t.ctx.db, { model: SORA, kind: 'video', perSecond: 100_000n, maxSeconds: 12 });
      await t.ctx.catalog.reload();
    });
    after(() => verifyThenClose(t, mock));

    test('a team key holds the video on the team wallet and charges it there', async () => {
      const owner = await seedUser(t);
      const member = await seedUser(t, { balance: 5_000_000n });
      const team = await createTeam(t.ctx.db, { name: `video team ${dialect}`, owner: owner.user, actor: { type: 'system' } });
      await addMember(t.ctx.db, { team, email: member.email, actor: { type: 'system' }, by: null });
      await compensateUser(t.ctx.db, { userId: owner.user.id, teamId: team.id, amount: 2_000_000n, reason: 'funding', ticket: 'T-V', actor: { type: 'cli' } });
      const { secret } = await createApiKey(t.ctx.db, { userId: member.user.id, name: 'team', teamId: team.id });
      const v = await relaySdk(t, secret).videos.create({ model: SORA, prompt: 'a cat on a ledger', seconds: '4' });
      const hold = await taskHold(t.ctx.db, v.id);
      assert.equal(hold.debit, team.walletId);
      assert.equal(hold.amount, 400_000n);
      const done = await waitTask(t.ctx.db, v.id);
      assert.equal(done.status, 'completed');
      assert.equal(done.walletId, team.walletId);
      await t.ctx.relay.flush();
      assert.equal((await getAccount(t.ctx.db, team.walletId)).balance, 1_600_000n);
      assert.equal((await getAccount(t.ctx.db, walletAccountId(member.user.id))).balance, 5_000_000n);
    });
  });
}
