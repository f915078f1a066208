import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { TallyError } from '../../lib/errors.ts';
import type { Endpoint, GatewayCall, Inbound } from '../call.ts';
import { anthropicProtocol } from './anthropic/index.ts';
import { openaiProtocol } from './openai/index.ts';
import { responsesProtocol } from './responses/index.ts';
import { geminiProtocol } from './gemini/index.ts';
import { openaiMediaProtocol } from './openai/media/index.ts';

// The protocols callers speak to Tally. Each is a folder (parse the inbound
// request into the neutral call, write errors in its shape, its prompt) and
// one line in PROTOCOLS; relayFastPath.ts serves every route listed here
// under every API prefix, and a protocol's pattern routes (matchPath: the
// model in the path, as Gemini's) under the roots it names for each prefix.

/** A pattern route's match: the endpoint, and what the path named (the model, the method). */
export interface PathMatch {
  endpoint: Endpoint;
  params: Readonly<Record<string, string>>;
}

/** Rewrites the SSE a stream answer would be into another framing for the client (Gemini's JSON array). */
export interface StreamFraming {
  contentType: string;
  /** SSE bytes or text in (the upstream's, or a translator's output); what to send the client now. */
  push(sse: Buffer | string): string;
  /** What ends the client's stream; `broken`: the upstream broke it off (an error element, instead of streamBrokenEvent). */
  close(broken: boolean): string;
}

export interface Protocol {
  name: string;
  /** Paths (after the API prefix) and the endpoint each one is. */
  routes: ReadonlyArray<readonly [path: string, endpoint: Endpoint]>;
  /** Its routes also take multipart/form-data bodies, handed over as bytes (Inbound.form) rather than parsed as JSON. */
  multipart?: boolean;
  /** The caller's API key, from wherever this protocol's clients send it (`url`: the request's path and query, for a key in the query). */
  apiKey(headers: IncomingHttpHeaders, url?: string): string | undefined;
  /**
   * Routes with values in the path (Gemini's /models/{model}:generateContent), tried when no exact route
   * matched: `path` is what follows one of `roots` (no query string). Optional.
   */
  matchPath?(path: string): PathMatch | null;
  /** Where this protocol's pattern routes live for one API prefix (Gemini: /v1 → /v1beta and /v1). */
  roots?(apiPrefix: string): string[];
  /** A framing other than SSE this call's stream must be written in (Gemini's `:streamGenerateContent` without alt=sse), or null. */
  streamFraming?(call: GatewayCall): StreamFraming | null;
  /** The body of a count-tokens answer (Anthropic's {input_tokens}, Gemini's {totalTokens}); charge/countTokens.ts. */
  countAnswer?(tokens: number): Record<string, unknown>;
  /** Checks the request (a 400 naming the field when wrong) and reads it into the neutral call. */
  parse(inb: Inbound): GatewayCall;
  /** Writes `err` as the whole answer, in this protocol's error shape. */
  writeError(res: ServerResponse, err: TallyError, requestId: string): void;
  /** The event that ends a stream the upstream broke off. */
  streamBrokenEvent: string;
  /** A header of its own that carries the request id too, beside x-request-id (Anthropic's SDK reads `request-id`), or null. */
  requestIdHeader: string | null;
}

export const PROTOCOLS: readonly Protocol[] = [openaiProtocol, anthropicProtocol, responsesProtocol, geminiProtocol, openaiMediaProtocol];
