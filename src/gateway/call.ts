import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PromptText } from './promptEstimate.ts';
import type { Protocol } from './protocols/index.ts';
import type { MediaCall } from './media/call.ts';

// What flows through the charge pipeline, whatever protocol the caller
// speaks. A protocol adapter (protocols/<name>/) reads its wire format into a
// GatewayCall; the steps in charge/ read only the neutral fields; a provider
// adapter (providers/<type>/) turns the call into the upstream's request.

/** The operation the caller asked for, as the protocol's routes name it. */
export type Endpoint =
  | 'chat.completions'
  | 'completions'
  | 'embeddings'
  | 'messages'
  | 'messages.count_tokens'
  | 'responses'
  /** Gemini's :generateContent and :streamGenerateContent (the path says which, and the model). */
  | 'gemini.generate'
  | 'gemini.count_tokens'
  | 'images.generations'
  | 'images.edits'
  | 'audio.speech'
  | 'audio.transcriptions'
  | 'audio.translations';

/** A request on one of the relay's routes, as it arrived (before anything in it is checked). */
export interface Inbound {
  protocol: Protocol;
  endpoint: Endpoint;
  /** The JSON body, parsed but not checked. */
  body: unknown;
  /** The body as received (JSON text). */
  raw: string;
  /** A multipart/form-data body (media routes: protocols/openai/media/), as received; `body` is then null and `raw` empty. */
  form?: { bytes: Buffer; contentType: string };
  ip: string;
  requestId: string;
  req: IncomingMessage;
  res: ServerResponse;
  /** What a pattern route's path named (protocols/index.ts `matchPath`; Gemini: `model` and `method`), or undefined on an exact route. */
  params?: Readonly<Record<string, string>>;
}

/** The protocol-neutral call. */
export interface GatewayCall {
  /** The caller's protocol and endpoint (errors and answers go back in that shape). */
  protocol: Protocol;
  endpoint: Endpoint;
  model: string;
  /** The conversation, the input (completions prompt, embeddings input) and the tools, as the caller's protocol writes them. */
  messages: unknown;
  input: unknown;
  tools: unknown;
  stream: boolean;
  /** The caller asked for the usage report in its answer (in a stream: an event of its own). */
  clientWantsUsage: boolean;
  /** Completions generated (and billed) upstream: n, or best_of when larger; 0 when the endpoint produces no output (embeddings). */
  choices: number;
  /** The output cap the caller set, if any. */
  requestedMax: number | null;
  /** The prompt as Tally counts it (promptEstimate.ts). */
  prompt: PromptText;
  /** The checked body, in the caller's wire format. */
  body: Record<string, any>;
  /** Its JSON text as received: sent upstream byte for byte when protocol and provider speak the same format and nothing changes. */
  raw: string;
  /**
   * Headers of the caller's that go to an upstream speaking the same
   * protocol (Anthropic's `anthropic-version`, `anthropic-beta`), or null.
   */
  forwardHeaders: Record<string, string> | null;
  /**
   * The caller wants the stream as Google's JSON array (`:streamGenerateContent` without `alt=sse`) rather
   * than SSE: the upstream is still asked for SSE, and the protocol's framing rewrites it (protocols/gemini/framing.ts).
   */
  arrayStream?: boolean;
  /** An image or audio call (media/): held, sent and charged by media/ in place of the token steps. */
  media?: MediaCall;
}
