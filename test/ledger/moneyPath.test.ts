// A seeded, model-based simulation of the path a relayed request's money
// actually takes (the ledger simulation next to it drives holds, which relay
// requests never use): ReservationBook reservations (check, reserve, release
// with the actual cost), the SettlementQueue (enqueue, batching, flush,
// retries, dead letters), the batched ledger post with the request log rows
// (src/ledger/usagePost.ts through the gateway's settlement writer: the
// worker thread on SQLite, in process on PostgreSQL), top-ups landing
// concurrently, key spend limits, process crashes between enqueue and
// commit, and `tally ledger settle-dead-letters` replays (at a restart, and
// from a process of their own while the server runs).
//
// The model keeps what every wallet, key and system account should hold. It
// learns only *which* writes happened and in what order (the writer records
// each batch it was given and whether it committed); the money each write
// moved is predicted by the model and compared with the database. After every
// step, once nothing is in flight, it checks: each settled request has
// exactly one log row and is charged once; charged + uncollected = cost and
// the split is the one the model predicts; wallets, keys and system accounts
// hold what the model says; the books balance (verifyBooks); and when idle,
// the reservation book's figures equal the database's (nothing stays
// reserved or unsettled).
//
// What a crash loses is modelled exactly as the code guarantees it: requests
// queued in memory and not yet committed are gone (never charged, no log
// row); a batch being committed is written whole or not at all; requests
// that failed to commit many times are in the dead-letter file, and a replay
// writes each exactly once, however often it is run.
//
// The seed is printed; rerun with TALLY_SIM_SEED=<seed> (and TALLY_SIM_STEPS
// to change the number of steps), e.g.
//   TALLY_SIM_SEED=123 npm test -- moneyPath
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { sql } from 'kysely';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';
import { createUser } from '../../src/accounts/users.ts';
import { createApiKey } from '../../src/accounts/apiKeys.ts';
import { SYSTEM_ACCOUNTS, createTransfer, formatMoney, setOverdraftLimit, toBig, walletAccountId } from '../../src/ledger/index.ts';
import { ReservationBook, type Reservation } from '../../src/gateway/reservations.ts';
import { SettlementQueue, type SettlementItem, type LogRow } from '../../src/gateway/settlement.ts';
import { inProcessWriter, workerWriter, type SettlementWriter } from '../../src/gateway/settlementWriter.ts';
import type { Committed } from '../../src/gateway/settlementCommit.ts';
import { appendDeadLetter, deadLetterFile, settleDeadLetters } from '../../src/gateway/deadLetters.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';

const SEED = process.env.TALLY_SIM_SEED ? Number(process.env.TALLY_SIM_SEED) >>> 0 : randomInt(0, 2 ** 32 - 1);
const STEPS = Number(process.env.TALLY_SIM_STEPS ?? 150);
const T0 = 1_700_000_000_000;

console.log(`money path simulation seed ${SEED} (rerun with TALLY_SIM_SEED=${SEED} npm test -- moneyPath)`);

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  big(lo: number, hi: number): bigint {
    return BigInt(this.int(lo, hi));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  weighted<K extends string>(table: Record<K, number>): K {
    const entries = Object.entries(table) as [K, number][];
    let r = this.next() * entries.reduce((s, [, w]) => s + w, 0);
    for (const [k, w] of entries) if ((r -= w) < 0) return k;
    return entries[entries.length - 1][0];
  }
}

// ---------------------------------------------------------------- the model

interface SimKey {
  id: string;
  spendLimit: bigint | null;
}

interface SimUser {
  userId: string;
  walletId: string;
  keys: SimKey[];
}

type RequestState = 'inflight' | 'queued' | 'committed' | 'lost' | 'deadlettered';

interface SimRequest {
  id: string;
  user: SimUser;
  key: SimKey;
  reservation: Reservation | null;
  reserved: bigint;
  /** What the request will cost when it finishes (0 for a failure before any output). */
  cost: bigint;
  failed: boolean;
  state: RequestState;
  /** What the model says the settlement moved (known once committed). */
  charged?: bigint;
  uncollected?: bigint;
}

/** One call the settlement queue made to its writer, and what became of it. */
interface WriteCall {
  seq0: number;
  seq1: number;
  op: 'batch' | 'one';
  items: SettlementItem[];
  outcome: 'committed' | 'failed' | 'pending' | 'crashed';
}

