import { TallyError } from '../../lib/errors.ts';
import type { GatewayCall } from '../call.ts';
import type { Provider } from '../providers/index.ts';
import type { RuntimeChannel } from '../catalog.ts';
import {
  ChatStreamToGemini,
  ChatStreamToMessages,
  ChatStreamToResponses,
  chatToGeminiRequest,
  chatToGeminiResponse,
  chatToMessagesRequest,
  chatToMessagesResponse,
  chatToResponsesResponse,
  GeminiStreamToChat,
  geminiToChatRequest,
  geminiToChatResponse,
  MessagesStreamToChat,
  messagesToChatRequest,
  messagesToChatResponse,
  responsesToChatRequest,
  SseEventParser,
} from '../translate/index.ts';

// When the caller's protocol and the channel's wire format differ (an OpenAI
// chat caller on an anthropic channel, Claude Code on an OpenAI-compatible
// one), the attempt step (attempt.ts) sends a translated call and turns the
// answer back into the caller's format: a whole body at once, a stream event
// by event. The conversions themselves are pure functions (src/gateway/translate/).
// The usage billed is always read from the upstream's own answer by the
// provider's reader, never from the translated output. When protocol and
// provider match there is no Translation at all (null), and nothing here runs.

/** Turns an upstream stream into the caller's protocol, chunk by chunk. */
export interface StreamTranslator {
  /** Upstream bytes in; what to send the client now (may be empty). */
  push(chunk: Buffer): string;
  /** The upstream stream ended normally: whatever closes the caller's stream. */
  end(): string;
  /** The upstream reported an error inside the stream (already translated into the caller's error event). */
  failed: boolean;
}

export interface Translation {
  /** The call as the provider's wire format writes it (its body, its endpoint). */
  call: GatewayCall;
  /** A whole upstream answer, rewritten in the caller's format. */
  whole(body: Buffer): Buffer;
  stream(): StreamTranslator;
}

/** What a translation needs from the request's quote (quote.ts). */
export interface TranslationContext {
  /** The output cap to send when the caller set none (Anthropic requires max_tokens): the model's max output. */
  defaultMaxTokens: number;
  /** Tally's count of the prompt, reported as input_tokens when an OpenAI-compatible upstream sends no usage. */
  inputTokensHint: number;
}

/** The call as the provider's wire format writes it; the provider renames the model and applies the output cap itself. */
function translatedCall(call: GatewayCall, endpoint: GatewayCall['endpoint'], body: Record<string, any>): GatewayCall {
  // clientWantsUsage: the translator reads the upstream's usage report, so it is never cut out of the stream.
  return { ...call, endpoint, body, raw: JSON.stringify(body), clientWantsUsage: true, forwardHeaders: null };
}

// Every pair goes through OpenAI chat, the hub: the caller's request is
// turned into a chat request (its caller leg), the chat request into the
// provider's (its wire leg); the answer comes back the other way. A caller
// speaking chat, or a provider speaking it, has no leg (HUB): a chat caller on
// an anthropic channel runs the anthropic wire leg alone, Claude Code on an
// OpenAI-compatible channel the anthropic caller leg alone, and a Gemini
// caller on an anthropic channel both. A stream crosses the hub as
// chat.completion.chunk SSE text: what an OpenAI-compatible upstream sends
// and a chat caller reads, so a one-leg pair costs one translation per event.

/** Chat chunks (objects) in, the caller's stream out. */
interface ChatChunkSink {
  push(chunk: Record<string, any>): string;
  end(): string;
}

/** The caller's protocol ⇄ OpenAI chat. */
interface CallerLeg {
  /** The caller's request as a chat request (stream and stream_options set when the caller streams). */
  request(call: GatewayCall, x: TranslationContext): Record<string, any>;
  /** A whole chat.completion as the caller's answer. */
  whole(chat: Record<string, any>, call: GatewayCall): Record<string, any>;
  /** Turns chat chunks into the caller's stream. */
  stream(call: GatewayCall, x: TranslationContext): ChatChunkSink;
}

/** Upstream stream bytes in, chat.completion.chunk SSE text out. */
interface WireToChat {
  push(chunk: Buffer): string;
  end(): string;
  /** The upstream reported an error inside the stream. */
  failed: boolean;
}

