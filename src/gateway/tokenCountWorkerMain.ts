// The token counting thread (see tokenCounter.ts): counts one request's texts
// at a time, in bounded pieces, and gives up (null) once their deadline passes.
import { parentPort } from 'node:worker_threads';
import { countTextBefore } from './tokens.ts';

function countAll(texts: string[], deadline: number): number | null {
  let total = 0;
  for (const text of texts) {
    const n = Date.now() < deadline ? countTextBefore(text, deadline) : null;
    if (n === null) return null;
    total += n;
  }
  return total;
}

parentPort!.on('message', (m: { id: number; texts: string[]; deadline: number }) => {
  let n: number | null = null;
  try {
    n = countAll(m.texts, m.deadline);
  } catch {
    n = null;
  }
  parentPort!.postMessage({ id: m.id, n });
});