interface TopUp {
  walletId: string;
  amount: bigint;
  seq0: number;
  seq1: number;
  applied: boolean;
  ok: boolean;
}

class Model {
  /** Wallet balance (posted; the money path uses no holds). */
  balance = new Map<string, bigint>();
  overdraft = new Map<string, bigint>();
  keySpent = new Map<string, bigint>();
  revenue = 0n;
  uncollected = 0n;
  paymentsIn = 0n;
  /** Per wallet: uncollected booked, and the most the reservations allow (costs above their reservation, and dead-lettered costs). */
  uncollectedBy = new Map<string, bigint>();
  allowedUncollected = new Map<string, bigint>();

  spendable(walletId: string): bigint {
    return (this.balance.get(walletId) ?? 0n) + (this.overdraft.get(walletId) ?? 0n);
  }

  allow(walletId: string, amount: bigint): void {
    if (amount > 0n) this.allowedUncollected.set(walletId, (this.allowedUncollected.get(walletId) ?? 0n) + amount);
  }
}

// ------------------------------------------------------------ one "process"

/** A server process's settlement machinery: its reservation book, queue and writer. Killing it drops all three. */
class Proc {
  dead = false;
  readonly book: ReservationBook;
  readonly queue: SettlementQueue;
  private readonly inner: SettlementWriter;
  /** Failures to inject, consumed by the next writer calls. */
  failNext: Array<'before' | 'after'> = [];
  /** Requests whose every write fails (a poisoned item): they end in the dead-letter file. */
  poisoned = new Set<string>();
  readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    readonly sim: MoneyPathSim,
    readonly generation: number,
  ) {
    this.inner = sim.dialect === 'sqlite' ? workerWriter(sim.db.connectionUrl) : inProcessWriter(sim.db.db, sim.dialect);
    this.book = new ReservationBook(sim.db.db, () => sim.clock, 5_000);
    const writer: SettlementWriter = {
      commitBatch: (batch) => this.write('batch', batch, () => this.inner.commitBatch(batch)),
      commitItemOnce: (item) => this.write('one', [item], () => this.inner.commitItemOnce(item)),
      ready: () => this.inner.ready(),
      close: () => this.inner.close(),
    };
    this.queue = new SettlementQueue(writer, this.book, pino({ level: 'silent' }), {
      // Batches are written when the simulation flushes (or a wallet refresh asks for it): the timer never fires first.
      intervalMs: 600_000,
      maxIntervalMs: 600_000,
      maxBatch: sim.rng.pick([4, 16, 256]),
      sleep: () => new Promise((r) => setImmediate(r)),
      deadLetter: (item, error) => {
        if (this.dead) return; // a dead process writes nothing
        appendDeadLetter(sim.deadLetters, item, error);
        sim.onDeadLetter(item);
      },
    });
  }

  private write(op: 'batch' | 'one', items: SettlementItem[], run: () => Promise<Committed>): Promise<Committed> {
    if (this.dead) return new Promise(() => {}); // the process is gone: nothing more is written, nothing answers
    const call: WriteCall = { seq0: this.sim.tick(), seq1: 0, op, items, outcome: 'pending' };
    this.sim.calls.push(call);
    const fail = this.failNext.shift();
    const poisoned = items.some((i) => this.poisoned.has(i.requestId));
    const p = (async () => {
      if (fail === 'before' || poisoned) {
        call.seq1 = this.sim.tick();
        call.outcome = 'failed';
        throw new Error(poisoned ? 'simulated poisoned item' : 'simulated database outage');
      }
      let committed: Committed;
      try {
        committed = await run();
      } catch (e) {
        call.seq1 = this.sim.tick();
        if (call.outcome === 'pending') call.outcome = this.dead ? 'crashed' : 'failed';
        throw e;
      }
      call.seq1 = this.sim.tick();
      if (call.outcome === 'pending') call.outcome = 'committed';
      // Committed, but the answer is lost (a connection drop after COMMIT): the queue must not write it twice.
      if (fail === 'after') throw new Error('simulated connection loss after commit');
      return committed;
    })();
    const tracked = p.catch(() => undefined);
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
    return p.then(
      (c) => (this.dead ? new Promise<Committed>(() => {}) : c),
      (e) => (this.dead ? new Promise<Committed>(() => {}) : Promise.reject(e)),
    );
  }

  /** kill -9: memory is gone; a commit already sent either lands whole or not at all (the database decides). */
  async kill(): Promise<void> {
    this.dead = true;
    void this.queue.flush(); // clears a pending batch timer; whatever it tries to write goes nowhere
    if (this.sim.dialect === 'sqlite') await this.inner.close(); // terminates the worker thread mid-write
    await Promise.all([...this.inFlight]);
    for (const c of this.sim.calls) if (c.outcome === 'pending') c.outcome = 'crashed';
  }

  async stop(): Promise<void> {
    await this.queue.close();
  }
}