/** OpenAI chat ⇄ the provider's wire format. */
interface WireLeg {
  /** The endpoint the provider is called with. */
  endpoint: GatewayCall['endpoint'];
  /** A chat request as the provider's request. */
  request(chat: Record<string, any>, call: GatewayCall, x: TranslationContext): Record<string, any>;
  /** The provider's whole answer as a chat.completion, under the caller's model name. */
  whole(answer: Record<string, any>, model: string): Record<string, any>;
  /** The provider's stream as chat chunks; `includeUsage`: end with the usage chunk. */
  stream(model: string, includeUsage: boolean): WireToChat;
}

const CALLER_LEGS: Record<string, CallerLeg> = {
  // Claude Code, Anthropic's SDKs.
  'anthropic/messages': {
    request: (call) => messagesToChatRequest(call.body, { upstreamModel: call.model }),
    whole: (chat, call) => chatToMessagesResponse(chat, { model: call.model }),
    stream: (call, x) => new ChatStreamToMessages({ model: call.model, inputTokensHint: x.inputTokensHint }),
  },
  // Codex CLI, the openai SDK's responses.*.
  'responses/responses': {
    request: (call) => responsesToChatRequest(call.body, { upstreamModel: call.model }),
    whole: (chat, call) => chatToResponsesResponse(chat, { model: call.model, request: call.body }),
    stream: (call, x) => new ChatStreamToResponses({ model: call.model, request: call.body, inputTokensHint: x.inputTokensHint }),
  },
  // Gemini CLI, @google/genai (the model and stream-or-not come from the URL: call.model, call.stream).
  'gemini/gemini.generate': {
    request: (call) => geminiToChatRequest(call.body, { upstreamModel: call.model, stream: call.stream }),
    whole: (chat, call) => chatToGeminiResponse(chat, { model: call.model }),
    stream: (call, x) => new ChatStreamToGemini({ model: call.model, inputTokensHint: x.inputTokensHint }),
  },
};

/** Anthropic SSE events → chat chunks. */
class AnthropicEventsToChat implements WireToChat {
  failed = false;
  private readonly parser = new SseEventParser();
  constructor(private readonly x: MessagesStreamToChat) {}
  push(chunk: Buffer): string {
    let out = '';
    for (const ev of this.parser.push(chunk)) {
      const data = parseJson(ev.data);
      if (!data) continue;
      const name = ev.event ?? data.type ?? 'message';
      if (name === 'error') this.failed = true;
      out += this.x.push(name, data);
    }
    return out;
  }
  end(): string {
    return this.x.end();
  }
}

/** Gemini `alt=sse` chunks (each a whole GenerateContentResponse) → chat chunks. */
class GeminiChunksToChat implements WireToChat {
  failed = false;
  private readonly parser = new SseEventParser();
  constructor(private readonly x: GeminiStreamToChat) {}
  push(chunk: Buffer): string {
    let out = '';
    for (const ev of this.parser.push(chunk)) {
      const data = parseJson(ev.data);
      if (!data) continue;
      // An error chunk, or a prompt blocked before any output: the translator writes it as an error line.
      if (data.error != null || data.promptFeedback?.blockReason != null) this.failed = true;
      out += this.x.push(data);
    }
    return out;
  }
  end(): string {
    return this.x.end();
  }
}

const WIRE_LEGS: Record<string, WireLeg> = {
  anthropic: {
    endpoint: 'messages',
    request: (chat, call, x) => chatToMessagesRequest(chat, { upstreamModel: call.model, defaultMaxTokens: x.defaultMaxTokens }),
    whole: (answer, model) => messagesToChatResponse(answer, { model }),
    stream: (model, includeUsage) => new AnthropicEventsToChat(new MessagesStreamToChat({ model, includeUsage })),
  },
  gemini: {
    endpoint: 'gemini.generate',
    request: (chat) => chatToGeminiRequest(chat),
    whole: (answer, model) => geminiToChatResponse(answer, { model }),
    stream: (model, includeUsage) => new GeminiChunksToChat(new GeminiStreamToChat({ model, includeUsage })),
  },
};

