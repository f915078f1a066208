// A Responses caller gets errors in OpenAI's shape ({error: {message, type,
// param, code}}, written by protocols/openai/errors.ts) for every answer that
// has not started. A stream that has started and then broke off (the upstream
// closed it before response.completed) ends with an `error` event, the event
// Responses streams use for errors. Its fields are written twice: at the top
// level, as OpenAI documents the event ({type, code, message, param}; what
// Codex CLI and the typed SDKs read), and nested under `error`, as OpenAI's API
// actually sends it, which is what makes the openai SDK's stream reader throw
// an APIError (it throws on any event whose data has an `error`). No
// `sequence_number`: this event is written after bytes Tally forwards without
// reading, so it cannot know the last one, and a wrong number is worse than none.

const message = 'the upstream provider closed the stream before it finished';

export const RESPONSES_STREAM_BROKEN_EVENT = `event: error\ndata: ${JSON.stringify({
  type: 'error',
  code: 'upstream_disconnected',
  message,
  param: null,
  error: { type: 'upstream_error', code: 'upstream_disconnected', message, param: null },
})}\n\n`;
