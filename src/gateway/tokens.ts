// cl100k_base rather than o200k: about 30 MB less memory, and the estimate is
// an upper bound with a margin either way.
import { countTokens } from 'gpt-tokenizer/encoding/cl100k_base';

// Token counting that costs time linear in the text, whatever the text.
//
// A BPE tokenizer first splits text into pre-tokens (words, runs of digits,
// runs of punctuation or spaces), then merges the bytes of each pre-token;
// gpt-tokenizer's merge is quadratic in the pre-token's length. Ordinary
// text has short pre-tokens, but a run with no split point (100,000 times
// the same letter, a page of unpunctuated Chinese, a long base64 string) is
// one pre-token: 100,000 characters took 6 s. So the text is cut inside any
// run longer than RUN_LIMIT code units of the same kind (whitespace or not)
// and the pieces are counted one after the other: at most RUN_LIMIT units per
// merge, so the work per character is bounded. A cut can move the count by a
// token or so (a merge across the cut is lost, which usually adds one); ordinary
// text (words and spaces) has no cuts and counts exactly as before.
//
// This is CPU work on whichever thread calls it: on the event loop only for
// small texts (tokenCounter.ts sends large ones to a worker thread).

/** Longest same-kind run counted in one piece (UTF-16 code units, so at most 96 UTF-8 bytes). Measured: 32 keeps random CJK under 2 us a character where 64 took 3-6, and adds about 3% to a base64 run's count. */
export const RUN_LIMIT = 32;

/** The most UTF-8 bytes one cl100k token stands for (a run of 128 spaces); a floor of any count is bytes / this. */
export const MAX_TOKEN_BYTES = 128;

// Special-token text ("<|endoftext|>") in a prompt is ordinary text to count,
// never a reason to throw (gpt-tokenizer's default throws on it).
const AS_TEXT = { disallowedSpecial: new Set<string>() };

function isSpace(c: number): boolean {
  return (
    c === 32 ||
    c === 10 ||
    c === 13 ||
    c === 9 ||
    c === 12 ||
    c === 11 ||
    c === 0xa0 ||
    c === 0x3000 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x1680 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x85
  );
}

/** Ordinary text is also cut where spaces follow a word, once a piece is this long (a worker checks its deadline between pieces); such a cut moves the count by a token at most, and rarely at all. */
const PIECE = 16_384;

/** cl100k tokens in `text`, counted in bounded pieces (see above): linear time. */
export function countText(text: string): number {
  return countTextBefore(text, Infinity)!;
}

/** countText, giving up (null) once `deadline` (a Date.now() value) has passed between two pieces. */
export function countTextBefore(text: string, deadline: number): number | null {
  if (!text) return 0;
  const timed = deadline !== Infinity;
  let total = 0;
  let from = 0; // start of the piece not yet counted
  let runStart = 0;
  let space = isSpace(text.charCodeAt(0));
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const s = isSpace(c);
    let cut = false;
    if (s !== space) {
      cut = s && i - from >= PIECE;
      space = s;
      runStart = i;
    } else if (i - runStart >= RUN_LIMIT && !(c >= 0xdc00 && c <= 0xdfff)) {
      cut = true; // inside a long run (never between the two halves of a surrogate pair)
      runStart = i;
    }
    if (cut) {
      total += countTokens(text.slice(from, i), AS_TEXT);
      from = i;
      if (timed && Date.now() > deadline) return null;
    }
  }
  return total + countTokens(from === 0 ? text : text.slice(from), AS_TEXT);
}

/** UTF-8 bytes of a string (native, no copy). */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
