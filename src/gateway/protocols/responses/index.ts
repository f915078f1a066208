import type { Protocol } from '../index.ts';
import { openaiProtocol } from '../openai/index.ts';
import { writeOpenAIError } from '../openai/errors.ts';
import { RESPONSES_STREAM_BROKEN_EVENT } from './errors.ts';
import { parseResponsesCall } from './parse.ts';

// OpenAI's Responses API as callers speak it (Codex CLI, the openai SDK's
// `responses.create` / `responses.stream`): POST /v1/responses, stream and
// not, with the Bearer key and OpenAI's error shape. To an `openai` channel
// that declares `responses_api` the request passes through unchanged
// (providers/openai: passthrough); to any other channel it is translated to
// Chat Completions (translate/responsesToChat.ts), statelessly:
// `previous_response_id` reaches only the channel that holds that response
// (responsePins.ts).

export const responsesProtocol: Protocol = {
  name: 'responses',
  routes: [['/responses', 'responses']],
  apiKey: openaiProtocol.apiKey,
  parse: parseResponsesCall,
  writeError: writeOpenAIError,
  streamBrokenEvent: RESPONSES_STREAM_BROKEN_EVENT,
  requestIdHeader: null,
};
