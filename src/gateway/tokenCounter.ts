import { Worker } from 'node:worker_threads';
import { countText, utf8Bytes } from './tokens.ts';

// Where token counting runs. Counting is linear (tokens.ts) but not free: the
// worst text measured (random CJK) costs about 2 us a character, so 200,000
// characters of it would hold the event loop for 400 ms, and every other
// request (and /healthz) with it. Small texts, the common case, are counted
// right here as before (at most ~5-10 ms in the worst case); larger ones go to
// one worker thread, with a deadline. When
// the worker cannot answer in time (busy, starting, gone) the caller gets
// null and uses the byte ceiling instead (see promptEstimate.ts), so a flood
// of large requests slows nobody but itself.

/** Counted on the calling thread: any text this short (random CJK, the worst measured: ~2 us a character once warm)... */
export const ON_LOOP_CHARS = 2_048;
/** ...or ASCII text this short (random punctuation, the worst ASCII: ~1-1.5 us a character; English ~0.02). */
export const ON_LOOP_ASCII_CHARS = 4_096;
/** How long a request waits for its prompt to be counted before the hold uses the byte ceiling. */
export const HOLD_COUNT_BUDGET_MS = 1_000;
/** How long a settlement waits for a count (upstream reported no usage) before billing the byte ceiling. */
export const BILL_COUNT_BUDGET_MS = 30_000;
/** Characters waiting for the worker beyond which new texts are not queued (they get null at once). */
const MAX_QUEUED_CHARS = 32 * 1024 * 1024;
const RESTART_AFTER_MS = 10_000;

/** True when counting `chars` UTF-16 units (`bytes` in UTF-8) on the calling thread is cheap enough. */
export function cheapToCount(chars: number, bytes: number): boolean {
  return chars <= ON_LOOP_CHARS || (bytes === chars && chars <= ON_LOOP_ASCII_CHARS);
}

/**
 * cl100k tokens in the texts, summed: a number at once when cheap, otherwise a
 * promise of the worker's count, or of null when it could not count within
 * `budgetMs`. The texts are sent as they are (flat strings cost nothing to
 * post; joining them first would copy them on this thread).
 */
export function countWithin(texts: string[], budgetMs: number, bytes: number): number | Promise<number | null> {
  let chars = 0;
  for (const t of texts) chars += t.length;
  if (cheapToCount(chars, bytes)) {
    let n = 0;
    for (const t of texts) n += countText(t);
    return n;
  }
  return worker().count(texts, chars, Date.now() + budgetMs);
}

/** A count to bill from: the count, or when none came in time the UTF-8 bytes (a ceiling: a byte-level BPE token is at least one byte). */
export function countForBilling(text: string): number | Promise<number> {
  const bytes = utf8Bytes(text);
  const n = countWithin([text], BILL_COUNT_BUDGET_MS, bytes);
  return typeof n === 'number' ? n : n.then((c) => c ?? bytes);
}

interface Job {
  resolve: (n: number | null) => void;
  chars: number;
  timer: NodeJS.Timeout;
}

/**
 * The counting thread: FIFO, one text at a time. The worker itself drops a
 * text whose deadline passed (before or while counting it), and a timer
 * here answers null at the deadline whatever the worker is doing.
 */
class CountingWorker {
  private w: Worker | null = null;
  private seq = 0;
  private jobs = new Map<number, Job>();
  private queued = 0;
  /** When the thread last died: it is not restarted for RESTART_AFTER_MS (the byte ceiling serves meanwhile). */
  private diedAt = -Infinity;

  count(texts: string[], chars: number, deadline: number): Promise<number | null> {
    if (this.queued + chars > MAX_QUEUED_CHARS || Date.now() - this.diedAt < RESTART_AFTER_MS) return Promise.resolve(null);
    const w = this.start();
    const id = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(id, null), Math.max(0, deadline - Date.now()));
      this.jobs.set(id, { resolve, chars, timer });
      this.queued += chars;
      w.ref(); // the process waits for counts in flight
      w.postMessage({ id, texts, deadline });
    });
  }

  private settle(id: number, n: number | null): void {
    const job = this.jobs.get(id);
    if (!job) return;
    this.jobs.delete(id);
    clearTimeout(job.timer);
    this.queued -= job.chars;
    if (this.jobs.size === 0) this.w?.unref();
    job.resolve(n);
  }

  private start(): Worker {
    if (this.w) return this.w;
    const w = new Worker(new URL('./tokenCountWorker.mjs', import.meta.url), { execArgv: [] });
    w.unref();
    w.on('message', (m: { id: number; n: number | null }) => this.settle(m.id, m.n));
    const lost = () => {
      if (this.w === w) this.w = null;
      this.diedAt = Date.now();
      for (const id of [...this.jobs.keys()]) this.settle(id, null);
    };
    w.on('error', lost);
    w.on('exit', lost);
    this.w = w;
    return w;
  }
}

// One per process, started on the first large text: counting is a pure
// function, so servers sharing a process (tests) can share the thread.
let shared: CountingWorker | null = null;
function worker(): CountingWorker {
  return (shared ??= new CountingWorker());
}
