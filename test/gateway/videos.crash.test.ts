// kill -9 while video tasks run, then restart: the issue's "Done when" on real
// processes. `tally serve` runs as a child on a file SQLite database or a
// PostgreSQL schema of its own; videos are submitted through it with the
// openai SDK; the child is SIGKILLed while every task is queued or running,
// some tasks end upstream while Tally is down, and Tally is started again on
// the same database (and killed once more while it recovers, then started a
// third time). Every task must end, be charged at most once (exactly once
// when completed, for the seconds produced), no hold may be left pending, the
// wallet must agree with the transfers, and `tally ledger verify` must be clean.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDb, testDialects, whileNoSchemaIsDropped, type TestDb } from '../helpers/db.ts';
import { runTally } from '../helpers/cli.ts';
import { startMockVideo, type MockVideo } from '../helpers/mockVideo.ts';
import { createUser } from '../../src/accounts/users.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { adjustBalanceManually } from '../../src/accounts/manualCredit.ts';
import { createChannel } from '../../src/gateway/channels.ts';
import { setModelPrice } from '../../src/gateway/pricing.ts';
import { openDb } from '../../src/db/index.ts';
import { toBig } from '../../src/ledger/money.ts';
import type { Dialect } from '../../src/db/index.ts';

const SECRET = 'test-secret-crash-0123456789abcdef';
const UPSTREAM_KEY = 'sk-video-upstream';
const START_BALANCE = 100_000_000n; // $100
const PER_SECOND = 100_000n; // $0.10 a second
const LIVE = ['submitting', 'queued', 'in_progress'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Plan {
  prompt: string;
  seconds: '4' | '8' | '12';
  outcome: 'completed' | 'failed';
  /** Seconds the upstream reports when done (the charge's basis). */
  produced: number;
  /** Ends upstream while Tally is down (else it runs until the third instance is up, which then ends it upstream). */
  endsWhileDown: boolean;
}

// Global timing: 800 ms queued, 1600 ms running, so a task ends upstream 2.4 s
// after its submit: after the first kill (about 0.5 s after the submits),
// before the first restart (3 s after). SLOW ones run through both kills and
// are ended upstream once the third instance is up.
const PLANS: Plan[] = [
  ...(['4', '8', '12', '4', '8'] as const).map((s, i) => ({
    prompt: `quick clip ${i}`,
    seconds: s,
    outcome: 'completed' as const,
    produced: Number(s),
    endsWhileDown: true,
  })),
  { prompt: 'SHORT clip', seconds: '8', outcome: 'completed', produced: 4, endsWhileDown: true },
  ...[0, 1, 2].map((i) => ({ prompt: `FAIL clip ${i}`, seconds: '8' as const, outcome: 'failed' as const, produced: 0, endsWhileDown: true })),
  ...(['4', '12'] as const).map((s, i) => ({
    prompt: `SLOW clip ${i}`,
    seconds: s,
    outcome: 'completed' as const,
    produced: Number(s),
    endsWhileDown: false,
  })),
  { prompt: 'SLOW FAIL clip', seconds: '4', outcome: 'failed', produced: 0, endsWhileDown: false },
];

interface Served {
  child: ChildProcess;
  port: number;
  out: { stdout: string; stderr: string };
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `tally serve --json` as a child (test/helpers/cli.ts startServe, plus the handle needed to SIGKILL it). */
async function serve(env: NodeJS.ProcessEnv, dialect: Dialect): Promise<Served> {
  const start = () =>
    new Promise<Served>((resolve, reject) => {
      const child = spawn(process.execPath, [join(process.cwd(), 'bin', 'tally.mjs'), 'serve', '--json'], {
        cwd: process.cwd(),
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out = { stdout: '', stderr: '' };
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`tally serve did not listen in 30 s:\n${out.stdout}\n${out.stderr}`));
      }, 30_000);
      child.stdout.on('data', (d) => {
        out.stdout += d;
        const m = /"port":(\d+)/.exec(out.stdout);
        if (m) {
          clearTimeout(timer);
          resolve({ child, port: Number(m[1]), out, exited });
        }
      });
      child.stderr.on('data', (d) => (out.stderr += d));
      void exited.then(({ code }) => {
        clearTimeout(timer);
        reject(new Error(`tally serve exited (${code}) before listening:\n${out.stdout}\n${out.stderr}`));
      });
    });
  // Every start migrates; on PostgreSQL that must not overlap another test file's schema drop.
  return dialect === 'postgres' ? whileNoSchemaIsDropped(start) : start();
}

