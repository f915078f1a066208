import type { Provider } from '../index.ts';
import { SseUsageTap } from '../../protocols/openai/sse.ts';
import { readWholeBody } from '../../protocols/openai/usage.ts';
import { openaiProbe, openaiRequest } from './request.ts';

// An `openai` channel speaks OpenAI's wire format, so its answers are read
// with the OpenAI protocol's own usage reader (protocols/openai/usage.ts).

export const openaiProvider: Provider = {
  wire: 'openai',
  request: openaiRequest,
  probe: openaiProbe,
  readAnswer: readWholeBody,
  streamTap: (call) => new SseUsageTap(!call.clientWantsUsage),
};
