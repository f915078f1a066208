import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { TallyError } from '../../lib/errors.ts';
import type { Endpoint, GatewayCall, Inbound } from '../call.ts';
import { anthropicProtocol } from './anthropic/index.ts';
import { openaiProtocol } from './openai/index.ts';
import { openaiMediaProtocol } from './openai/media/index.ts';

// The protocols callers speak to Tally. Each is a folder (parse the inbound
// request into the neutral call, write errors in its shape, its prompt) and
// one line in PROTOCOLS; relayFastPath.ts serves every route listed here
// under every API prefix.

export interface Protocol {
  name: string;
  /** Paths (after the API prefix) and the endpoint each one is. */
  routes: ReadonlyArray<readonly [path: string, endpoint: Endpoint]>;
  /** Its routes also take multipart/form-data bodies, handed over as bytes (Inbound.form) rather than parsed as JSON. */
  multipart?: boolean;
  /** The caller's API key, from wherever this protocol's clients send it. */
  apiKey(headers: IncomingHttpHeaders): string | undefined;
  /** Checks the request (a 400 naming the field when wrong) and reads it into the neutral call. */
  parse(inb: Inbound): GatewayCall;
  /** Writes `err` as the whole answer, in this protocol's error shape. */
  writeError(res: ServerResponse, err: TallyError, requestId: string): void;
  /** The event that ends a stream the upstream broke off. */
  streamBrokenEvent: string;
  /** A header of its own that carries the request id too, beside x-request-id (Anthropic's SDK reads `request-id`), or null. */
  requestIdHeader: string | null;
}

export const PROTOCOLS: readonly Protocol[] = [openaiProtocol, anthropicProtocol, openaiMediaProtocol];
