// Support staff see personal data masked; admins see it whole.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTally, seedUser, signIn, ADMIN_TOKEN, type TestTally } from '../helpers/tally.ts';
import { testDialects } from '../helpers/db.ts';

for (const dialect of testDialects()) {
  describe(`emails in staff views on ${dialect}`, () => {
    let t: TestTally;
    before(async () => {
      t = await startTestTally(dialect);
    });
    after(async () => {
      await t?.close();
    });

    test('support sees a customer email masked in the user list and the user view; admin sees it whole', async () => {
      const customer = await seedUser(t, { email: 'alice.customer@example.com' });
      const staff = await seedUser(t, { email: 'sam.support@tally.test', role: 'support' });
      const asSupport = await signIn(t, staff.email, staff.password);
      const list = (await (await asSupport('/api/admin/users?q=alice')).json()) as { data: Array<{ email: string }> };
      assert.deepEqual(
        list.data.map((u) => u.email),
        ['a***r@example.com'],
      );
      const one = (await (await asSupport(`/api/admin/users/${customer.user.id}`)).json()) as { email: string };
      assert.equal(one.email, 'a***r@example.com');
      const asAdmin = (await (await fetch(`${t.url}/api/admin/users/${customer.user.id}`, { headers: { 'x-admin-token': ADMIN_TOKEN } })).json()) as {
        email: string;
      };
      assert.equal(asAdmin.email, 'alice.customer@example.com');
    });
  });
}
