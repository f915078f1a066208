import type { Dispatcher } from 'undici';
import type { GatewayCall } from '../call.ts';
import type { RuntimeChannel } from '../catalog.ts';
import type { ChannelType } from '../channels.ts';
import type { Usage } from '../pricing.ts';
import { anthropicProvider } from './anthropic/index.ts';
import { openaiProvider } from './openai/index.ts';
import { azureProvider } from './azure/index.ts';
import { geminiProvider } from './gemini/index.ts';

// The upstream side: one adapter per channel type, in its own folder (build
// the upstream request, read the answer's usage whole and streamed), and one
// line in PROVIDERS. A channel type without an adapter cannot be created
// (channels.ts) and is not routed (catalog.ts).

/** What Tally reads from a whole answer: its usage, or else the output text to count. */
export interface AnswerRead {
  usage: Usage | null;
  output: string;
  /** How the body was read, for the log ('json': as the provider answers). */
  shape: 'json' | 'sse' | 'unrecognised';
  /** The id of the response the upstream created and may hold (a Responses answer): previous_response_id pins (responsePins.ts). */
  responseId?: string | null;
}

/** Sits on a streamed answer: forwards the bytes and reads the usage as they pass. */
export interface StreamTap {
  /** Feeds upstream bytes; returns what to send to the client now. */
  push(chunk: Buffer): Buffer;
  /** What the stream left unterminated, to send at the end. */
  flushCarry(): Buffer;
  reportedUsage(): Usage | null;
  /** Every byte received (read as a whole answer when the "stream" was not one). */
  received(): Buffer;
  /** The text produced so far, for counting when no usage was reported. */
  producedText(): string;
  /** The prompt side of the usage, when the upstream reports it before the output (Anthropic's message_start): billed with the counted output of a stream that ended early. */
  promptUsage?(): Usage | null;
  /** The upstream ended the stream with an error event of its own (already forwarded to the client). */
  failedInStream?(): boolean;
  /** The id of the response the upstream created (a Responses stream's response.created), or null. */
  responseId?(): string | null;
}

export interface Provider {
  /** The protocol its upstream speaks (protocols/<name>): a caller speaking another one is translated (charge/translation.ts). */
  wire: string;
  /** The channel also speaks the caller's protocol natively (an openai channel with responses_api, for a Responses caller): no translation. */
  passthrough?(ch: RuntimeChannel, call: GatewayCall): boolean;
  /** The request to send to `ch`; `maxTokens` > 0 lowers the output cap to it (quote.ts). */
  request(ch: RuntimeChannel, call: GatewayCall, upstreamModel: string, maxTokens: number): Dispatcher.DispatchOptions;
  /** The smallest real request to `ch`, outside billing (`tally channel test`). */
  probe(ch: RuntimeChannel, upstreamModel: string, kind: 'chat' | 'embedding'): Dispatcher.DispatchOptions;
  /** The upstream's count-tokens request for `call` (a caller speaking this provider's wire), when it can count; outside billing. */
  countTokens?(ch: RuntimeChannel, call: GatewayCall, upstreamModel: string): Dispatcher.DispatchOptions;
  /** The count in countTokens' 200 answer (Anthropic's input_tokens, Gemini's totalTokens), or null when it has none (throws on bad JSON). */
  readCount?(body: string): number | null;
  /**
   * Reads a whole answer to `call`, the call as this provider was sent it (the
   * translated one when the caller speaks another protocol; the same one
   * streamTap is given): its endpoint says which answer was asked for (an
   * openai channel answers a Responses call passed through with a Response).
   */
  readAnswer(body: Buffer, call: GatewayCall): AnswerRead;
  streamTap(call: GatewayCall): StreamTap;
}

export const PROVIDERS: Partial<Record<ChannelType, Provider>> = {
  openai: openaiProvider,
  anthropic: anthropicProvider,
  azure: azureProvider,
  gemini: geminiProvider,
  // The built-in demo upstream (demo/upstream.ts) is an OpenAI-compatible server.
  demo: openaiProvider,
};

/** The channel types Tally can send requests to. */
export const SUPPORTED_CHANNEL_TYPES = Object.keys(PROVIDERS) as ChannelType[];

export function providerFor(type: ChannelType): Provider | null {
  return PROVIDERS[type] ?? null;
}