// ------------------------------------------------------------ the simulation

class MoneyPathSim {
  readonly rng: Rng;
  readonly model = new Model();
  readonly users: SimUser[] = [];
  readonly requests = new Map<string, SimRequest>();
  readonly calls: WriteCall[] = [];
  private processed = 0;
  readonly topUps: TopUp[] = [];
  clock = T0;
  private seq = 0;
  private reqSeq = 0;
  proc!: Proc;
  private generation = 0;
  readonly dir: string;
  readonly deadLetters: string;
  readonly trace: string[] = [];
  stats = { requests: 0, refused: 0, committed: 0, lost: 0, deadLettered: 0, replayed: 0, crashes: 0, topUps: 0, overHold: 0, uncollected: 0, batches: 0 };

  constructor(
    readonly db: TestDb,
    readonly dialect: 'sqlite' | 'postgres',
    seed: number,
  ) {
    this.rng = new Rng(seed);
    this.dir = mkdtempSync(join(tmpdir(), 'tally-moneypath-'));
    this.deadLetters = deadLetterFile(this.dir);
  }

  tick(): number {
    return ++this.seq;
  }

  note(s: string): void {
    this.trace.push(s);
    if (this.trace.length > 60) this.trace.shift();
  }

  onDeadLetter(item: SettlementItem): void {
    const r = this.requests.get(item.requestId);
    assert.ok(r, `dead-lettered an unknown request ${item.requestId}`);
    assert.equal(r.state, 'queued', `${r.id} dead-lettered while ${r.state}`);
    r.state = 'deadlettered';
    this.stats.deadLettered++;
    // Dead-lettering gives the reservation book the money back before the ledger took it, so a later replay may find the wallet short.
    this.model.allow(r.user.walletId, r.cost);
  }

  async setup(): Promise<void> {
    const n = this.rng.int(3, 5);
    for (let i = 0; i < n; i++) {
      const { user } = await createUser(this.db.db, { email: `sim${i}@test.io`, password: 'correct horse battery' });
      const walletId = walletAccountId(user.id);
      this.model.balance.set(walletId, 0n);
      this.model.overdraft.set(walletId, 0n);
      if (this.rng.chance(0.3)) {
        const limit = this.rng.big(500, 3_000);
        await setOverdraftLimit(this.db.db, walletId, limit);
        this.model.overdraft.set(walletId, limit);
      }
      const keys: SimKey[] = [];
      for (let k = this.rng.int(1, 2); k > 0; k--) {
        const spendLimit = this.rng.chance(0.5) ? this.rng.big(5_000, 40_000) : null;
        const { key } = await createApiKey(this.db.db, { userId: user.id, name: `k${k}`, spendLimit });
        keys.push({ id: key.id, spendLimit });
        this.model.keySpent.set(key.id, 0n);
      }
      this.users.push({ userId: user.id, walletId, keys });
      await this.topUp(walletId, this.rng.big(0, 30_000));
    }
    this.proc = new Proc(this, this.generation++);
    await this.proc.queue.ready();
  }

  // ---------------------------------------------------------- actions

  async topUp(walletId: string, amount: bigint): Promise<void> {
    if (amount <= 0n) return;
    const t: TopUp = { walletId, amount, seq0: this.tick(), seq1: 0, applied: false, ok: false };
    this.topUps.push(t);
    await createTransfer(this.db.db, {
      debitAccountId: SYSTEM_ACCOUNTS.paymentsIn,
      creditAccountId: walletId,
      amount,
      kind: 'payment',
      reference: `sim_topup_${this.topUps.length}`,
      idempotencyKey: `sim:topup:${this.topUps.length}:${walletId}`,
    });
    t.seq1 = this.tick();
    t.ok = true;
    this.stats.topUps++;
  }

