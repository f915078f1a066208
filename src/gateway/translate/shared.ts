// What both directions of the OpenAI chat ⇄ Anthropic Messages translation
// share: stop reasons, usage, reasoning effort ⇄ thinking budget, ids, and the
// one way to refuse a field that cannot be translated.
import { randomBytes } from 'node:crypto';
import { TallyError } from '../../lib/errors.ts';
import type { Usage } from '../pricing.ts';

export const ANTHROPIC = 'Anthropic';
export const OPENAI_COMPATIBLE = 'OpenAI-compatible';

/** A 400 naming the field: translation never silently drops something that changes the answer. */
export function untranslatable(field: string, provider: string, whatToDo: string): TallyError {
  return new TallyError('untranslatable_field', `${field} cannot be sent to ${provider} models: ${whatToDo}`, { param: field });
}

// Stop reasons. Anthropic's `pause_turn` (a server tool paused a long turn) and
// `model_context_window_exceeded` have no OpenAI twin: the nearest is used.
const FINISH_OF_STOP: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};
const STOP_OF_FINISH: Record<string, string> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'refusal',
};

export function finishReasonOf(stopReason: unknown): string | null {
  if (typeof stopReason !== 'string') return null;
  return FINISH_OF_STOP[stopReason] ?? 'stop';
}

export function stopReasonOf(finishReason: unknown): string {
  if (typeof finishReason !== 'string') return 'end_turn';
  return STOP_OF_FINISH[finishReason] ?? 'end_turn';
}

/** Anthropic usage counts (any may be missing in a partial event). */
export interface AnthropicCounts {
  input: number;
  cacheRead: number;
  cacheWrite: number;
  cacheWrite1h: number;
  output: number;
}

export function emptyCounts(): AnthropicCounts {
  return { input: 0, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, output: 0 };
}

/** Reads the counts an Anthropic `usage` carries into `c` (a message_delta repeats or omits the input counts). */
export function readAnthropicUsage(u: Record<string, any> | null | undefined, c: AnthropicCounts): void {
  if (!u) return;
  if (typeof u.input_tokens === 'number') c.input = u.input_tokens;
  if (typeof u.cache_read_input_tokens === 'number') c.cacheRead = u.cache_read_input_tokens;
  if (typeof u.cache_creation_input_tokens === 'number') {
    const total = u.cache_creation_input_tokens;
    const split = u.cache_creation;
    // A message_delta repeats the total without the split: keep the split message_start gave.
    // An unsplit count otherwise is 5-minute.
    if (split && typeof split.ephemeral_1h_input_tokens === 'number') c.cacheWrite1h = split.ephemeral_1h_input_tokens;
    else if (total !== c.cacheWrite + c.cacheWrite1h) c.cacheWrite1h = 0;
    c.cacheWrite = total - c.cacheWrite1h;
  }
  if (typeof u.output_tokens === 'number') c.output = u.output_tokens;
}

/** Anthropic counts as OpenAI `usage`: the prompt total includes cache reads and writes. */
export function openAIUsageOf(c: AnthropicCounts): Record<string, any> {
  const prompt = c.input + c.cacheRead + c.cacheWrite + c.cacheWrite1h;
  return {
    prompt_tokens: prompt,
    completion_tokens: c.output,
    total_tokens: prompt + c.output,
    prompt_tokens_details: { cached_tokens: c.cacheRead },
  };
}

/** The same counts for billing (pricing.ts `Usage`). */
export function usageOfCounts(c: AnthropicCounts): Usage {
  return {
    promptTokens: c.input + c.cacheRead + c.cacheWrite + c.cacheWrite1h,
    completionTokens: c.output,
    cachedTokens: c.cacheRead,
    cacheWriteTokens: c.cacheWrite,
    cacheWrite1hTokens: c.cacheWrite1h,
  };
}

/** OpenAI usage counts. */
export interface OpenAICounts {
  prompt: number;
  cached: number;
  completion: number;
}

export function readOpenAIUsage(u: Record<string, any> | null | undefined, c: OpenAICounts): void {
  if (!u) return;
  if (typeof u.prompt_tokens === 'number') c.prompt = u.prompt_tokens;
  const cached = u.prompt_tokens_details?.cached_tokens;
  if (typeof cached === 'number') c.cached = cached;
  if (typeof u.completion_tokens === 'number') c.completion = u.completion_tokens;
}

/** OpenAI counts as Anthropic `usage`: `input_tokens` is the uncached part only. */
export function anthropicUsageOf(c: OpenAICounts): Record<string, any> {
  const cached = Math.min(c.cached, c.prompt);
  return {
    input_tokens: c.prompt - cached,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
    output_tokens: c.completion,
  };
}

// reasoning_effort → thinking budget_tokens. Anthropic's minimum budget is
// 1024 and the budget must stay below max_tokens (both count thinking, as
// OpenAI's max_completion_tokens counts reasoning): the table value is lowered
// to max_tokens − 1, and a budget that cannot reach 1024 is a 400.
export const THINKING_BUDGET: Record<string, number> = {
  minimal: 1024,
  low: 4096,
  medium: 10240,
  high: 24576,
  xhigh: 32768,
};
export const MIN_THINKING_BUDGET = 1024;

/** budget_tokens → reasoning_effort: below 4096 low, below 16384 medium, else high. */
export function effortOfBudget(budget: number): string {
  if (budget < 4096) return 'low';
  if (budget < 16384) return 'medium';
  return 'high';
}

/** Anthropic `output_config.effort` → reasoning_effort (`max` has no portable twin: high). */
export const EFFORT_OF_ANTHROPIC: Record<string, string> = { low: 'low', medium: 'medium', high: 'high', max: 'high' };

function randomId(): string {
  return randomBytes(18).toString('base64url');
}

/** `msg_...` for an answer whose upstream id was `chatcmpl-...` (kept traceable), or a fresh one. */
export function messageIdOf(chatId: unknown): string {
  if (typeof chatId === 'string' && chatId.length > 0) return `msg_${chatId.startsWith('chatcmpl-') ? chatId.slice(9) : chatId}`;
  return `msg_01${randomId()}`;
}

/** `chatcmpl-...` for an answer whose upstream id was `msg_...`, or a fresh one. */
export function chatIdOf(messageId: unknown): string {
  if (typeof messageId === 'string' && messageId.length > 0) return `chatcmpl-${messageId.startsWith('msg_') ? messageId.slice(4) : messageId}`;
  return `chatcmpl-${randomId()}`;
}
