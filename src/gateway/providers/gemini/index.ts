import type { Provider } from '../index.ts';
import { geminiCountTokens, geminiProbe, geminiRequest, readGeminiCount } from './request.ts';
import { GeminiSseTap } from './sse.ts';
import { readGeminiAnswer } from './usage.ts';

// A `gemini` channel speaks Google's Gemini API (generativelanguage.googleapis.com
// v1beta): a Gemini caller passes through (protocols/gemini), any other is
// translated (charge/translation.ts). The usage billed is read from its
// usageMetadata (usage.ts, sse.ts).

export const geminiProvider: Provider = {
  wire: 'gemini',
  request: geminiRequest,
  probe: geminiProbe,
  countTokens: geminiCountTokens,
  readCount: readGeminiCount,
  readAnswer: readGeminiAnswer,
  streamTap: () => new GeminiSseTap(),
};