  /** What the relay does before the upstream call: reserve the upper bound, re-reading the wallet once if refused. */
  async startRequest(): Promise<void> {
    const user = this.rng.pick(this.users);
    const key = this.rng.pick(user.keys);
    const upper = this.rng.big(100, 9_000);
    const roll = this.rng.int(0, 99);
    const failed = roll < 8;
    const overHold = !failed && roll >= 94;
    const cost = failed ? 0n : overHold ? upper + this.rng.big(1, this.rng.chance(0.5) ? 4_000 : 60_000) : roll < 12 ? 0n : this.rng.big(1, Number(upper));
    const p = this.proc;
    if (this.rng.chance(0.2)) await p.book.check(`user:${user.userId}`, key, this.rng.big(1, 200));
    let r = await p.book.reserve(`user:${user.userId}`, key, upper);
    if (!('walletId' in r) && r.limit === 'wallet') {
      await p.queue.refreshWallet(user.walletId);
      r = await p.book.reserve(`user:${user.userId}`, key, upper);
    }
    if (p.dead) return; // the process died meanwhile: the request never reached the queue
    this.stats.requests++;
    if (!('walletId' in r)) {
      this.stats.refused++;
      return;
    }
    const id = `req_sim${String(++this.reqSeq).padStart(6, '0')}`;
    this.requests.set(id, { id, user, key, reservation: r, reserved: upper, cost, failed, state: 'inflight' });
    if (overHold) this.stats.overHold++;
  }

  /** What the relay does when a request ends: release the reservation with the actual cost and queue the settlement. */
  finishRequest(r: SimRequest): void {
    const p = this.proc;
    assert.ok(r.reservation);
    if (r.failed) {
      p.book.release(r.reservation, 0n);
      p.queue.enqueue({ requestId: r.id, walletId: null, keyId: null, keyLimited: false, cost: 0n, log: logRow(r, this.clock) });
    } else {
      p.book.release(r.reservation, r.cost);
      p.queue.enqueue({
        requestId: r.id,
        walletId: r.user.walletId,
        keyId: r.key.id,
        keyLimited: r.reservation.keyLimited,
        cost: r.cost,
        log: logRow(r, this.clock),
      });
      if (r.cost > r.reserved) this.model.allow(r.user.walletId, r.cost - r.reserved);
    }
    r.state = 'queued';
  }

  inflight(): SimRequest[] {
    return [...this.requests.values()].filter((r) => r.state === 'inflight');
  }

  async crash(): Promise<void> {
    this.stats.crashes++;
    const old = this.proc;
    // Sometimes the process dies while a batch is being committed.
    const flushing = this.rng.chance(0.5) ? old.queue.flush() : null;
    if (flushing) await new Promise((r) => setImmediate(r));
    await old.kill();
    void flushing;
    this.note(`crash of process ${old.generation}`);
    // The requests it was serving are gone with it (their reservations were only in its memory).
    for (const r of this.requests.values()) {
      if (r.state === 'inflight') r.state = 'lost';
    }
    await this.reconcile();
    for (const r of this.requests.values()) {
      if (r.state === 'queued') {
        r.state = 'lost';
        this.stats.lost++;
      }
    }
    // The operator replays the dead letters before the server comes back (sometimes twice, sometimes after a replay that died half way);
    // steps also replay them while the server runs.
    await this.replayDeadLetters();
    this.proc = new Proc(this, this.generation++);
    await this.proc.queue.ready();
  }

  async replayDeadLetters(): Promise<void> {
    const files = existsSync(this.dir) ? readdirSync(this.dir).filter((f) => f.startsWith('unsettled')) : [];
    if (!files.length) return;
    // A replay that dies after writing but before renaming leaves a `.settling-` file: the next replay writes nothing twice.
    const dieHalfWay = existsSync(this.deadLetters) && this.rng.chance(0.3);
    const saved = dieHalfWay ? `${this.deadLetters}.copy` : null;
    if (saved) copyFileSync(this.deadLetters, saved);
    const before = this.stats.replayed;
    for (let round = 0; round < (this.rng.chance(0.5) ? 2 : 1); round++) {
      const cli = new Proc(this, this.generation++); // `tally ledger settle-dead-letters` is a process of its own
      await cli.queue.ready();
      const n = await settleDeadLetters(this.deadLetters, cli.queue, this.clock + round);
      await cli.stop();
      this.stats.replayed += n;
      await this.reconcile();
      if (saved && round === 0) {
        for (const f of readdirSync(this.dir).filter((x) => x.includes('.settled-'))) rmSync(join(this.dir, f));
        copyFileSync(saved, `${this.deadLetters}.settling-${this.clock - 1}`);
        rmSync(saved);
      }
    }
    this.note(`replayed dead letters: ${this.stats.replayed - before} item(s) read`);
    for (const r of this.requests.values()) assert.notEqual(r.state, 'deadlettered', `${r.id} is still unsettled after the dead letters were replayed`);
  }

