import type { Provider } from '../index.ts';
import { SseUsageTap } from '../../protocols/openai/sse.ts';
import { readWholeBody } from '../../protocols/openai/usage.ts';
import { ResponsesSseTap } from '../../protocols/responses/sse.ts';
import { readResponsesAnswer } from '../../protocols/responses/usage.ts';
import { openaiProbe, openaiRequest } from './request.ts';

// An `openai` channel speaks OpenAI's wire format, so its answers are read
// with the OpenAI protocol's own usage reader (protocols/openai/usage.ts).
// One that declares `responses_api` also takes Responses calls as they come
// (passthrough: POST <base>/responses), and those answers are read with the
// Responses protocol's reader (protocols/responses/usage.ts).

export const openaiProvider: Provider = {
  wire: 'openai',
  request: openaiRequest,
  probe: openaiProbe,
  readAnswer: (body, call) => (call.endpoint === 'responses' ? readResponsesAnswer(body) : readWholeBody(body)),
  streamTap: (call) => (call.endpoint === 'responses' ? new ResponsesSseTap() : new SseUsageTap(!call.clientWantsUsage)),
  passthrough: (ch, call) => call.endpoint === 'responses' && ch.responsesApi,
};
