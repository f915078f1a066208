// The statement and the task list as CSV downloads (GET /api/ledger.csv,
// GET /api/tasks.csv): one line per record, quoted per RFC 4180, safe to
// open in a spreadsheet, and the same money the JSON APIs show.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDialects } from '../helpers/db.ts';
import { startTestTally, seedUser, signIn, type TestTally } from '../helpers/tally.ts';
import { startMockVideo, type MockVideo } from '../helpers/mockVideo.ts';
import { relaySdk, verifyThenClose } from '../helpers/relay.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { adjustBalanceManually } from '../../src/accounts/manualCredit.ts';
import { csvCell, toCsv } from '../../src/lib/csv.ts';

const MODEL = 'sora-2';
const VIDEO_KEY = 'sk-video-upstream';

/** RFC 4180, read back: quoted fields with doubled quotes, commas and line breaks inside. */
function parseCsv(text: string): string[][] {
  const s = text.replace(/^\ufeff/, ''); // fetch's text() drops the BOM; bytes() keeps it
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '"' && s[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(cell), (cell = '');
    else if (c === '\r' && s[i + 1] === '\n') row.push(cell), rows.push(row), (row = []), (cell = ''), i++;
    else cell += c;
  }
  assert.equal(row.length + cell.length, 0, 'the file ends with CRLF');
  return rows;
}
const asObjects = (rows: string[][]) => rows.slice(1).map((r) => Object.fromEntries(rows[0].map((h, i) => [h, r[i]])));