  // ---------------------------------------------------------- one step

  async step(i: number): Promise<void> {
    this.clock += this.rng.int(0, 3_000);
    const actions: Array<() => Promise<void>> = [];
    const n = this.rng.int(1, 6);
    for (let a = 0; a < n; a++) {
      const kind = this.rng.weighted({ start: 40, finish: 30, topUp: 8, flush: 12, refresh: 4, outage: 3, poison: 1 });
      if (kind === 'start') actions.push(() => this.startRequest());
      else if (kind === 'finish') {
        const open = this.inflight();
        if (!open.length) continue;
        const r = this.rng.pick(open);
        r.state = 'queued'; // claimed by this action (finishRequest sets it again)
        actions.push(async () => this.finishRequest(r));
      } else if (kind === 'topUp') {
        const w = this.rng.pick(this.users).walletId;
        const amount = this.rng.big(2_000, 30_000);
        actions.push(() => this.topUp(w, amount));
      } else if (kind === 'flush') actions.push(() => this.proc.queue.flush());
      else if (kind === 'refresh') {
        const w = this.rng.pick(this.users).walletId;
        actions.push(() => this.proc.queue.refreshWallet(w));
      } else if (kind === 'outage') this.proc.failNext.push(...Array.from({ length: this.rng.int(1, 4) }, () => this.rng.pick(['before', 'after'] as const)));
      else if (kind === 'poison') {
        const open = this.inflight();
        if (open.length) this.proc.poisoned.add(this.rng.pick(open).id);
      }
    }
    await Promise.all(actions.map((f) => f()));
    if (this.rng.chance(0.05) && existsSync(this.deadLetters)) {
      // The operator runs `tally ledger settle-dead-letters` while the server runs: the server's book sees it at its next re-read.
      await this.replayDeadLetters();
      this.clock += 5_001;
      await this.proc.queue.refreshWallet(this.users[0].walletId);
    }
    const roll = this.rng.int(0, 99);
    if (roll < 3) await this.crash();
    else if (roll < 15 || i === STEPS - 1) await this.drain();
    else await this.proc.queue.flush();
    await this.reconcile();
    await this.checkInvariants();
  }

  /** Ends every request in flight and writes everything: afterwards nothing may stay reserved or unsettled. */
  async drain(): Promise<void> {
    this.proc.failNext = [];
    for (const r of this.inflight()) this.finishRequest(r);
    await this.proc.queue.flush();
    await this.reconcile();
    // Dead-lettered requests wait for the next replay; the book has given their money back, as the ledger never took it.
    for (const u of this.users) await this.proc.queue.refreshWallet(u.walletId);
    for (const u of this.users) {
      const wallet = this.model.spendable(u.walletId);
      for (const k of u.keys) {
        const usable = await this.proc.book.usable(`user:${u.userId}`, k);
        const keyLeft = k.spendLimit === null ? null : k.spendLimit - (this.model.keySpent.get(k.id) ?? 0n);
        const expected = keyLeft !== null && keyLeft < wallet ? keyLeft : wallet;
        assert.equal(
          usable.amount,
          expected,
          `idle, the reservation book says ${u.walletId} with key ${k.id} can use ${usable.amount}, the ledger says ${expected} (wallet ${wallet}, key ${keyLeft}): something stayed reserved or unsettled, or was counted twice`,
        );
      }
    }
  }

  // ---------------------------------------------------------- the model learns what was written

