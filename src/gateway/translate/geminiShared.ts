// What both directions of the OpenAI chat ⇄ Gemini translation share: usage
// (in Gemini's counting and in the billing convention), finish reasons,
// reasoning effort ⇄ thinkingConfig, a blocked prompt as an error, ids.
import { randomBytes } from 'node:crypto';
import { TallyError } from '../../lib/errors.ts';
import type { Usage } from '../pricing.ts';
import { effortOfBudget } from './shared.ts';

export const GEMINI = 'Gemini';

/**
 * Gemini usageMetadata counts. `prompt` (promptTokenCount) includes `cached`
 * (cachedContentTokenCount); `toolUse` (toolUsePromptTokenCount: results of
 * Google-run tools fed back to the model) is input besides the prompt;
 * `candidates` and `thoughts` are both output.
 */
export interface GeminiCounts {
  prompt: number;
  cached: number;
  toolUse: number;
  candidates: number;
  thoughts: number;
}

export function emptyGeminiCounts(): GeminiCounts {
  return { prompt: 0, cached: 0, toolUse: 0, candidates: 0, thoughts: 0 };
}

/** Reads a usageMetadata into `c`; a later (fuller) one replaces what an earlier chunk said. */
export function readGeminiUsage(u: Record<string, any> | null | undefined, c: GeminiCounts): void {
  if (!u) return;
  if (typeof u.promptTokenCount === 'number') c.prompt = u.promptTokenCount;
  if (typeof u.cachedContentTokenCount === 'number') c.cached = u.cachedContentTokenCount;
  if (typeof u.toolUsePromptTokenCount === 'number') c.toolUse = u.toolUsePromptTokenCount;
  if (typeof u.candidatesTokenCount === 'number') c.candidates = u.candidatesTokenCount;
  if (typeof u.thoughtsTokenCount === 'number') c.thoughts = u.thoughtsTokenCount;
}

/** Gemini counts for billing (pricing.ts `Usage`): tool-use prompt tokens are input, thoughts are output. */
export function usageOfGemini(c: GeminiCounts): Usage {
  const prompt = c.prompt + c.toolUse;
  return { promptTokens: prompt, completionTokens: c.candidates + c.thoughts, cachedTokens: Math.min(c.cached, prompt) };
}

/** Gemini counts as OpenAI chat `usage` (completion includes reasoning, as OpenAI counts it). */
export function openAIUsageOfGemini(c: GeminiCounts): Record<string, any> {
  const prompt = c.prompt + c.toolUse;
  const completion = c.candidates + c.thoughts;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: Math.min(c.cached, prompt) },
    completion_tokens_details: { reasoning_tokens: c.thoughts },
  };
}

/** OpenAI chat usage counts, reasoning included (completion_tokens_details.reasoning_tokens, part of completion). */
export interface ChatCounts {
  prompt: number;
  cached: number;
  completion: number;
  reasoning: number;
}

export function emptyChatCounts(): ChatCounts {
  return { prompt: 0, cached: 0, completion: 0, reasoning: 0 };
}

export function readChatUsage(u: Record<string, any> | null | undefined, c: ChatCounts): void {
  if (!u) return;
  if (typeof u.prompt_tokens === 'number') c.prompt = u.prompt_tokens;
  const cached = u.prompt_tokens_details?.cached_tokens;
  if (typeof cached === 'number') c.cached = cached;
  if (typeof u.completion_tokens === 'number') c.completion = u.completion_tokens;
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  if (typeof reasoning === 'number') c.reasoning = reasoning;
}

export function usageOfChat(c: ChatCounts): Usage {
  return { promptTokens: c.prompt, completionTokens: c.completion, cachedTokens: Math.min(c.cached, c.prompt) };
}

/** Chat counts as a Gemini usageMetadata: reasoning moves from candidates to thoughtsTokenCount. */
export function geminiUsageOfChat(c: ChatCounts): Record<string, any> {
  const reasoning = Math.min(c.reasoning, c.completion);
  const out: Record<string, any> = {
    promptTokenCount: c.prompt,
    candidatesTokenCount: c.completion - reasoning,
    totalTokenCount: c.prompt + c.completion,
  };
  if (c.cached > 0) out.cachedContentTokenCount = Math.min(c.cached, c.prompt);
  if (reasoning > 0) out.thoughtsTokenCount = reasoning;
  return out;
}

// Finish reasons. Gemini's safety-like reasons become content_filter; reasons
// about a broken tool call (MALFORMED_FUNCTION_CALL…) and OTHER become stop.
const FINISH_OF_GEMINI: Record<string, string> = {
  STOP: 'stop',
  MAX_TOKENS: 'length',
  SAFETY: 'content_filter',
  RECITATION: 'content_filter',
  LANGUAGE: 'content_filter',
  BLOCKLIST: 'content_filter',
  PROHIBITED_CONTENT: 'content_filter',
  SPII: 'content_filter',
  IMAGE_SAFETY: 'content_filter',
  IMAGE_PROHIBITED_CONTENT: 'content_filter',
};

