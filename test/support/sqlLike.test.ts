// LIKE patterns take `%` and `_` literally once escaped, with ESCAPE '\' on
// both databases: the helper every LIKE goes through, and the staff user
// search that splices a typed query into one.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';
import { createUser, listUsers } from '../../src/accounts/users.ts';
import { escapeLike, likeContains, likePrefix, likeSuffix } from '../../src/lib/sqlLike.ts';

const NICKS = ['a_b', 'a%b', 'a\\b', 'axb', 'ab', '__', '%%'];

for (const dialect of testDialects()) {
  describe(`LIKE patterns on ${dialect}`, () => {
    let h: TestDb;
    before(async () => {
      h = await createTestDb(dialect);
      for (const [i, nickname] of NICKS.entries()) await createUser(h.db, { email: `like${i}@test.io`, password: 'correct horse battery', nickname });
    });
    after(async () => {
      await h?.cleanup();
    });

    const nicks = async (where: ReturnType<typeof likeContains>) =>
      (await h.db.selectFrom('users').select('nickname').where(where).execute()).map((r) => r.nickname).sort();

    test('escapeLike escapes the two wildcards and the escape character itself', () => {
      assert.equal(escapeLike('a_b%c\\d'), 'a\\_b\\%c\\\\d');
      assert.equal(escapeLike('ord_01jv'), 'ord\\_01jv');
    });

    test('`_` and `%` in a value match only themselves', async () => {
      assert.deepEqual(await nicks(likeContains('nickname', '_')), ['__', 'a_b']);
      assert.deepEqual(await nicks(likeContains('nickname', '%')), ['%%', 'a%b']);
      assert.deepEqual(await nicks(likeContains('nickname', '\\')), ['a\\b']);
      assert.deepEqual(await nicks(likeSuffix('nickname', '__')), ['__']);
      assert.deepEqual(await nicks(likePrefix('nickname', 'a_')), ['a_b']);
      assert.deepEqual(await nicks(likePrefix('nickname', 'a')), ['a%b', 'a\\b', 'a_b', 'ab', 'axb'], 'an ordinary prefix still matches');
    });

    test('the staff user search takes a typed `_` or `%` literally', async () => {
      const found = async (query: string) => (await listUsers(h.db, { query })).map((u) => u.nickname).sort();
      assert.deepEqual(await found('_'), ['__', 'a_b']);
      assert.deepEqual(await found('%'), ['%%', 'a%b']);
      assert.deepEqual(await found('a_b'), ['a_b'], 'a_b does not match axb');
      assert.equal((await found('like3@')).length, 1, 'the email part still matches');
    });
  });
}
