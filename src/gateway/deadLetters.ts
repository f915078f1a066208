import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { SettlementItem } from './settlementCommit.ts';

// The dead-letter file: request settlements the queue could not write after
// many tries (the database was down for ~30 s, or one item keeps failing).
// `tally ledger settle-dead-letters` replays them through a settlement queue,
// exactly once: a request already written (its log row exists) is skipped by
// the queue's per-item path, so replaying a file twice changes nothing.
//
// The file is renamed to `.settling-<time>` before its items are replayed:
// an item that fails again is dead-lettered to a new unsettled.jsonl, not
// appended to the file being replayed (and then renamed away unreplayed). A
// replay that dies half way leaves the `.settling-` file, which the next
// replay picks up again.

const BIGINT_LOG_FIELDS = ['held', 'cost', 'charged_amount', 'uncollected'] as const;

export const deadLetterFile = (dataDir: string) => join(dataDir, 'unsettled.jsonl');

export function appendDeadLetter(file: string, item: SettlementItem, error: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${JSON.stringify({ item, error: String(error) }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
}

export function parseDeadLetters(text: string): SettlementItem[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const { item } = JSON.parse(line) as { item: SettlementItem & { cost: string } };
      const log = item.log as unknown as Record<string, unknown>;
      for (const f of BIGINT_LOG_FIELDS) log[f] = BigInt(log[f] as string);
      return { ...item, cost: BigInt(item.cost) };
    });
}

/** Replays the dead-letter file (and any replay left half done) through `queue`; returns how many items it replayed. */
export async function settleDeadLetters(
  file: string,
  queue: { enqueue(item: SettlementItem): void; flush(): Promise<void> },
  now = Date.now(),
): Promise<number> {
  const dir = dirname(file);
  const prefix = `${basename(file)}.settling-`;
  const leftovers = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.startsWith(prefix))
        .sort()
        .map((f) => join(dir, f))
    : [];
  const files = [...leftovers];
  if (existsSync(file)) {
    const settling = `${file}.settling-${now}`;
    renameSync(file, settling);
    files.push(settling);
  }
  let replayed = 0;
  for (const f of files) {
    const items = parseDeadLetters(readFileSync(f, 'utf8'));
    for (const item of items) queue.enqueue(item);
    await queue.flush();
    renameSync(f, f.replace('.settling-', '.settled-'));
    replayed += items.length;
  }
  return replayed;
}
