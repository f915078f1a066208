// "Did you mean …" for a mistyped model name: the closest known name by edit
// distance, if it is close enough to be a plausible typo.
export function didYouMean(input: string, candidates: string[]): string | null {
  const a = input.toLowerCase();
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const b = c.toLowerCase();
    const d = b.includes(a) || a.includes(b) ? Math.abs(a.length - b.length) * 0.5 : distance(a, b);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(a.length / 3)) ? best : null;
}

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}