/** A Gemini finishReason as an OpenAI finish_reason (tool_calls when the turn called functions). */
export function finishOfGemini(reason: unknown, calledTools: boolean): string {
  const f = typeof reason === 'string' ? (FINISH_OF_GEMINI[reason] ?? 'stop') : 'stop';
  return f === 'stop' && calledTools ? 'tool_calls' : f;
}

const GEMINI_OF_FINISH: Record<string, string> = { stop: 'STOP', tool_calls: 'STOP', function_call: 'STOP', length: 'MAX_TOKENS', content_filter: 'SAFETY' };

export function geminiFinishOf(finish: unknown): string {
  return typeof finish === 'string' ? (GEMINI_OF_FINISH[finish] ?? 'STOP') : 'STOP';
}

/**
 * reasoning_effort → thinkingConfig. Gemini 2.5 takes a token budget (0 turns
 * thinking off where the model allows it; 2.5 Pro refuses 0); Gemini 3 takes a
 * thinkingLevel (low/high). includeThoughts is set so reasoning comes back
 * as reasoning_content.
 */
export const GEMINI_THINKING_BUDGET: Record<string, number> = { none: 0, minimal: 512, low: 1024, medium: 8192, high: 24576, xhigh: 32768 };
const LEVEL_OF_EFFORT: Record<string, string> = { minimal: 'low', low: 'low', medium: 'high', high: 'high', xhigh: 'high' };

export function thinkingConfigOf(effort: string, style: 'budget' | 'level' = 'budget'): Record<string, any> | null {
  if (style === 'level') {
    const level = LEVEL_OF_EFFORT[effort];
    return level === undefined ? null : { thinkingLevel: level, includeThoughts: true };
  }
  const budget = GEMINI_THINKING_BUDGET[effort];
  if (budget === undefined) return null;
  return budget === 0 ? { thinkingBudget: 0 } : { thinkingBudget: budget, includeThoughts: true };
}

/** thinkingConfig → reasoning_effort, or null to leave the upstream's default (dynamic thinking, no config). */
export function effortOfThinkingConfig(t: Record<string, any> | null | undefined): string | null {
  if (!t) return null;
  if (typeof t.thinkingLevel === 'string') {
    const l = t.thinkingLevel.toLowerCase();
    return l === 'minimal' || l === 'low' || l === 'medium' || l === 'high' ? l : null;
  }
  const b = t.thinkingBudget;
  if (typeof b !== 'number' || b < 0) return null; // -1: dynamic, the upstream's default
  if (b === 0) return 'none';
  return effortOfBudget(b);
}

/** The error for a prompt Gemini refused (promptFeedback.blockReason), or null when it was not blocked. */
export function geminiBlockError(resp: Record<string, any> | null | undefined): TallyError | null {
  const reason = resp?.promptFeedback?.blockReason;
  if (typeof reason !== 'string' || (Array.isArray(resp?.candidates) && resp.candidates.length > 0)) return null;
  const detail = typeof resp?.promptFeedback?.blockReasonMessage === 'string' ? `: ${resp.promptFeedback.blockReasonMessage}` : '';
  return new TallyError(
    'prompt_blocked',
    `the upstream model refused the prompt (Gemini blockReason ${reason}${detail}); rephrase the prompt or use another model`,
    { details: { block_reason: reason } },
  );
}

/** Gemini wants an object as a function's response: a chat tool message's text goes under `output`. */
export function functionResponseOf(content: string): Record<string, any> {
  return { output: content };
}

/** A function response as a chat tool message's text: `output`/`result` alone is unwrapped, anything else is JSON. */
export function toolTextOf(response: unknown): string {
  if (typeof response === 'string') return response;
  if (response && typeof response === 'object' && !Array.isArray(response)) {
    const keys = Object.keys(response);
    if (keys.length === 1 && (keys[0] === 'output' || keys[0] === 'result' || keys[0] === 'content')) {
      const v = (response as Record<string, unknown>)[keys[0]];
      if (typeof v === 'string') return v;
    }
  }
  return JSON.stringify(response ?? {});
}

export function randomCallId(): string {
  return `call_${randomBytes(12).toString('base64url')}`;
}

/** `chatcmpl-<responseId>` for a Gemini answer, or a fresh id. */
export function chatIdOfGemini(responseId: unknown): string {
  return typeof responseId === 'string' && responseId.length > 0 ? `chatcmpl-${responseId}` : `chatcmpl-${randomBytes(18).toString('base64url')}`;
}

/** A Gemini responseId for a chat answer (the chatcmpl- prefix dropped), or a fresh one. */
export function responseIdOfChat(chatId: unknown): string {
  if (typeof chatId === 'string' && chatId.length > 0) return chatId.startsWith('chatcmpl-') ? chatId.slice(9) : chatId;
  return randomBytes(16).toString('base64url');
}

/** A thoughtSignature Google documents for history the client did not keep signatures for (Gemini 3 refuses an unsigned function call otherwise). */
export const SKIP_THOUGHT_SIGNATURE = 'skip_thought_signature_validator';
