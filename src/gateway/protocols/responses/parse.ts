import { TallyError } from '../../../lib/errors.ts';
import type { GatewayCall, Inbound } from '../../call.ts';
import { collectResponsesPrompt } from './prompt.ts';

// Reads an OpenAI Responses request (POST /v1/responses: Codex CLI, the
// openai SDK's `responses.create` / `responses.stream`) into the neutral call.
// As for chat (protocols/openai/parse.ts), the fields that decide what a
// request costs or how its answer is read must have exactly the JSON type
// OpenAI documents, or the request is refused with a 400 naming the field:
// the body may be forwarded byte for byte to a Responses-native upstream, so
// a value Tally reads one way and the upstream another is a way around the
// bill (`"stream": "true"`). Fields Tally does not bill from are left to the
// upstream (or to the translator, which refuses what it cannot map).

function bad(param: string, message: string): TallyError {
  return new TallyError('invalid_request', message, { param });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '...' : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

const absent = (v: unknown) => v === undefined || v === null;
const isObject = (v: unknown): v is Record<string, any> => !!v && typeof v === 'object' && !Array.isArray(v);

function optionalBoolean(b: Record<string, any>, f: string): boolean | null {
  const v = b[f];
  if (absent(v)) return null;
  if (typeof v !== 'boolean') throw bad(f, `${f} must be true or false (a JSON boolean), not ${describe(v)}`);
  return v;
}

function optionalString(b: Record<string, any>, f: string): string | null {
  const v = b[f];
  if (absent(v)) return null;
  if (typeof v !== 'string') throw bad(f, `${f} must be a string, not ${describe(v)}`);
  return v;
}

function optionalObject(b: Record<string, any>, f: string, example: string): void {
  const v = b[f];
  if (!absent(v) && !isObject(v)) throw bad(f, `${f} must be an object such as ${example}, not ${describe(v)}`);
}

/**
 * `input`: a string (one user message) or an array of input items, each an
 * object with a string `type` or `role`. An `item_reference` (an item of a
 * stored response, by id) is refused: unlike previous_response_id (pinned to
 * its owner: responsePins.ts) Tally cannot tell whose response the item
 * belongs to, and the upstream would hand any caller any item of the
 * operator's project.
 */
function checkInput(v: unknown): void {
  if (typeof v === 'string') return;
  if (!Array.isArray(v)) throw bad('input', `input must be a string or an array of input items, not ${describe(v)}`);
  for (let i = 0; i < v.length; i++) {
    const it = v[i];
    if (!isObject(it)) throw bad(`input[${i}]`, `input[${i}] must be an input item object such as {"role": "user", "content": "..."}, not ${describe(it)}`);
    if (typeof it.type !== 'string' && typeof it.role !== 'string') throw bad(`input[${i}]`, `input[${i}] needs a "type" (or, for a message, a "role")`);
    if (it.type === 'item_reference') throw bad(`input[${i}]`, `input[${i}] is an item_reference, which is not supported here; send the item itself`);
    const c = it.content;
    if ((it.type === 'message' || (it.type === undefined && it.role !== undefined)) && typeof c !== 'string' && !Array.isArray(c)) {
      throw bad(`input[${i}].content`, `input[${i}].content must be a string or an array of content parts, not ${describe(c)}`);
    }
  }
}

function checkTools(v: unknown): void {
  if (absent(v)) return;
  if (!Array.isArray(v)) throw bad('tools', `tools must be an array of tool objects, not ${describe(v)}`);
  for (let i = 0; i < v.length; i++) {
    const t = v[i];
    if (!isObject(t) || typeof t.type !== 'string')
      throw bad(`tools[${i}]`, `tools[${i}] must be an object with a string "type" (such as "function"), not ${describe(t)}`);
    if (t.type === 'function' && (typeof t.name !== 'string' || !t.name)) throw bad(`tools[${i}].name`, `tools[${i}].name is required for a function tool`);
  }
}

/**
 * Checks the body's billing fields (400 naming the field) and returns the
 * call as Tally bills it. The body is the parsed JSON of `inb.raw`.
 */
export function parseResponsesCall(inb: Inbound): GatewayCall {
  const body = inb.body;
  if (!isObject(body)) throw new TallyError('invalid_request', 'the request body must be a JSON object');
  const b = body;
  if (typeof b.model !== 'string' || !b.model) throw bad('model', 'model is required (a string such as "gpt-5.1-codex")');
  const previous = optionalString(b, 'previous_response_id');
  if (previous === '') throw bad('previous_response_id', 'previous_response_id must be a response id such as "resp_..." (or left out)');
  // A conversation object lives on one upstream, created through the Conversations API, which Tally does not relay.
  if (!absent(b.conversation)) {
    throw bad('conversation', 'conversation is not supported here; send the whole conversation in input (or continue with previous_response_id)');
  }
  if (absent(b.input)) {
    // Only a stored response (previous_response_id) or a stored prompt supplies the input instead.
    if (previous === null && absent(b.prompt)) throw bad('input', 'input is required: a string or an array of input items');
  } else checkInput(b.input);
  optionalString(b, 'instructions');
  checkTools(b.tools);
  const stream = optionalBoolean(b, 'stream') ?? false;
  optionalBoolean(b, 'store');
  optionalBoolean(b, 'parallel_tool_calls');
  // A background response is answered later, through polling Tally does not relay: it could never be billed.
  if (optionalBoolean(b, 'background') === true) {
    throw bad('background', 'background responses are not supported here (their answer arrives later, outside this request); leave background out');
  }
  const max = b.max_output_tokens;
  if (!absent(max) && (!Number.isSafeInteger(max) || max < 1))
    throw bad('max_output_tokens', `max_output_tokens must be a positive integer, not ${describe(max)}`);
  if (!absent(b.include) && (!Array.isArray(b.include) || !b.include.every((x: unknown) => typeof x === 'string'))) {
    throw bad('include', 'include must be an array of strings such as ["reasoning.encrypted_content"]');
  }
  optionalObject(b, 'reasoning', '{"effort": "medium"}');
  optionalObject(b, 'text', '{"format": {"type": "text"}}');
  optionalObject(b, 'stream_options', '{"include_obfuscation": false}');
  if (!absent(b.tool_choice) && typeof b.tool_choice !== 'string' && !isObject(b.tool_choice)) {
    throw bad('tool_choice', `tool_choice must be "auto", "none", "required" or a tool object, not ${describe(b.tool_choice)}`);
  }
  return {
    protocol: inb.protocol,
    endpoint: 'responses',
    model: b.model,
    messages: null,
    input: b.input,
    tools: b.tools,
    stream,
    // A Responses answer always reports its usage (in a stream: in response.completed).
    clientWantsUsage: true,
    choices: 1,
    requestedMax: absent(max) ? null : max,
    prompt: collectResponsesPrompt(b),
    body: b,
    raw: inb.raw,
    forwardHeaders: null,
  };
}