/** The crash: SIGKILL, and the exit. */
async function kill9(s: Served): Promise<void> {
  s.child.kill('SIGKILL');
  const { signal } = await s.exited;
  assert.equal(signal, 'SIGKILL');
}

/** A clean stop: SIGTERM, and the exit code. */
async function stop(s: Served): Promise<number | null> {
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 20_000);
  const { code } = await s.exited;
  clearTimeout(timer);
  return code;
}

interface TaskRow {
  id: string;
  prompt: string | null;
  status: string;
  upstream_id: string | null;
  hold_id: string;
  held: bigint;
  charged: bigint;
  transfer_id: string | null;
  lease_owner: string | null;
  lease_until: number | null;
  finished_at: number | null;
}

async function tasksOf(db: TestDb['db']): Promise<TaskRow[]> {
  const rows = await db
    .selectFrom('tasks')
    .select(['id', 'prompt', 'status', 'upstream_id', 'hold_id', 'held', 'charged', 'transfer_id', 'lease_owner', 'lease_until', 'finished_at'])
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    ...r,
    held: toBig(r.held),
    charged: toBig(r.charged),
    lease_until: r.lease_until === null ? null : Number(r.lease_until),
    finished_at: r.finished_at === null ? null : Number(r.finished_at),
  }));
}

