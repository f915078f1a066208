import type { Provider } from '../index.ts';
import { AnthropicSseTap } from '../../protocols/anthropic/sse.ts';
import { readAnthropicAnswer } from '../../protocols/anthropic/usage.ts';
import { anthropicCountTokens, anthropicProbe, anthropicRequest } from './request.ts';

// An `anthropic` channel speaks Anthropic's Messages API, so its answers are
// read with the Anthropic protocol's own usage reader (protocols/anthropic/usage.ts).

export const anthropicProvider: Provider = {
  wire: 'anthropic',
  request: anthropicRequest,
  probe: anthropicProbe,
  countTokens: anthropicCountTokens,
  readCount: (text) => {
    const n = (JSON.parse(text) as { input_tokens?: unknown }).input_tokens;
    return typeof n === 'number' ? n : null;
  },
  readAnswer: readAnthropicAnswer,
  streamTap: () => new AnthropicSseTap(),
};
