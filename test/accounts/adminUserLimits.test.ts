// The staff user page reads a user's own limits from GET /api/admin/users/:id
// (what POST /api/admin/users/:id/limits set), so the console can show them.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { testDialects } from '../helpers/db.ts';

for (const dialect of testDialects()) {
  describe(`a user's limits on the staff user view (${dialect})`, () => {
    let t: TestTally;
    before(async () => {
      t = await startTestTally(dialect);
    });
    after(() => t?.close());

    test('none at first; an admin sets rpm and concurrency, support reads them; null clears one and an absent field keeps it', async () => {
      const user = await seedUser(t);
      const admin = await seedUser(t, { role: 'admin' });
      const support = await seedUser(t, { role: 'support' });
      const a = await signIn(t, admin.email, admin.password);
      const s = await signIn(t, support.email, support.password);
      const read = async (f: typeof a) => {
        const res = await f(`/api/admin/users/${user.user.id}`);
        assert.equal(res.status, 200);
        const v = (await res.json()) as { rpm: number | null; tpm: number | null; concurrency: number | null };
        return { rpm: v.rpm, tpm: v.tpm, concurrency: v.concurrency };
      };
      assert.deepEqual(await read(a), { rpm: null, tpm: null, concurrency: null });

      const set = await a(`/api/admin/users/${user.user.id}/limits`, { method: 'POST', body: JSON.stringify({ rpm: 30, concurrency: 4 }) });
      assert.equal(set.status, 200, await set.clone().text());
      assert.deepEqual(await read(s), { rpm: 30, tpm: null, concurrency: 4 });

      const cleared = await a(`/api/admin/users/${user.user.id}/limits`, { method: 'POST', body: JSON.stringify({ rpm: null, tpm: 1000 }) });
      assert.equal(cleared.status, 200);
      assert.deepEqual(await read(a), { rpm: null, tpm: 1000, concurrency: 4 });

      // Support reads but may not set them.
      const refused = await s(`/api/admin/users/${user.user.id}/limits`, { method: 'POST', body: JSON.stringify({ rpm: 1 }) });
      assert.equal(refused.status, 403);
      assert.deepEqual(await read(a), { rpm: null, tpm: 1000, concurrency: 4 });
    });
  });
}