/** Chat chunk SSE text (an OpenAI-compatible upstream's bytes, or a wire leg's output) fed to a caller leg. */
class ChatSseToCaller implements StreamTranslator {
  failed = false;
  private readonly parser = new SseEventParser();
  constructor(
    private readonly sink: ChatChunkSink,
    /** null: the upstream speaks chat (its bytes are the chat stream). */
    private readonly wire: WireToChat | null,
  ) {}
  push(chunk: Buffer): string {
    return this.feed(this.wire ? this.wire.push(chunk) : chunk);
  }
  end(): string {
    // The wire leg's closing chunks (finish, usage) reach the caller leg before it closes the caller's stream.
    const rest = this.wire ? this.feed(this.wire.end()) : '';
    return rest + this.sink.end();
  }
  private feed(text: Buffer | string): string {
    if (this.wire?.failed) this.failed = true;
    if (!text.length) return '';
    let out = '';
    for (const ev of this.parser.push(text)) {
      if (ev.data === '[DONE]') continue; // end() closes the caller's stream
      const data = parseJson(ev.data);
      if (!data) continue;
      if (data.error != null) this.failed = true; // an in-stream error chunk
      out += this.sink.push(data);
    }
    return out;
  }
}

/** A wire leg's chat text straight to a chat caller. */
class WireToChatCaller implements StreamTranslator {
  constructor(private readonly wire: WireToChat) {}
  get failed(): boolean {
    return this.wire.failed;
  }
  push(chunk: Buffer): string {
    return this.wire.push(chunk);
  }
  end(): string {
    return this.wire.end();
  }
}

function parseJson(text: string): Record<string, any> | null {
  try {
    const j = JSON.parse(text);
    return j && typeof j === 'object' && !Array.isArray(j) ? j : null;
  } catch {
    return null;
  }
}

function parseAnswer(body: Buffer): Record<string, any> {
  const j = parseJson(body.toString('utf8'));
  if (!j) throw new TallyError('upstream_error', 'the upstream answer is not a JSON object');
  return j;
}

/** The chat caller: the hub itself (only chat completions; legacy completions and embeddings have no translation). */
const HUB = null;

function callerLegOf(call: GatewayCall): CallerLeg | typeof HUB | undefined {
  if (call.protocol.name === 'openai') return call.endpoint === 'chat.completions' ? HUB : undefined;
  return CALLER_LEGS[`${call.protocol.name}/${call.endpoint}`];
}

function wireLegOf(wire: string): WireLeg | typeof HUB | undefined {
  return wire === 'openai' ? HUB : WIRE_LEGS[wire];
}

/**
 * null when the channel speaks the caller's protocol (no translation: the
 * bytes pass through); a Translation when the pair can be translated;
 * undefined when it cannot. A request field that cannot be translated is a
 * 400 naming it (thrown).
 */
export function translationFor(call: GatewayCall, ch: RuntimeChannel, x: TranslationContext): Translation | null | undefined {
  const provider = ch.provider!;
  if (call.protocol.name === provider.wire || provider.passthrough?.(ch, call) === true) return null;
  const caller = callerLegOf(call);
  const wire = wireLegOf(provider.wire);
  if (caller === undefined || wire === undefined || (caller === HUB && wire === HUB)) return undefined;
  const chat = caller === HUB ? call.body : caller.request(call, x);
  const body = wire === HUB ? chat : wire.request(chat, call, x);
  return {
    call: translatedCall(call, wire === HUB ? 'chat.completions' : wire.endpoint, body),
    whole: (b) => {
      const answer = parseAnswer(b);
      const c = wire === HUB ? answer : wire.whole(answer, call.model);
      return Buffer.from(JSON.stringify(caller === HUB ? c : caller.whole(c, call)));
    },
    stream: () => {
      if (caller === HUB) return new WireToChatCaller((wire as WireLeg).stream(call.model, call.clientWantsUsage));
      return new ChatSseToCaller(caller.stream(call, x), wire === HUB ? null : wire.stream(call.model, true));
    },
  };
}

/** The 400 for a model whose every channel speaks a format this caller's request cannot be translated to. */
export function untranslatable(call: GatewayCall, provider: Provider): TallyError {
  return new TallyError(
    'invalid_request',
    `"${call.model}" is served here only by ${provider.wire} channels, and this version cannot translate a ${call.protocol.name} ${call.endpoint} request into ${provider.wire}'s format; call it with the ${provider.wire} protocol`,
    { param: 'model' },
  );
}