  /** Applies, in order, every write the queues made since the last time, predicting what each moved and comparing with the database. */
  async reconcile(): Promise<void> {
    while (this.processed < this.calls.length) {
      const c = this.calls[this.processed];
      if (c.outcome === 'pending') break; // still running (the caller waits for quiescence before checking)
      this.processed++;
      let committed = c.outcome === 'committed';
      if (c.outcome === 'crashed') {
        // The database decides: the whole batch or none of it.
        const ids = c.items.map((i) => i.requestId);
        const rows = await this.db.db.selectFrom('request_logs').select('id').where('id', 'in', ids).execute();
        const fresh = c.items.filter((i) => this.requests.get(i.requestId)?.state !== 'committed');
        const present = new Set(rows.map((r) => r.id));
        const landed = fresh.filter((i) => present.has(i.requestId)).length;
        assert.ok(landed === 0 || landed === fresh.length, `a batch cut by a crash was written in part: ${landed} of ${fresh.length} requests`);
        committed = landed > 0;
      }
      if (!committed) continue;
      this.stats.batches++;
      const fresh: SettlementItem[] = [];
      for (const item of c.items) {
        const r = this.requests.get(item.requestId);
        assert.ok(r, `the queue wrote an unknown request ${item.requestId}`);
        if (r.state === 'committed') {
          // Only the per-item path may see a request that is already written, and it must write nothing.
          assert.equal(c.op, 'one', `${r.id} was written a second time, in a batch`);
          continue;
        }
        assert.ok(r.state === 'queued' || r.state === 'deadlettered' || r.state === 'lost', `${r.id} written while ${r.state}`);
        fresh.push(item);
      }
      if (fresh.length) await this.applyWrite(c, fresh);
    }
    // Top-ups that certainly ended are in the balance now.
    const next = this.calls[this.processed];
    for (const t of this.topUps) if (t.ok && !t.applied && (!next || t.seq1 < next.seq0)) this.applyTopUp(t);
  }

  private applyTopUp(t: TopUp): void {
    t.applied = true;
    this.model.balance.set(t.walletId, (this.model.balance.get(t.walletId) ?? 0n) + t.amount);
    this.model.paymentsIn -= t.amount;
  }

  private async applyWrite(c: WriteCall, items: SettlementItem[]): Promise<void> {
    // Top-ups that ended before this write began are in; those that overlapped it may be either side (each is one transaction).
    for (const t of this.topUps) if (t.ok && !t.applied && t.seq1 < c.seq0) this.applyTopUp(t);
    const rows = await this.db.db
      .selectFrom('request_logs')
      .select(['id', 'cost', 'charged_amount', 'uncollected', 'charged', 'charge_reason', 'transfer_id'])
      .where(
        'id',
        'in',
        items.map((i) => i.requestId),
      )
      .execute();
    const logs = new Map(rows.map((r) => [r.id, r]));
    const byWallet = new Map<string, SimRequest[]>();
    for (const item of items) {
      const r = this.requests.get(item.requestId)!;
      assert.ok(logs.has(r.id), `${r.id} was committed but has no request log row`);
      if (r.failed || r.cost === 0n) {
        r.charged = 0n;
        r.uncollected = 0n;
      } else {
        const list = byWallet.get(r.user.walletId) ?? [];
        list.push(r);
        byWallet.set(r.user.walletId, list);
      }
    }
    for (const [walletId, list] of byWallet) {
      const maybe = this.topUps.filter((t) => t.walletId === walletId && t.ok && !t.applied && t.seq0 < c.seq1);
      // The first subset of the overlapping top-ups (fewest first) under which the prediction matches the database.
      let chosen: TopUp[] | null = null;
      let predicted: Array<{ charged: bigint; uncollected: bigint }> = [];
      for (let mask = 0; mask < 1 << Math.min(maybe.length, 4) && !chosen; mask++) {
        const subset = maybe.filter((_t, i) => mask & (1 << i));
        let can = this.model.spendable(walletId) + subset.reduce((s, t) => s + t.amount, 0n);
        predicted = list.map((r) => {
          const charged = can <= 0n ? 0n : can < r.cost ? can : r.cost;
          can -= charged;
          return { charged, uncollected: r.cost - charged };
        });
        if (list.every((r, i) => toBig(logs.get(r.id)!.charged_amount) === predicted[i].charged)) chosen = subset;
      }
      if (!chosen) {
        const got = list.map((r) => `${r.id}: cost ${r.cost}, charged ${logs.get(r.id)!.charged_amount}`).join('; ');
        assert.fail(
          `${walletId} (model: balance ${this.model.balance.get(walletId)}, spendable ${this.model.spendable(walletId)}) was charged differently than predicted: ${got}; predicted ${predicted.map((p) => p.charged).join(', ')}`,
        );
      }
      for (const t of chosen) this.applyTopUp(t);
      list.forEach((r, i) => {
        r.charged = predicted[i].charged;
        r.uncollected = predicted[i].uncollected;
        this.model.balance.set(walletId, this.model.balance.get(walletId)! - r.charged);
        this.model.revenue += r.cost;
        this.model.uncollected -= r.uncollected;
        if (r.uncollected > 0n) {
          this.stats.uncollected++;
          this.model.uncollectedBy.set(walletId, (this.model.uncollectedBy.get(walletId) ?? 0n) + r.uncollected);
        }
        this.model.keySpent.set(r.key.id, (this.model.keySpent.get(r.key.id) ?? 0n) + r.charged);
      });
    }
    for (const item of items) {
      const r = this.requests.get(item.requestId)!;
      const log = logs.get(r.id)!;
      const what = `${r.id} (cost ${r.cost}, reserved ${r.reserved})`;
      same(toBig(log.cost), r.cost, `${what}: log cost`);
      same(toBig(log.charged_amount), r.charged, `${what}: charged`);
      same(toBig(log.uncollected), r.uncollected, `${what}: uncollected`);
      assert.equal(Number(log.charged), r.charged! > 0n ? 1 : 0, `${what}: charged flag`);
      assert.equal(log.transfer_id !== null, r.charged! > 0n, `${what}: linked to a usage transfer exactly when charged`);
      assert.ok(!/micro-unit/.test(log.charge_reason), `${what}: the charge reason shows raw micro-units: ${log.charge_reason}`);
      if (r.uncollected! > 0n) assert.ok(log.charge_reason.includes(formatMoney(r.uncollected!, 6)), `${what}: the reason names the uncollected amount`);
      r.state = 'committed';
      this.stats.committed++;
    }
  }

