import { MAX_TOKEN_BYTES, utf8Bytes } from './tokens.ts';
import { BILL_COUNT_BUDGET_MS, countWithin, HOLD_COUNT_BUDGET_MS } from './tokenCounter.ts';

// The prompt's size in tokens, three ways:
//
// - floor: the fewest tokens any estimate below can come to, with no tokenizer
//   work (a cl100k token stands for at most 128 bytes). A wallet that cannot
//   pay the floor plus the least output is refused before anything is counted.
// - count: Tally's own cl100k count (tokens.ts), billed when the upstream
//   reports no usage.
// - bound: what the hold reserves. The ceiling rule: byte-level BPE tokenizers
//   (OpenAI's cl100k/o200k, Llama 3, Qwen, DeepSeek, Mistral's tekken, ...)
//   turn each UTF-8 byte into at most one token, and byte-fallback
//   SentencePiece does the same, so the prompt text's UTF-8 byte count plus
//   the per-message overhead is a ceiling on what any of them can charge for
//   it. Below that ceiling the hold uses the count + 10%, the margin for other
//   tokenizers counting differently (usage the upstream reports above the hold
//   is still charged, and what the wallet cannot pay is booked uncollected).
//   When the text is too large to count in time (tokenCounter.ts), the hold
//   is the ceiling itself.
//
// Images and audio are not text: they count a fixed PER_IMAGE each (OpenAI's
// tile formula tops out at 1,105 tokens for a high-detail image). A token id
// array (completions `prompt`, embeddings `input`) is already tokens: one each.
// What in a request is prompt depends on its protocol: protocols/<name>/prompt.ts.

const PER_MESSAGE = 4;
const PER_IMAGE = 1_105;
const PRIMING = 3;
const MARGIN_NUM = 11;
const MARGIN_DEN = 10;

export interface PromptText {
  /**
   * Everything in the request the upstream turns into prompt tokens, piece by
   * piece (message contents, tool definitions...). Kept apart, not joined:
   * the string JSON.parse made posts to the counting thread in a fraction of
   * a millisecond, where joining it to anything would first copy it on the
   * event loop (measured: 10-40 ms for 1 MB on a busy machine). Each piece
   * counts one more token for its separator.
   */
  pieces: string[];
  /** Their UTF-8 length, separators included. */
  bytes: number;
  /** Tokens known without a tokenizer: per-message overhead, images, token ids. */
  fixed: number;
}

export interface PromptEstimate {
  /** Tally's count of the prompt, or null when it could not be counted in time (billing counts it later if needed). */
  count: number | null;
  /** Prompt tokens the hold reserves for: min(count + 10%, ceiling), or the ceiling. */
  bound: number;
}

/**
 * Builds a PromptText piece by piece; each protocol's adapter walks its own
 * request shape with it (protocols/<name>/prompt.ts).
 */
export class PromptBuilder {
  pieces: string[] = [];
  bytes = 0;
  fixed = PRIMING;

  /** Text the upstream tokenizes. */
  add(s: string): void {
    if (!s) return;
    this.pieces.push(s);
    this.bytes += utf8Bytes(s) + 1;
  }

  /** Tokens known without a tokenizer (token ids, per-message overhead). */
  addTokens(n: number): void {
    this.fixed += n;
  }

  message(): void {
    this.fixed += PER_MESSAGE;
  }

  image(): void {
    this.fixed += PER_IMAGE;
  }

  audio(): void {
    this.fixed += 2 * PER_IMAGE;
  }

  done(): PromptText {
    return { pieces: this.pieces, bytes: this.bytes, fixed: this.fixed };
  }
}

/** The fewest prompt tokens `estimatePrompt` can answer, without tokenizing. */
export function promptFloor(p: PromptText): number {
  return p.fixed + Math.ceil(p.bytes / MAX_TOKEN_BYTES);
}

/** The byte ceiling (see above): no byte-level BPE tokenizer charges more for this prompt. */
export function promptCeiling(p: PromptText): number {
  return p.fixed + p.bytes;
}

function fromCount(p: PromptText, textTokens: number | null): PromptEstimate {
  const ceiling = promptCeiling(p);
  if (textTokens === null) return { count: null, bound: ceiling };
  const count = p.fixed + textTokens + p.pieces.length;
  return { count, bound: Math.min(Math.ceil((count * MARGIN_NUM) / MARGIN_DEN), ceiling) };
}

/** Counts the prompt for the hold: at once for small prompts, on the counting worker (within a budget) for large ones. */
export function estimatePrompt(p: PromptText): PromptEstimate | Promise<PromptEstimate> {
  const n = countWithin(p.pieces, HOLD_COUNT_BUDGET_MS, p.bytes - p.pieces.length);
  return typeof n === 'number' ? fromCount(p, n) : n.then((c) => fromCount(p, c));
}

/** Prompt tokens to bill when the upstream reported none: the count, made now if the hold could not wait for it. */
export function billablePrompt(p: PromptText, est: PromptEstimate): number | Promise<number> {
  if (est.count !== null) return est.count;
  const n = countWithin(p.pieces, BILL_COUNT_BUDGET_MS, p.bytes - p.pieces.length);
  return typeof n === 'number' ? fromCount(p, n).count! : n.then((c) => (c === null ? promptCeiling(p) : fromCount(p, c).count!));
}