for (const dialect of testDialects()) {
  describe(`video tasks survive kill -9 and restarts (${dialect}, real processes)`, () => {
    test('every task ends, is charged at most once, no hold is stranded and the ledger verifies', { timeout: 120_000 }, async (t) => {
      const mock: MockVideo = await startMockVideo({ apiKey: UPSTREAM_KEY });
      mock.setBehavior({ queuedMs: 800, runMs: 1600 });
      mock.setPromptBehavior('SHORT', { producedSeconds: '4' });
      // SLOW ones run until the test ends them (mock.complete / mock.fail) once the third instance is up.
      mock.setPromptBehavior('SLOW', { queuedMs: 500, runMs: 1500, outcome: 'never' });
      const db = await createTestDb(dialect);
      // A second handle for reading while the children run (the setup handle is closed first, as the brief asks).
      let reader: ReturnType<typeof openDb> | null = null;
      const children: Served[] = [];
      const dataDir = mkdtempSync(join(tmpdir(), 'tally-crash-')); // the first start writes its credentials file here
      try {
        const { user } = await createUser(db.db, { email: 'crash@test.io', password: 'correct horse battery' });
        await adjustBalanceManually(db.db, { userId: user.id, amount: START_BALANCE, reason: 'crash test', actor: { type: 'system' } });
        const { key, secret: apiKey } = await createApiKey(db.db, { userId: user.id, name: 'crash' });
        await setModelPrice(db.db, { model: 'sora-2', kind: 'video', perSecond: PER_SECOND });
        await createChannel(db.db, SECRET, { name: 'video', type: 'openai', baseUrl: mock.baseUrl, apiKey: UPSTREAM_KEY, models: ['sora-2'] });
        await db.close();
        reader = openDb(db.connectionUrl, dialect === 'postgres' ? { poolSize: 2 } : {});
        const rdb = reader.db;

        const env: NodeJS.ProcessEnv = {
          ...process.env,
          TALLY_DATABASE_URL: db.connectionUrl,
          TALLY_PORT: '0',
          TALLY_HOST: '127.0.0.1',
          TALLY_SECRET: SECRET,
          TALLY_DATA_DIR: dataDir,
          TALLY_LOG_LEVEL: 'warn',
          TALLY_DEMO: 'off',
          TALLY_TASK_POLL_MS: '50',
          TALLY_TASK_POLL_MAX_MS: '100',
          TALLY_TASK_LEASE_MS: '1000',
          TALLY_PAYMENT_RECONCILE_INTERVAL_MS: '0',
        };
        delete env.TALLY_REDIS_URL; // database leases only: the lease a dead instance held must run out in the database

        // ---- first instance: submit ----
        const t0 = Date.now();
        const phases: string[] = [];
        const mark = (what: string) => phases.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
        const first = await serve(env, dialect);
        mark('1st listening');
        children.push(first);
        const sdk = new OpenAI({ baseURL: `http://127.0.0.1:${first.port}/v1`, apiKey, maxRetries: 0 });
        const videos = await Promise.all(PLANS.map((p) => sdk.videos.create({ model: 'sora-2', prompt: p.prompt, seconds: p.seconds })));
        const submittedAt = Date.now();
        assert.ok(
          videos.every((v) => v.id.startsWith('video_')),
          'Tally answers with its own ids',
        );
        const planOf = new Map(videos.map((v, i) => [v.id, PLANS[i]]));
        // Let the worker poll a few rounds (queued → in_progress for some), then crash.
        await sleep(300);
        await kill9(first);
        const killedAt = Date.now();
        const atKill = await tasksOf(rdb);
        assert.equal(atKill.length, PLANS.length);
        assert.deepEqual(
          atKill.filter((r) => !['queued', 'in_progress'].includes(r.status)).map((r) => `${r.prompt}: ${r.status}`),
          [],
          `every task was live (queued or in_progress) at the kill (${killedAt - submittedAt} ms after the submits)`,
        );
        const firstInstance = (await rdb.selectFrom('task_events').select('instance').where('type', '=', 'submitted').executeTakeFirstOrThrow()).instance!;
        // Leases the dead instance still held (a poll in flight at the kill): the next instance must take them over.
        const leasedAtKill1 = atKill.filter((r) => r.lease_until !== null && r.lease_owner === firstInstance).map((r) => r.id);
        const pollsAtKill = new Map(atKill.map((r) => [r.id, mock.polls(r.upstream_id!)]));

        // ---- down: the quick ones end upstream meanwhile ----
        await sleep(Math.max(0, submittedAt + 3000 - Date.now()));
        for (const r of atKill) {
          const p = planOf.get(r.id)!;
          const up = mock.video(r.upstream_id!)!;
          if (p.endsWhileDown) assert.equal(up.status, p.outcome, `${p.prompt} ended upstream while Tally was down`);
          else assert.ok(['queued', 'in_progress'].includes(up.status), `${p.prompt} still runs upstream`);
        }
        const stillDown = await tasksOf(rdb);
        assert.ok(
          stillDown.every((r) => ['queued', 'in_progress'].includes(r.status)),
          'nothing moved while no Tally ran',
        );

        // ---- second instance: killed while it recovers ----
        const restartedAt = Date.now();
        const second = await serve(env, dialect);
        mark('2nd listening');
        children.push(second);
        // Kill it once it has ended some of the tasks that finished while it was down (mid-recovery).
        const recoveringDeadline = Date.now() + 15_000;
        while ((await tasksOf(rdb)).filter((r) => !LIVE.includes(r.status)).length < 2 && Date.now() < recoveringDeadline) await sleep(10);
        await kill9(second);
        const atKill2 = await tasksOf(rdb);
        const endedBySecond = atKill2.filter((r) => !LIVE.includes(r.status)).length;
        assert.ok(endedBySecond >= 2, 'the restarted instance ended tasks before it was killed');
        const secondInstance = (
          await rdb
            .selectFrom('task_events')
            .select('instance')
            .where('instance', '!=', firstInstance)
            .where('created_at', '>=', restartedAt)
            .executeTakeFirstOrThrow()
        ).instance!;
        const leasedAtKill2 = atKill2.filter((r) => LIVE.includes(r.status) && r.lease_until !== null && r.lease_owner === secondInstance).map((r) => r.id);
        // Let the second instance's leases (1 s) run out, then start the third.
        await sleep(1100);

        // ---- third instance: runs every task to its end ----
        const third = await serve(env, dialect);
        const atThird = await tasksOf(rdb);
        mark(`3rd listening (${atThird.filter((r) => LIVE.includes(r.status)).length} tasks live)`);
        // The slow ones are still running, upstream and in Tally; now they end upstream, seen only by the third instance.
        for (const r of atThird.filter((r) => !planOf.get(r.id)!.endsWhileDown)) {
          const p = planOf.get(r.id)!;
          assert.ok(LIVE.includes(r.status), `${p.prompt} is live in Tally when the third instance starts`);
          assert.equal(mock.video(r.upstream_id!)!.status, 'in_progress', `${p.prompt} still runs upstream`);
          if (p.outcome === 'completed') mock.complete(r.upstream_id!);
          else mock.fail(r.upstream_id!);
        }
        children.push(third);
        const deadline = Date.now() + 30_000;
        let rows = await tasksOf(rdb);
        while (rows.some((r) => LIVE.includes(r.status)) && Date.now() < deadline) {
          await sleep(50);
          rows = await tasksOf(rdb);
        }
        assert.deepEqual(
          rows.filter((r) => LIVE.includes(r.status)).map((r) => `${r.prompt}: ${r.status}`),
          [],
          'every task ended',
        );
        mark('all ended');
        const code = await stop(third);
        assert.equal(code, 0, `tally serve stopped cleanly:\n${third.out.stderr}`);

        // ---- the money, from the database ----
        let charges = 0n;
        for (const r of rows) {
          const p = planOf.get(r.id)!;
          assert.equal(r.status, p.outcome, `${p.prompt} ended ${p.outcome}`);
          assert.equal(r.held, BigInt(p.seconds) * PER_SECOND, `${p.prompt}: the hold was seconds × price`);
          const hold = await rdb.selectFrom('ledger_holds').selectAll().where('id', '=', r.hold_id).executeTakeFirstOrThrow();
          const transfers = await rdb.selectFrom('ledger_transfers').selectAll().where('kind', '=', 'task').where('reference', '=', r.id).execute();
          if (p.outcome === 'completed') {
            const expected = BigInt(p.produced) * PER_SECOND;
            assert.equal(r.charged, expected, `${p.prompt}: charged for the ${p.produced} s produced`);
            assert.equal(transfers.length, 1, `${p.prompt}: exactly one task transfer`);
            assert.equal(toBig(transfers[0].amount), expected);
            assert.equal(transfers[0].hold_id, r.hold_id);
            assert.equal(transfers[0].id, r.transfer_id);
            assert.equal(hold.status, 'posted');
            assert.equal(toBig(hold.posted_amount!), expected);
            charges += expected;
          } else {
            assert.equal(r.charged, 0n);
            assert.equal(transfers.length, 0, `${p.prompt}: a failed task moved no money`);
            assert.equal(hold.status, 'voided', `${p.prompt}: its hold was released`);
          }
          // Exactly one end in the timeline, whoever polled it.
          const ends = await rdb
            .selectFrom('task_events')
            .select(['type', 'instance', 'created_at'])
            .where('task_id', '=', r.id)
            .where('type', 'in', ['completed', 'failed', 'cancelled', 'expired'])
            .execute();
          assert.equal(ends.length, 1, `${p.prompt}: ended once`);
          assert.notEqual(ends[0].instance, firstInstance, `${p.prompt} was ended by a restarted instance`);
          if (!p.endsWhileDown) assert.ok(![firstInstance, secondInstance].includes(ends[0].instance ?? ''), `${p.prompt} was ended by the third instance`);
          assert.ok(Number(ends[0].created_at) >= restartedAt);
          // The restarts polled it (the dead instance could not have seen it end).
          assert.ok(mock.polls(r.upstream_id!) > pollsAtKill.get(r.id)!, `${p.prompt} was polled after the restart`);
        }
        const pending = await rdb.selectFrom('ledger_holds').select(['id', 'kind', 'reference']).where('status', '=', 'pending').execute();
        assert.deepEqual(pending, [], 'no hold is left pending');
        const wallet = await rdb.selectFrom('ledger_accounts').selectAll().where('id', '=', `user:${user.id}`).executeTakeFirstOrThrow();
        assert.equal(toBig(wallet.balance), START_BALANCE - charges, 'the wallet paid exactly the charges');
        assert.equal(toBig(wallet.pending_debits), 0n, 'nothing is reserved any more');
        const keyRow = await rdb.selectFrom('api_keys').select('spent').where('id', '=', key.id).executeTakeFirstOrThrow();
        assert.equal(toBig(keyRow.spent), charges, "the key's spend is what was charged, not what was held");
        assert.equal(mock.submits, PLANS.length, 'no task was submitted upstream twice');

        // Lapsed leases: each lease a killed instance held is taken over (a timeline event) by the next one.
        const takeovers = await rdb.selectFrom('task_events').select(['task_id', 'detail', 'instance']).where('type', '=', 'lease_taken_over').execute();
        for (const id of leasedAtKill1)
          assert.ok(
            takeovers.some((e) => e.task_id === id && JSON.parse(e.detail!).from === firstInstance),
            `${planOf.get(id)!.prompt}: the lease the first instance died with was taken over`,
          );
        for (const id of leasedAtKill2)
          assert.ok(
            takeovers.some((e) => e.task_id === id && JSON.parse(e.detail!).from === secondInstance),
            `${planOf.get(id)!.prompt}: the lease the second instance died with was taken over`,
          );
        assert.ok(
          takeovers.every((e) => [firstInstance, secondInstance].includes(JSON.parse(e.detail!).from) && e.instance !== JSON.parse(e.detail!).from),
          'only dead instances are taken over',
        );
        const instances = new Set((await rdb.selectFrom('task_events').select('instance').execute()).map((e) => e.instance));
        t.diagnostic(
          `${dialect}: killed after ${killedAt - submittedAt} ms (leases held: ${leasedAtKill1.length}), second instance ended ${endedBySecond} before its kill (leases held: ${leasedAtKill2.length}); ${takeovers.length} lease takeovers; ${instances.size} instances in the timelines; charged ${charges}`,
        );

        const quick = rows.find((r) => planOf.get(r.id)!.prompt === 'quick clip 0')!;
        const label = (i: string | null) => (i === firstInstance ? '1st' : i === secondInstance ? '2nd' : '3rd');
        const timeline = await rdb
          .selectFrom('task_events')
          .select(['type', 'status', 'instance'])
          .where('task_id', '=', quick.id)
          .orderBy('created_at')
          .orderBy('id')
          .execute();
        t.diagnostic(
          `timeline of "quick clip 0": ${timeline.map((e) => `${e.type}${e.status && e.status !== e.type ? `(${e.status})` : ''}@${label(e.instance)}`).join(' → ')}`,
        );

        // The CLI's own check, with the same environment.
        await reader.close();
        reader = null;
        const verify = await runTally(env, 'ledger', 'verify');
        assert.equal(verify.code, 0, `${verify.stdout}\n${verify.stderr}`);
        assert.match(verify.stdout, /ledger OK/);
        mark('verified');
        t.diagnostic(phases.join(', '));
      } finally {
        for (const c of children) await stop(c).catch(() => {});
        rmSync(dataDir, { recursive: true, force: true });
        await reader?.close().catch(() => {});
        await db.cleanup().catch(() => {});
        await mock.close();
      }
    });
  });
}