  // ---------------------------------------------------------- invariants

  async checkInvariants(opts: { book?: boolean } = {}): Promise<void> {
    const db = this.db.db;
    assert.equal(this.processed, this.calls.length, 'a write is still running at a quiet point');
    // Exactly the settled requests have log rows, one each.
    const logIds = (await db.selectFrom('request_logs').select('id').execute()).map((r) => r.id);
    assert.equal(new Set(logIds).size, logIds.length, 'a request has two log rows');
    const settled = [...this.requests.values()].filter((r) => r.state === 'committed').map((r) => r.id);
    assert.deepEqual(logIds.sort(), settled.sort(), 'the request log holds exactly the requests the model says were settled');
    // No request charged twice.
    const twice = await db
      .selectFrom('ledger_transfers')
      .select(['reference', 'kind', sql<string>`count(*)`.as('n')])
      .where('kind', 'in', ['usage', 'uncollected'])
      .groupBy(['reference', 'kind'])
      .having(sql`count(*)`, '>', 1)
      .execute();
    assert.deepEqual(twice, [], 'a request was charged twice');
    // Every account holds what the model says.
    const accounts = new Map((await db.selectFrom('ledger_accounts').select(['id', 'balance', 'pending_debits']).execute()).map((a) => [a.id, a]));
    for (const [walletId, balance] of this.model.balance) {
      same(toBig(accounts.get(walletId)!.balance), balance, `${walletId} balance`);
      assert.equal(toBig(accounts.get(walletId)!.pending_debits), 0n, `${walletId} has pending debits (the money path holds nothing in the ledger)`);
    }
    same(toBig(accounts.get(SYSTEM_ACCOUNTS.usageRevenue)!.balance), this.model.revenue, 'usage revenue');
    same(toBig(accounts.get(SYSTEM_ACCOUNTS.uncollected)!.balance), this.model.uncollected, 'uncollected');
    same(toBig(accounts.get(SYSTEM_ACCOUNTS.paymentsIn)!.balance), this.model.paymentsIn, 'payments in');
    const total = [...accounts.values()].reduce((s, a) => s + toBig(a.balance), 0n);
    assert.equal(total, 0n, 'the sum of all balances is zero (double entry)');
    const keys = await db.selectFrom('api_keys').select(['id', 'spent']).execute();
    for (const k of keys) same(toBig(k.spent), this.model.keySpent.get(k.id) ?? 0n, `key ${k.id} spend`);
    // Reservations: a wallet is short (uncollected) only by what no reservation covered.
    for (const [walletId, booked] of this.model.uncollectedBy) {
      const allowed = this.model.allowedUncollected.get(walletId) ?? 0n;
      assert.ok(
        booked <= allowed,
        `${walletId}: ${booked} booked uncollected, but the reservations only left ${allowed} uncovered (a reservation promised money the wallet did not have)`,
      );
    }
    // The book may lag behind a top-up (it under-promises), never ahead of the ledger: what it offers is at most what the wallet can
    // pay less the requests in flight and those waiting to be written.
    for (const u of opts.book === false ? [] : this.users) {
      const owed = [...this.requests.values()]
        .filter((r) => r.user === u && (r.state === 'inflight' || r.state === 'queued'))
        .reduce((s, r) => s + (r.state === 'inflight' ? r.reserved : r.failed ? 0n : r.cost), 0n);
      const bound = this.model.spendable(u.walletId) - owed;
      const usable = (await this.proc.book.usable(`user:${u.userId}`, { id: 'sim-no-limit', spendLimit: null })).amount;
      assert.ok(
        usable <= bound,
        `${u.walletId}: the reservation book offers ${usable}, but the wallet can pay only ${bound} beyond what is in flight or queued`,
      );
    }
    const report = await verifyBooks(db, { now: this.clock });
    assert.ok(report.ok, `verifyBooks: ${JSON.stringify(report.checks.filter((c) => !c.ok))}`);
  }

