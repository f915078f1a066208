import type { Usage } from '../../pricing.ts';
import { emptyGeminiCounts, readGeminiUsage, type GeminiCounts } from '../../translate/geminiShared.ts';
import type { AnswerRead } from '../index.ts';
import { parseEvent } from '../../protocols/openai/usage.ts';

// Reads what a gemini channel's answer reports (usageMetadata) into the
// billing Usage, and the text it produced for the counted fallback.
// usageMetadata: promptTokenCount (includes cachedContentTokenCount),
// toolUsePromptTokenCount (input reported apart), candidatesTokenCount
// (output), thoughtsTokenCount (output reported apart). The counts are kept
// apart in the Usage (pricing.ts bills toolUse as input and reasoning as
// output) so the log row shows what Google reported. A stream reports a
// running usageMetadata, the last one (with the finishReason) complete: the
// last one read wins (readGeminiUsage, translate/geminiShared.ts).

/** Gemini counts as the billing Usage. */
export function billingUsageOfGemini(c: GeminiCounts): Usage {
  const u: Usage = { promptTokens: c.prompt, completionTokens: c.candidates, cachedTokens: Math.min(c.cached, c.prompt) };
  if (c.thoughts > 0) u.reasoningTokens = c.thoughts;
  if (c.toolUse > 0) u.toolUsePromptTokens = c.toolUse;
  return u;
}

/** The text one GenerateContentResponse (a whole answer, or a stream chunk) produced: text and thought parts, function calls (name and args). */
export function geminiChunkText(resp: any): string {
  let out = '';
  for (const cand of Array.isArray(resp?.candidates) ? resp.candidates : []) {
    for (const p of Array.isArray(cand?.content?.parts) ? cand.content.parts : []) {
      if (!p || typeof p !== 'object') continue;
      if (typeof p.text === 'string') out += p.text;
      else if (p.functionCall && typeof p.functionCall === 'object') {
        out += (typeof p.functionCall.name === 'string' ? p.functionCall.name : '') + JSON.stringify(p.functionCall.args ?? {});
      } else if (p.executableCode && typeof p.executableCode.code === 'string') out += p.executableCode.code;
    }
  }
  return out;
}

/** A chunk that ends the answer: a candidate with its finishReason, or a blocked prompt. */
export function isFinalChunk(resp: any): boolean {
  if (typeof resp?.promptFeedback?.blockReason === 'string') return true;
  return Array.isArray(resp?.candidates) && resp.candidates.some((c: any) => typeof c?.finishReason === 'string');
}

/** Google's error chunk in a stream: `{"error": {code, message, status}}`. */
export function isErrorChunk(resp: any): boolean {
  return !!resp && typeof resp === 'object' && resp.error != null && typeof resp.error === 'object' && resp.candidates === undefined;
}

const isObject = (v: unknown): v is Record<string, any> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Reads responses in order (a stream's chunks, or one whole answer): the last usageMetadata wins; the text is every chunk's. */
function readChunks(chunks: unknown[]): { usage: Usage | null; output: string; any: boolean } {
  const c = emptyGeminiCounts();
  let seen = false;
  let output = '';
  let any = false;
  for (const r of chunks) {
    if (!isObject(r)) continue;
    if (isObject(r.usageMetadata)) {
      readGeminiUsage(r.usageMetadata, c);
      seen = true;
    }
    if (Array.isArray(r.candidates) || r.promptFeedback) any = true;
    output += geminiChunkText(r);
  }
  return { usage: seen ? billingUsageOfGemini(c) : null, output, any };
}

const SSE_LINE = /(^|\n)data:/;

/** Reads a whole upstream body: a GenerateContentResponse, a JSON-array or SSE "stream" that came back whole, or something Tally cannot read (counted as output). */
export function readGeminiAnswer(buf: Buffer): AnswerRead {
  const text = buf.toString('utf8');
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    j = undefined;
  }
  if (isObject(j) || Array.isArray(j)) {
    const r = readChunks(Array.isArray(j) ? j : [j]);
    if (r.usage) return { usage: r.usage, output: '', shape: 'json' };
    if (r.any) return { usage: null, output: r.output, shape: 'json' };
  }
  if (j === undefined && SSE_LINE.test(text)) {
    const r = readChunks(text.split(/\r?\n\r?\n/).map(parseEvent));
    if (r.usage) return { usage: r.usage, output: '', shape: 'sse' };
    if (r.output) return { usage: null, output: r.output, shape: 'sse' };
  }
  return { usage: null, output: text, shape: 'unrecognised' };
}
