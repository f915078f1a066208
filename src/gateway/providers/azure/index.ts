import type { Provider } from '../index.ts';
import { SseUsageTap } from '../../protocols/openai/sse.ts';
import { readWholeBody } from '../../protocols/openai/usage.ts';
import { azureProbe, azureRequest } from './request.ts';

// An `azure` channel (Azure OpenAI) answers in OpenAI's wire format, so its
// answers are read with the OpenAI protocol's own usage reader; only the
// request differs (deployment path, api-version, `api-key` header).

export const azureProvider: Provider = {
  wire: 'openai',
  request: azureRequest,
  probe: azureProbe,
  readAnswer: readWholeBody,
  streamTap: (call) => new SseUsageTap(!call.clientWantsUsage),
};
