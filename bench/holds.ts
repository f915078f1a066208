// Hold throughput: createHold alone (holds/s) and the full request cycle
// createHold + postHold (cycles/s), sequential and with 32 concurrent callers,
// on SQLite (a temp file) and PostgreSQL (a throwaway schema, dropped at the end).
//
//   node --import tsx bench/holds.ts
//
// TALLY_BENCH_POSTGRES_URL picks the server (default postgres://postgres@127.0.0.1:5432/test;
// set it to "off" to skip PostgreSQL). TALLY_BENCH_SECONDS is the length of each
// case (default 4, at most 10). Results are printed and written to
// bench/results/holds-<date>.json.
//
// Each caller works on its own wallets (64 in all, funded far beyond what the
// run can spend), so the figures measure the ledger, not one wallet's row lock.
// Every hold credits system:usage_revenue, as real usage does, so posts do
// share that one row.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { openDb, type DbHandle, type Dialect } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { SYSTEM_ACCOUNTS, ensureSystemAccounts, openWallet, createTransfer, createHold, postHold, verifyLedger } from '../src/ledger/index.ts';

const PG_URL = process.env.TALLY_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SECONDS = Math.min(Math.max(Number(process.env.TALLY_BENCH_SECONDS ?? 4), 0.5), 10);
const CONCURRENCY = 32;
const WALLETS = 64;
const HOLD = 1_000_000n; // $1 held per request
const POSTED = 437_000n; // what the request actually cost

interface CaseResult {
  database: Dialect;
  operation: 'createHold' | 'createHold+postHold';
  concurrency: number;
  operations: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

interface Target {
  dialect: Dialect;
  handle: DbHandle;
  version: string;
  cleanup(): Promise<void>;
}

async function sqliteTarget(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'tally-bench-'));
  const handle = openDb(`sqlite:${join(dir, 'bench.db')}`);
  await migrateToLatest(handle);
  const { rows } = await sql<{ v: string }>`select sqlite_version() as v`.execute(handle.db);
  return {
    dialect: 'sqlite',
    handle,
    version: `SQLite ${rows[0].v}`,
    cleanup: async () => {
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresTarget(): Promise<Target> {
  const schema = `tally_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const drop = async () => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  };
  const u = new URL(PG_URL);
  u.searchParams.set('options', `-c search_path=${schema}`);
  const handle = openDb(u.toString(), { poolSize: CONCURRENCY });
  try {
    // migrateToLatest pins Kysely's bookkeeping tables to the current schema
    // (this one, via search_path), so the run neither disturbs test schemas
    // that exist meanwhile nor is disturbed by them.
    await migrateToLatest(handle);
    const { rows } = await sql<{ v: string }>`select current_setting('server_version') as v`.execute(handle.db);
    return {
      dialect: 'postgres',
      handle,
      version: `PostgreSQL ${rows[0].v}`,
      cleanup: async () => {
        await handle.close();
        await drop();
      },
    };
  } catch (e) {
    await handle.close().catch(() => {});
    await drop();
    throw e;
  }
}

async function seedWallets(h: DbHandle): Promise<string[]> {
  await ensureSystemAccounts(h.db);
  const ids: string[] = [];
  for (let i = 0; i < WALLETS; i++) {
    const id = await openWallet(h.db, { userId: `bench${i}` });
    await createTransfer(h.db, {
      debitAccountId: SYSTEM_ACCOUNTS.paymentsIn,
      creditAccountId: id,
      amount: 1_000_000_000_000_000n,
      kind: 'payment',
      idempotencyKey: `bench:fund:${i}`,
    });
    ids.push(id);
  }
  return ids;
}

/** Runs `call` from `concurrency` callers until the case's time is up. */
async function measure(
  concurrency: number,
  call: (caller: number, i: number) => Promise<void>,
): Promise<Omit<CaseResult, 'database' | 'operation' | 'concurrency'>> {
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, caller) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const s = performance.now();
        await call(caller, i);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0);
  return {
    operations: latencies.length,
    seconds: round(seconds),
    perSecond: Math.round(latencies.length / seconds),
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    maxMs: round(latencies[latencies.length - 1] ?? 0),
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

async function benchTarget(t: Target, run: string): Promise<CaseResult[]> {
  const db = t.handle.db;
  const wallets = await seedWallets(t.handle);
  const wallet = (caller: number, i: number) => wallets[(caller * 2 + (i & 1)) % WALLETS];
  const hold = (key: string, debitAccountId: string) =>
    createHold(db, {
      debitAccountId,
      creditAccountId: SYSTEM_ACCOUNTS.usageRevenue,
      amount: HOLD,
      kind: 'usage',
      reference: key,
      idempotencyKey: key,
      timeoutMs: 3_600_000,
    });

  // Warm-up: connections, prepared plans, page cache.
  for (let i = 0; i < 50; i++) {
    const { hold: h } = await hold(`${run}:warm:${i}`, wallets[i % WALLETS]);
    await postHold(db, { holdId: h.id, amount: POSTED });
  }

  const results: CaseResult[] = [];
  for (const concurrency of [1, CONCURRENCY]) {
    const holds = await measure(concurrency, async (c, i) => {
      await hold(`${run}:h:${concurrency}:${c}:${i}`, wallet(c, i));
    });
    results.push({ database: t.dialect, operation: 'createHold', concurrency, ...holds });
    const cycles = await measure(concurrency, async (c, i) => {
      const { hold: h } = await hold(`${run}:c:${concurrency}:${c}:${i}`, wallet(c, i));
      await postHold(db, { holdId: h.id, amount: POSTED });
    });
    results.push({ database: t.dialect, operation: 'createHold+postHold', concurrency, ...cycles });
  }
  const report = await verifyLedger(db);
  if (!report.ok) throw new Error(`${t.dialect}: verifyLedger failed after the benchmark: ${JSON.stringify(report.checks.filter((c) => !c.ok))}`);
  return results;
}

function printTable(rows: CaseResult[]): void {
  const header = ['database', 'operation', 'callers', 'ops', 'ops/s', 'p50 ms', 'p99 ms', 'max ms'];
  const body = rows.map((r) => [
    r.database,
    r.operation,
    String(r.concurrency),
    String(r.operations),
    String(r.perSecond),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.maxMs.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

async function main(): Promise<void> {
  const run = `run${Date.now()}`;
  const loadAtStart = loadavg().map(round);
  const results: CaseResult[] = [];
  const versions: string[] = [];
  const factories: Array<() => Promise<Target>> = [sqliteTarget];
  if (PG_URL !== 'off') factories.push(postgresTarget);
  for (const make of factories) {
    const t = await make();
    versions.push(t.version);
    try {
      console.error(`benchmarking ${t.version} (${SECONDS}s per case)...`);
      results.push(...(await benchTarget(t, run)));
    } finally {
      await t.cleanup();
    }
  }
  printTable(results);
  const now = new Date();
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', `holds-${now.toISOString().slice(0, 10)}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        benchmark: 'holds',
        date: now.toISOString(),
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? null,
        loadAverageAtStart: loadAtStart,
        loadAverageAtEnd: loadavg().map(round),
        databases: versions,
        secondsPerCase: SECONDS,
        wallets: WALLETS,
        holdMicros: String(HOLD),
        postedMicros: String(POSTED),
        results,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwritten to ${out}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
