// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the mutations are source text, placeholders included
// Breaks the money path on purpose, one way at a time, and checks that the
// money path simulation (test/ledger/moneyPath.test.ts) notices. Each mutant
// is applied to a copy of the tree in a temp directory (this checkout is never
// touched), then the simulation runs there with a few seeds until one fails.
//
//   node scripts/sim-mutants.mjs                  all mutants, seeds 1..4
//   node scripts/sim-mutants.mjs book-release     one mutant (name substring)
//   SIM_MUTANT_SEEDS=7,8 node scripts/sim-mutants.mjs
//
// With TALLY_TEST_POSTGRES_URL set the simulation runs on both databases.
// Exits 1 if a mutant survives (the simulation passed every seed with it).
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

const ROOT = resolve(import.meta.dirname, '..');

const MUTANTS = [
  {
    name: 'replay-posts-twice',
    what: 'the per-item retry posts the ledger part again for a request that is already written',
    file: 'src/gateway/settlementCommit.ts',
    from: '    if (!exists) return commitSettlementBatch(tx, dialect, [item]);\n',
    to: '    if (!exists) return commitSettlementBatch(tx, dialect, [item]);\n    await postUsage(tx, dialect, [{ ...chargeOf(item), requestId: `${item.requestId}_retry` }]);\n',
  },
  {
    name: 'log-without-ledger',
    what: 'the batch writes the log rows but skips the ledger post',
    file: 'src/gateway/settlementCommit.ts',
    from: 'const { postings, walletSpendable, keySpent } = await postUsage(tx, dialect, batch.map(chargeOf));',
    to: 'const { postings, walletSpendable, keySpent } = { postings: batch.map(() => ({ charged: 0n, uncollected: 0n, transferId: null, currency: null })), walletSpendable: new Map<string, bigint>(), keySpent: new Map<string, bigint>() };',
  },
  {
    name: 'book-release-keeps-reservation',
    what: 'release() forgets to give back the reservation',
    file: 'src/gateway/reservations.ts',
    from: '      w.reserved -= r.amount;\n',
    to: '',
  },
  {
    name: 'book-release-forgets-cost',
    what: 'release() drops the actual cost instead of counting it as unsettled until the commit',
    file: 'src/gateway/reservations.ts',
    from: '      w.unsettled += cost;\n',
    to: '',
  },
  {
    name: 'spendable-ignores-overdraft',
    what: 'the available-balance rule forgets the overdraft limit',
    file: 'src/ledger/available.ts',
    from: 'return availableOf(r) + (r.overdraft_limit === null || r.overdraft_limit === undefined ? 0n : toBig(r.overdraft_limit));',
    to: 'return availableOf(r);',
  },
  {
    name: 'cost-rounded-down',
    what: 'a partly paid request books its shortfall one micro-unit short (rounded down)',
    file: 'src/ledger/usagePost.ts',
    from: '      p.uncollected = c.cost - charged;',
    to: '      p.uncollected = c.cost - charged > 0n ? c.cost - charged - 1n : 0n;',
  },
  {
    name: 'topup-races-read-then-write',
    what: 'the wallet debit reads the balance and writes an absolute value (a top-up landing in between is lost)',
    file: 'src/ledger/usagePost.ts',
    from: "  const all = await tx\n    .updateTable('ledger_accounts')\n    .set({ balance: sql`balance - ${total}` })",
    to: "  const seen = await tx.selectFrom('ledger_accounts').select('balance').where('id', '=', walletId).executeTakeFirst();\n  await new Promise((r) => setTimeout(r, 3));\n  const all = await tx\n    .updateTable('ledger_accounts')\n    .set({ balance: toBig(seen?.balance) - total })",
  },
  {
    name: 'dead-letter-keeps-key-unsettled',
    what: 'a dead-lettered request is left unsettled on its key (a real defect, fixed on this branch)',
    file: 'src/gateway/settlement.ts',
    from: '    if (item.keyId && item.keyLimited) this.book.committedKey(item.keyId, item.cost, null);\n',
    to: '',
  },
  {
    name: 'already-written-leaves-book-stale',
    what: 'a request the per-item retry finds already written does not refresh the book (a real defect, fixed on this branch)',
    file: 'src/gateway/settlementCommit.ts',
    from: '    const walletAvailable = item.walletId ? await readSpendable(tx, [item.walletId]) : new Map<string, bigint>();\n',
    to: '    const walletAvailable = new Map<string, bigint>();\n',
  },
  {
    name: 'key-never-reread',
    what: "the book never re-reads a key, so another process's charges to it go unseen (the gap closed on this branch)",
    file: 'src/gateway/reservations.ts',
    from: '      else if (k.limit !== undefined && now - k.loadedAt > this.staleMs) staleKeys.push(id);\n',
    to: '',
  },
];

const only = process.argv[2];
const seeds = (process.env.SIM_MUTANT_SEEDS ?? '1,2,3,4').split(',').map((s) => s.trim());
const steps = process.env.TALLY_SIM_STEPS ?? '150';
let survived = 0;

for (const m of MUTANTS.filter((x) => !only || x.name.includes(only))) {
  const dir = mkdtempSync(join(tmpdir(), `tally-mutant-${m.name}-`));
  try {
    for (const p of ['src', 'test', 'package.json', 'tsconfig.json']) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const file = join(dir, m.file);
    const text = readFileSync(file, 'utf8');
    const at = text.indexOf(m.from);
    if (at < 0 || text.indexOf(m.from, at + 1) >= 0) throw new Error(`${m.name}: the text to mutate is not found exactly once in ${m.file}`);
    writeFileSync(file, text.replace(m.from, m.to));
    let caught = null;
    for (const seed of seeds) {
      const t0 = Date.now();
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', 'test/ledger/moneyPath.test.ts'], {
        cwd: dir,
        env: { ...process.env, TALLY_SIM_SEED: seed, TALLY_SIM_STEPS: steps },
        encoding: 'utf8',
      });
      const out = `${r.stdout}\n${r.stderr}`;
      if (r.status !== 0) {
        const failures = [...out.matchAll(/FAILED on (\w+) with seed \d+: ([^\n]*)/g)];
        const on = failures.map((x) => x[1]).join('+') || '?';
        const msg =
          failures.map((x) => `[${x[1]}] ${x[2].slice(0, 400)}`).join('\n         ') || out.split('\n').find((l) => /Error/.test(l)) || '(see output)';
        caught = { seed, ms: Date.now() - t0, on, msg };
        break;
      }
    }
    if (caught) console.log(`CAUGHT   ${m.name}: ${m.what}\n         seed ${caught.seed}, failed on ${caught.on} (${caught.ms} ms):\n         ${caught.msg}`);
    else {
      survived++;
      console.log(`SURVIVED ${m.name}: ${m.what} (seeds ${seeds.join(', ')})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
process.exit(survived ? 1 : 0);