  async run(steps: number): Promise<void> {
    await this.setup();
    try {
      for (let i = 0; i < steps; i++) {
        this.note(`step ${i}`);
        await this.step(i);
      }
      await this.proc.stop();
      await this.reconcile();
      await this.replayDeadLetters();
      // The server is stopped; its book never saw this last replay (a running server re-reads a wallet within 5 s).
      await this.checkInvariants({ book: false });
    } finally {
      if (!this.proc.dead) await this.proc.kill();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** assert.equal whose message keeps both figures (a custom message would otherwise replace them). */
function same(actual: bigint | number, expected: bigint | number | undefined, what: string): void {
  assert.equal(actual, expected, `${what}: the database says ${actual}, the model ${expected}`);
}

function logRow(r: SimRequest, now: number): LogRow {
  return {
    id: r.id,
    user_id: r.user.userId,
    key_id: r.key.id,
    key_display: 'sk-sim…',
    group_name: 'default',
    endpoint: 'chat',
    model: 'sim-model',
    upstream_model: 'sim-model',
    channel_id: null,
    attempts: 1,
    stream: 0,
    status: r.failed ? 502 : 200,
    error_code: r.failed ? 'upstream_error' : null,
    error_message: null,
    prompt_tokens: 10,
    completion_tokens: 20,
    cached_tokens: 0,
    usage_source: r.failed ? null : 'upstream',
    held: r.reserved,
    cost: r.cost,
    charged_amount: 0n,
    uncollected: 0n,
    charged: 0,
    charge_reason: r.failed ? 'not charged: the upstream failed before any output' : r.cost > 0n ? 'usage reported by the upstream' : 'not charged: zero cost',
    transfer_id: null,
    pricing: null,
    latency_ms: 5,
    ttfb_ms: 2,
    client_ip: '127.0.0.1',
    created_at: now,
  };
}

for (const dialect of testDialects()) {
  describe(`the money path under simulation on ${dialect}`, () => {
    test(`${STEPS} random steps of requests, settlements, top-ups, outages, crashes and dead-letter replays keep the model and the books in agreement`, async (t) => {
      const db = await createTestDb(dialect);
      const sim = new MoneyPathSim(db, dialect, SEED);
      const started = Date.now();
      try {
        await sim.run(STEPS);
      } catch (e) {
        const first = String((e as Error)?.message ?? e).split('\n')[0];
        console.error(`money path simulation FAILED on ${dialect} with seed ${SEED}: ${first}\n  rerun: TALLY_SIM_SEED=${SEED} npm test -- moneyPath`);
        console.error(`last steps:\n  ${sim.trace.join('\n  ')}`);
        throw e;
      } finally {
        await db.cleanup();
      }
      t.diagnostic(`seed ${SEED} on ${dialect}: ${JSON.stringify(sim.stats)} in ${Date.now() - started} ms`);
    });
  });
}