test('csvCell: RFC 4180 quoting, and a formula guard that leaves numbers alone', () => {
  assert.equal(csvCell('plain'), 'plain');
  assert.equal(csvCell('a,b'), '"a,b"');
  assert.equal(csvCell('say "hi"'), '"say ""hi"""');
  assert.equal(csvCell('two\nlines'), '"two\nlines"');
  assert.equal(csvCell(null), '');
  assert.equal(csvCell('-0.40'), '-0.40', 'a negative amount stays a number');
  for (const evil of ['=1+1', '+1', '-1+2', '@SUM(A1)', '\t=1', '\r=1']) assert.ok(csvCell(evil).replace(/^"/, '').startsWith("'"), JSON.stringify(evil));
  assert.equal(csvCell('=HYPERLINK("http://x","y")'), `"'=HYPERLINK(""http://x"",""y"")"`);
  assert.equal(toCsv(['a', 'b'], [[1, 'x']]), '\ufeffa,b\r\n1,x\r\n');
});

for (const dialect of testDialects()) {
  describe(`CSV exports on ${dialect}`, () => {
    let t: TestTally;
    let mock: MockVideo;

    before(async () => {
      t = await startTestTally(dialect, {}, { TALLY_TASK_POLL_MS: '30', TALLY_TASK_POLL_MAX_MS: '60', TALLY_TASK_LEASE_MS: '500' });
      mock = await startMockVideo({ apiKey: VIDEO_KEY });
      await createChannel(t.ctx.db, t.config.secret, { name: 'video', type: 'openai', baseUrl: mock.baseUrl, apiKey: VIDEO_KEY, models: [MODEL] });
      await setModelPrice(t.ctx.db, { model: MODEL, kind: 'video', perSecond: 100_000n });
      await t.ctx.catalog.reload();
    });
    after(async () => verifyThenClose(t, mock));

    async function until(f: Awaited<ReturnType<typeof signIn>>, id: string, status: string) {
      for (let i = 0; i < 200; i++) {
        const task = (await (await f(`/api/tasks/${id}`)).json()) as any;
        if (task.status === status) return task;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`task ${id} never ${status}`);
    }

    test('GET /api/ledger.csv: every statement line, a task charge as kind task with the task id as reference, quoted and formula-safe, as an attachment', async () => {
      const u = await seedUser(t, { balance: 5_000_000n });
      const f = await signIn(t, u.email, u.password);
      await adjustBalanceManually(t.ctx.db, {
        userId: u.user.id,
        amount: 1_000_000n,
        reason: '=HYPERLINK("http://evil","click"), goodwill',
        actor: { type: 'system' },
      });
      const sdk = relaySdk(t, u.apiKey);
      const v = await sdk.videos.create({ model: MODEL, prompt: 'a cat', seconds: '4' });
      const task = await until(f, v.id, 'completed');

      const res = await f('/api/ledger.csv');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type')!, /^text\/csv; charset=utf-8/);
      assert.match(res.headers.get('content-disposition')!, /^attachment; filename="tally-statement-\d{4}-\d{2}-\d{2}\.csv"$/);
      const bytes = Buffer.from(await res.arrayBuffer());
      assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'a BOM, so Excel reads UTF-8');
      const rows = parseCsv(bytes.toString('utf8'));
      assert.deepEqual(rows[0], ['id', 'created_at', 'kind', 'amount', 'balance_after', 'reference', 'reason']);
      const lines = asObjects(rows);
      const json = (await (await f('/api/ledger')).json()) as any;
      assert.deepEqual(
        lines.map((l) => l.id),
        json.data.map((l: any) => l.id),
        'the same lines as GET /api/ledger, newest first',
      );
      const charge = lines.find((l) => l.kind === 'task')!;
      assert.equal(charge.reference, v.id);
      assert.equal(charge.amount, '-0.40');
      assert.equal(charge.id, task.transfer_id);
      assert.equal(lines[0].balance_after, '5.60');
      const credit = lines.find((l) => l.kind === 'manual_credit' && l.amount === '1.00')!;
      assert.equal(credit.reason, `'=HYPERLINK("http://evil","click"), goodwill`, 'quoted, and defused with a leading apostrophe');

      // The filters of GET /api/ledger: kind, limit, before.
      const onlyTasks = asObjects(parseCsv(await (await f('/api/ledger.csv?kind=task')).text()));
      assert.deepEqual(
        onlyTasks.map((l) => l.reference),
        [v.id],
      );
      const first = asObjects(parseCsv(await (await f('/api/ledger.csv?limit=1')).text()));
      assert.equal(first.length, 1);
      const rest = asObjects(parseCsv(await (await f(`/api/ledger.csv?before=${first[0].id}`)).text()));
      assert.deepEqual(
        [...first, ...rest].map((l) => l.id),
        lines.map((l) => l.id),
      );
      const anon = await fetch(`${t.url}/api/ledger.csv`);
      assert.equal(anon.status, 401);
    });

    test('GET /api/tasks.csv: one line per task with held, charged, released, error code and request id; the status filter', async () => {
      const u = await seedUser(t, { balance: 5_000_000n });
      const f = await signIn(t, u.email, u.password);
      const sdk = relaySdk(t, u.apiKey);
      const ok = await sdk.videos.create({ model: MODEL, prompt: 'a dog', seconds: '8' });
      const bad = await sdk.videos.create({ model: MODEL, prompt: 'FAIL it', seconds: '4' });
      const done = await until(f, ok.id, 'completed');
      const failed = await until(f, bad.id, 'failed');

      const res = await f('/api/tasks.csv');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-disposition')!, /^attachment; filename="tally-tasks-\d{4}-\d{2}-\d{2}\.csv"$/);
      const rows = parseCsv(await res.text());
      assert.deepEqual(rows[0], ['id', 'created_at', 'model', 'status', 'seconds', 'held', 'charged', 'released', 'error_code', 'request_id']);
      const byId = new Map(asObjects(rows).map((r) => [r.id, r]));
      assert.deepEqual(byId.get(ok.id), {
        id: ok.id,
        created_at: done.created_at,
        model: MODEL,
        status: 'completed',
        seconds: '8',
        held: '0.80',
        charged: '0.80',
        released: '0.00',
        error_code: '',
        request_id: done.request_id,
      });
      assert.deepEqual(
        [byId.get(bad.id)!.status, byId.get(bad.id)!.held, byId.get(bad.id)!.charged, byId.get(bad.id)!.released, byId.get(bad.id)!.error_code],
        ['failed', '0.40', '0.00', '0.40', failed.error.code],
      );
      const onlyFailed = asObjects(parseCsv(await (await f('/api/tasks.csv?status=failed')).text()));
      assert.deepEqual(
        onlyFailed.map((r) => r.id),
        [bad.id],
      );
      const other = await seedUser(t);
      const g = await signIn(t, other.email, other.password);
      assert.equal(parseCsv(await (await g('/api/tasks.csv')).text()).length, 1, "another user's download has the header only");
    });
  });
}
